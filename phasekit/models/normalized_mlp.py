"""A deep MLP with or without batch normalization (Flax linen), for the course's BN diagnostics.

    z_l = h_{l-1} W_l (+ b_l without BN),   h_l = phi(BN(z_l)),   f = h_{L-1} W_L + b_L

BN (Ioffe & Szegedy 2015, ``flax.linen.BatchNorm``): in training (``train=True``) each unit is
normalized by the mean and variance of the current batch and the running averages in the
``batch_stats`` collection are updated, m <- momentum m + (1 - momentum) batch mean; at test
(``train=False``) the running averages are used, so a sample's output does not depend on the
rest of its batch. Hidden Dense layers use LeCun-normal init (flax's default).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from phasekit.models import activations


class MLP(nn.Module):
    """``widths``: hidden widths; ``out``: output units (1: output squeezed to [n])."""

    widths: Sequence[int]
    out: int = 1
    batch_norm: bool = False
    activation: str = "relu"
    momentum: float = 0.9

    @nn.compact
    def __call__(self, x, train: bool = True):
        phi = activations.get(self.activation)
        for w in self.widths:
            x = nn.Dense(w, use_bias=not self.batch_norm)(x)
            if self.batch_norm:
                x = nn.BatchNorm(use_running_average=not train, momentum=self.momentum)(x)
            x = phi(x)
        x = nn.Dense(self.out)(x)
        return x[:, 0] if self.out == 1 else x


def init(key, module: MLP, input_dim: int, n: int = 2) -> tuple[dict, dict]:
    """(params, batch_stats) of ``module`` for inputs [n, input_dim] (batch_stats {} without BN)."""
    v = module.init(key, jnp.zeros((n, input_dim)), train=False)
    return v["params"], v.get("batch_stats", {})
