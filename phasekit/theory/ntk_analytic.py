"""Closed forms around the NTK: kernel gradient descent, two-layer ReLU kernels, 1-D spectra.

Kernel GD for the MSE loss L = 1/(2n) sum_i |f(x_i) - y_i|^2 of a model that is linear in its
parameters (the linearized network, kernel Theta frozen at init):

    GD, step lr:     f_t - y = (I - lr Theta / n)^t (f_0 - y)
    gradient flow:   f_t - y = exp(-lr Theta t / n) (f_0 - y)             (t in units of steps)
    test points:     f_t(X) = f_0(X) + Theta(X, x) Theta^{-1} (I - S_t) (y - f_0)

with S_t the propagator above; computed in the eigenbasis Theta = V diag(lam) V^T (one
``eigh`` for all times), the zero-eigenvalue limit of Theta^{-1} (I - S_t) taken exactly.

Two-layer ReLU net of spec 01, f = (1/alpha) sum_k a_k relu(w_k . x + b_k), a ~ N(0, beta1^2),
(w, b) ~ N(0, beta2^2), x~ = (x, 1), theta the angle between x~ and x~':

    E Theta_emp = (m / alpha^2) [beta2^2 k1(x, x') + beta1^2 k0(x, x') (x~ . x~')]
    NNGP K      = (m / alpha^2)  beta1^2 beta2^2 k1(x, x')
    k0 = (pi - theta) / (2 pi),   k1 = |x~| |x~'| (sin theta + (pi - theta) cos theta) / (2 pi)

(arc-cosine kernels of order 0 and 1, Cho & Saul 2009). The empirical NTK is a sum of m
i.i.d. neuron terms, so it equals this mean up to O(m^-1/2) relative fluctuations; with the
NTK preset (alpha = sqrt m, beta1 = beta2 = 1) the mean is the infinite-width NTK;
:func:`relative_kernel_error` measures the gap ||Theta_m - Theta_inf||_F / ||Theta_inf||_F.

On a 1-D grid, :func:`spectrum_1d` gives each eigenfunction's dominant frequency and
:func:`frequency_rank_correlation` how well the eigenvalue order follows the frequency order
(Spearman's rho; the linear-regime F-Principle: large eigenvalues, low frequencies).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "GDPrediction",
    "Spectrum",
    "frequency_rank_correlation",
    "gd_mse_predictor",
    "predict_gd_mse",
    "relative_kernel_error",
    "spectrum_1d",
    "two_layer_relu_nngp",
    "two_layer_relu_ntk",
]


class GDPrediction(NamedTuple):
    """train: [T, n, ...] outputs on the training set; test: [T, n_test, ...] or None."""

    train: jax.Array
    test: jax.Array | None


def predict_gd_mse(
    ntk_train_train, y, f0, lr, t, ntk_test_train=None, *, f0_test=None, flow: bool = False
) -> GDPrediction:
    """Outputs of GD (or gradient flow) on the MSE loss with the frozen kernel, at times ``t``.

    Args:
      ntk_train_train: Theta(x, x), [n, n] (symmetric PSD).
      y: targets [n] or [n, k]; f0: outputs at init, same shape.
      lr: learning rate; t: number of steps, scalar or [T] (non-integers allowed with ``flow``).
      ntk_test_train: Theta(X, x), [n_test, n], for predictions at test points.
      f0_test: outputs at init on the test points (default 0, e.g. anti-symmetric init).
      flow: gradient flow exp(-lr Theta t / n) instead of discrete GD (I - lr Theta / n)^t.
    Returns:
      :class:`GDPrediction` with leading time axis [T] (absent when ``t`` is a scalar).
      All times share one eigen-decomposition; to query times later without redoing it,
      use :func:`gd_mse_predictor`.
    """
    return gd_mse_predictor(ntk_train_train, y, f0, lr, ntk_test_train, f0_test=f0_test, flow=flow)(
        t
    )


def gd_mse_predictor(
    ntk_train_train, y, f0, lr, ntk_test_train=None, *, f0_test=None, flow: bool = False
):
    """``t -> GDPrediction`` of :func:`predict_gd_mse`, with Theta = V diag(lam) V^T computed
    once (the residual y - f0 and Theta(X, x) V are projected once too).

    Args:
      ntk_train_train, y, f0, lr, ntk_test_train, f0_test, flow: as :func:`predict_gd_mse`
        (Theta(x, x) [n, n], targets and init outputs [n] or [n, k], Theta(X, x) [n_test, n]).
    Returns:
      ``predict(t) -> GDPrediction`` for a scalar t or times [T].
    """
    n = ntk_train_train.shape[0]
    if ntk_train_train.shape != (n, n):
        raise ValueError(f"ntk_train_train: expected [n, n], got {ntk_train_train.shape}")
    if y.shape[0] != n or f0.shape != y.shape:
        raise ValueError(
            f"y: need [n, ...] with n = {n} and f0 of the same shape, got y {y.shape}, f0 {f0.shape}"
        )
    if ntk_test_train is not None and (ntk_test_train.ndim != 2 or ntk_test_train.shape[1] != n):
        raise ValueError(f"ntk_test_train: expected [n_test, {n}], got {ntk_test_train.shape}")
    lam, v = jnp.linalg.eigh(ntk_train_train)
    lam = jnp.clip(lam, 0.0)
    rate = lr * lam / n
    r0 = v.T @ (y - f0).reshape(n, -1)  # residual modes [n, k]
    if ntk_test_train is not None:
        test_modes = ntk_test_train @ v  # Theta(X, x) V
        base = (
            jnp.zeros((ntk_test_train.shape[0],) + y.shape[1:], y.dtype)
            if f0_test is None
            else f0_test
        )

    def predict(t) -> GDPrediction:
        t = jnp.asarray(t, lam.dtype)
        ts = t.reshape(-1, 1)  # [T, 1]
        # 1 - S_t per mode, with expm1/log1p so that slow modes keep their precision
        if flow:
            grown = -jnp.expm1(-rate * ts)
        else:
            stable = rate < 1.0
            log_step = jnp.log1p(-jnp.where(stable, rate, 0.0))
            grown = jnp.where(stable, -jnp.expm1(ts * log_step), 1.0 - (1.0 - rate) ** ts)
        train = f0.reshape(n, -1) + jnp.einsum("ij,tj,jk->tik", v, grown, r0)
        test = None
        if ntk_test_train is not None:
            null = lam <= 0.0  # (1 - S_t) / lam -> lr t / n
            gain = jnp.where(
                null, lr * ts / n, grown / jnp.where(null, 1.0, lam)
            )  # Theta^-1 (1 - S_t)
            test = base.reshape(base.shape[0], -1) + jnp.einsum(
                "aj,tj,jk->tak", test_modes, gain, r0
            )
            test = test.reshape(t.shape + base.shape)
        return GDPrediction(train.reshape(t.shape + y.shape), test)

    return predict


def _angle_terms(x1, x2, bias: bool):
    def aug(x):
        return jnp.concatenate([x, jnp.ones((x.shape[0], 1), x.dtype)], axis=1) if bias else x

    a, b = aug(x1), aug(x2)
    dot = a @ b.T
    norms = jnp.linalg.norm(a, axis=1)[:, None] * jnp.linalg.norm(b, axis=1)[None, :]
    cos = jnp.clip(dot / jnp.where(norms > 0, norms, 1.0), -1.0, 1.0)
    theta = jnp.arccos(cos)
    k0 = (jnp.pi - theta) / (2 * jnp.pi)
    k1 = norms * (jnp.sin(theta) + (jnp.pi - theta) * cos) / (2 * jnp.pi)
    return dot, k0, k1


def two_layer_relu_ntk(
    x1, x2=None, *, width: int = 1, alpha=1.0, beta1=1.0, beta2=1.0, bias: bool = True
):
    """Expected NTK of ``two_layer.apply`` (ReLU) at init, [n1, n2]; see the module docstring.

    For a preset: ``alpha, beta1, beta2 = two_layer.preset("ntk", m, d)``, then
    ``two_layer_relu_ntk(x, width=m, alpha=alpha, beta1=beta1, beta2=beta2)``. With the NTK
    preset it does not depend on ``width`` (the infinite-width NTK).

    Args:
      x1: [n1, d];  x2: [n2, d] (default x1).
      width: m;  alpha, beta1, beta2: the scales of :func:`phasekit.models.two_layer.apply`
        and :func:`~phasekit.models.two_layer.rescale`.
      bias: the net has input biases b_k (then x is extended by a constant 1).
    Returns:
      [n1, n2].
    """
    dot, k0, k1 = _angle_terms(x1, x1 if x2 is None else x2, bias)
    return width / alpha**2 * (beta2**2 * k1 + beta1**2 * k0 * dot)


def two_layer_relu_nngp(
    x1, x2=None, *, width: int = 1, alpha=1.0, beta1=1.0, beta2=1.0, bias: bool = True
):
    """NNGP kernel E f(x) f(x') of ``two_layer.apply`` (ReLU) at init, [n1, n2].

    Args:
      x1, x2, width, alpha, beta1, beta2, bias: as :func:`two_layer_relu_ntk`.
    Returns:
      [n1, n2].
    """
    _, _, k1 = _angle_terms(x1, x1 if x2 is None else x2, bias)
    return width / alpha**2 * beta1**2 * beta2**2 * k1


class Spectrum(NamedTuple):
    """eigenvalues [n] (descending), eigenvectors [n, n] (columns), frequency [n] of each."""

    eigenvalues: jax.Array
    eigenvectors: jax.Array
    frequency: jax.Array


def spectrum_1d(kernel, grid) -> Spectrum:
    """Eigen-decomposition of a kernel matrix on a uniform 1-D grid, with the dominant
    frequency of each eigenfunction: argmax_k |DFT(v)_k|, in cycles per unit of x.

    Args:
      kernel: [n, n] symmetric kernel matrix K(grid_i, grid_j).
      grid: [n] (or [n, 1]) uniformly spaced points.
    """
    grid = jnp.reshape(grid, (-1,))
    n = grid.shape[0]
    if kernel.shape != (n, n):
        raise ValueError(
            f"kernel: expected [{n}, {n}] for a grid of {n} points, got {kernel.shape}"
        )
    lam, v = jnp.linalg.eigh(kernel)
    lam, v = lam[::-1], v[:, ::-1]
    power = jnp.abs(jnp.fft.rfft(v, axis=0)) ** 2  # [n//2 + 1, n]
    spacing = (grid[-1] - grid[0]) / (n - 1)
    freq = jnp.argmax(power, axis=0) / (n * spacing)
    return Spectrum(lam, v, freq)


def _average_ranks(v):
    """Ranks 0..k-1 of v [k], ties sharing the mean of their ranks (as Spearman's rho uses)."""
    less = jnp.sum(v[None, :] < v[:, None], axis=1)
    equal = jnp.sum(v[None, :] == v[:, None], axis=1)
    return less + (equal - 1) / 2.0


def frequency_rank_correlation(frequency, k: int = 30):
    """Spearman's rank correlation between the eigenvalue order 0..k-1 and the dominant
    frequencies ``frequency[:k]`` (eigenvalues sorted descending, as :func:`spectrum_1d` gives):
    +1 when the eigenfunctions of larger eigenvalues never have higher frequencies.

        rho = corr(rank(j), rank(freq_j)),   j < k,   ties take their mean rank.
    """
    f = jnp.asarray(frequency)[:k]
    rf = _average_ranks(f)
    ri = jnp.arange(f.shape[0], dtype=rf.dtype)
    rf, ri = rf - rf.mean(), ri - ri.mean()
    return jnp.sum(rf * ri) / jnp.sqrt(jnp.sum(rf**2) * jnp.sum(ri**2))


def relative_kernel_error(kernel, reference):
    """||K - K_ref||_F / ||K_ref||_F: e.g. an empirical NTK against the infinite-width one,
    which falls like m^-1/2 in the NTK preset (a sum of m i.i.d. neuron terms). ``kernel`` and
    ``reference`` of one shape, e.g. [n1, n2]; returns a scalar."""
    return jnp.linalg.norm(kernel - reference) / jnp.linalg.norm(reference)
