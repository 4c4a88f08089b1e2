"""Toy models of the spec, each a pure ``apply(params, x)`` plus an ``init``.

- linear:          f(x) = x . theta                           (k params, rank k)
- f_NL:            f(x) = t0 + t1 x1 + t2 t3 x2               (spec 03, rank 2 or 3)
- matrix factorization:  f(i, j) = (A B)_{ij} on observed entries (spec 03, 2rd - r^2)
- 1-1-1 network:   f(x) = s_out(w2 * sigma(w1 * x))            (spec 05, course notes)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from phasekit.models import activations
from phasekit.models._checks import input_matrix, positive_int

__all__ = [
    "f_nl_apply",
    "f_nl_init",
    "linear_apply",
    "linear_init",
    "matrix_factorization_apply",
    "matrix_factorization_init",
    "one_one_one_apply",
    "one_one_one_cross_entropy",
    "one_one_one_mse",
]


def linear_init(key, input_dim: int, std: float = 1.0, dtype=jnp.float32):
    """theta ~ N(0, std^2 I) of shape ``[input_dim]`` for :func:`linear_apply`."""
    positive_int("input_dim", input_dim)
    return std * jax.random.normal(key, (input_dim,), dtype)


def linear_apply(theta: jax.Array, x: jax.Array) -> jax.Array:
    """f(x) = x theta: ``theta`` [k], x: [n, k] -> [n]."""
    input_matrix(x, theta.shape[0])
    return x @ theta


def f_nl_init(key, std: float = 1.0, dtype=jnp.float32):
    """theta = (t0, t1, t2, t3) ~ N(0, std^2), [4] of ``dtype``, from the PRNG ``key``."""
    return std * jax.random.normal(key, (4,), dtype)


def f_nl_apply(theta: jax.Array, x: jax.Array) -> jax.Array:
    """f_NL(x) = t0 + t1 x1 + t2 t3 x2 with ``theta`` = (t0, t1, t2, t3),  x: [n, 2] -> [n]."""
    input_matrix(x, 2)
    return theta[0] + theta[1] * x[:, 0] + theta[2] * theta[3] * x[:, 1]


def matrix_factorization_init(key, d: int, std: float = 1.0, dtype=jnp.float32):
    """{"A": [d, d], "B": [d, d]} ~ N(0, std^2) of ``dtype``, from the PRNG ``key``."""
    positive_int("d", d)
    ka, kb = jax.random.split(key)
    return {
        "A": std * jax.random.normal(ka, (d, d), dtype),
        "B": std * jax.random.normal(kb, (d, d), dtype),
    }


def matrix_factorization_apply(params: dict, entries: jax.Array) -> jax.Array:
    """(A B)_{ij} at observed entries ``entries: [n, 2]`` (integer (i, j)) -> [n]; ``params``:
    ``{"A", "B"}`` of :func:`matrix_factorization_init`."""
    if entries.ndim != 2 or entries.shape[1] != 2:
        raise ValueError(f"entries: expected shape [n, 2], got {entries.shape}")
    A, B = params["A"], params["B"]
    return jnp.einsum("nk,kn->n", A[entries[:, 0]], B[:, entries[:, 1]])


def one_one_one_apply(params: jax.Array, x: jax.Array, hidden="sigmoid", output="identity"):
    """1-1-1 network without biases: f(x) = s_out(w2 * sigma(w1 x)); params = (w1, w2), x: [n].

    ``hidden``: sigma, ``output``: s_out (activation names or callables); returns [n].
    """
    w1, w2 = params[0], params[1]
    return activations.get(output)(w2 * activations.get(hidden)(w1 * x))


def one_one_one_mse(params: jax.Array, data):
    """MSE 1/(2n) sum (f(x_i) - y_i)^2 of the 1-1-1 net with a linear output (sigmoid hidden);
    ``params`` = (w1, w2) [2], ``data = (x [n], y [n])``; returns a scalar."""
    x, y = data
    return 0.5 * jnp.mean((one_one_one_apply(params, x, output="identity") - y) ** 2)


def one_one_one_cross_entropy(params: jax.Array, data):
    """Binary cross-entropy -mean(y log f + (1 - y) log(1 - f)) of the 1-1-1 net with a sigmoid
    output, computed from the logit z = w2 sigma(w1 x) (log f = -softplus(-z)) so it is finite
    where f rounds to 0 or 1; ``params`` = (w1, w2) [2], ``data = (x [n], y [n])``; returns a
    scalar."""
    x, y = data
    w1, w2 = params[0], params[1]
    z = w2 * activations.get("sigmoid")(w1 * x)
    return jnp.mean(y * jax.nn.softplus(-z) + (1 - y) * jax.nn.softplus(z))
