"""Conditioning: why feature scales slow gradient descent, and the Jacobian spectrum at init.

Least squares L(w) = |X w - y|^2 / (2n) has Hessian H = X^T X / n with eigenvalues in
[mu, L], kappa = L / mu. GD with the step 2 / (L + mu) contracts the error e_t = w_t - w* by

    |e_t| <= r^t |e_0|,   r = (kappa - 1) / (kappa + 1)      (equality along the extreme eigenvectors)

so the steps to a relative tolerance tol are ceil(log tol / log r) (one step when kappa = 1:
r = 0, the step 1 / L lands on w*). Standardizing the columns removes their scale differences
(kappa of the correlation matrix remains); PCA whitening makes H = I, kappa = 1.

A net's Hessian at init is indefinite and has a null space; its condition number here is
max |lambda| / min {|lambda| : |lambda| > rel_tol max |lambda|} (top over bottom nonzero).

Dynamical isometry (Saxe et al. 2014; Pennington et al. 2017): the input-output Jacobian
J = df/dx of a deep linear net x W_1 ... W_L is the product of its weights; with orthogonal
W_l every singular value of J is 1, with Gaussian W_l (variance 1/n) the squared singular
values spread like a product of L Wishart matrices.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from phasekit.theory import diagnostics

__all__ = [
    "condition_number",
    "gram_eigenvalues",
    "hessian_condition_number",
    "jacobian_singular_values",
    "log_spread",
    "predicted_gd_steps",
    "steps_to_tolerance",
]


def gram_eigenvalues(x) -> jax.Array:
    """Eigenvalues (ascending) of X^T X / n for ``x [n, d]``: the least-squares Hessian."""
    x = jnp.asarray(x)
    return jnp.linalg.eigvalsh(x.T @ x / x.shape[0])


def condition_number(x) -> jax.Array:
    """kappa = L / mu of X^T X / n (``x [n, d]`` of rank d)."""
    s = gram_eigenvalues(x)
    return s[-1] / s[0]


def predicted_gd_steps(kappa, tol) -> jax.Array:
    """ceil(log tol / log r), r = (kappa - 1) / (kappa + 1): GD's steps with step 2 / (L + mu) to
    |e_t| <= tol |e_0| (1 where r = 0)."""
    r = diagnostics.gd_rate(kappa)
    steps = jnp.ceil(jnp.log(tol) / jnp.log(jnp.where(r > 0, r, 0.5)))
    return jnp.where(r > 0, steps, 1.0)


def steps_to_tolerance(dist, tol) -> jax.Array:
    """First t with dist[t] <= tol dist[0] for ``dist [..., T+1]`` recorded at every step 0..T
    (T + 1 where it never does): the measured counterpart of :func:`predicted_gd_steps`."""
    dist = jnp.asarray(dist)
    below = dist <= tol * dist[..., :1]
    return jnp.where(jnp.any(below, -1), jnp.argmax(below, -1), dist.shape[-1])


def hessian_condition_number(eigenvalues, rel_tol: float = 1e-6) -> jax.Array:
    """max |lambda| / min{|lambda| > rel_tol max |lambda|} of a spectrum ``eigenvalues [..., P]``."""
    a = jnp.abs(jnp.asarray(eigenvalues))
    top = a.max(-1, keepdims=True)
    bottom = jnp.min(jnp.where(a > rel_tol * top, a, jnp.inf), -1)
    return top[..., 0] / bottom


def jacobian_singular_values(apply_fn: Callable, params, x, **apply_kwargs) -> jax.Array:
    """Singular values (descending) of the input-output Jacobian df/dx at each input:
    ``x [n, d]``, ``apply_fn(params, x [n, d]) -> [n, k]`` -> [n, min(d, k)]."""

    def one(xi):
        jac = jax.jacfwd(lambda v: apply_fn(params, v[None], **apply_kwargs)[0])(xi)
        return jnp.linalg.svd(jnp.atleast_2d(jac), compute_uv=False)

    return jax.vmap(one)(jnp.asarray(x))


def log_spread(singular_values) -> jax.Array:
    """Std of log singular values over the last axis (0 for perfect isometry):
    ``singular_values`` [..., k] -> [...]."""
    return jnp.std(jnp.log(jnp.asarray(singular_values)), -1)
