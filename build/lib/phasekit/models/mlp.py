"""Deep fully connected network (optionally residual) as a pure (init, apply) pair.

    h_0 = x,   z_l = h_{l-1} W_l + b_l,   h_l = sigma(z_l)  (+ h_{l-1} if residual and shapes match)
    f(x) = h_{L-1} W_L + b_L          (no activation on the output layer)

Per-layer init std is ``fan_in ** -gamma`` (the condensation papers' "init rate", with a
scalar or per-layer gamma) or a named scheme (spec 05):

    lecun   N(0, 1/fan_in)        he      N(0, 2/fan_in)
    xavier  N(0, 2/(fan_in + fan_out))          (exact normal, not truncated)

Params: a list of ``{"w": [fan_in, fan_out], "b": [fan_out]}``, one dict per layer.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from phasekit.models import activations
from phasekit.models._checks import input_matrix, positive_int

SCHEMES = ("lecun", "he", "xavier")


def layer_std(fan_in: int, fan_out: int, scheme: str | None = None, gamma: float | None = None):
    """Init standard deviation of one layer's weights."""
    if gamma is not None:
        return fan_in ** (-gamma)
    if scheme == "lecun":
        return (1 / fan_in) ** 0.5
    if scheme == "he":
        return (2 / fan_in) ** 0.5
    if scheme == "xavier":
        return (2 / (fan_in + fan_out)) ** 0.5
    raise ValueError(f"scheme: unknown {scheme!r}; known: {', '.join(SCHEMES)} (or give gamma)")


def init(key, sizes: Sequence[int], scheme: str = "lecun", gamma=None, bias: bool = True,
         bias_std: float | None = None, dtype=jnp.float32) -> list[dict]:
    """Parameters of an MLP with layer widths ``sizes = [d_in, h_1, ..., d_out]``.

    Args:
      scheme: lecun | he | xavier (ignored when ``gamma`` is given).
      gamma: init rate; a scalar or one value per layer: std_l = fan_in_l ** -gamma_l.
      bias_std: std of the biases; default: the layer's weight std when ``gamma`` is given
        (the condensation papers initialize every weight and bias alike), else 0.
    """
    if len(sizes) < 2:
        raise ValueError(f"sizes: need at least [d_in, d_out], got {list(sizes)}")
    for i, s in enumerate(sizes):
        positive_int(f"sizes[{i}]", s)
    n_layers = len(sizes) - 1
    gammas = [gamma] * n_layers if gamma is None or np.ndim(gamma) == 0 else list(gamma)
    if len(gammas) != n_layers:
        raise ValueError(f"gamma: need {n_layers} values, got {len(gammas)}")
    params = []
    for l, (key_l, fi, fo) in enumerate(zip(jax.random.split(key, n_layers), sizes[:-1], sizes[1:])):
        std = layer_std(fi, fo, scheme, gammas[l])
        kw, kb = jax.random.split(key_l)
        layer = {"w": std * jax.random.normal(kw, (fi, fo), dtype)}
        if bias:
            bstd = (std if gammas[l] is not None else 0.0) if bias_std is None else bias_std
            layer["b"] = bstd * jax.random.normal(kb, (fo,), dtype)
        params.append(layer)
    return params


def hidden(params: list[dict], x: jax.Array, activation="relu", residual: bool = False,
           layer_activations: Sequence | None = None) -> list[jax.Array]:
    """Post-activations h_1..h_{L-1} of the hidden layers, each [n, h_l]."""
    input_matrix(x, params[0]["w"].shape[0])
    acts = layer_activations or [activation] * (len(params) - 1)
    if len(acts) != len(params) - 1:
        raise ValueError(f"layer_activations: need {len(params) - 1}, got {len(acts)}")
    hs, h = [], x
    for layer, act in zip(params[:-1], acts):
        z = h @ layer["w"] + layer.get("b", 0.0)
        new = activations.get(act)(z)
        h = h + new if residual and new.shape == h.shape else new
        hs.append(h)
    return hs


def apply(params: list[dict], x: jax.Array, activation="relu", residual: bool = False,
          layer_activations: Sequence | None = None) -> jax.Array:
    """Network output, [n, d_out] (squeezed to [n] when d_out = 1)."""
    hs = hidden(params, x, activation, residual, layer_activations)
    h = hs[-1] if hs else x
    out = h @ params[-1]["w"] + params[-1].get("b", 0.0)
    return out[:, 0] if out.shape[1] == 1 else out
