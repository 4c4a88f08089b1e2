"""Decoder-only Transformer of book ch. 13 (eq. 13.3-13.6), Flax linen, post-LN.

    h^0_t   = E[x_t] + P[t]                                          token + learned position
    A^l     = softmax(Q K^T / sqrt(d_k) + causal) * M^l              Q = h W_Q, K = h W_K, V = h W_V
    u^l     = LN(h^{l-1} + concat_heads(A^l V) W_O)                  residual + LayerNorm
    h^l     = LN(u^l + relu(u^l W_1 + b_1) W_2 + b_2)                ReLU MLP, residual + LayerNorm
    f(x)    = h^L_T W_out + b_out                                    logits of the last token [n, vocab]

``M^l`` is the attention-masking hook of the mechanism probes: entries set to 0 zero the
attention weight *after* the softmax (no renormalization); by default M = 1.

Initialization rate gamma (book ch. 13): every weight matrix ~ N(0, (d_in^-gamma)^2). As in
:mod:`phasekit.models.two_layer`, :func:`init` draws the unit-scale weights (N(0, 1); biases 0,
LayerNorm scale 1 and offset 0) and :func:`rescale` multiplies each weight by d_in^-gamma with
a traced gamma, so a grid over gamma x weight decay x seed is one ``jax.vmap``:

    >>> import jax, jax.numpy as jnp
    >>> from phasekit.models import transformer
    >>> v = transformer.init(jax.random.key(0), vocab=30, seq_len=9, d_model=16, depth=2)
    >>> logits = transformer.apply(transformer.rescale(v, 0.5), jnp.zeros((4, 9), jnp.int32))
    >>> logits.shape
    (4, 30)

d_in per weight: W_Q, W_K, W_V [d_model, heads, d_k]: d_model; W_O [heads, d_k, d_model]:
heads * d_k; W_1: d_model; W_2: d_ff; W_out: d_model; the embedding tables E [vocab, d_model]
and P [seq_len, d_model]: d_model (the authors' blanket rule on the second axis of a
PyTorch weight; a one-hot fan-in would be the vocabulary size instead). The architecture
(heads, d_k, d_ff, depth) is read off the parameters, so :func:`apply` takes no sizes.
"""

from __future__ import annotations

from typing import cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict

from phasekit.models._checks import positive_int

__all__ = [
    "Block",
    "Decoder",
    "apply",
    "architecture",
    "embedding_pca",
    "fan_in",
    "init",
    "intermediates",
    "last_hidden",
    "mask_attention_to",
    "masking_cosine",
    "query_weights",
    "representation_pca",
    "rescale",
    "variance_share",
]

_unit = nn.initializers.normal(1.0)


class Block(nn.Module):
    """One post-LN decoder block: causal attention and a ReLU MLP, each residual + LayerNorm."""

    heads: int
    d_k: int
    d_ff: int

    @nn.compact
    def __call__(self, h, mask=None):
        n, t, d = h.shape
        proj = lambda name: nn.DenseGeneral(
            (self.heads, self.d_k), use_bias=False, kernel_init=_unit, name=name
        )(h)
        q, k, v = proj("query"), proj("key"), proj("value")  # [n, t, heads, d_k]
        scores = jnp.einsum("nqhd,nkhd->nhqk", q, k) / jnp.sqrt(self.d_k).astype(h.dtype)
        causal = jnp.tril(jnp.ones((t, t), bool))
        attn = jax.nn.softmax(jnp.where(causal, scores, -jnp.inf), axis=-1)  # [n, heads, t, t]
        if mask is not None:
            attn = attn * mask
        self.sow("intermediates", "attention", attn)
        ctx = jnp.einsum("nhqk,nkhd->nqhd", attn, v)
        out = nn.DenseGeneral(d, axis=(-2, -1), use_bias=False, kernel_init=_unit, name="out")(ctx)
        u = nn.LayerNorm(name="ln_attention")(h + out)
        mlp = nn.Dense(d, kernel_init=_unit, name="mlp_out")(
            nn.relu(nn.Dense(self.d_ff, kernel_init=_unit, name="mlp_in")(u))
        )
        return nn.LayerNorm(name="ln_mlp")(u + mlp)


