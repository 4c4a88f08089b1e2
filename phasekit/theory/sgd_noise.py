"""Structure of the SGD noise: gradient covariance against the Hessian, weight variance against
flatness (Zhu et al. 2019; Feng & Tu 2021; spec 05 "SGD noise").

Gradient noise. With per-example gradients g_i [n, P] and G = mean_i g_i, the per-sample
covariance is Sigma = (1/n) sum_i (g_i - G)(g_i - G)^T; a minibatch of B samples drawn with
replacement has gradient covariance Sigma / B. Sigma is never formed: on an orthonormal basis
V [k, P] (e.g. the top-k Hessian eigenvectors) its projection is

    Sigma_V = V Sigma V^T = (1/n) (G_c V^T)^T (G_c V^T)   [k, k],    G_c = g - G,

and the variance along direction v_i is sigma_i^2 = v_i^T Sigma v_i. Closed form (linear
regression y = w*.x + eps, x ~ N(0, S), Var eps = s^2, at w = w*): g = -eps x, so
Sigma = s^2 S = 2 L H with L = s^2 / 2 the loss and H = S the Hessian: the noise is the
Hessian up to the loss, sigma_i^2 = 2 L lambda_i along the eigenvectors.

Alignment of Sigma with H on the top-k subspace: the cosine between vec(Sigma_V) and
vec(diag lambda) (= sum_i sigma_i^2 lambda_i / (|Sigma_V|_F |lambda|)); 1 when Sigma_V is
proportional to diag(lambda), sum_i lambda_i / (sqrt k |lambda|) for isotropic noise.

Weight variance (Feng & Tu 2021). From SGD snapshots theta_t [T, P] the principal directions
p_i and variances sigma_i^2 (PCA of the centred snapshots, by an SVD of the [T, P] matrix), and
along each p_i the flatness F_i (:func:`phasekit.theory.landscape.direction_flatness`). Feng &
Tu find the inverse variance-flatness relation sigma_i^2 ~ F_i^-psi with psi ~ 4 (> 0: the
flatter a direction, the less SGD moves along it; thermal equilibrium with isotropic noise
would give psi = -2). :func:`power_law_exponent` fits psi on log-log axes. On a quadratic with
Sigma = 2 L H: F_i = 2 sqrt(2 (e - 1) L / lambda_i), so the gradient variance sigma_i^2 = 2 L
lambda_i ~ F_i^-2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from phasekit.theory import diagnostics, hessian
from phasekit.typing import Data, Params

__all__ = [
    "GradientNoise",
    "PowerLaw",
    "WeightPCA",
    "covariance_alignment",
    "gradient_noise",
    "power_law_exponent",
    "projected_covariance",
    "weight_pca",
]


def projected_covariance(grads, basis) -> jax.Array:
    """Sigma_V = V Sigma V^T [k, k] of the per-sample gradient covariance
    Sigma = (1/n) sum_i (g_i - G)(g_i - G)^T, without forming the [P, P] matrix.

    Args:
      grads: g [n, P] per-example gradients (or any sample of gradient vectors, e.g. minibatch
        gradients: then it is their covariance).
      basis: V [k, P], the directions (rows; orthonormal for a projection).
    Returns:
      [k, k]; its diagonal is the variance sigma_i^2 = v_i^T Sigma v_i along each direction.
    """
    grads, basis = jnp.asarray(grads), jnp.asarray(basis)
    if grads.ndim != 2 or basis.ndim != 2 or grads.shape[1] != basis.shape[1]:
        raise ValueError(
            f"basis: need grads [n, P] and basis [k, P] with one P, got {grads.shape}, {basis.shape}"
        )
    z = (grads - grads.mean(0)) @ basis.T  # [n, k]
    return z.T @ z / grads.shape[0]


def covariance_alignment(cov, eigenvalues) -> jax.Array:
    """cos(vec Sigma_V, vec diag lambda) = sum_i Sigma_ii lambda_i / (|Sigma_V|_F |lambda|).

    1 iff Sigma_V = c diag(lambda) (c > 0); isotropic noise gives sum lambda / (sqrt k |lambda|).

    Args:
      cov: Sigma_V [k, k] on the Hessian eigenvectors (:func:`projected_covariance`).
      eigenvalues: lambda [k] of those eigenvectors.
    Returns:
      scalar in [-1, 1].
    """
    cov, lam = jnp.asarray(cov), jnp.asarray(eigenvalues)
    return jnp.sum(jnp.diagonal(cov) * lam) / (jnp.linalg.norm(cov) * jnp.linalg.norm(lam))


class GradientNoise(NamedTuple):
    """Result of :func:`gradient_noise`.

    eigenvalues: [k] top Hessian eigenvalues lambda_i (descending)
    variance:    [k] sigma_i^2 = v_i^T Sigma v_i along their eigenvectors
    covariance:  [k, k] Sigma projected on the eigenvectors
    random_variance: [r] v^T Sigma v along r random unit directions
    mean_variance: tr(Sigma) / P, the variance of isotropic noise of the same total
    alignment:   cosine of vec(Sigma_V) and vec(diag lambda) (:func:`covariance_alignment`)
    """

    eigenvalues: jax.Array
    variance: jax.Array
    covariance: jax.Array
    random_variance: jax.Array
    mean_variance: jax.Array
    alignment: jax.Array


def gradient_noise(
    loss_fn: Callable,
    params: Params,
    data: Data,
    *,
    k: int = 10,
    num_random: int = 10,
    num_steps: int | None = None,
    key=None,
) -> GradientNoise:
    """The per-sample gradient covariance of ``loss_fn`` on ``data`` along the top-k Hessian
    eigenvectors (Lanczos, :func:`hessian.top_eigenpairs`) and along random unit directions.

    Args:
      loss_fn: ``loss_fn(params, data) -> scalar``, a mean over the samples of ``data``.
      params: the point (pytree, P entries raveled); data: ``(x [n, ...], y [n, ...])``.
      k: Hessian eigenvectors; num_random: random directions; num_steps: Lanczos steps.
      key: PRNG key of the Lanczos start and the random directions.
    Returns:
      :class:`GradientNoise`.
    """
    key = jax.random.key(0) if key is None else key
    k_lan, k_rand = jax.random.split(key)
    pairs = hessian.top_eigenpairs(loss_fn, params, data, k=k, num_steps=num_steps, key=k_lan)
    V = jax.vmap(lambda v: ravel_pytree(v)[0])(pairs.vectors)  # [k, P]
    g = diagnostics.per_example_gradients(loss_fn, params, data)  # [n, P]
    R = jax.random.normal(k_rand, (num_random, g.shape[1]), g.dtype)
    R = R / jnp.linalg.norm(R, axis=1, keepdims=True)
    cov = projected_covariance(g, V)
    gc = g - g.mean(0)
    return GradientNoise(
        pairs.values,
        jnp.diagonal(cov),
        cov,
        jnp.diagonal(projected_covariance(g, R)),
        jnp.sum(gc**2) / (g.shape[0] * g.shape[1]),
        covariance_alignment(cov, pairs.values),
    )


class WeightPCA(NamedTuple):
    """Result of :func:`weight_pca`.

    mean:       [P] the mean snapshot theta_bar
    variance:   [k] variances sigma_i^2 of the snapshots along the principal directions (descending)
    directions: [k, P] the principal directions p_i (orthonormal rows)
    """

    mean: jax.Array
    variance: jax.Array
    directions: jax.Array


def weight_pca(snapshots: jax.Array, k: int, detrend: bool = False) -> WeightPCA:
    """PCA of SGD weight snapshots theta_t [T, P]: the top k principal directions and variances
    sigma_i^2 = s_i^2 / T (s_i the singular values of the centred snapshots), via an SVD of the
    [T, P] matrix (the [P, P] covariance is never formed).

    ``detrend``: remove from every coordinate its least-squares line in the snapshot index
    t = 0..T-1 (not only its mean) before the SVD, so a steady drift of the weights (e.g. the norm
    growth of a cross-entropy run) does not count as a fluctuation; ``mean`` stays the mean.

    Args:
      snapshots: [T, P] raveled parameters along a run; k: directions kept (<= min(T, P)).
      detrend: subtract the linear trend in t as well as the mean.
    Returns:
      :class:`WeightPCA`.
    """
    x = jnp.asarray(snapshots)
    if x.ndim != 2 or not 1 <= k <= min(x.shape):
        raise ValueError(f"k: need 1 <= k <= min(T, P) = {min(x.shape)}, got {k}")
    mean = x.mean(0)
    xc = x - mean
    if detrend:
        t = jnp.arange(x.shape[0], dtype=x.dtype)
        t = t - t.mean()
        xc = xc - jnp.outer(t, t @ xc / (t @ t))
    _, s, vt = jnp.linalg.svd(xc, full_matrices=False)
    return WeightPCA(mean, s[:k] ** 2 / x.shape[0], vt[:k])


class PowerLaw(NamedTuple):
    """Least-squares line log y = c - psi log x: ``psi`` (the exponent of y ~ x^-psi), the
    intercept ``c`` and the correlation ``r`` of log x and log y (scalars, host floats)."""

    psi: float
    c: float
    r: float


def power_law_exponent(x, y) -> PowerLaw:
    """Fit y ~ x^-psi on log-log axes over the finite positive pairs (host-only, numpy), e.g.
    Feng & Tu's sigma_i^2 ~ F_i^-psi with x = F [k], y = sigma^2 [k].

    Args:
      x, y: [k] positive values (non-finite or non-positive pairs are dropped).
    Returns:
      :class:`PowerLaw` (NaN for fewer than 2 distinct usable x).
    """
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"y: need the shape of x {x.shape}, got {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    lx, ly = np.log(x[ok]), np.log(y[ok])
    if lx.size < 2 or np.ptp(lx) == 0:
        return PowerLaw(float("nan"), float("nan"), float("nan"))
    slope, c = np.polyfit(lx, ly, 1)
    r = float(np.corrcoef(lx, ly)[0, 1]) if np.ptp(ly) > 0 else float("nan")
    return PowerLaw(float(-slope), float(c), r)
