"""Targets and datasets: synthetic 1-D sets and teachers, scikit-learn's digits and iris,
MNIST from local IDX files. Every loader returns float32 ``x: [n, d]`` and ``y: [n]``
(or ``[n, k]``) arrays; nothing is downloaded at run time."""

from phasekit.data.synthetic import (
    authors_three_points, four_points, relu_combination, sin_mixture, teacher_two_layer,
    uniform_grid,
)
from phasekit.data.tabular import digits, iris, load, mnist, read_idx

__all__ = [
    "authors_three_points", "four_points", "relu_combination", "sin_mixture",
    "teacher_two_layer", "uniform_grid", "digits", "iris", "load", "mnist", "read_idx",
]