class Decoder(nn.Module):
    """Token + position embedding, ``depth`` blocks, linear read-out with bias."""

    vocab: int
    seq_len: int
    d_model: int
    depth: int
    heads: int
    d_k: int
    d_ff: int

    @nn.compact
    def __call__(self, tokens, mask=None, positions: str = "last"):
        t = tokens.shape[1]
        h = nn.Embed(self.vocab, self.d_model, embedding_init=_unit, name="token_embedding")(tokens)
        pos = self.param("position_embedding", _unit, (self.seq_len, self.d_model))
        h = h + pos[:t]
        for layer in range(self.depth):
            h = Block(self.heads, self.d_k, self.d_ff, name=f"block_{layer}")(
                h, None if mask is None else mask[layer]
            )
        self.sow("intermediates", "hidden", h)
        # read out only the positions asked for: the [n, t, vocab] logits of every position cost
        # t times the read-out (and dominated a full-data evaluation of the anchor model)
        readout = nn.Dense(self.vocab, kernel_init=_unit, name="readout")
        return readout(h[:, -1]) if positions == "last" else readout(h)


def init(
    key,
    vocab: int,
    seq_len: int,
    d_model: int = 64,
    depth: int = 2,
    heads: int = 1,
    d_k: int | None = None,
    d_ff: int | None = None,
) -> dict:
    """Unit-scale Flax variables of :class:`Decoder`: weights N(0, 1), biases 0, LayerNorm 1 / 0.

    ``d_k`` (= d_v) defaults to d_model / heads, ``d_ff`` to 4 d_model. All weights come from
    one ``jax.random.normal(key, [total])`` cut in ``jax.tree_util`` leaf order (one draw per
    weight would make XLA compile one threefry kernel each: minutes on CPU).

    Args:
      key: PRNG key;  vocab: token count;  seq_len: the longest sequence T.
      d_model, depth, heads, d_k, d_ff: the :class:`Decoder`'s sizes (depth blocks).
    Returns:
      ``{"params": ...}`` Flax variables at unit scale (:func:`rescale` applies d_in^-gamma).
    """
    for name, v in (
        ("vocab", vocab),
        ("seq_len", seq_len),
        ("d_model", d_model),
        ("depth", depth),
        ("heads", heads),
    ):
        positive_int(name, v)
    d_k = d_model // heads if d_k is None else d_k
    d_ff = 4 * d_model if d_ff is None else d_ff
    positive_int("d_k", d_k)
    positive_int("d_ff", d_ff)
    model = Decoder(vocab, seq_len, d_model, depth, heads, d_k, d_ff)
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, seq_len), jnp.int32))
    paths, tree = jax.tree_util.tree_flatten_with_path(shapes["params"])
    is_weight = [fan_in(tuple(k.key for k in path), s.shape) is not None for path, s in paths]
    sizes = [s.size for (_, s), w in zip(paths, is_weight) if w]
    z = jax.random.normal(key, (sum(sizes),), jnp.float32)
    cuts = iter(jnp.split(z, np.cumsum(sizes)[:-1]))
    leaves = [
        next(cuts).reshape(s.shape)
        if w
        else (jnp.ones if path[-1].key == "scale" else jnp.zeros)(s.shape, s.dtype)
        for (path, s), w in zip(paths, is_weight)
    ]
    return {"params": jax.tree_util.tree_unflatten(tree, leaves)}


def architecture(variables: dict) -> Decoder:
    """The :class:`Decoder` whose parameters these are (sizes read off the shapes of
    ``variables``, as from :func:`init`)."""
    p = variables["params"]
    vocab, d_model = p["token_embedding"]["embedding"].shape
    depth = sum(k.startswith("block_") for k in p)
    _, heads, d_k = p["block_0"]["query"]["kernel"].shape
    d_ff = p["block_0"]["mlp_in"]["kernel"].shape[1]
    return Decoder(vocab, p["position_embedding"].shape[0], d_model, depth, heads, d_k, d_ff)


