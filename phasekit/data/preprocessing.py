"""Data transforms fit on a training set and applied unchanged to any other set (spec 07,
"Preprocessing"). Each is an affine map x -> (x - shift) @ matrix:

    min-max          shift = min,  matrix = diag(1 / (max - min))          (columns in [0, 1])
    standardization  shift = mu,   matrix = diag(1 / sigma)                 (zero mean, unit variance)
    PCA whitening    shift = mu,   matrix = U Lambda^{-1/2}                 (covariance I)

with mu, sigma, the covariance C = U Lambda U^T of the *training* rows (1/n normalization, so
that a whitened training set has X^T X / n = I exactly; scikit-learn's ``PCA(whiten=True)``
divides by n - 1 instead: the same map times sqrt((n - 1) / n)). Columns of zero spread are
left unscaled (divided by 1) and directions of zero variance are dropped by whitening only when
``rank`` says so. Everything is jnp: jit- and vmap-able over data sets of one shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp

__all__ = [
    "Affine",
    "TRANSFORMS",
    "fit",
    "fit_apply",
    "fit_min_max",
    "fit_standardize",
    "fit_whiten",
]


class Affine(NamedTuple):
    """x -> (x - shift) @ matrix; shift [d], matrix [d, k]."""

    shift: jnp.ndarray
    matrix: jnp.ndarray

    def __call__(self, x):
        return (jnp.asarray(x) - self.shift) @ self.matrix


def _safe(scale):
    return jnp.where(scale > 0, scale, 1.0)


def fit_min_max(x) -> Affine:
    """Min-max scaling of the columns of the training rows ``x [n, d]`` to [0, 1]."""
    x = jnp.asarray(x)
    lo, hi = x.min(0), x.max(0)
    return Affine(lo, jnp.diag(1.0 / _safe(hi - lo)))


def fit_standardize(x) -> Affine:
    """Standardization (x - mu) / sigma with the training rows' mean and (1/n) std per column."""
    x = jnp.asarray(x)
    return Affine(x.mean(0), jnp.diag(1.0 / _safe(x.std(0))))


def fit_whiten(x, rank: int | None = None) -> Affine:
    """PCA whitening Lambda^{-1/2} U^T (x - mu) of the training rows ``x [n, d]``: the
    ``rank`` (default d) leading principal directions, in decreasing variance, each scaled to
    unit variance. The transformed training rows have X^T X / n = I_rank."""
    x = jnp.asarray(x)
    mu = x.mean(0)
    c = (x - mu).T @ (x - mu) / x.shape[0]
    lam, u = jnp.linalg.eigh(c)
    lam, u = lam[::-1], u[:, ::-1]
    k = x.shape[1] if rank is None else rank
    return Affine(mu, u[:, :k] / jnp.sqrt(_safe(lam[:k])))


TRANSFORMS: dict[str, Callable[..., Affine] | None] = {
    "raw": None,
    "min_max": fit_min_max,
    "standardize": fit_standardize,
    "whiten": fit_whiten,
}


def fit(name: str, x) -> Affine:
    """A transform by name (raw | min_max | standardize | whiten) fit on ``x``; "raw" is the identity."""
    if name not in TRANSFORMS:
        raise ValueError(f"transform: one of {', '.join(TRANSFORMS)}, got {name!r}")
    x = jnp.asarray(x)
    transform = TRANSFORMS[name]
    if transform is None:  # "raw"
        return Affine(jnp.zeros(x.shape[1], x.dtype), jnp.eye(x.shape[1], dtype=x.dtype))
    return transform(x)


def fit_apply(name: str, x_train, *others):
    """(transformed x_train, *transformed others) with the transform fit on ``x_train`` alone.

    Args:
      name: one of :data:`TRANSFORMS`; x_train: [n, d] rows the transform is fit on; others: more
        arrays [n_i, d] transformed the same way (e.g. the test set).
    Returns:
      a tuple of the transformed arrays ([n, k] and [n_i, k]), ``x_train``'s first.
    """
    t = fit(name, x_train)
    return (t(x_train),) + tuple(t(o) for o in others)
