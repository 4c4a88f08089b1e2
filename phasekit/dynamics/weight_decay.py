"""Weight decay versus L2 regularization (Loshchilov & Hutter, ICLR 2019), as optax chains.

SGD with decoupled decay beta and SGD on L + (lambda / 2) |theta|^2 are the same map when
lambda = beta / eta:

    theta <- (1 - beta) theta - eta g  =  theta - eta (g + lambda theta).

Under Adam they differ. L2 enters the gradient, g + lambda theta, and is divided like the rest by
the second-moment estimate: in the steady state a parameter decays by about
eta lambda / (sqrt(v_hat) + eps) per step, less for parameters with large gradients.
Decoupled decay (AdamW, ``optax.adamw``: theta <- theta - eta (m_hat / (sqrt(v_hat) + eps) + lambda theta))
shrinks every parameter by eta lambda per step. On L = sum_i h_i (theta_i - t_i)^2 / 2
(gradients of scale h_i) the stationary points are

    Adam + L2:  theta_i = h_i t_i / (h_i + lambda)                (ridge: shrinkage lambda / (h_i + lambda))
    AdamW:      h_i (t_i - theta_i)(1 - lambda theta_i) = lambda theta_i eps, theta_i < min(t_i, 1 / lambda)

(t_i > 0; AdamW's from m_hat / (sqrt(v_hat) + eps) = g / (|g| + eps) at a fixed point), so AdamW's
does not depend on h_i when |g| >> eps: theta_i -> 1 / lambda wherever t_i > 1 / lambda.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from phasekit.dynamics.regularization import l2_sgd

__all__ = [
    "DECAYS",
    "adam_decay",
    "adam_l2",
    "adamw",
    "adamw_quadratic_fixed_point",
    "decoupled_sgd",
    "effective_shrinkage",
    "equivalent_l2",
    "ridge_fixed_point",
    "second_moment",
    "sgd_decay",
]


def decoupled_sgd(lr, decay, mask: Callable | Any | None = None) -> optax.GradientTransformation:
    """theta <- (1 - decay) theta - lr g (on the leaves of ``mask``; None: all)."""
    return optax.chain(optax.sgd(lr), optax.add_decayed_weights(-decay, mask))


def equivalent_l2(lr, decay):
    """lambda = decay / lr: the L2 coefficient whose SGD equals :func:`decoupled_sgd`."""
    return decay / lr


def adam_l2(
    lr, l2, mask: Callable | Any | None = None, **adam_kwargs
) -> optax.GradientTransformation:
    """Adam on L + (l2 / 2) |theta|^2: ``add_decayed_weights`` before ``adam``.

    Args:
      lr: the learning rate; l2: the L2 coefficient (may be traced).
      mask: optax mask of the decayed leaves (a pytree of bools or ``params -> pytree``; None: all).
      **adam_kwargs: passed to ``optax.adam``.
    Returns:
      ``optax.GradientTransformation``.
    """
    return optax.chain(optax.add_decayed_weights(l2, mask), optax.adam(lr, **adam_kwargs))


def adamw(
    lr, decay, mask: Callable | Any | None = None, **adam_kwargs
) -> optax.GradientTransformation:
    """AdamW (decoupled): ``optax.adamw(lr, weight_decay=decay)``; each step shrinks theta by lr * decay.

    Args:
      lr: the learning rate; decay: the decoupled decay (may be traced).
      mask: optax mask of the decayed leaves (a pytree of bools or ``params -> pytree``; None: all).
      **adam_kwargs: passed to ``optax.adamw``.
    Returns:
      ``optax.GradientTransformation``.
    """
    return optax.adamw(lr, weight_decay=decay, mask=mask, **adam_kwargs)


def sgd_decay(lr, l2=0.0, decoupled=0.0, mask=None) -> optax.GradientTransformation:
    """theta <- (1 - decoupled) theta - lr (g + l2 theta): L2 and decoupled decay in one chain
    (either may be 0, both traced), so runs of both kinds share one compiled program; with one
    of them 0 it is :func:`~phasekit.dynamics.regularization.l2_sgd` / :func:`decoupled_sgd` exactly.

    Args:
      lr: the learning rate; l2, decoupled: the two decays (may be traced).
      mask: optax mask of the decayed leaves (a pytree of bools or ``params -> pytree``; None: all).
    Returns:
      ``optax.GradientTransformation``.
    """
    return optax.chain(
        optax.add_decayed_weights(l2, mask),
        optax.sgd(lr),
        optax.add_decayed_weights(-decoupled, mask),
    )


def adam_decay(lr, l2=0.0, decoupled=0.0, mask=None, **adam_kwargs) -> optax.GradientTransformation:
    """Adam with L2 ``l2`` in the gradient and decoupled decay ``decoupled`` (both traced):
    l2 only is :func:`adam_l2`, decoupled only is ``optax.adamw`` (the same chain: scale_by_adam,
    add_decayed_weights, scale_by_learning_rate), so both kinds share one compiled program.

    Args:
      lr: the learning rate; l2, decoupled: the two decays (may be traced).
      mask: optax mask of the decayed leaves (a pytree of bools or ``params -> pytree``; None: all).
      **adam_kwargs: ``b1``, ``b2``, ``eps``... of ``optax.scale_by_adam``.
    Returns:
      ``optax.GradientTransformation``.
    """
    return optax.chain(
        optax.add_decayed_weights(l2, mask),
        optax.scale_by_adam(**adam_kwargs),
        optax.add_decayed_weights(decoupled, mask),
        optax.scale_by_learning_rate(lr),
    )


DECAYS = {"sgd_l2": l2_sgd, "sgd_decoupled": decoupled_sgd, "adam_l2": adam_l2, "adamw": adamw}


def second_moment(opt_state, b2: float = 0.999):
    """Bias-corrected v_hat = nu / (1 - b2^count) of the (first) ``optax.scale_by_adam`` state in
    ``opt_state`` (a pytree like the params)."""
    found = [
        s
        for s in jax.tree_util.tree_leaves(
            opt_state, is_leaf=lambda s: isinstance(s, optax.ScaleByAdamState)
        )
        if isinstance(s, optax.ScaleByAdamState)
    ]
    if not found:
        raise ValueError("opt_state: no optax.scale_by_adam state inside")
    s = found[0]
    corr = 1.0 - jnp.asarray(b2, jnp.float32) ** s.count.astype(jnp.float32)
    return jax.tree_util.tree_map(lambda v: v / corr, s.nu)


def effective_shrinkage(make: Callable, decay, opt_state, grads, params):
    """Per-parameter shrinkage of one step, (u_0 - u_decay) / theta: the update ``make(decay)``
    gives minus the one ``make(0)`` gives, from the same optimizer state and gradient, over
    -theta (so a step theta <- (1 - s) theta - ... has shrinkage s). ``make(decay) ->
    GradientTransformation`` whose state structure does not depend on ``decay`` (all of
    :data:`DECAYS`). Returns a pytree like ``params``.

    Args:
      make: see above; decay: the decay; opt_state: the optimizer state (of ``make(0)``'s
      structure); grads: the gradient (pytree like ``params``); params: theta.
    """
    u_d, _ = make(decay).update(grads, opt_state, params)
    u_0, _ = make(0.0).update(grads, opt_state, params)
    return jax.tree_util.tree_map(lambda a, b, w: (b - a) / w, u_d, u_0, params)


def ridge_fixed_point(h, t, l2):
    """theta_i = h_i t_i / (h_i + l2): the minimizer of sum h_i (theta_i - t_i)^2 / 2 + l2 |theta|^2 / 2,
    where Adam + L2 (any step size small enough) comes to rest.

    Args:
      h: curvatures h_i > 0; t: targets t_i; l2: the L2 coefficient (broadcasting arrays).
    Returns:
      theta_i, the broadcast shape.
    """
    h, t = jnp.asarray(h), jnp.asarray(t)
    return h * t / (h + l2)


def adamw_quadratic_fixed_point(h, t, decay, eps: float = 1e-8):
    """AdamW's stationary point on sum h_i (theta_i - t_i)^2 / 2 (t_i > 0): the root in
    (0, min(t_i, 1/decay)) of h (t - theta)(1 - decay theta) = decay eps theta, i.e.
    h decay theta^2 - (h + h decay t + decay eps) theta + h t = 0 (smaller root)."""
    h, t = jnp.asarray(h), jnp.asarray(t)
    a = h * decay
    b = h + h * decay * t + decay * eps
    c = h * t
    return 2 * c / (b + jnp.sqrt(b * b - 4 * a * c))  # the smaller root, cancellation-free
