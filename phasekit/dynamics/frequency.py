"""Frequency principle (spec 04, book ch. 4-6): networks fit data from low to high frequency.

Spectra (normalized by n so a planted mode reads back its amplitude):

    DFT on a uniform grid x_j = x_0 + j dx:  c_k = (1/n) sum_j y_j exp(-2 pi i k j / n),
        angular frequency 2 pi k / (n dx)  (= k on [-pi, pi));  one-sided amplitude 2 |c_k|
    non-uniform DFT at chosen angular frequencies xi:  c(xi) = (1/n) sum_j y_j exp(-i xi . x_j)

Per-peak relative spectral error, recorded during training (:func:`spectral_error_observable`):

    Delta_F(xi) = |h_hat(xi) - f_hat(xi)| / |f_hat(xi)|        (default: complex difference)
    Delta_F(xi) = ||h_hat(xi)| - |f_hat(xi)|| / |f_hat(xi)|    (``magnitude=True``, original code)

On a uniform grid the non-uniform DFT at xi = 2 pi k / (n dx) is c_k times a phase
exp(-i xi x_0), which cancels in Delta_F, so one observable serves both cases.

High-dimensional inputs (Xu et al., CiCP 2020):
  projection method: 1-D non-uniform DFT of y along p . x, p the first principal direction;
  filtering method: y_low = (y * G_delta) / (1 * G_delta) over the samples, y_high = y - y_low,
    G_delta(x) = exp(-|x|^2 / (2 delta^2));  e_low = ||h_low - y_low|| / ||y_low||, e_high alike.

On the hypercube {-1, 1}^d the Fourier basis is chi_S(x) = prod_{j in S} x_j and the
frequency of chi_S is its degree |S| (:func:`boolean_degree_power`; parity is chi_{[d]}).
Parity hold-out identity (:func:`parity_holdout`): the chi_S are orthogonal over the whole
cube, so for any h, with y = chi_{[d]}, a training set T of n points and its complement,

    sum_{x not in T} y h = 2^d c_{[d]}(h) - sum_{x in T} y h,     c_{[d]}(h) = mean_cube y h:

a fit (sum_T y h ~ n) without a parity coefficient is anti-correlated with the test labels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.signal

__all__ = [
    "ConvergenceStep",
    "DEFAULT_DELTA_NN",
    "Plateau",
    "amplitude",
    "boolean_degree_power",
    "convergence_step",
    "default_delta",
    "dft",
    "dft_frequencies",
    "filtering_errors",
    "filtering_observable",
    "find_peaks",
    "fourier_mode_eigenvalues",
    "gaussian_filter_weights",
    "hamming_nearest_vote",
    "in_frequency_order",
    "linear_convergence_step",
    "loss_plateau",
    "low_high_split",
    "nearest_neighbour_distance",
    "never_as",
    "nudft",
    "order_agreement",
    "parity_holdout",
    "ParityHoldout",
    "principal_direction",
    "relative_spectral_error",
    "sine_series",
    "spectral_error_observable",
    "unfit_loss",
]

# ----------------------------------------------------------------------------- spectra


def dft(y: jax.Array) -> jax.Array:
    """One-sided normalized DFT along the sample axis.   y: [n, ...] -> [n // 2 + 1, ...] complex.

    c_k = (1/n) sum_j y_j exp(-2 pi i k j / n), k = 0 .. n // 2.
    """
    y = jnp.asarray(y)
    if y.ndim < 1 or y.shape[0] < 2:
        raise ValueError(f"y: need at least 2 samples along axis 0, got shape {y.shape}")
    return jnp.fft.rfft(y, axis=0) / y.shape[0]


def dft_frequencies(x) -> np.ndarray:
    """Angular frequencies 2 pi k / (n dx) of the :func:`dft` bins for a uniform grid.

    x: [n] or [n, 1] sorted uniform grid (x_j = x_0 + j dx). On [-pi, pi) bin k is frequency k.
    """
    x = np.asarray(x, np.float64)
    x = x[:, 0] if x.ndim == 2 and x.shape[1] == 1 else x
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"x: need a 1-D grid of at least 2 points, got shape {np.shape(x)}")
    dx = np.diff(x)
    if not np.allclose(dx, dx[0], rtol=1e-4, atol=0) or dx[0] <= 0:
        raise ValueError("x: the DFT needs an increasing uniform grid; use nudft for other points")
    n = x.size
    return 2 * np.pi * np.arange(n // 2 + 1) / (n * (x[-1] - x[0]) / (n - 1))


def amplitude(c: jax.Array, n: int) -> jax.Array:
    """One-sided amplitude of :func:`dft` output: |c_0|, 2|c_k| (0 < k < n/2), |c_{n/2}| (n even).

    A y_j = A cos(k x_j + phi) on the grid reads back A at bin k.   c: [n // 2 + 1, ...].
    """
    scale = np.full(c.shape[0], 2.0)
    scale[0] = 1.0
    if n % 2 == 0:
        scale[-1] = 1.0
    return jnp.abs(c) * scale.reshape((-1,) + (1,) * (c.ndim - 1))


def nudft(x: jax.Array, y: jax.Array, freqs: jax.Array) -> jax.Array:
    """Non-uniform DFT c(xi) = (1/n) sum_j y_j exp(-i xi . x_j) at chosen angular frequencies.

    Args:
      x: [n] (1-D) or [n, d] sample points.
      y: [n, ...] values.
      freqs: [K] (1-D) or [K, d] angular frequencies xi.
    Returns:
      [K, ...] complex.
    """
    x, freqs = _as_matrix(x, "x"), _as_matrix(freqs, "freqs")
    if x.shape[1] != freqs.shape[1]:
        raise ValueError(f"freqs: dimension {freqs.shape[1]} does not match x's {x.shape[1]}")
    y = jnp.asarray(y)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y: need {x.shape[0]} samples, got shape {y.shape}")
    phase = jnp.exp(-1j * (freqs @ x.T))  # [K, n]
    return jnp.tensordot(phase, y.astype(phase.dtype), axes=(1, 0)) / x.shape[0]


def _as_matrix(a, name):
    a = jnp.asarray(a)
    if a.ndim == 1:
        return a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name}: expected [n] or [n, d], got shape {a.shape}")
    return a


def find_peaks(
    amp, n_peaks: int | None = None, rel_height: float = 0.1, min_distance: int = 2
) -> np.ndarray:
    """Indices of the peaks of a 1-D amplitude spectrum, in increasing frequency.

    A peak is a strict local maximum of height >= ``rel_height * max(amp)``; peaks closer
    than ``min_distance`` bins keep only the higher one (neighbouring bins are numerically
    unreliable). ``n_peaks`` keeps the highest ones. Bin 0 (the mean) is never a peak.
    Runs on concrete arrays (pick the peaks of the target once, before training).
    """
    amp = np.asarray(amp, dtype=np.float64)
    if amp.ndim != 1:
        raise ValueError(f"amp: expected a 1-D spectrum, got shape {amp.shape}")
    if not 0 <= rel_height <= 1:
        raise ValueError(f"rel_height: must be in [0, 1], got {rel_height}")
    idx, props = scipy.signal.find_peaks(amp, height=rel_height * amp.max(), distance=min_distance)
    if n_peaks is not None:
        idx = idx[np.argsort(props["peak_heights"])[::-1][:n_peaks]]
    return np.sort(idx)


def sine_series(x, freqs, amplitudes=None):
    """Target f(x) = sum_j A_j sin(k_j x) and its derivative f'(x) = sum_j A_j k_j cos(k_j x).

    x: [n] or [n, 1];  freqs, amplitudes: [J] (amplitudes default 1).  Returns (f [n], f' [n]).
    """
    x = jnp.asarray(x)
    x = x[:, 0] if x.ndim == 2 and x.shape[1] == 1 else x
    k = jnp.asarray(freqs, x.dtype)
    a = jnp.ones_like(k) if amplitudes is None else jnp.asarray(amplitudes, x.dtype)
    if k.shape != a.shape or k.ndim != 1:
        raise ValueError(f"amplitudes: need one per frequency, got {a.shape} for {k.shape}")
    return jnp.sin(x[:, None] * k) @ a, jnp.cos(x[:, None] * k) @ (a * k)


# ----------------------------------------------------------------------------- Delta_F


def relative_spectral_error(
    h_hat: jax.Array, f_hat: jax.Array, magnitude: bool = False
) -> jax.Array:
    """Delta_F = |h_hat - f_hat| / |f_hat| (or ||h_hat| - |f_hat|| / |f_hat| with ``magnitude``)."""
    num = jnp.abs(jnp.abs(h_hat) - jnp.abs(f_hat)) if magnitude else jnp.abs(h_hat - f_hat)
    return num / jnp.abs(f_hat)


def spectral_error_observable(
    apply_fn: Callable,
    x: jax.Array,
    y: jax.Array,
    freqs,
    coord: jax.Array | None = None,
    magnitude: bool = False,
    name: str = "delta_f",
    **apply_kwargs,
) -> Callable:
    """``observe(params) -> {name: Delta_F [K]}`` for :func:`phasekit.dynamics.train.run`.

    Args:
      apply_fn: ``apply_fn(params, x, **apply_kwargs) -> [n]``.
      x: [n, d] model inputs; y: [n] target values at x.
      freqs: [K] angular frequencies of the peaks (on [-pi, pi): the peak bins themselves;
        in general ``dft_frequencies(x)[peaks]``).
      coord: [n] 1-D coordinate the transform runs along; default x[:, 0] (d must be 1).
        For high-dimensional x pass ``x @ principal_direction(x)`` (projection method).
      magnitude: compare amplitudes only (:func:`relative_spectral_error`).
      name: the observable's key.
    """
    x = jnp.asarray(x)
    if coord is None:
        if x.ndim != 2 or x.shape[1] != 1:
            raise ValueError(
                f"coord: needed for inputs of shape {x.shape} (e.g. x @ principal_direction(x))"
            )
        coord = x[:, 0]
    freqs = jnp.atleast_1d(jnp.asarray(freqs, jnp.result_type(float)))
    f_hat = nudft(coord, y, freqs)

    def observe(params):
        h_hat = nudft(coord, apply_fn(params, x, **apply_kwargs), freqs)
        return {name: relative_spectral_error(h_hat, f_hat, magnitude)}

    return observe


class ConvergenceStep(NamedTuple):
    """step: [..., K] first record step after which Delta_F stays below the threshold, -1 if
    never; converged: [..., K] False where it never does."""

    step: jax.Array
    converged: jax.Array


def convergence_step(
    steps: jax.Array, delta_f: jax.Array, threshold=0.1, window: int | None = None
) -> ConvergenceStep:
    """First record step from which Delta_F stays below ``threshold``.

    Args:
      steps: [R] record steps (or [..., R], e.g. a vmapped Trajectory's ``step``).
      delta_f: [..., R, K] Delta_F per record and peak (leading axes, e.g. seeds, allowed).
      threshold: e.g. 0.1.
      window: None: below at every later record; an integer w: below at the next w records
        (fewer when the trajectory ends first).
    Returns:
      :class:`ConvergenceStep` with arrays [..., K]; "never" is step -1, converged False.
    """
    steps, delta_f = jnp.asarray(steps), jnp.asarray(delta_f)
    if delta_f.ndim < 2 or delta_f.shape[-2] != steps.shape[-1]:
        raise ValueError(
            f"delta_f: expected [..., R={steps.shape[-1]}, K], got shape {delta_f.shape}"
        )
    below = (delta_f < threshold).astype(jnp.int32)
    R = steps.shape[-1]
    if window is None:
        ok = jnp.flip(jnp.cumprod(jnp.flip(below, -2), axis=-2), -2).astype(bool)
    else:
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"window: must be a positive integer or None, got {window!r}")
        c = jnp.concatenate(
            [jnp.zeros_like(below[..., :1, :]), jnp.cumsum(below, axis=-2)], axis=-2
        )
        r = np.arange(R)
        end = np.minimum(r + window, R)
        ok = (c[..., end, :] - c[..., r, :]) == jnp.asarray(end - r)[:, None]
    converged = jnp.any(ok, axis=-2)
    first = jnp.argmax(ok, axis=-2)  # [..., K]
    steps = jnp.broadcast_to(steps, delta_f.shape[:-1])
    step = jnp.take_along_axis(steps, first, axis=-1)
    return ConvergenceStep(jnp.where(converged, step, -1), converged)


# ----------------------------------------------------------------------------- high dimension


def principal_direction(x: jax.Array) -> jax.Array:
    """First principal direction p of the inputs (unit norm, largest |component| positive).

    x: [n, d] -> [d]. Projection method: ``coord = x @ p`` then a 1-D non-uniform DFT.
    """
    x = jnp.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x: expected [n, d], got shape {x.shape}")
    _, _, vt = jnp.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    p = vt[0]
    return p * jnp.sign(p[jnp.argmax(jnp.abs(p))])


def gaussian_filter_weights(x: jax.Array, delta) -> jax.Array:
    """Row-normalized Gaussian weights W_ij = G_delta(x_i - x_j) / sum_l G_delta(x_i - x_l).

    x: [n, d] -> [n, n] (rows sum to 1), so y_low = W @ y. Computed as a softmax of
    -|x_i - x_j|^2 / (2 delta^2), which stays finite for any delta > 0.
    """
    x = jnp.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x: expected [n, d], got shape {x.shape}")
    sq = jnp.sum(x**2, axis=1)
    d2 = jnp.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    return jax.nn.softmax(-d2 / (2.0 * jnp.asarray(delta, x.dtype) ** 2), axis=1)


def low_high_split(y: jax.Array, weights: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(y_low, y_high) = (W y, y - W y).   y: [n, ...], weights: [n, n]."""
    low = jnp.tensordot(weights, y, axes=(1, 0))
    return low, y - low


def filtering_errors(h: jax.Array, y: jax.Array, weights: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(e_low, e_high) = (||h_low - y_low|| / ||y_low||, ||h_high - y_high|| / ||y_high||).

    h, y: [n, ...] outputs and targets at the samples; weights from :func:`gaussian_filter_weights`.
    """
    y_low, y_high = low_high_split(y, weights)
    r_low, r_high = low_high_split(h - y, weights)
    return jnp.linalg.norm(r_low) / jnp.linalg.norm(y_low), jnp.linalg.norm(
        r_high
    ) / jnp.linalg.norm(y_high)


def nearest_neighbour_distance(x: jax.Array) -> jax.Array:
    """Median over samples of the distance to the nearest other sample: the natural unit of delta.

    Args:
      x: [n, d] samples.
    Returns:
      the median distance, a scalar.
    """
    x = jnp.asarray(x)
    sq = jnp.sum(x**2, axis=1)
    d2 = jnp.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    d2 = d2 + jnp.diag(jnp.full(x.shape[0], jnp.inf, x.dtype))
    return jnp.median(jnp.sqrt(jnp.min(d2, axis=1)))


DEFAULT_DELTA_NN = 3.0


def default_delta(x: jax.Array) -> jax.Array:
    """delta = 3 x the median nearest-neighbour distance: the filter averages over a few
    neighbours, so y_low keeps the smooth part of a densely sampled target."""
    return DEFAULT_DELTA_NN * nearest_neighbour_distance(x)


def filtering_observable(
    apply_fn: Callable, x: jax.Array, y: jax.Array, deltas=None, **apply_kwargs
) -> Callable:
    """``observe(params) -> {"e_low": [D], "e_high": [D]}`` for a sweep of filter widths delta.

    apply_fn: ``apply(params, x, **apply_kwargs) -> h``; x: [n, d] inputs; y: [n] or [n, c]
    targets; deltas: [D] (default: [:func:`default_delta`]).
    Weights are built once (n^2 D memory).
    """
    deltas = default_delta(x) if deltas is None else deltas
    deltas = jnp.atleast_1d(jnp.asarray(deltas, jnp.asarray(x).dtype))
    weights = jax.vmap(lambda d: gaussian_filter_weights(x, d))(deltas)  # [D, n, n]

    def observe(params):
        h = apply_fn(params, x, **apply_kwargs)
        e_low, e_high = jax.vmap(lambda w: filtering_errors(h, y, w))(weights)
        return {"e_low": e_low, "e_high": e_high}

    return observe


# ----------------------------------------------------------------------------- hypercube, kernels


def boolean_degree_power(x: jax.Array, y: jax.Array) -> jax.Array:
    """Empirical Fourier power per degree on {-1, 1}^d: P_l = sum_{|S| = l} c_S^2, c_S = mean_i y_i chi_S(x_i).

    x: [n, d] with entries +-1 (the whole cube gives the exact Walsh transform; a sample, the
    spectrum of the data); y: [n]. Returns [d + 1]. Cost n 2^d d (d <= ~14).
    """
    x = jnp.asarray(x)
    if x.ndim != 2 or x.shape[1] > 16:
        raise ValueError(f"x: expected [n, d] with d <= 16, got shape {x.shape}")
    d = x.shape[1]
    bits = (np.arange(2**d)[:, None] >> np.arange(d)) & 1  # [2^d, d] subset masks
    chi = jnp.prod(jnp.where(bits[None].astype(bool), x[:, None, :], 1.0), axis=-1)  # [n, 2^d]
    c = jnp.asarray(y, chi.dtype) @ chi / x.shape[0]
    return jax.ops.segment_sum(c**2, jnp.asarray(bits.sum(1)), num_segments=d + 1)


class ParityHoldout(NamedTuple):
    """The hold-out identity of a function h on {-1, 1}^d against the parity y = chi_{[d]}.

    parity_coefficient: c_{[d]}(h) = mean over the cube of y h;
    train_correlation, test_correlation: mean of y h over the training set and over the rest;
    chance_coefficient: n mean_T(y h) / 2^d, the parity coefficient at which the test
    correlation is zero (a fit needs at least this much degree-d power to reach chance);
    predicted_test_correlation: (2^d c_{[d]} - n mean_T(y h)) / (2^d - n), equal to
    test_correlation up to rounding (the identity). Each has the leading shape of ``h``.
    """

    parity_coefficient: jax.Array
    train_correlation: jax.Array
    test_correlation: jax.Array
    chance_coefficient: jax.Array
    predicted_test_correlation: jax.Array


def parity_holdout(h: jax.Array, y: jax.Array, train_mask: jax.Array) -> ParityHoldout:
    """Split the test correlation of h with the parity into its two sources (module docstring):

        mean_test(y h) = (2^d c_{[d]}(h) - n mean_T(y h)) / (2^d - n),

    because sum over the cube of y chi_S = 0 for every S != [d]: only the degree-d coefficient
    of h carries over from the training set to the test set, and with the opposite sign for
    the rest. A fit with mean_T(y h) ~ 1 and c_{[d]} < n / 2^d is below chance on the test set.

    Args:
      h: [..., 2^d] values of a function on every point of the cube (the rows of
        :func:`phasekit.data.hypercube`), leading axes e.g. seeds.
      y: [2^d] the parity on the same rows (entries +-1; any chi_S with S != empty works
        alike as long as it is the function whose coefficient is meant).
      train_mask: [2^d] bool, True on the training points (1 <= n < 2^d).
    Returns:
      :class:`ParityHoldout`.
    """
    h, y, m = jnp.asarray(h), jnp.asarray(y, jnp.result_type(float)), np.asarray(train_mask)
    N = y.shape[0]
    if m.shape != (N,) or m.dtype != bool or not 0 < m.sum() < N:
        raise ValueError(
            f"train_mask: need a bool [2^d = {N}] mask with 1 <= n < 2^d training points, got "
            f"shape {m.shape}, dtype {m.dtype}, n = {int(m.sum()) if m.dtype == bool else '?'}"
        )
    if h.shape[-1] != N:
        raise ValueError(f"h: need the values on all {N} points of the cube, got shape {h.shape}")
    n = int(m.sum())
    yh = h * y
    c = yh.mean(-1)
    tr, te = yh[..., m].mean(-1), yh[..., ~m].mean(-1)
    return ParityHoldout(c, tr, te, n * tr / N, (N * c - n * tr) / (N - n))


def hamming_nearest_vote(x_train, y_train, x_test) -> np.ndarray:
    """Nearest-neighbour vote on {-1, 1}^d: v(x) = sum of y_i over the training points at the
    smallest Hamming distance from x (host numpy). sign(v) is the nearest-neighbour
    prediction (v = 0: a tie). For the parity every Hamming-1 neighbour has the opposite
    label, so the vote is wrong wherever a test point has a training point at distance 1.

    Args:
      x_train: [n, d] entries +-1; y_train: [n] labels; x_test: [m, d] entries +-1.
    Returns:
      v: [m] float.
    """
    xa, xb = np.asarray(x_train, np.float64), np.asarray(x_test, np.float64)
    ya = np.asarray(y_train, np.float64)
    if xa.ndim != 2 or xb.ndim != 2 or xa.shape[1] != xb.shape[1] or ya.shape != xa.shape[:1]:
        raise ValueError(
            f"x_test: need x_train [n, d], y_train [n], x_test [m, d]; got {xa.shape}, "
            f"{ya.shape}, {xb.shape}"
        )
    dist = (xa.shape[1] - xb @ xa.T) / 2  # Hamming distance of +-1 vectors, [m, n]
    nearest = dist == dist.min(axis=1, keepdims=True)
    return nearest.astype(np.float64) @ ya


def fourier_mode_eigenvalues(kernel: jax.Array, coord: jax.Array, freqs) -> jax.Array:
    """Rayleigh quotients of a kernel on Fourier modes: lambda(xi) = v^H K v / v^H v, v_j = exp(i xi x_j).

    kernel: [n, n] (e.g. an empirical NTK on the training points); coord: [n]; freqs: [K].
    In the linear (NTK) regime with L = 1/(2n) sum r^2, the mode-xi residual decays roughly
    like exp(-lambda(xi) t / n) when K is nearly diagonal in the Fourier basis.
    """
    v = jnp.exp(1j * jnp.asarray(freqs)[:, None] * jnp.asarray(coord)[None, :])  # [K, n]
    k = jnp.asarray(kernel).astype(v.dtype)
    return jnp.real(jnp.einsum("ki,ij,kj->k", v.conj(), k, v)) / coord.shape[0]


def linear_convergence_step(eigenvalue, lr, n: int, threshold=0.1):
    """Linear-regime time for Delta_F of a mode to fall to ``threshold`` under GD from h_0 = 0:

        r_k(t) = r_k(0) (1 - lr lambda_k / n)^t ~ exp(-lr lambda_k t / n)
        =>  t_k = n ln(1 / threshold) / (lr lambda_k)

    with lambda_k from :func:`fourier_mode_eigenvalues` and L = 1/(2n) sum r^2.

    Args:
      eigenvalue: lambda_k (any shape); lr: the GD learning rate; n: the number of samples;
      threshold: the Delta_F level.
    Returns:
      t_k, the shape of ``eigenvalue``.
    """
    return n * jnp.log(1.0 / threshold) / (lr * jnp.asarray(eigenvalue))


# ----------------------------------------------------------------------------- convergence order


def never_as(step, value=np.inf) -> np.ndarray:
    """Convergence steps [..., K] as floats with "never" (-1) replaced by ``value``
    (+inf: later than any converged peak; or the step budget, for plotting)."""
    step = np.asarray(step, np.float64)
    return np.where(step < 0, value, step)


def in_frequency_order(step, strict: bool = True) -> np.ndarray:
    """Whether peaks sorted by increasing frequency converge from low to high.

    step: [..., K] convergence steps (-1 = never, see :func:`convergence_step`). With t_j the
    step of peak j and "never" = +inf:
        strict:      every peak converges and t_1 < t_2 < ... < t_K
        not strict:  the lowest peak converges and t_1 <= t_2 <= ... <= t_K (no higher peak
                     converges before a lower one; peaks still unconverged at the end of a
                     short run count as later than every converged one)
    Returns bool [...].
    """
    t = never_as(step)
    if t.shape[-1] < 2:
        raise ValueError(f"step: need at least two peaks along the last axis, got shape {t.shape}")
    lo, hi = t[..., :-1], t[..., 1:]
    if strict:
        return np.all(np.isfinite(t), axis=-1) & np.all(lo < hi, axis=-1)
    return np.isfinite(t[..., 0]) & np.all(lo <= hi, axis=-1)


def order_agreement(a, b) -> float:
    """Fraction of pairs (i, j) that two orderings rank alike: sign(a_i - a_j) = sign(b_i - b_j).

    a, b: [K] (e.g. predicted and measured convergence steps; a measured "never" should be
    passed as +inf). Pairs tied in ``a`` are skipped; 1.0 means the same order, 0.0 reversed.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise ValueError(
            f"b: need two 1-D orderings of the same length >= 2, got {a.shape} and {b.shape}"
        )
    i, j = np.triu_indices(a.size, 1)
    sa = np.sign(a[i] - a[j])
    both_never = np.isinf(b[i]) & np.isinf(b[j])
    sb = np.where(
        both_never, 0.0, np.sign(np.where(both_never, 0.0, b[i]) - np.where(both_never, 0.0, b[j]))
    )
    keep = sa != 0
    return float(np.mean(sa[keep] == sb[keep])) if keep.any() else float("nan")


class Plateau(NamedTuple):
    """start, end: first and last record step of the longest run of consecutive records with
    the loss within a factor (1 + rtol) of the level (-1, -1 if none); span: end / start
    (the plateau's length in log-step, as a ratio; 0 if none)."""

    start: int
    end: int
    span: float


def loss_plateau(steps, loss, level: float, rtol: float = 0.3) -> Plateau:
    """The longest plateau of a loss curve at ``level``: records with level / (1 + rtol) <= L
    <= level (1 + rtol). For a target sum_j A_j sin(k_j x) whose low peaks are fit and high
    peaks not, the plateau level is the unfit part's loss (1/2) mean(residual^2), e.g.
    A^2 / 4 for one unfit sine on a uniform grid of full periods (Fig 4.2).

    steps: [R] record steps (step 0 counts as step 1 in the span); loss: [R].
    """
    steps, loss = np.asarray(steps), np.asarray(loss, np.float64)
    if steps.shape != loss.shape or steps.ndim != 1:
        raise ValueError(
            f"loss: need one value per record step, got {loss.shape} for {steps.shape}"
        )
    if not (level > 0 and rtol > 0):
        raise ValueError(f"level: level and rtol must be > 0, got {level}, {rtol}")
    near = (loss >= level / (1 + rtol)) & (loss <= level * (1 + rtol))
    best, run_start, best_len = None, None, 0
    for r, ok in enumerate(near):
        if ok and run_start is None:
            run_start = r
        if run_start is not None and (not ok or r == len(near) - 1):
            end = r if ok else r - 1
            if end - run_start + 1 > best_len:
                best, best_len = (run_start, end), end - run_start + 1
            run_start = None
    if best is None:
        return Plateau(-1, -1, 0.0)
    s0, s1 = int(steps[best[0]]), int(steps[best[1]])
    return Plateau(s0, s1, float(max(s1, 1) / max(s0, 1)))


def unfit_loss(x, freqs, amplitudes=None) -> float:
    """Loss (1/2) mean_i r(x_i)^2 of leaving the sine series ``sum_j A_j sin(k_j x)`` unfit
    (the level of the loss plateau while those peaks are missing).   x: [n] or [n, 1].

    Args:
      x: sample points [n] or [n, 1]; freqs: k_j [J] of the unfit peaks; amplitudes: A_j [J]
        (None: as in :func:`sine_series`).
    Returns:
      the loss, a Python float.
    """
    r, _ = sine_series(x, freqs, amplitudes)
    return float(0.5 * jnp.mean(r**2))
