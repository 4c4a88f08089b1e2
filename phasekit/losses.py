"""The one loss convention's bodies: per-batch values of the losses every module trains on.

    squared_error(f, y)   = 1/(2n) sum_i |f(x_i) - y_i|^2              (the spec's R_S)
    cross_entropy(f, y)   = (1/n) sum_i -log softmax(f(x_i))_{y_i}      (integer labels y_i)
                          = (1/n) sum_i -sum_k y_ik log softmax(f(x_i))_k   (one-hot / soft y)

Losses as functions of parameters, ``loss(params, data)`` (:class:`phasekit.typing.LossFn`), are
built from these by :func:`phasekit.dynamics.train.mse` / :func:`~phasekit.dynamics.train.cross_entropy`
(and the dropout, Hessian and landscape modules use the same bodies), so there is one MSE and one
cross-entropy in the package. Below ``theory`` and ``dynamics`` in the dependency order.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

__all__ = [
    "cross_entropy",
    "squared_error",
]


def squared_error(f: jax.Array, y: jax.Array) -> jax.Array:
    """R_S = 1/(2n) sum_i |f_i - y_i|^2 for outputs f and targets y with n = y.shape[0] rows
    (any trailing shape; [n] and [n, 1] alike: both are flattened per row before subtracting, so
    f [n, 1] against y [n] is not broadcast to [n, n])."""
    n = y.shape[0]
    if jnp.size(f) != jnp.size(y):
        raise ValueError(f"y: outputs {jnp.shape(f)} and targets {jnp.shape(y)} differ in size")
    return 0.5 * jnp.mean(jnp.sum((jnp.reshape(f, (n, -1)) - jnp.reshape(y, (n, -1))) ** 2, axis=1))


def cross_entropy(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Softmax cross-entropy, mean over samples: ``y`` integer labels [n] or one-hot / probability
    targets [n, k]; ``logits`` [n, k]."""
    if jnp.issubdtype(jnp.asarray(y).dtype, jnp.integer):
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))
    return jnp.mean(optax.softmax_cross_entropy(logits, y))
