"""Anti-symmetric initialization (ASI) over any (init, apply) pair (spec 04; Zhang, Xu, Luo, Ma).

Two copies of a network start from identical parameters and train independently:

    h(x; theta1, theta2) = (f(x; theta1) - f(x; theta2)) / sqrt(2),    theta1_0 = theta2_0

so h(.; theta_0) = 0 exactly (the random initial output, which training on a finite sample
never removes away from the data, is gone), while the gradient flow of h starts exactly like
that of f: grad_theta1 = -grad_theta2 = grad f / sqrt(2), and the tangent kernel of h at
theta_0 equals that of f. The parameter count doubles.

    >>> import jax, jax.numpy as jnp
    >>> from phasekit.models import asi, mlp
    >>> init, apply = asi.antisymmetric(mlp.init, mlp.apply)
    >>> p = init(jax.random.key(0), [1, 50, 1])
    >>> float(jnp.abs(apply(p, jnp.ones((3, 1)), activation="tanh")).max())
    0.0

Params are ``{"theta1": params, "theta2": params}``. Scale the base parameters first (e.g.
``two_layer.rescale``) and then duplicate them with :func:`pair`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["antisymmetric", "apply", "pair", "switchable"]

Params = Any


def pair(params: Params) -> dict:
    """ASI parameters from one set of base parameters ``params`` p: ``{"theta1": p, "theta2": p}``."""
    return {"theta1": params, "theta2": params}


def apply(apply_fn: Callable, params: dict, x, **apply_kwargs):
    """h(x) = (f(x; theta1) - f(x; theta2)) / sqrt(2); same output shape as ``apply_fn``.
    ``params``: ``{"theta1", "theta2"}`` of :func:`pair`; f = ``apply_fn(theta, x,
    **apply_kwargs)``."""
    if not isinstance(params, dict) or set(params) != {"theta1", "theta2"}:
        raise ValueError(
            "params: ASI parameters need exactly the keys 'theta1' and 'theta2' "
            "(build them with asi.pair)"
        )
    # Both copies run through the same compiled loop body (lax.map) so that identical params
    # give bit-identical outputs. Two inlined copies (or a vmap) may be fused or vectorized
    # differently by XLA (e.g. f1 * c - f2 * c contracted into an FMA), leaving h_0 = O(eps).
    stacked = jax.tree_util.tree_map(
        lambda a, b: jnp.stack([a, b]), params["theta1"], params["theta2"]
    )
    f = jax.lax.map(lambda p: apply_fn(p, x, **apply_kwargs), stacked)
    return (f[0] - f[1]) / math.sqrt(2.0)


def switchable(apply_fn: Callable, params: dict, x, on, **apply_kwargs):
    """ASI as a traced switch, so runs with and without it share one compiled (vmapped) program:

        on = 1:  h(x) = (f(x; theta1) - f(x; theta2)) / sqrt(2)   (:func:`apply`; 0 at theta1 = theta2)
        on = 0:  h(x) = f(x; theta1)                               (the plain network)

    With ``on = 0`` theta2 gets a zero gradient, so GD and Adam leave it at its initial value
    and the run is the plain network's. ``on``: a 0/1 scalar (may be traced); ``apply_fn`` and
    ``params`` as :func:`apply`.
    """
    if not isinstance(params, dict) or set(params) != {"theta1", "theta2"}:
        raise ValueError(
            "params: ASI parameters need exactly the keys 'theta1' and 'theta2' "
            "(build them with asi.pair)"
        )
    stacked = jax.tree_util.tree_map(
        lambda a, b: jnp.stack([a, b]), params["theta1"], params["theta2"]
    )
    f = jax.lax.map(lambda p: apply_fn(p, x, **apply_kwargs), stacked)
    on = jnp.asarray(on, f.dtype)
    # f[0] - 1 * f[1] is exactly 0 at theta1 = theta2 (also when fused into an FMA: the product
    # 1 * f[1] is exact), so h_0 = 0 bit for bit as in :func:`apply`.
    return (f[0] - on * f[1]) * jnp.where(on > 0, 1.0 / math.sqrt(2.0), 1.0).astype(f.dtype)


def antisymmetric(init_fn: Callable, apply_fn: Callable) -> tuple[Callable, Callable]:
    """Wrap ``(init_fn, apply_fn)`` into the ASI pair ``(init, apply)``.

    ``init(*args, **kwargs) = pair(init_fn(*args, **kwargs))``;
    ``apply(params, x, **kw) = (apply_fn(theta1, x, **kw) - apply_fn(theta2, x, **kw)) / sqrt(2)``.
    """

    def asi_init(*args, **kwargs) -> dict:
        return pair(init_fn(*args, **kwargs))

    def asi_apply(params: dict, x, **apply_kwargs):
        return apply(apply_fn, params, x, **apply_kwargs)

    return asi_init, asi_apply
