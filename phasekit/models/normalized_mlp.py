"""A deep MLP with or without batch or layer normalization (Flax linen), for the course's
BN and LN diagnostics.

    z_l = h_{l-1} W_l (+ b_l without a norm),   h_l = phi(N(z_l)),   f = h_{L-1} W_L + b_L

N is BN, LN or the identity.

BN (Ioffe & Szegedy 2015, ``flax.linen.BatchNorm``): in training (``train=True``) each unit is
normalized by the mean and variance of the current batch and the running averages in the
``batch_stats`` collection are updated, m <- momentum m + (1 - momentum) batch mean; at test
(``train=False``) the running averages are used, so a sample's output does not depend on the
rest of its batch. LN (Ba, Kiros & Hinton 2016, ``flax.linen.LayerNorm``, ``layer_norm=True``)
normalizes each sample over its own units, in training and at test alike: no batch dependence,
no state. Either norm makes the loss invariant to the scale of the W_l feeding it. Hidden Dense
layers use LeCun-normal init (flax's default).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from phasekit.models import activations

__all__ = ["MLP", "init"]


class MLP(nn.Module):
    """``widths``: hidden widths; ``out``: output units (1: output squeezed to [n])."""

    widths: Sequence[int]
    out: int = 1
    batch_norm: bool = False
    activation: str = "relu"
    momentum: float = 0.9
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x, train: bool = True):
        phi = activations.get(self.activation)
        if self.batch_norm and self.layer_norm:
            raise ValueError("layer_norm: choose batch_norm or layer_norm, not both")
        for w in self.widths:
            x = nn.Dense(w, use_bias=not (self.batch_norm or self.layer_norm))(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            if self.batch_norm:
                x = nn.BatchNorm(use_running_average=not train, momentum=self.momentum)(x)
            x = phi(x)
        x = nn.Dense(self.out)(x)
        return x[:, 0] if self.out == 1 else x


def init(key, module: MLP, input_dim: int, n: int = 2) -> tuple[dict, dict]:
    """(params, batch_stats) of ``module`` for inputs [n, input_dim] (batch_stats {} without BN),
    from the PRNG ``key`` (flax's default initializers)."""
    v = module.init(key, jnp.zeros((n, input_dim)), train=False)
    return v["params"], v.get("batch_stats", {})
