"""Deep fully connected network (optionally residual) as a pure (init, apply) pair.

    h_0 = x,   z_l = h_{l-1} W_l + b_l,   h_l = m_l * sigma(z_l)  (+ h_{l-1} if residual and shapes match)
    f(x) = h_{L-1} W_L + b_L          (no activation on the output layer)

This is the model's one forward pass; its hooks serve the analyses: :func:`hidden` returns the
post-activations h_l, :func:`preactivations` the z_l, and ``masks`` multiplies each hidden
layer's output by m_l (dropout: :func:`phasekit.dynamics.dropout.mlp_apply` draws
m_l = 1/p or 0; None: m_l = 1).

Per-layer init std is ``fan_in ** -gamma`` (the condensation papers' "init rate", with a
scalar or per-layer gamma) or a named scheme (spec 05):

    lecun   N(0, 1/fan_in)        he      N(0, 2/fan_in)
    xavier  N(0, 2/(fan_in + fan_out))          (exact normal, not truncated)
    torch   U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases (PyTorch's nn.Linear
            default: kaiming_uniform with a = sqrt(5)); std 1/sqrt(3 fan_in)

Params: a list of ``{"w": [fan_in, fan_out], "b": [fan_out]}``, one dict per layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from phasekit.models import activations
from phasekit.models._checks import input_matrix, positive_int

__all__ = ["apply", "hidden", "init", "layer_std", "preactivations"]

SCHEMES = ("lecun", "he", "xavier", "torch")


def layer_std(fan_in: int, fan_out: int, scheme: str | None = None, gamma: float | None = None):
    """Init standard deviation of one layer's weights: ``fan_in ** -gamma`` when ``gamma`` is
    given, else the scheme's sqrt(1/fan_in) (lecun), sqrt(2/fan_in) (he),
    sqrt(2/(fan_in + fan_out)) (xavier) or sqrt(1/(3 fan_in)) (torch: the std of
    U(-1/sqrt(fan_in), 1/sqrt(fan_in))).

    Args:
      fan_in, fan_out: the layer's input and output widths.
      scheme: lecun | he | xavier | torch (ignored when ``gamma`` is given).
      gamma: the init rate.
    Returns:
      The std, a Python float (or an array when ``gamma`` is one).
    """
    if gamma is not None:
        return fan_in ** (-gamma)
    if scheme == "lecun":
        return (1 / fan_in) ** 0.5
    if scheme == "he":
        return (2 / fan_in) ** 0.5
    if scheme == "xavier":
        return (2 / (fan_in + fan_out)) ** 0.5
    if scheme == "torch":
        return (1 / (3 * fan_in)) ** 0.5
    raise ValueError(f"scheme: unknown {scheme!r}; known: {', '.join(SCHEMES)} (or give gamma)")


def init(
    key,
    sizes: Sequence[int],
    scheme: str = "lecun",
    gamma=None,
    bias: bool = True,
    bias_std: float | None = None,
    dtype=jnp.float32,
) -> list[dict]:
    """Parameters of an MLP with layer widths ``sizes = [d_in, h_1, ..., d_out]``.

    Args:
      key: PRNG key.
      sizes: [d_in, h_1, ..., d_out] (L + 1 widths for L weight layers).
      scheme: lecun | he | xavier (normal weights) | torch (PyTorch's nn.Linear default:
        weights and biases uniform on [-1/sqrt(fan_in), 1/sqrt(fan_in)]); ignored when
        ``gamma`` is given.
      gamma: init rate; a scalar or one value per layer: std_l = fan_in_l ** -gamma_l.
      bias: include the biases b_l.
      bias_std: std of the (normal) biases; default: the layer's weight std when ``gamma`` is
        given (the condensation papers initialize every weight and bias alike), uniform on
        [-1/sqrt(fan_in), 1/sqrt(fan_in)] for ``scheme="torch"``, else 0.
      dtype: of every leaf.
    Returns:
      ``[{"w": [sizes[l], sizes[l + 1]], "b": [sizes[l + 1]]}, ...]``, L dicts (no "b" without
      ``bias``).
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
    for l, (key_l, fi, fo) in enumerate(
        zip(jax.random.split(key, n_layers), sizes[:-1], sizes[1:])
    ):
        std = layer_std(fi, fo, scheme, gammas[l])
        kw, kb = jax.random.split(key_l)
        uniform = scheme == "torch" and gammas[l] is None
        bound = fi**-0.5  # torch: U(-bound, bound) for w and b
        if uniform:
            layer = {"w": jax.random.uniform(kw, (fi, fo), dtype, -bound, bound)}
        else:
            layer = {"w": std * jax.random.normal(kw, (fi, fo), dtype)}
        if bias:
            if uniform and bias_std is None:
                layer["b"] = jax.random.uniform(kb, (fo,), dtype, -bound, bound)
            else:
                bstd = (std if gammas[l] is not None else 0.0) if bias_std is None else bias_std
                layer["b"] = bstd * jax.random.normal(kb, (fo,), dtype)
        params.append(layer)
    return params