def fan_in(path: tuple, shape: tuple) -> int | None:
    """d_in of the weight at ``path`` (a flattened Flax key) with ``shape``; None for biases and
    LayerNorm parameters, which gamma does not scale."""
    name = path[-1]
    if name in ("embedding", "position_embedding"):
        return shape[1]
    if name != "kernel":
        return None
    if path[-2] == "out":
        return shape[0] * shape[1]
    return shape[0]


def rescale(variables: dict, gamma) -> dict:
    """W <- d_in^-gamma * W for every weight matrix (gamma may be traced).

    Args:
      variables: from :func:`init`;  gamma: the init rate (:func:`fan_in` gives each d_in).
    Returns:
      The rescaled variables, same structure (biases and LayerNorm unchanged).
    """
    flat = flatten_dict(variables["params"])
    out = {}
    for path, w in flat.items():
        d = fan_in(path, w.shape)
        out[path] = (
            w if d is None else w * jnp.asarray(float(d), w.dtype) ** (-jnp.asarray(gamma, w.dtype))
        )
    return {**variables, "params": unflatten_dict(out)}


def apply(variables: dict, tokens, attention_mask=None, positions: str = "last") -> jax.Array:
    """Logits of the last token [n, vocab] (``positions="all"``: every position, [n, T, vocab]).

    Args:
      variables: from :func:`init` (rescaled).
      tokens: int [n, T], T <= seq_len.
      positions: "last" or "all".
      attention_mask: None, or M broadcastable to [depth, n, heads, T, T] (query, key): the
        attention weights of layer l are multiplied by M[l] after the softmax (0 masks).
    """
    if positions not in ("last", "all"):
        raise ValueError(f"positions: 'last' or 'all', got {positions!r}")
    model = architecture(variables)
    if tokens.ndim != 2 or tokens.shape[1] > model.seq_len:
        raise ValueError(f"tokens: need [n, T] with T <= {model.seq_len}, got shape {tokens.shape}")
    if attention_mask is not None:
        attention_mask = jnp.broadcast_to(
            attention_mask,
            (model.depth, tokens.shape[0], model.heads, tokens.shape[1], tokens.shape[1]),
        )
    # no ``mutable=``: flax's apply returns the output alone, not (output, state)
    out = model.apply({"params": variables["params"]}, tokens, attention_mask, positions)
    return cast(jax.Array, out)


def intermediates(variables: dict, tokens, attention_mask=None) -> dict:
    """The probes' view of one forward pass: ``{"logits": [n, vocab], "attention": [depth, n,
    heads, T, T] (after the mask), "hidden": [n, T, d_model] (last block's output)}``, for
    ``variables`` from :func:`init`, ``tokens`` int [n, T] and ``attention_mask`` as in
    :func:`apply`."""
    model = architecture(variables)
    if attention_mask is not None:
        attention_mask = jnp.broadcast_to(
            attention_mask,
            (model.depth, tokens.shape[0], model.heads, tokens.shape[1], tokens.shape[1]),
        )
    logits, state = model.apply(
        {"params": variables["params"]}, tokens, attention_mask, "last", mutable=["intermediates"]
    )
    inter = state["intermediates"]
    attn = jnp.stack([inter[f"block_{l}"]["attention"][0] for l in range(model.depth)])
    return {"logits": logits, "attention": attn, "hidden": inter["hidden"][0]}


def query_weights(variables: dict, layer: int = 0) -> jax.Array:
    """W_Q of block ``layer`` as [heads * d_k, d_model]: row j is the input weight vector of query
    neuron j (a row of the PyTorch-layout W_Q; their cosine similarity shows condensation,
    book Fig 13.7), for ``variables`` from :func:`init`."""
    w = variables["params"][f"block_{layer}"]["query"]["kernel"]
    return w.reshape(w.shape[0], -1).T


