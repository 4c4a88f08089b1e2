"""The network next to its linearization, trained side by side (lazy vs feature learning).

    f_lin(x; theta) = f(x; theta0) + J(x; theta0) (theta - theta0)
    gap(t) = ||f(x; theta(t)) - f_lin(x; theta_lin(t))||_2 / sqrt(n k)       (RMS over x, outputs)

Both models start at theta0 and are trained by the same engine and optimizer on the same
data: :func:`train_with_linearization` runs ``train.run`` on the pair (theta, theta_lin) with
the summed loss L(theta) + L_lin(theta_lin), whose gradient is the pair of the two gradients,
so every per-leaf optax optimizer (GD, momentum, Adam) updates each model exactly as it would
alone. In the linear (NTK) regime the gap stays small; in the condensed regime it grows to
the size of the outputs (spec 01, 05).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from phasekit.dynamics import train
from phasekit.dynamics.phase import relative_distance
from phasekit.theory.ntk import linearize

__all__ = [
    "linearization_gap",
    "train_with_linearization",
]


def linearization_gap(apply_fn: Callable, params0, x) -> Callable:
    """Observable on a pair (theta, theta_lin): ``{"gap": RMS of f(theta) - f_lin(theta_lin) on x}``.

    Args:
      apply_fn: ``(params, x) -> [n, ...]``; params0: theta_0, where f_lin is the first-order
        Taylor expansion of f; x: the points [n, ...] the gap is measured on.
    Returns:
      ``observe((params, params_lin)) -> {"gap": scalar}``.
    """
    apply_lin = linearize(apply_fn, params0)

    def observe(pair):
        params, params_lin = pair
        diff = apply_fn(params, x) - apply_lin(params_lin, x)
        return {"gap": jnp.sqrt(jnp.mean(diff**2))}

    return observe


def train_with_linearization(
    apply_fn: Callable,
    params0,
    data,
    optimizer: optax.GradientTransformation,
    *,
    steps: int,
    x_eval=None,
    input_weights: Callable | None = None,
    observe: Callable | None = None,
    **run_kwargs,
) -> train.Trajectory:
    """Train f and f_lin from ``params0`` with the same optimizer; record both along the way.

    Args:
      apply_fn: ``(params, x) -> [n, ...]``; params0: theta_0 (both models start there; f_lin is
        f's first-order Taylor expansion at it); data: ``(x, y)`` for the MSE loss of ``train.mse``.
      optimizer: an optax GradientTransformation, applied to the pair (theta, theta_lin) as one
        pytree; steps: the step budget.
      x_eval: [n_eval, ...] points where the outputs are recorded (default: the training x).
      input_weights: ``params -> array`` of the input weights (e.g. ``two_layer.input_weights``)
        to record RD = ||theta_w(t) - theta_w(0)|| / ||theta_w(0)|| of both models.
      observe: extra ``(params, params_lin) -> dict`` observables.
      run_kwargs: passed to ``train.run`` (n_records, schedule, stop_loss, batch_size, key, ...).
    Returns:
      ``train.Trajectory`` whose params are the pair (theta, theta_lin) and whose observables
      are gap [R], gap_rel [R] (gap / RMS of the targets y), f [R, n_eval, ...],
      f_lin [R, n_eval, ...], loss_net [R], loss_lin [R] (+ rd, rd_lin [R] with
      ``input_weights``). Its ``loss`` is loss_net + loss_lin.
    """
    x = data[0]
    x_eval = x if x_eval is None else x_eval
    apply_lin = linearize(apply_fn, params0)
    loss_net, loss_lin = train.mse(apply_fn), train.mse(apply_lin)
    gap = linearization_gap(apply_fn, params0, x_eval)

    def loss(pair, batch):
        return loss_net(pair[0], batch) + loss_lin(pair[1], batch)

    def record(pair):
        params, params_lin = pair
        out = {
            "f": apply_fn(params, x_eval),
            "f_lin": apply_lin(params_lin, x_eval),
            "loss_net": loss_net(params, data),
            "loss_lin": loss_lin(params_lin, data),
            **gap(pair),
        }
        out["gap_rel"] = out["gap"] / jnp.sqrt(jnp.mean(jnp.square(data[1])))
        if input_weights is not None:
            w0 = input_weights(params0)
            out["rd"] = relative_distance(input_weights(params), w0)
            out["rd_lin"] = relative_distance(input_weights(params_lin), w0)
        if observe is not None:
            out.update(observe(params, params_lin))
        return out

    pair0 = (params0, jax.tree_util.tree_map(jnp.array, params0))
    return train.run(loss, pair0, data, optimizer, steps=steps, observe=record, **run_kwargs)
