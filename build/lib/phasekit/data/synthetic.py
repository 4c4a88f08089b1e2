"""Synthetic 1-D point sets and targets used by the spec."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from phasekit.models import two_layer


def authors_three_points():
    """The phase-diagram 1-D set of the authors' public script: x = (-0.5, 0, 0.5) -> y = (-0.5, 0, 1).

    Returns x: [3, 1], y: [3] (float32).
    """
    return np.array([[-0.5], [0.0], [0.5]], np.float32), np.array([-0.5, 0.0, 1.0], np.float32)


def four_points():
    """A four-point 1-D set in the style of book Fig 7.1 (the book gives no values; these
    are chosen so the piecewise-linear and spline-like interpolants differ visibly)."""
    return (np.array([[-0.6], [-0.2], [0.2], [0.6]], np.float32),
            np.array([0.2, -0.2, 0.4, 0.1], np.float32))


def uniform_grid(n: int, low: float = -1.0, high: float = 1.0, endpoint: bool = True):
    """n equally spaced points in [low, high], shape [n, 1] (float32)."""
    if not (isinstance(n, int) and n > 0):
        raise ValueError(f"n: must be a positive integer, got {n!r}")
    return np.linspace(low, high, n, endpoint=endpoint, dtype=np.float32)[:, None]


def sin_mixture(x, freqs=(1.0, 5.0), amps=None, phases=None):
    """y = sum_j amp_j sin(freq_j * x + phase_j) on x: [n, 1] or [n] -> [n]."""
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


def teacher_two_layer(key, x, width: int, activation="tanh", bias: bool = False, scale: float = 1.0):
    """Labels from a random two-layer teacher f*(x) = sum_k a_k sigma(w_k . x (+ b_k)).

    Returns (y: [n], teacher params).
    """
    x = jnp.asarray(x)
    p = two_layer.rescale(two_layer.init(key, width, x.shape[1], bias=bias), scale, scale)
    return two_layer.apply(p, x, activation=activation), p
