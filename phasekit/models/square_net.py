"""A deep square network with stacked weights, scanned over depth (Saxe et al. 2014;
Pennington, Schoenholz & Ganguli 2017): the model of dynamical-isometry studies.

    z_l = h_{l-1} W_l,   h_l = phi(z_l)  (l < L),   f(x) = z_L = h_{L-1} W_L,    W_l [n, n], no biases

Params ``{"w": [L, n, n]}``. The forward pass is a ``lax.scan`` over the layers, so a net of depth 50
compiles as fast as one of depth 2 (an unrolled :mod:`phasekit.models.mlp` of depth 50 takes tens
of seconds to compile for its gradient); it computes what ``mlp.apply`` computes on the same
weights with zero biases (tested). Init: "orthogonal" (``jax.nn.initializers.orthogonal``, each
W_l Haar-orthogonal times ``gain``) or "gaussian" (N(0, gain^2 / n): LeCun, and Xavier for square layers).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from phasekit.models import activations
from phasekit.models._checks import positive_int

__all__ = ["apply", "as_mlp", "init"]

INITS = ("orthogonal", "gaussian")


def init(
    key, width: int, depth: int, scheme: str = "orthogonal", gain: float = 1.0, dtype=jnp.float32
) -> dict:
    """{"w": [depth, width, width]}: ``depth`` square layers, each ``gain`` times an orthogonal
    matrix (``scheme="orthogonal"``, all singular values ``gain``) or N(0, gain^2 / width)
    (``"gaussian"``); ``key``: PRNG key; ``dtype``: of the weights."""
    positive_int("width", width)
    positive_int("depth", depth)
    keys = jax.random.split(key, depth)
    if scheme == "orthogonal":
        ortho = jax.nn.initializers.orthogonal(scale=gain)
        w = jax.vmap(lambda k: ortho(k, (width, width), dtype))(keys)
    elif scheme == "gaussian":
        w = (
            gain
            / jnp.sqrt(width)
            * jax.vmap(lambda k: jax.random.normal(k, (width, width), dtype))(keys)
        )
    else:
        raise ValueError(f"scheme: one of {', '.join(INITS)}, got {scheme!r}")
    return {"w": w}


def apply(params: dict, x: jax.Array, activation: str = "identity", depth=None) -> jax.Array:
    """f(x) [n_samples, width] for ``x [n_samples, width]``.

    ``depth`` (may be traced): use only the first depth - 1 hidden layers and the last (readout)
    layer, skipping the others, so nets of several depths share one compiled program (stack
    ``max depth`` layers; None: all). ``params``: ``{"w": [depth, width, width]}`` from
    :func:`init`; ``activation``: a name of :func:`phasekit.models.activations.get`."""
    phi = activations.get(activation)
    w = params["w"]
    hidden = w.shape[0] - 1
    used = hidden if depth is None else jnp.asarray(depth) - 1

    def layer(h, lw):
        l, wl = lw
        return jnp.where(l < used, phi(h @ wl), h), None

    h, _ = jax.lax.scan(layer, x, (jnp.arange(hidden), w[:-1]))
    return h @ w[-1]


def as_mlp(params: dict) -> list[dict]:
    """The same net as :mod:`phasekit.models.mlp` params (zero biases)."""
    return [{"w": wl, "b": jnp.zeros(wl.shape[1], wl.dtype)} for wl in params["w"]]