def _forward(params, x, activation, residual, layer_activations, masks):
    """(pre-activations z_1..z_{L-1}, post-activations h_1..h_{L-1}, output [n, d_out])."""
    input_matrix(x, params[0]["w"].shape[0])
    n_hidden = len(params) - 1
    acts = layer_activations or [activation] * n_hidden
    if len(acts) != n_hidden:
        raise ValueError(f"layer_activations: need {n_hidden}, got {len(acts)}")
    masks = [None] * n_hidden if masks is None else list(masks)
    if len(masks) != n_hidden:
        raise ValueError(
            f"masks: need one per hidden layer ({n_hidden}; None for no mask), got {len(masks)}"
        )
    zs, hs, h = [], [], x
    for layer, act, m in zip(params[:-1], acts, masks):
        z = h @ layer["w"] + layer.get("b", 0.0)
        new = activations.get(act)(z)
        if m is not None:
            new = new * m
        h = h + new if residual and new.shape == h.shape else new
        zs.append(z)
        hs.append(h)
    return zs, hs, h @ params[-1]["w"] + params[-1].get("b", 0.0)


def preactivations(
    params: list[dict],
    x: jax.Array,
    activation="relu",
    residual: bool = False,
    layer_activations: Sequence | None = None,
    masks: Sequence | None = None,
) -> list[jax.Array]:
    """Pre-activations z_1..z_{L-1} of the hidden layers, each [n, h_l].

    Args:
      params: from :func:`init`, L layers.
      x: [n, d_in].
      activation: the hidden layers' activation (a name of :func:`phasekit.models.activations.get`
        or a callable).
      residual: add h_{l-1} to h_l where the shapes match.
      layer_activations: one activation per hidden layer (overrides ``activation``).
      masks: one array per hidden layer (broadcastable to [n, h_l], or None) multiplying that
        layer's activation sigma(z_l) before the residual sum (dropout's 1 + eta).
    Returns:
      L - 1 arrays z_l [n, h_l].
    """
    return _forward(params, x, activation, residual, layer_activations, masks)[0]


def hidden(
    params: list[dict],
    x: jax.Array,
    activation="relu",
    residual: bool = False,
    layer_activations: Sequence | None = None,
    masks: Sequence | None = None,
) -> list[jax.Array]:
    """Post-activations h_1..h_{L-1} of the hidden layers, each [n, h_l].

    Args:
      params: from :func:`init`, L layers.
      x: [n, d_in].
      activation: the hidden layers' activation (a name of :func:`phasekit.models.activations.get`
        or a callable).
      residual: add h_{l-1} to h_l where the shapes match.
      layer_activations: one activation per hidden layer (overrides ``activation``).
      masks: one array per hidden layer (broadcastable to [n, h_l], or None) multiplying that
        layer's activation sigma(z_l) before the residual sum (dropout's 1 + eta).
    Returns:
      L - 1 arrays h_l [n, h_l].
    """
    return _forward(params, x, activation, residual, layer_activations, masks)[1]


def apply(
    params: list[dict],
    x: jax.Array,
    activation="relu",
    residual: bool = False,
    layer_activations: Sequence | None = None,
    masks: Sequence | None = None,
) -> jax.Array:
    """Network output f(x) = h_{L-1} W_L + b_L, [n, d_out] (squeezed to [n] when d_out = 1).

    Args:
      params: from :func:`init`, L layers.
      x: [n, d_in].
      activation: the hidden layers' activation (a name of :func:`phasekit.models.activations.get`
        or a callable).
      residual: add h_{l-1} to h_l where the shapes match.
      layer_activations: one activation per hidden layer (overrides ``activation``).
      masks: one array per hidden layer (broadcastable to [n, h_l], or None) multiplying that
        layer's activation sigma(z_l) before the residual sum (dropout's 1 + eta).
    Returns:
      [n, d_out], or [n] when d_out = 1.
    """
    out = _forward(params, x, activation, residual, layer_activations, masks)[2]
    return out[:, 0] if out.shape[1] == 1 else out