def embedding_pca(variables: dict, tokens, k: int = 2) -> jax.Array:
    """Coordinates of the token embeddings E[tokens] on their top-``k`` principal axes
    (centered over ``tokens``; book Fig 13.8): [len(tokens), k]. Signs follow the SVD.
    ``variables`` from :func:`init`; ``tokens``: int [t], the tokens to place."""
    e = variables["params"]["token_embedding"]["embedding"][jnp.asarray(tokens)]
    e = e - e.mean(0)
    _, _, vt = jnp.linalg.svd(e, full_matrices=False)
    return e @ vt[:k].T


def mask_attention_to(positions, seq_len: int, depth: int, query: int = -1) -> jax.Array:
    """The :func:`apply` hook that cuts the attention of query position ``query`` to key
    position ``positions[i]`` of sequence i, in every layer (the probes of book Fig 13.9-13.12):

        M[l, i, h, q, k] = 0  if q == query (mod T) and k == positions[i],  else 1.

    Args:
      positions: int [n], the key position masked in each sequence (0..T-1).
      seq_len: T;  depth: the decoder's blocks;  query: the query row (default the last token).
    Returns:
      float32 mask [depth, n, 1, T, T] (broadcast over heads).
    """
    positions = jnp.asarray(positions)
    rows = jnp.arange(seq_len)
    hit = (rows[None, :, None] == query % seq_len) & (
        rows[None, None, :] == positions[:, None, None]
    )
    m = jnp.where(hit, 0.0, 1.0).astype(jnp.float32)  # [n, T, T]
    return jnp.broadcast_to(m[None, :, None], (depth, positions.shape[0], 1, seq_len, seq_len))


def last_hidden(variables: dict, tokens, attention_mask=None) -> jax.Array:
    """h^L_T, the last block's output at the last token, [n, d_model]: the vector the read-out
    W_out maps to the logits (one forward pass of :func:`intermediates`, same arguments)."""
    return intermediates(variables, tokens, attention_mask)["hidden"][:, -1]


def masking_cosine(variables: dict, tokens, attention_mask) -> jax.Array:
    """cos(h, h_masked) per sequence, h = :func:`last_hidden` without and h_masked with
    ``attention_mask`` (the model's own forward pass with the hook of :func:`apply`), [n].

    Args:
      variables: from :func:`init`;  tokens: int [n, T];  attention_mask: as in :func:`apply`.
    """
    h = last_hidden(variables, tokens)
    g = last_hidden(variables, tokens, attention_mask)
    den = jnp.linalg.norm(h, axis=-1) * jnp.linalg.norm(g, axis=-1)
    return jnp.sum(h * g, -1) / jnp.maximum(den, jnp.finfo(h.dtype).tiny)


def representation_pca(h, k: int = 2) -> jax.Array:
    """Coordinates of the rows of ``h`` [n, d] on their top-``k`` principal axes (centered over
    the rows; signs follow the SVD): [n, k]."""
    h = jnp.asarray(h)
    h = h - h.mean(0)
    _, _, vt = jnp.linalg.svd(h, full_matrices=False)
    return h @ vt[:k].T


def variance_share(h, groups, n_groups: int) -> jax.Array:
    """Fraction of the total variance of the rows of ``h`` explained by ``groups`` (the
    between-group sum of squares over the total, summed over the d coordinates):

        eta^2 = sum_g n_g |mean_g(h) - mean(h)|^2 / sum_i |h_i - mean(h)|^2   in [0, 1];

    1 when h is a function of the group, ~ (n_groups - 1) / (n - 1) when it is independent of it.

    Args:
      h: [n, d];  groups: int [n] in 0..n_groups-1;  n_groups: the number of groups (static).
    Returns:
      a scalar.
    """
    h = jnp.asarray(h)
    c = h - h.mean(0)
    count = jax.ops.segment_sum(jnp.ones(h.shape[0], h.dtype), groups, n_groups)
    sums = jax.ops.segment_sum(c, groups, n_groups)
    between = jnp.sum(jnp.sum(sums**2, -1) / jnp.maximum(count, 1.0))
    return between / jnp.maximum(jnp.sum(c**2), jnp.finfo(h.dtype).tiny)
