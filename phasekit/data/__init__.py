"""Targets and datasets: synthetic 1-D sets, teachers and the parity cube {-1, 1}^d,
scikit-learn's digits and iris, MNIST from local IDX files. Every loader returns float32 ``x: [n, d]`` and ``y: [n]``
(or ``[n, k]``) arrays; nothing is downloaded at run time."""

from phasekit.data.synthetic import (
    authors_three_points,
    four_points,
    hypercube,
    parity,
    relu_combination,
    sin_mixture,
    teacher_two_layer,
    train_test_split,
    uniform_grid,
    with_noise,
)
from phasekit.data.tabular import digits, iris, load, mnist, read_idx

__all__ = [
    "authors_three_points",
    "digits",
    "four_points",
    "hypercube",
    "iris",
    "load",
    "mnist",
    "parity",
    "read_idx",
    "relu_combination",
    "sin_mixture",
    "teacher_two_layer",
    "train_test_split",
    "uniform_grid",
    "with_noise",
]
