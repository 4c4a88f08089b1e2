"""Synthetic point sets and targets used by the spec: 1-D sets, teachers, the parity cube."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from phasekit.models import two_layer

__all__ = [
    "authors_three_points",
    "four_points",
    "hypercube",
    "parity",
    "relu_combination",
    "sin_mixture",
    "teacher_two_layer",
    "train_test_split",
    "uniform_grid",
    "with_noise",
]


def authors_three_points():
    """The phase-diagram 1-D set of the authors' public script: x = (-0.5, 0, 0.5) -> y = (-0.5, 0, 1).

    Returns x: [3, 1], y: [3] (float32).
    """
    return np.array([[-0.5], [0.0], [0.5]], np.float32), np.array([-0.5, 0.0, 1.0], np.float32)


def four_points():
    """A four-point 1-D set in the style of book Fig 7.1 (the book gives no values; these
    are chosen so the piecewise-linear and spline-like interpolants differ visibly)."""
    return (
        np.array([[-0.6], [-0.2], [0.2], [0.6]], np.float32),
        np.array([0.2, -0.2, 0.4, 0.1], np.float32),
    )


def uniform_grid(n: int, low: float = -1.0, high: float = 1.0, endpoint: bool = True):
    """n equally spaced points in [low, high], shape [n, 1] (float32).

    Args:
      n: points; low, high: the interval; endpoint: include ``high``.
    """
    if not (isinstance(n, int) and n > 0):
        raise ValueError(f"n: must be a positive integer, got {n!r}")
    return np.linspace(low, high, n, endpoint=endpoint, dtype=np.float32)[:, None]


def sin_mixture(x, freqs=(1.0, 5.0), amps=None, phases=None):
    """y = sum_j amp_j sin(freq_j * x + phase_j) on x: [n, 1] or [n] -> [n].

    Args:
      x: [n, 1] or [n]; freqs: freq_j [J]; amps: amp_j [J] (default 1); phases: phase_j [J]
        (default 0).
    """
    x = np.asarray(x, np.float32).reshape(len(x), -1)[:, 0]
    amps = np.ones(len(freqs)) if amps is None else np.asarray(amps)
    phases = np.zeros(len(freqs)) if phases is None else np.asarray(phases)
    if not (len(amps) == len(phases) == len(freqs)):
        raise ValueError("amps: need one amplitude (and phase) per frequency")
    return sum(a * np.sin(f * x + ph) for f, a, ph in zip(freqs, amps, phases)).astype(np.float32)


def relu_combination(x):
    """Spec 02 condensation target on [-1, 1]:
    f(x) = -ReLU(x) + ReLU(2(x+0.3)) - ReLU(1.5(x-0.4)) + ReLU(0.5(x-0.8))."""
    x = np.asarray(x, np.float32).reshape(len(x), -1)[:, 0]
    r = lambda z: np.maximum(z, 0.0)
    return (-r(x) + r(2 * (x + 0.3)) - r(1.5 * (x - 0.4)) + r(0.5 * (x - 0.8))).astype(np.float32)


def teacher_two_layer(
    key, x, width: int, activation="tanh", bias: bool = False, scale: float = 1.0
):
    """Labels from a random two-layer teacher f*(x) = sum_k a_k sigma(w_k . x (+ b_k)).

    Returns (y: [n], teacher params).

    Args:
      key: PRNG key of the teacher's init (:func:`phasekit.models.two_layer.init`); x: [n, d];
      width: the teacher's width; activation: sigma's name; bias: with b_k; scale: multiplier of
        every teacher weight (:func:`phasekit.models.two_layer.rescale`).
    """
    x = jnp.asarray(x)
    p = two_layer.rescale(two_layer.init(key, width, x.shape[1], bias=bias), scale, scale)
    return two_layer.apply(p, x, activation=activation), p


def with_noise(y, std: float, seed: int = 0):
    """y + N(0, std^2) noise drawn from ``numpy.random.default_rng(seed)`` (float32), e.g. the
    noisy sin x of the early-stopping experiment (Fig 4.12)."""
    if not std >= 0:
        raise ValueError(f"std: must be >= 0, got {std!r}")
    y = np.asarray(y, np.float32)
    return (y + std * np.random.default_rng(seed).standard_normal(y.shape)).astype(np.float32)


def hypercube(d: int):
    """All 2^d points of {-1, 1}^d, [2^d, d] float32; row i has x_j = 1 - 2 * (bit j of i)."""
    if not (isinstance(d, int) and 1 <= d <= 20):
        raise ValueError(f"d: must be an integer in [1, 20], got {d!r}")
    bits = (np.arange(2**d)[:, None] >> np.arange(d)) & 1
    return (1.0 - 2.0 * bits).astype(np.float32)


def parity(x):
    """The parity chi_[d](x) = prod_j x_j of points of {-1, 1}^d: x [n, d] -> [n] float32."""
    x = np.asarray(x, np.float32)
    if x.ndim != 2 or not np.all(np.abs(x) == 1):
        raise ValueError("x: need points of {-1, 1}^d as an [n, d] array")
    return np.prod(x, axis=1)


def train_test_split(n: int, n_train: int, seed: int = 0):
    """(train indices [n_train], test indices [n - n_train]) of a random permutation of range(n).

    Args:
      n: samples; n_train: how many train; seed: numpy generator seed.
    """
    if not (isinstance(n_train, int) and 0 < n_train < n):
        raise ValueError(f"n_train: must be an integer in [1, {n - 1}], got {n_train!r}")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[:n_train]), np.sort(perm[n_train:])
