"""One-hidden-layer 1-D convolutional tanh nets, with and without weight sharing (book Fig 10.3).

Input x in R^d, kernel size s, P = d + 1 - s positions ("valid" convolution, stride 1),
C kernels (channels). With weight sharing (an ordinary CNN):

    f(x) = sum_{c=1..C} sum_{p=1..P} a_{cp} sigma( sum_{q=1..s} K_{cq} x_{p+q-1} )

Without weight sharing (a locally connected net) each position has its own kernel K_{cp}:

    f(x) = sum_c sum_p a_{cp} sigma( sum_q K_{cpq} x_{p+q-1} )

No biases (the teacher of Fig 10.3 has none). Params: ``{"kernel": [C, s], "a": [C, P]}``
(shared) or ``{"kernel": [C, P, s], "a": [C, P]}`` (not shared); the kernel/channel axis is
axis 0 of every leaf, so a model is widened by zero-padding axis 0.
Both are unit scale N(0, 1) from :func:`init`; scale after init (``std * params``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from phasekit.models import activations
from phasekit.models._checks import positive_int

__all__ = ["apply", "init", "n_positions", "patches", "preactivation"]


def n_positions(input_dim: int, kernel_size: int) -> int:
    """P = d + 1 - s, the number of valid kernel positions (``input_dim`` d, ``kernel_size`` s;
    ValueError unless 1 <= s <= d)."""
    positive_int("input_dim", input_dim)
    positive_int("kernel_size", kernel_size)
    if kernel_size > input_dim:
        raise ValueError(f"kernel_size: must be <= input_dim={input_dim}, got {kernel_size}")
    return input_dim + 1 - kernel_size


def init(
    key,
    input_dim: int,
    kernel_size: int,
    n_kernels: int = 1,
    shared: bool = True,
    dtype=jnp.float32,
) -> dict:
    """Unit-scale parameters ~ N(0, 1): ``{"kernel": [C, s] | [C, P, s], "a": [C, P]}``.

    Args:
      key: PRNG key;  input_dim: d;  kernel_size: s <= d;  n_kernels: C.
      shared: one kernel per channel for all P = d + 1 - s positions ([C, s]); False: a
        kernel per position ([C, P, s], a locally connected layer).
      dtype: of every leaf.
    """
    P = n_positions(input_dim, kernel_size)
    positive_int("n_kernels", n_kernels)
    kk, ka = jax.random.split(key)
    kshape = (n_kernels, kernel_size) if shared else (n_kernels, P, kernel_size)
    return {
        "kernel": jax.random.normal(kk, kshape, dtype),
        "a": jax.random.normal(ka, (n_kernels, P), dtype),
    }


def patches(x: jax.Array, kernel_size: int) -> jax.Array:
    """Sliding windows x[:, p:p+s]: x [n, d] -> [n, P, s] (``kernel_size`` s)."""
    if x.ndim != 2:
        raise ValueError(f"x: expected shape [n, d], got {x.shape}")
    P = n_positions(x.shape[1], kernel_size)
    idx = jnp.arange(P)[:, None] + jnp.arange(kernel_size)[None, :]
    return x[:, idx]


def preactivation(params: dict, x: jax.Array) -> jax.Array:
    """z_{cp}(x) = K_c(p) . x[p:p+s],  [n, C, P], for ``params`` from :func:`init` (a shared
    kernel K_c or one per position K_c(p)) and x [n, d]."""
    K = params["kernel"]
    X = patches(x, K.shape[-1])
    if X.shape[1] != params["a"].shape[1]:
        raise ValueError(
            f"x: input_dim {x.shape[1]} gives {X.shape[1]} positions, "
            f"params have {params['a'].shape[1]}"
        )
    if K.ndim == 2:
        return jnp.einsum("nps,cs->ncp", X, K)
    return jnp.einsum("nps,cps->ncp", X, K)


def apply(params: dict, x: jax.Array, activation="tanh") -> jax.Array:
    """f(x) = sum_{c,p} a_{cp} sigma(z_{cp}(x)),  x: [n, d] -> [n], for ``params`` from :func:`init`
    and the ``activation`` sigma (a name of :func:`phasekit.models.activations.get`)."""
    return jnp.einsum(
        "ncp,cp->n", activations.get(activation)(preactivation(params, x)), params["a"]
    )
