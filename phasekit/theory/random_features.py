"""Random-features regression and model-wise double descent (Belkin et al. 2019; book ch. 14).

    features     phi(x) = relu(x W^T)                 W [N, d] fixed, Phi = phi(X) [n, N]
    min-norm     a = Phi^+ Y = argmin { |a| : a minimizes |Phi a - Y|^2 }     (closed form)
    ridge        a_lam = argmin (1/n) |Phi a - Y|^2 + lam |a|^2
                       = (Phi^T Phi + n lam I)^-1 Phi^T Y = Phi^T (Phi Phi^T + n lam I)^-1 Y
                 and a_lam -> Phi^+ Y as lam -> 0 (on both sides of N = n)
    test error   (1/n_test) sum_i |phi(x_i) a - y_i|^2

With N < n the least-squares fit does not interpolate; at N = n Phi is square and badly
conditioned, |a| blows up and so does the test error (the interpolation peak); with N > n the
min-norm interpolant is again smooth. A feature ``mask`` [N] (1 = used) switches features off
without changing shapes: a zero column gets coefficient 0 in both solutions, so the fit equals
the one on the used features alone and the number of features can be a traced, vmapped value.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "feature_mask",
    "fit",
    "generalization_error",
    "min_norm_fit",
    "mse",
    "relu_features",
    "ridge_fit",
]


def relu_features(x, w, mask=None) -> jax.Array:
    """Phi = relu(x W^T) * mask, [n, N]; x [n, d], w [N, d], mask [N] or None."""
    phi = jax.nn.relu(x @ w.T)
    return phi if mask is None else phi * mask


def feature_mask(n_features, n_max: int) -> jax.Array:
    """[n_max] float mask with the first ``n_features`` entries 1 (``n_features`` may be traced)."""
    return (jnp.arange(n_max) < n_features).astype(jnp.float32)


def min_norm_fit(phi, y, rcond=None) -> jax.Array:
    """a = Phi^+ Y, the minimum-norm least-squares coefficients [N] or [N, k] (SVD-based
    ``jnp.linalg.lstsq``; singular values below ``rcond * s_max`` count as 0, default
    eps * max(n, N) as in numpy).
    ``phi``: features Phi [n, N] (:func:`relu_features`); ``y``: targets [n] or [n, k].
    """
    return jnp.linalg.lstsq(phi, y, rcond=rcond)[0]


def ridge_fit(phi, y, lam) -> jax.Array:
    """a_lam = argmin (1/n)|Phi a - Y|^2 + lam |a|^2, in the dual form
    Phi^T (Phi Phi^T + n lam I)^-1 Y when N > n, else the primal (Phi^T Phi + n lam I)^-1 Phi^T Y
    (both exact; the smaller system is solved). ``lam`` > 0, may be traced.
    ``phi``: features Phi [n, N] (:func:`relu_features`); ``y``: targets [n] or [n, k].
    Returns a [N] or [N, k].
    """
    n, p = phi.shape
    if p > n:
        g = phi @ phi.T + n * lam * jnp.eye(n, dtype=phi.dtype)
        return phi.T @ jnp.linalg.solve(g, y)
    g = phi.T @ phi + n * lam * jnp.eye(p, dtype=phi.dtype)
    return jnp.linalg.solve(g, phi.T @ y)


def fit(phi, y, lam=0.0) -> jax.Array:
    """Ridge for lam > 0, min-norm for lam = 0 (a traced ``lam``: both are computed, one kept).
    ``phi``: features Phi [n, N] (:func:`relu_features`); ``y``: targets [n] or [n, k].
    Returns a [N] or [N, k].
    """
    if not isinstance(lam, jax.core.Tracer):
        return ridge_fit(phi, y, lam) if float(lam) > 0 else min_norm_fit(phi, y)
    return jnp.where(lam > 0, ridge_fit(phi, y, jnp.where(lam > 0, lam, 1.0)), min_norm_fit(phi, y))


def mse(phi, a, y) -> jax.Array:
    """(1/n) sum_i |Phi_i a - y_i|^2 (summed over output columns), a scalar.
    ``phi``: features Phi [n, N] (:func:`relu_features`); ``y``: targets [n] or [n, k].
    ``a``: coefficients [N] or [N, k].
    """
    r = (phi @ a - y).reshape(phi.shape[0], -1)
    return jnp.mean(jnp.sum(r**2, axis=1))


def generalization_error(x_train, y_train, x_test, y_test, w, mask=None, lam=0.0) -> jax.Array:
    """Test MSE of the random-features regressor fitted on (x_train, y_train): min-norm for
    lam = 0, ridge otherwise.

    Args:
      x_train: [n, d];  y_train: [n] or [n, k];  x_test: [n_test, d];  y_test: like y_train.
      w: [N, d] the fixed first-layer weights;  mask: [N] or None (:func:`feature_mask`).
      lam: the ridge strength (0: min-norm).
    Returns:
      The test MSE, a scalar (:func:`mse` on the test features).
    """
    a = fit(relu_features(x_train, w, mask), y_train, lam)
    return mse(relu_features(x_test, w, mask), a, y_test)
