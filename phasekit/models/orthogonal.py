"""Orthogonal initialization of an :mod:`phasekit.models.mlp` (Saxe, McClelland, Ganguli 2014).

Each weight matrix W_l [fan_in, fan_out] is ``gain`` times a matrix with orthonormal rows or
columns (``jax.nn.initializers.orthogonal``: the Q of a QR decomposition of a Gaussian matrix,
sign-corrected so Q is Haar distributed), biases zero. For square layers every singular value of
W_l is ``gain``, so a deep linear net's input-output Jacobian W_1 ... W_L has all singular values
gain^L: 1 at gain 1 whatever the depth (dynamical isometry), unlike Gaussian init (``mlp.init``).
The params are those of ``mlp.init``: the forward pass is ``mlp.apply``.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from phasekit.models._checks import positive_int

__all__ = ["init"]


def init(
    key, sizes: Sequence[int], gain: float = 1.0, bias: bool = True, dtype=jnp.float32
) -> list[dict]:
    """Params ``[{"w": [fan_in, fan_out], "b": [fan_out]}, ...]`` for widths ``sizes``.

    Args:
      key: PRNG key;  sizes: [d_in, h_1, ..., d_out].
      gain: every W_l is ``gain`` times a matrix with orthonormal rows or columns.
      bias: include the (zero) biases;  dtype: of every leaf.
    Returns:
      :mod:`phasekit.models.mlp` params (the forward pass is ``mlp.apply``).
    """
    if len(sizes) < 2:
        raise ValueError(f"sizes: need at least [d_in, d_out], got {list(sizes)}")
    for i, s in enumerate(sizes):
        positive_int(f"sizes[{i}]", s)
    ortho = jax.nn.initializers.orthogonal(scale=gain)
    params = []
    for k, fi, fo in zip(jax.random.split(key, len(sizes) - 1), sizes[:-1], sizes[1:]):
        layer = {"w": ortho(k, (fi, fo), dtype)}
        if bias:
            layer["b"] = jnp.zeros((fo,), dtype)
        params.append(layer)
    return params
