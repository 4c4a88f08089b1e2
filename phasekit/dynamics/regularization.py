"""L1 and L2 regularization as optax transformations (spec 07, "L1 vs L2").

L2: gradient descent on L + (lambda / 2) |w|^2 adds lambda w to the gradient
(``optax.add_decayed_weights`` before the step). L1 by its proximal step (ISTA): after the
gradient step w' = w - lr g, apply the proximal map of lr lambda |w|_1, soft thresholding

    prox(w') = sign(w') max(|w'| - lr lambda, 0),

which sets small weights exactly to zero (a subgradient step on |w|_1 only makes them oscillate).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

__all__ = [
    "l1_proximal",
    "l2_sgd",
    "proximal_sgd",
    "soft_threshold",
    "sparsity",
    "weights_only",
]


def soft_threshold(w, tau):
    """sign(w) max(|w| - tau, 0), elementwise."""
    return jnp.sign(w) * jnp.maximum(jnp.abs(w) - tau, 0.0)


def l1_proximal(threshold) -> optax.GradientTransformation:
    """Turn an update u into prox(w + u) - w with prox = :func:`soft_threshold` at ``threshold``
    (= lr * lambda for an SGD step of size lr); chain it after the optimizer."""

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("l1_proximal: params are needed (call update(grads, state, params))")
        new = jax.tree_util.tree_map(
            lambda u, w: soft_threshold(w + u, threshold) - w, updates, params
        )
        return new, state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def proximal_sgd(lr, l1, mask: Callable | Any | None = None) -> optax.GradientTransformation:
    """ISTA: SGD with step ``lr`` on L followed by soft thresholding at lr * l1 (on the leaves
    selected by ``mask``, an optax mask pytree or callable; None: all leaves)."""
    prox = l1_proximal(lr * l1)
    return optax.chain(optax.sgd(lr), prox if mask is None else optax.masked(prox, mask))


def l2_sgd(lr, l2, mask: Callable | Any | None = None) -> optax.GradientTransformation:
    """SGD on L + (l2 / 2) |w|^2 (on the leaves of ``mask``; None: all leaves).

    Args:
      lr: the step; l2: the L2 coefficient (may be traced); mask: optax mask (pytree of bools or
        ``params -> pytree of bools``) of the regularized leaves.
    Returns:
      ``optax.GradientTransformation``.
    """
    return optax.chain(optax.add_decayed_weights(l2, mask), optax.sgd(lr))


def weights_only(params):
    """Mask selecting the ``"w"`` leaves of an mlp params list (biases unregularized)."""
    return [{k: k == "w" for k in layer} for layer in params]


def sparsity(params, tol: float = 1e-3, mask=None):
    """Fraction of weights with |w| <= tol (over the leaves of ``mask``, default all).

    Args:
      params: pytree; tol: the threshold on |w|; mask: pytree of bools or ``params -> mask``.
    Returns:
      the fraction, a scalar in [0, 1].
    """
    leaves = jax.tree_util.tree_leaves(params)
    if mask is not None:
        sel = jax.tree_util.tree_leaves(mask(params) if callable(mask) else mask)
        leaves = [w for w, m in zip(leaves, sel) if m]
    small = sum(jnp.sum(jnp.abs(w) <= tol) for w in leaves)
    return small / sum(w.size for w in leaves)
