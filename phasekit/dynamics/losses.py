"""Losses beyond plain MSE used by the frequency-principle experiments (spec 04, book Fig 6.4).

Derivative-augmented loss: fitting f' as well as f weights the k-th Fourier mode of the
residual by (1 + k^2) instead of 1, which speeds up the high frequencies:

    L_grad = L + (lambda / n) sum_i |grad_x h(x_i) - grad_x f(x_i)|^2,
    L      = 1/(2n) sum_i |h(x_i) - f(x_i)|^2                        (``train.mse``)

(lambda = 1 is the book's definition).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from phasekit.dynamics import train

__all__ = [
    "derivative_augmented_mse",
    "input_gradient",
]


def input_gradient(apply_fn: Callable, params, x: jax.Array, **apply_kwargs) -> jax.Array:
    """grad_x h(x_i) for a scalar-output model applied row-wise.   x: [n, d] -> [n, d].

    Uses grad_x sum_i h(x_i), which equals the per-sample gradients because each output row
    depends only on its own input row (true for the models of phasekit.models).

    Args:
      apply_fn: ``apply(params, x, **apply_kwargs) -> [n]``; params: its parameters; x: [n, d].
    Returns:
      [n, d], row i the gradient of h at x_i.
    """
    return jax.grad(lambda xx: jnp.sum(apply_fn(params, xx, **apply_kwargs)))(x)


def derivative_augmented_mse(apply_fn: Callable, weight=1.0, **apply_kwargs) -> Callable:
    """L_grad on ``data = (x, y, dy)``: x [n, d], y [n] target values, dy [n, d] target gradients.

    Returns ``loss(params, data) -> scalar`` for :func:`phasekit.dynamics.train.run`.
    ``weight`` (lambda) may be traced.

    Args:
      apply_fn: ``apply(params, x, **apply_kwargs) -> [n]`` (scalar output per row).
      weight: lambda; **apply_kwargs: static arguments of ``apply_fn``.
    """
    value_loss = train.mse(apply_fn, **apply_kwargs)

    def loss(params, data):
        if len(data) != 3:
            raise ValueError("data: the derivative-augmented loss needs (x, y, dy)")
        x, y, dy = data
        train.check_xy(x, y)
        if jnp.shape(dy) != jnp.shape(x):
            raise ValueError(
                f"dy: need target gradients shaped like x {jnp.shape(x)}, got {jnp.shape(dy)}"
            )
        dh = input_gradient(apply_fn, params, x, **apply_kwargs)
        return value_loss(params, (x, y)) + weight * jnp.mean(jnp.sum((dh - dy) ** 2, axis=1))

    return loss
