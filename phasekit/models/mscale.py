"""Frequency-aware networks (book ch. 5, spec 04): MscaleDNN and Fourier-feature networks.

MscaleDNN (Liu, Cai, Xu 2020): the first hidden layer (width m) is split into A parts; part i
sees the input scaled by s_i, so its neurons resolve frequencies ~ s_i times higher:

    h_1 = sigma([(s_1 x) W_1 + b_1, ..., (s_A x) W_A + b_A]),   W_i: [d, m_i], sum_i m_i = m
    f(x) = MLP(h_1)                       (the layers after the first are a plain MLP)

with scales s = (1, 2, ..., A) ("linear") or (1, 2, 4, ..., 2^(A-1)) ("geometric"). Since
(s_i x) W_i = x (s_i W_i), the model is :func:`phasekit.models.mlp.apply` with the columns of
the first weight matrix multiplied by their part's scale: the same forward pass, the scales a
traced multiplier (a grid of scale sets vmaps), the parameters those of ``mlp.init``. With all
s_i = 1 (or A = 1, s_1 = 1) it is the plain MLP.

Fourier features (Tancik et al. 2020):

    gamma(v) = [cos(2 pi sigma B v), sin(2 pi sigma B v)],   B: [m, d] ~ N(0, 1) drawn at init
    f(v) = MLP(gamma(v))                  (MLP input width 2m)

so sigma B ~ N(0, sigma^2); sigma is applied at call time (traced: sigma grids vmap). B is
part of the parameters but not trained (``stop_gradient``; pass ``train_b=True`` to train it).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from phasekit.models import mlp
from phasekit.models._checks import input_matrix, positive, positive_int

__all__ = [
    "apply",
    "fourier_apply",
    "fourier_features",
    "fourier_init",
    "fourier_width",
    "init",
    "neuron_scales",
    "param_count",
    "part_index",
    "scale_first_layer",
    "scale_set",
]

SCALE_KINDS = ("linear", "geometric")


# ----------------------------------------------------------------------------- MscaleDNN


def scale_set(n_scales: int, kind: str = "linear", base: float = 2.0) -> np.ndarray:
    """The A scales: linear (1, 2, ..., A) or geometric (1, base, base^2, ..., base^(A-1)). [A].
    ``n_scales``: A; ``kind``: "linear" or "geometric"."""
    positive_int("n_scales", n_scales)
    if kind == "linear":
        return np.arange(1, n_scales + 1, dtype=np.float32)
    if kind == "geometric":
        positive("base", base)
        return (float(base) ** np.arange(n_scales)).astype(np.float32)
    raise ValueError(f"kind: one of {', '.join(SCALE_KINDS)}, got {kind!r}")


def part_index(width: int, n_parts: int) -> np.ndarray:
    """Part of each first-layer neuron: [width] ints in 0..A-1, parts as equal as possible
    (sizes differ by at most one, larger parts first, as ``np.array_split``); ``n_parts``: A."""
    positive_int("width", width)
    positive_int("n_parts", n_parts)
    if n_parts > width:
        raise ValueError(
            f"n_parts: {n_parts} scales need a first hidden layer of at least as many "
            f"neurons, got width {width}"
        )
    return np.concatenate(
        [np.full(len(c), i) for i, c in enumerate(np.array_split(np.arange(width), n_parts))]
    )


def neuron_scales(scales, width: int) -> jax.Array:
    """Scale of each first-layer neuron, [width], from the part scales [A] (may be traced)."""
    scales = jnp.atleast_1d(jnp.asarray(scales))
    if scales.ndim != 1:
        raise ValueError(f"scales: expected [A], got shape {scales.shape}")
    return scales[part_index(width, scales.shape[0])]


def scale_first_layer(params: list[dict], scales) -> list[dict]:
    """MLP parameters whose first layer computes (s_i x) W_i + b_i: W[:, j] -> s_part(j) W[:, j].
    ``params``: :mod:`phasekit.models.mlp` params; ``scales``: the part scales [A]."""
    first = dict(params[0])
    s = neuron_scales(scales, first["w"].shape[1])
    first["w"] = first["w"] * s.astype(first["w"].dtype)
    return [first, *params[1:]]


def init(key, sizes: Sequence[int], **mlp_kwargs) -> list[dict]:
    """Parameters of an MscaleDNN with widths ``sizes = [d_in, m, ..., d_out]``: those of
    :func:`phasekit.models.mlp.init` (unit scale; the scales enter at :func:`apply`), from the
    PRNG ``key`` (``mlp_kwargs`` to ``mlp.init``)."""
    return mlp.init(key, sizes, **mlp_kwargs)


def apply(params: list[dict], x: jax.Array, scales, activation="relu", **mlp_kwargs) -> jax.Array:
    """MscaleDNN output f(x), [n] (or [n, d_out]).   x: [n, d]; scales: [A] (traced ok), A <= m.
    ``params`` from :func:`init`; ``activation`` as :func:`phasekit.models.mlp.apply`."""
    return mlp.apply(scale_first_layer(params, scales), x, activation, **mlp_kwargs)


# ----------------------------------------------------------------------------- Fourier features


def fourier_features(x: jax.Array, b: jax.Array, sigma=1.0) -> jax.Array:
    """gamma(x) = [cos(2 pi sigma x B^T), sin(2 pi sigma x B^T)].   x: [n, d], b: [m, d] -> [n, 2m]."""
    input_matrix(x, b.shape[1])
    z = 2.0 * jnp.pi * jnp.asarray(sigma, x.dtype) * (x @ b.T)
    return jnp.concatenate([jnp.cos(z), jnp.sin(z)], axis=1)


def fourier_init(key, sizes: Sequence[int], n_features: int, **mlp_kwargs) -> dict:
    """Fourier-feature network with ``sizes = [d_in, h_1, ..., d_out]`` and m = ``n_features``:
    ``{"b": [m, d_in] ~ N(0, 1), "net": mlp.init(key, [2m, h_1, ..., d_out])}``."""
    positive_int("n_features", n_features)
    if len(sizes) < 2:
        raise ValueError(f"sizes: need at least [d_in, d_out], got {list(sizes)}")
    kb, kn = jax.random.split(key)
    d = positive_int("sizes[0]", sizes[0])
    return {
        "b": jax.random.normal(kb, (n_features, d), mlp_kwargs.get("dtype", jnp.float32)),
        "net": mlp.init(kn, [2 * n_features, *sizes[1:]], **mlp_kwargs),
    }


def fourier_apply(
    params: dict, x: jax.Array, sigma=1.0, activation="relu", train_b: bool = False, **mlp_kwargs
) -> jax.Array:
    """f(x) = MLP(gamma(x)), [n] (or [n, d_out]); sigma: the std of the frequencies (traced ok).
    ``params`` from :func:`fourier_init`; ``activation`` as :func:`phasekit.models.mlp.apply`;
    ``train_b``: let gradients reach B (default: B fixed, ``stop_gradient``)."""
    b = params["b"] if train_b else jax.lax.stop_gradient(params["b"])
    return mlp.apply(params["net"], fourier_features(x, b, sigma), activation, **mlp_kwargs)


# ----------------------------------------------------------------------------- sizes


def param_count(sizes: Sequence[int], bias: bool = True) -> int:
    """Trainable parameters of an MLP (= an MscaleDNN) with widths ``sizes``:
    sum_l (fan_in_l + bias) fan_out_l."""
    return int(sum((fi + int(bias)) * fo for fi, fo in zip(sizes[:-1], sizes[1:])))


def fourier_width(budget: int, n_features: int, depth: int, d_out: int = 1) -> int:
    """Largest common hidden width h such that the trained part of a Fourier-feature network
    [2m, h x depth, d_out] has at most ``budget`` parameters (B is not trained); m =
    ``n_features``."""
    positive_int("depth", depth)
    h = 1
    while param_count([2 * n_features] + [h + 1] * depth + [d_out]) <= budget:
        h += 1
    if param_count([2 * n_features] + [h] * depth + [d_out]) > budget:
        raise ValueError(
            f"budget: {budget} parameters cannot hold {n_features} features and width 1"
        )
    return h
