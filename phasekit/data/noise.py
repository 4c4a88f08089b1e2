"""Label noise for any classification set (double descent, Belkin et al. 2019; Nakkiran et al. 2020).

    y~_i = (y_i + s_i) mod C,  s_i ~ U{1, ..., C-1}   for the floor(p n) samples i in a random subset,
    y~_i = y_i                                          otherwise,

so exactly floor(p n) labels are wrong (each flipped to a uniformly random *other* class).
``p`` may be traced: the corrupted subset is the samples whose uniform score ranks below p n,
so noise levels and seeds vmap.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "label_noise",
    "one_hot",
]


def label_noise(key, y, fraction, num_classes: int):
    """Integer labels y [n] with a fraction ``fraction`` in [0, 1] of them corrupted (module
    docstring). Returns (noisy labels [n] int32, corrupted mask [n] bool).

    Args:
      key: PRNG key; y: integer labels [n]; fraction: in [0, 1]; num_classes: C.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes: need at least 2 classes, got {num_classes}")
    y = jnp.asarray(y, jnp.int32)
    n = y.shape[0]
    k_pick, k_shift = jax.random.split(key)
    rank = jnp.argsort(jnp.argsort(jax.random.uniform(k_pick, (n,))))
    flip = rank < jnp.floor(jnp.asarray(fraction) * n)
    shift = jax.random.randint(k_shift, (n,), 1, num_classes)
    return jnp.where(flip, (y + shift) % num_classes, y).astype(jnp.int32), flip


def one_hot(y, num_classes: int, centred: bool = False):
    """One-hot targets [n, C] (float32); ``centred``: minus 1/C, the regression targets whose
    class means sum to zero.

    Args:
      y: integer labels [n] in 0..C-1; num_classes: C; centred: subtract 1/C.
    """
    t = jax.nn.one_hot(y, num_classes, dtype=jnp.float32)
    return t - 1.0 / num_classes if centred else t
