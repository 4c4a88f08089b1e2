"""Two-layer network in the (alpha, beta1, beta2) parameterization of spec 01 (book ch. 7).

    f(x) = (1/alpha) * sum_{k=1..m} a_k * sigma(w_k . x + b_k)
    a_k = beta1 * abar_k,   w_k = beta2 * wbar_k,   b_k = beta2 * bbar_k
    abar, wbar, bbar ~ N(0, 1) i.i.d.  (unit scale, from :func:`init`)

The bias is part of the input weights (spec 01 folds it in by appending 1 to x), so it is
scaled by beta2 and counted in theta_w. Scale is applied after init by traced multipliers
(:func:`rescale` and ``alpha`` in :func:`apply`), so seeds and init scales vmap together:

    >>> import jax, jax.numpy as jnp
    >>> from phasekit.models import two_layer
    >>> p = two_layer.init(jax.random.key(0), width=100, input_dim=1)
    >>> alpha, b1, b2 = two_layer.preset("ntk", width=100, input_dim=1)
    >>> y = two_layer.apply(two_layer.rescale(p, b1, b2), jnp.ones((4, 1)), alpha=alpha)
    >>> y.shape
    (4,)

Params are a dict ``{"a": [m], "w": [m, d], "b": [m]}`` (``"b"`` absent without bias).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from phasekit.models import activations
from phasekit.models._checks import input_matrix, positive, positive_int

__all__ = ["apply", "hidden", "init", "input_weights", "preactivation", "preset", "rescale"]


def init(
    key,
    width: int,
    input_dim: int,
    bias: bool = True,
    antisymmetric: bool = False,
    dtype=jnp.float32,
) -> dict:
    """Unit-scale parameters: abar, wbar, bbar ~ N(0, 1).

    Args:
      key: PRNG key.
      width: m, number of hidden neurons.
      input_dim: d, input dimension (without the bias).
      bias: include b_k (scaled with the input weights).
      antisymmetric: the authors' anti-symmetric initialization: neurons m/2..m-1 copy the
        input weights of 0..m/2-1 and negate their output weights, so f(x; theta0) = 0
        exactly (m must be even). The scaling exponents are unchanged.
      dtype: of every leaf.
    Returns:
      params pytree ``{"a": [m], "w": [m, d], "b": [m]}``.
    """
    positive_int("width", width)
    positive_int("input_dim", input_dim)
    if antisymmetric and width % 2:
        raise ValueError(f"width: antisymmetric init needs an even width, got {width}")
    m = width // 2 if antisymmetric else width
    ka, kw, kb = jax.random.split(key, 3)
    p = {"a": jax.random.normal(ka, (m,), dtype), "w": jax.random.normal(kw, (m, input_dim), dtype)}
    if bias:
        p["b"] = jax.random.normal(kb, (m,), dtype)
    if antisymmetric:
        p = {k: jnp.concatenate([v, -v if k == "a" else v]) for k, v in p.items()}
    return p


def rescale(params: dict, beta1=1.0, beta2=1.0) -> dict:
    """a <- beta1 * a; w, b <- beta2 * (w, b). beta1, beta2 may be traced (vmap over scales).

    Args:
      params: ``{"a": [m], "w": [m, d], "b": [m]}`` (e.g. unit scale from :func:`init`).
      beta1: the output-layer scale;  beta2: the input-layer scale.
    Returns:
      The rescaled params, same structure.
    """
    return {k: (beta1 if k == "a" else beta2) * v for k, v in params.items()}


def input_weights(params: dict) -> jax.Array:
    """theta_w: the input weights with the bias appended as a last column, [m, d(+1)].

    ``params``: ``{"w": [m, d], "b": [m]}`` ("b" optional: then [m, d])."""
    if "b" in params:
        return jnp.concatenate([params["w"], params["b"][:, None]], axis=1)
    return params["w"]


def preactivation(params: dict, x: jax.Array) -> jax.Array:
    """w_k . x_i + b_k, shape [n, m], for ``params`` from :func:`init` and inputs ``x`` [n, d]."""
    z = x @ params["w"].T
    return z + params["b"] if "b" in params else z


def hidden(params: dict, x: jax.Array, activation="relu", mask=None) -> jax.Array:
    """Hidden activations m_k sigma(w_k . x + b_k), [n, m] (``mask`` m: None or broadcastable to [n, m]).

    Args:
      params: from :func:`init`;  x: [n, d].
      activation: a name of :func:`phasekit.models.activations.get` or a callable.
      mask: None (m = 1) or broadcastable to [n, m].
    Returns:
      [n, m].
    """
    input_matrix(x, params["w"].shape[1])
    h = activations.get(activation)(preactivation(params, x))
    return h if mask is None else h * mask


def apply(params: dict, x: jax.Array, activation="relu", alpha=1.0, mask=None) -> jax.Array:
    """f(x) = (1/alpha) sum_k a_k m_k sigma(w_k . x + b_k).   x: [n, d] -> [n] (or [n, C] for a: [m, C]).

    The model's one forward pass. ``mask`` (None: m = 1) multiplies the hidden activations:
    dropout's 1 + eta (:func:`phasekit.dynamics.dropout.two_layer_apply`).

    Args:
      params: ``{"a": [m] or [m, C], "w": [m, d], "b": [m]}`` from :func:`init` (rescaled).
      x: [n, d].
      activation: a name of :func:`phasekit.models.activations.get` or a callable.
      alpha: the output normalization (book Table 7.1).
      mask: None or broadcastable to [n, m].
    Returns:
      [n] (or [n, C]).
    """
    return hidden(params, x, activation, mask) @ params["a"] / alpha


# Table 7.1 of the book. beta1 is the output-layer scale, beta2 the input-layer scale.
# Convention: ``input_dim`` is the fan-in the scheme counts; pass d + 1 if you want the
# bias counted (the tests and scripts pass the raw input dimension d).
def _table_7_1(m: float, d: float, beta: float | None) -> dict[str, tuple[float, float, float]]:
    return {
        "lecun": (1.0, math.sqrt(1 / m), math.sqrt(1 / d)),
        "he": (1.0, math.sqrt(2 / m), math.sqrt(2 / d)),
        "xavier": (1.0, math.sqrt(2 / (m + 1)), math.sqrt(2 / (m + d))),
        "ntk": (math.sqrt(m), 1.0, 1.0),
        "mean_field": (m, 1.0, 1.0),
        # beta None: only reached for the other rows (preset() requires beta for e_et_al)
        "e_et_al": (1.0, math.nan if beta is None else beta, 1.0),
    }


PRESETS: tuple[str, ...] = ("lecun", "he", "xavier", "ntk", "mean_field", "e_et_al")


def preset(
    name: str, width: int, input_dim: int, beta: float | None = None
) -> tuple[float, float, float]:
    """(alpha, beta1, beta2) of a common initialization (book Table 7.1).

    ``e_et_al`` (E, Ma, Wu 2020) needs ``beta``, the output-layer scale (gamma = gamma' =
    log(1/beta)/log m).

    Args:
      name: one of :data:`PRESETS` (lecun, he, xavier, ntk, mean_field, e_et_al).
      width: m;  input_dim: d (the fan-in the scheme counts).
      beta: the e_et_al output-layer scale.
    Returns:
      (alpha, beta1, beta2) for :func:`rescale` and :func:`apply`.
    """
    positive_int("width", width)
    positive_int("input_dim", input_dim)
    if name not in PRESETS:
        raise ValueError(f"preset: unknown name {name!r}; known: {', '.join(PRESETS)}")
    if name == "e_et_al":
        if beta is None:
            raise ValueError("beta: the e_et_al preset needs beta (output-layer scale)")
        positive("beta", beta)
    return _table_7_1(float(width), float(input_dim), beta)[name]
