"""Scale invariance of weights feeding a normalization layer (BN, LN) and the effective
learning rate it implies (van Laarhoven 2017; Arora, Li & Lyu 2019).

If the loss depends on w only through N(x w) with N a batch or layer norm, L(c w) = L(w) for
c > 0. Differentiating in c at c = 1 gives <w, grad_w L> = 0, and grad_w L(c w) = grad_w L(w) / c.
So a GD step w' = (1 - beta) w - eta g (beta: decoupled weight decay, 0 for plain GD) obeys

    |w'|^2 = (1 - beta)^2 |w|^2 + eta^2 |g|^2                (the cross term vanishes)

and moves the direction u = w / |w| by eta |grad L(u)| / |w|^2: the effective learning rate on
the sphere is eta / |w|^2. Without decay |w| only grows (the effective rate decays by itself);
weight decay pulls |w|^2 to the balance (1 - (1 - beta)^2) |w|^4 = eta^2 |grad L(u)|^2.
(LN's epsilon breaks the invariance by O(eps / Var[z]).)
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

__all__ = [
    "cosine_weight_gradient",
    "effective_lr",
    "equilibrium_sq_norm",
    "next_sq_norm",
    "radial_derivatives",
    "rescale",
    "squared_norms",
]


def _pick(tree, select: Callable):
    """Leaves of ``tree`` whose key path (``jax.tree_util.keystr``) satisfies ``select``."""
    return [
        leaf
        for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]
        if select(jax.tree_util.keystr(path))
    ]


def radial_derivatives(loss_fn: Callable, params, data, select: Callable) -> jax.Array:
    """<w, grad_w L> of each selected leaf w (``select(keystr) -> bool``): [k]; 0 for scale-invariant w.

    Args:
      loss_fn: ``loss_fn(params, data) -> scalar``;  params: the point;  data: the loss's data.
      select: ``select(keystr) -> bool`` picks leaves by their key path (``jax.tree_util.keystr``).
    Returns:
      [k], one per selected leaf in flattening order.
    """
    g = jax.grad(loss_fn)(params, data)
    return jnp.stack([jnp.vdot(w, gw) for w, gw in zip(_pick(params, select), _pick(g, select))])


def cosine_weight_gradient(loss_fn: Callable, params, data, select: Callable) -> jax.Array:
    """<w, grad_w L> / (|w| |grad_w L|) of each selected leaf: [k] (scale-free form of the above).

    Arguments as :func:`radial_derivatives`.
    """
    g = jax.grad(loss_fn)(params, data)
    return jnp.stack(
        [
            jnp.vdot(w, gw) / (jnp.linalg.norm(w) * jnp.linalg.norm(gw))
            for w, gw in zip(_pick(params, select), _pick(g, select))
        ]
    )


def rescale(params, select: Callable, c):
    """``params`` with the selected leaves multiplied by ``c`` (``select`` as in
    :func:`radial_derivatives`); a pytree like ``params``."""
    return jax.tree_util.tree_map_with_path(
        lambda p, v: v * c if select(jax.tree_util.keystr(p)) else v, params
    )


def squared_norms(tree, select: Callable) -> jax.Array:
    """|w|^2 of each selected leaf of ``tree``: [k] (``select`` as in :func:`radial_derivatives`)."""
    return jnp.stack([jnp.sum(w**2) for w in _pick(tree, select)])


def effective_lr(lr, sq_norm):
    """eta / |w|^2: the learning rate of the direction w / |w| of a scale-invariant w (``lr`` = eta,
    ``sq_norm`` = |w|^2; broadcasting)."""
    return jnp.asarray(lr) / jnp.asarray(sq_norm)


def next_sq_norm(sq_norm, grad_sq_norm, lr, decay=0.0):
    """(1 - decay)^2 |w|^2 + lr^2 |g|^2: |w|^2 after one step w <- (1 - decay) w - lr g with <w, g> = 0.

    ``sq_norm`` = |w|^2, ``grad_sq_norm`` = |g|^2 (broadcasting).
    """
    return (1.0 - decay) ** 2 * sq_norm + lr**2 * grad_sq_norm


def equilibrium_sq_norm(grad_sq_norm_unit, lr, decay):
    """|w|^2 at which decay balances growth when |g|^2 = |g_unit|^2 / |w|^2 (g_unit: the gradient
    at w / |w|): (1 - (1 - decay)^2) |w|^4 = lr^2 |g_unit|^2, with ``grad_sq_norm_unit`` =
    |g_unit|^2 (broadcasting)."""
    return lr * jnp.sqrt(jnp.asarray(grad_sq_norm_unit) / (1.0 - (1.0 - decay) ** 2))
