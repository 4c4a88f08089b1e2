"""Training with model state beside the parameters (BatchNorm's running statistics).

    (loss, state') = loss_fn(params, state, batch);   params <- params + optimizer.update(grad)

One ``lax.scan`` over record points with a ``fori_loop`` of ``every`` steps between them (no
per-step Python), vmappable over seeds and learning rates like :func:`phasekit.dynamics.train.run`.
A run whose loss or gradient turns NaN/inf, or whose loss exceeds ``diverge_factor * L_0``, is
flagged diverged and frozen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

__all__ = [
    "StatefulTrajectory",
    "flax_loss",
    "run",
]


class StatefulTrajectory(NamedTuple):
    """step [R] (0, every, ..., steps); loss [R] step loss before each record's update (record 0:
    L_0); observables dict -> [R, ...] of ``observe(params, state)``; final params, state;
    diverged (scalar bool)."""

    step: jax.Array
    loss: jax.Array
    observables: dict
    params: Any
    state: Any
    diverged: jax.Array


def flax_loss(module, loss: str = "mse") -> Callable:
    """``loss_fn(params, batch_stats, (x, y)) -> (loss, new_batch_stats)`` of a Flax module in
    training mode (batch statistics; running averages updated). ``loss``: "mse"
    (1/(2n) sum (f - y)^2) or "cross_entropy" (integer labels)."""

    def fn(params, batch_stats, data):
        x, y = data
        variables = {"params": params, **({"batch_stats": batch_stats} if batch_stats else {})}
        f, upd = module.apply(variables, x, train=True, mutable=["batch_stats"])
        if loss == "mse":
            value = 0.5 * jnp.mean(jnp.sum(jnp.reshape(f - y, (y.shape[0], -1)) ** 2, -1))
        else:
            value = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(f, y))
        return value, upd.get("batch_stats", batch_stats)

    if loss not in ("mse", "cross_entropy"):
        raise ValueError(f"loss: 'mse' or 'cross_entropy', got {loss!r}")
    return fn


def run(
    loss_fn: Callable,
    params,
    state,
    data,
    optimizer: optax.GradientTransformation,
    *,
    steps: int,
    every: int,
    observe: Callable | None = None,
    batch_size: int | None = None,
    key=None,
    diverge_factor: float = 1e6,
) -> StatefulTrajectory:
    """Train for ``steps`` (a multiple of ``every``) updates, recording every ``every`` steps.

    Args:
      loss_fn: ``loss_fn(params, state, batch) -> (loss, new_state)`` (e.g. :func:`flax_loss`).
      params: initial parameters (pytree); state: initial model state (e.g. ``batch_stats``).
      data: pytree with a shared leading sample axis n (the full batch).
      optimizer: an optax GradientTransformation.
      steps, every: the step budget and the record interval (``every`` divides ``steps``).
      observe: ``observe(params, state) -> dict`` at every record (None: nothing).
      batch_size: minibatch SGD, ``batch_size`` samples without replacement per step (None: full
        batch); key: PRNG key of the minibatches (default ``jax.random.key(0)``).
      diverge_factor: a loss above ``diverge_factor * L_0`` flags the run diverged.
    Returns:
      :class:`StatefulTrajectory` with R = steps / every + 1 records.
    """
    if not (
        isinstance(every, int)
        and every >= 1
        and isinstance(steps, int)
        and steps >= every
        and steps % every == 0
    ):
        raise ValueError(f"every: must be a positive integer dividing steps={steps}, got {every!r}")
    n = jax.tree_util.tree_leaves(data)[0].shape[0]
    if batch_size is not None and not (isinstance(batch_size, int) and 0 < batch_size <= n):
        raise ValueError(f"batch_size: must be an integer in [1, {n}], got {batch_size!r}")
    observe = observe or (lambda p, s: {})
    key = jax.random.key(0) if key is None else key
    loss0 = loss_fn(params, state, data)[0]
    limit = diverge_factor * jnp.maximum(loss0, jnp.finfo(loss0.dtype).tiny)

    def step(_, carry):
        p, s, o, bad, last, k = carry
        k, kb = jax.random.split(k)
        batch = data
        if batch_size is not None:
            idx = jax.random.choice(kb, n, (batch_size,), replace=False)
            batch = jax.tree_util.tree_map(lambda a: a[idx], data)
        (loss, s_new), g = jax.value_and_grad(loss_fn, has_aux=True)(p, s, batch)
        upd, o_new = optimizer.update(g, o, p)
        p_new = optax.apply_updates(p, upd)
        finite = jnp.all(
            jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves((g, p_new))])
        )
        now_bad = bad | ~(jnp.isfinite(loss) & (loss <= limit) & finite)
        keep = lambda new, old: jax.tree_util.tree_map(
            lambda a, b: jnp.where(now_bad, b, a), new, old
        )
        return (
            keep(p_new, p),
            keep(s_new, s),
            keep(o_new, o),
            now_bad,
            jnp.where(now_bad, last, loss),
            k,
        )

    def segment(carry, n_steps):  # record 0 takes no step, so observe is traced once
        carry = jax.lax.fori_loop(0, n_steps, step, carry)
        return carry, (carry[4], observe(carry[0], carry[1]))

    carry0 = (params, state, optimizer.init(params), ~jnp.isfinite(loss0), loss0, key)
    n_steps = jnp.asarray([0] + [every] * (steps // every), jnp.int32)
    carry, (losses, obs) = jax.lax.scan(segment, carry0, n_steps)
    return StatefulTrajectory(
        jnp.arange(0, steps + 1, every), losses, obs, carry[0], carry[1], carry[3]
    )
