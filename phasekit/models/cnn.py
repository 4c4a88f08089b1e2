"""A small convolutional network (Flax linen): conv -> tanh -> dense.

    f(x) = W_2 . vec(tanh(conv(x; K) + c)) + b_2         x: [n, *spatial, channels]

Used where a model with shared weights is needed (e.g. the NTK tests: a conv layer reuses
its filter bank at every position, so its NTK is not a dense-layer Gram product).

    >>> import jax, jax.numpy as jnp
    >>> from phasekit.models import cnn
    >>> variables = cnn.init(jax.random.key(0), input_shape=(8, 8, 1))
    >>> cnn.apply(variables, jnp.ones((2, 8, 8, 1))).shape
    (2,)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import flax.linen as nn
import jax
import jax.numpy as jnp

from phasekit.models._checks import positive_int

__all__ = ["ConvTanhDense", "apply", "init"]


class ConvTanhDense(nn.Module):
    """conv (``features`` filters of ``kernel_size``, same padding) -> tanh -> dense(``out_dim``)."""

    features: int = 4
    kernel_size: Sequence[int] = (3, 3)
    out_dim: int = 1

    @nn.compact
    def __call__(self, x):
        h = jnp.tanh(nn.Conv(self.features, tuple(self.kernel_size), padding="SAME")(x))
        out = nn.Dense(self.out_dim)(h.reshape((h.shape[0], -1)))
        return out[:, 0] if self.out_dim == 1 else out


def init(
    key,
    input_shape: Sequence[int],
    features: int = 4,
    kernel_size: Sequence[int] = (3, 3),
    out_dim: int = 1,
) -> dict:
    """Flax variables of :class:`ConvTanhDense` for inputs of shape ``[n, *input_shape]``.

    ``input_shape`` = (*spatial, channels), with ``len(kernel_size) == len(spatial)``.

    Args:
      key: PRNG key (flax's default initializers).
      input_shape: (*spatial, channels) of one input.
      features: conv filters;  kernel_size: the conv window;  out_dim: dense outputs.
    Returns:
      ``{"params": {"Conv_0": {"kernel": [*kernel_size, channels, features], "bias":
      [features]}, "Dense_0": {"kernel": [prod(spatial) * features, out_dim], "bias":
      [out_dim]}}}`` (same padding keeps the spatial size).
    """
    positive_int("features", features)
    positive_int("out_dim", out_dim)
    if len(input_shape) != len(kernel_size) + 1:
        raise ValueError(
            f"input_shape: need (*spatial, channels) with {len(kernel_size)} spatial "
            f"axes for kernel_size {tuple(kernel_size)}, got {tuple(input_shape)}"
        )
    model = ConvTanhDense(features, tuple(kernel_size), out_dim)
    # flax returns a plain dict (flax.config.flax_return_frozendict is False by default)
    return cast(dict, model.init(key, jnp.zeros((1, *input_shape))))


def apply(
    variables: dict,
    x: jax.Array,
    features: int | None = None,
    kernel_size: Sequence[int] | None = None,
) -> jax.Array:
    """Output of :class:`ConvTanhDense` with ``variables`` from :func:`init`: [n] (or [n, out_dim]).

    The architecture is read off the variables (``features`` and ``kernel_size`` from the
    conv kernel, ``out_dim`` from the dense kernel); the arguments only check it.

    Args:
      variables: from :func:`init`;  x: [n, *spatial, channels].
      features, kernel_size: None, or the values the variables must have.
    Returns:
      [n] for out_dim 1, else [n, out_dim].
    """
    conv = variables["params"]["Conv_0"]["kernel"]
    dense = variables["params"]["Dense_0"]["kernel"]
    if features is not None and features != conv.shape[-1]:
        raise ValueError(f"features: variables have {conv.shape[-1]} filters, got {features}")
    if kernel_size is not None and tuple(kernel_size) != tuple(conv.shape[:-2]):
        raise ValueError(
            f"kernel_size: variables have {tuple(conv.shape[:-2])}, got {tuple(kernel_size)}"
        )
    if x.ndim != conv.ndim or x.shape[-1] != conv.shape[-2]:
        raise ValueError(f"x: expected [n, *spatial, {conv.shape[-2]}], got {x.shape}")
    model = ConvTanhDense(conv.shape[-1], tuple(conv.shape[:-2]), dense.shape[-1])
    # no ``mutable=``: flax's apply returns the output alone, not (output, state)
    return cast(jax.Array, model.apply(variables, x))
