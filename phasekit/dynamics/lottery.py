"""Lottery tickets (Frankle & Carbin 2019; Frankle et al. 2020): iterative magnitude pruning
(IMP) with rewinding, and its two controls.

A mask is a pytree of arrays with the structure of the parameters (1 = kept, 0 = pruned), so
a whole set of sparsity levels and seeds is one ``jax.vmap``. Only *prunable* leaves are ever
pruned: by default the weight matrices (leaves with ndim >= 2), never the biases.

Magnitude pruning to a keep fraction q (:func:`magnitude_prune`):

    per layer:  layer l keeps the k_l = round(q_l * size_l) surviving weights of largest |w|
    global:     all prunable weights compete together; k = round(q * sum_l size_l) survive

Ties are broken by position, so exactly k weights survive (fewer only if fewer survive
already). One IMP round: train theta_0 (.) m to theta_T, prune to the next keep fraction
(removing ``rate`` of the survivors per round: q_r = (1 - rate)^r, 10% for the output layer in
the paper), and rewind the survivors to their initial values theta_0 (or to theta_k of an
early step k, "late rewinding"): theta <- theta_rewind (.) m. Controls at the same mask
sizes: the same mask with a fresh random init (:func:`random_reinit`) and a random mask with
the same per-layer counts (:func:`random_mask`).

Masked training keeps pruned weights at exactly 0: train from ``apply_mask(params, m)`` with
``optax.chain(optimizer, mask_updates(m))`` (:func:`masked`), which zeroes their updates
(weight decay of AdamW included).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = [
    "apply_mask",
    "default_prunable",
    "dense_mask",
    "imp_keep_fractions",
    "layer_counts",
    "magnitude_prune",
    "mask_updates",
    "masked",
    "random_mask",
    "random_reinit",
    "rewind",
    "sparsity",
]

Params = Any
Mask = Any


def default_prunable(params: Params) -> Any:
    """Pytree of bools with the structure of ``params``: True for leaves with ndim >= 2."""
    return jax.tree_util.tree_map(lambda w: jnp.ndim(w) >= 2, params)


def dense_mask(params: Params) -> Mask:
    """The all-ones mask (float, same shapes and dtypes as ``params``)."""
    return jax.tree_util.tree_map(jnp.ones_like, params)


def apply_mask(params: Params, mask: Mask) -> Params:
    """theta (.) m, leafwise.

    Args:
      params: pytree; mask: pytree of the same structure (0 / 1 entries).
    Returns:
      the masked pytree.
    """
    return jax.tree_util.tree_map(lambda w, m: w * m.astype(w.dtype), params, mask)


def _flatten_up_to(treedef: Any, tree: Any) -> list[Any]:
    # ``treedef`` is a jaxlib PyTreeDef: jaxlib ships no stub for it, so it is typed Any here
    return treedef.flatten_up_to(tree)


def _keep_top(score: jax.Array, k) -> jax.Array:
    """0/1 array: the k entries of largest ``score`` (ties by position); k may be traced."""
    flat = score.ravel()
    order = jnp.argsort(-flat, stable=True)
    rank = jnp.zeros(flat.shape, jnp.int32).at[order].set(jnp.arange(flat.size, dtype=jnp.int32))
    return (rank < k).reshape(score.shape)


def _count(fraction, size):
    return jnp.round(jnp.asarray(fraction, jnp.float32) * size).astype(jnp.int32)


def magnitude_prune(
    params: Params, mask: Mask, keep, *, scope: str = "layer", prunable: Any = None
) -> Mask:
    """The mask that keeps ``keep`` of the weights by magnitude (see the module docstring).

    Args:
      params: trained parameters (pytree); mask: the current mask (pruned weights stay pruned).
      keep: the keep fraction q in [0, 1] of each prunable layer (``scope="layer"``: a scalar
        or a pytree of scalars matching the prunable leaves, in ``tree_leaves`` order as a list)
        or of all prunable weights together (``scope="global"``: a scalar). May be traced.
      scope: "layer" or "global".
      prunable: pytree of bools (default: :func:`default_prunable`); other leaves keep their mask.
    Returns:
      the new mask (float, shapes of ``params``), with exactly round(q * size) ones per layer
      (per layer) or in total (global) when that many weights survive in ``mask``.
    """
    if scope not in ("layer", "global"):
        raise ValueError(f"scope: 'layer' or 'global', got {scope!r}")
    prunable = default_prunable(params) if prunable is None else prunable
    leaves, tree = jax.tree_util.tree_flatten(params)
    masks = _flatten_up_to(tree, mask)
    flags = [bool(f) for f in _flatten_up_to(tree, prunable)]
    idx = [i for i, f in enumerate(flags) if f]
    # surviving weights are ranked by |w|; pruned ones sit below every survivor
    scores = [jnp.where(masks[i] > 0, jnp.abs(leaves[i]), -1.0) for i in idx]
    new = [m.astype(w.dtype) for w, m in zip(leaves, masks)]
    if scope == "global":
        sizes = [s.size for s in scores]
        flat = _keep_top(jnp.concatenate([s.ravel() for s in scores]), _count(keep, sum(sizes)))
        parts = jnp.split(flat, np.cumsum(sizes)[:-1])
        for i, s, part in zip(idx, scores, parts):
            new[i] = (part.reshape(s.shape) & (masks[i] > 0)).astype(leaves[i].dtype)
    else:
        keeps = list(keep) if isinstance(keep, (list, tuple)) else [keep] * len(idx)
        if len(keeps) != len(idx):
            raise ValueError(
                f"keep: need one fraction per prunable layer ({len(idx)}), got {len(keeps)}"
            )
        for i, s, q in zip(idx, scores, keeps):
            new[i] = (_keep_top(s, _count(q, s.size)) & (masks[i] > 0)).astype(leaves[i].dtype)
    return jax.tree_util.tree_unflatten(tree, new)


def imp_keep_fractions(
    rounds: int, rate: float = 0.2, output_rate: float | None = 0.1, n_layers: int | None = None
) -> np.ndarray:
    """Keep fractions of IMP rounds 0..rounds: q_r = (1 - rate)^r per layer, with the last
    (output) layer at (1 - output_rate)^r when ``output_rate`` is given (Frankle & Carbin's
    20% / 10%). Returns [rounds + 1] (no ``n_layers``) or [rounds + 1, n_layers]."""
    if not (isinstance(rounds, int) and rounds >= 0):
        raise ValueError(f"rounds: must be an integer >= 0, got {rounds!r}")
    for name, r in (("rate", rate), ("output_rate", output_rate)):
        if r is not None and not 0 <= r < 1:
            raise ValueError(f"{name}: must be in [0, 1), got {r!r}")
    q = (1.0 - rate) ** np.arange(rounds + 1)
    if n_layers is None:
        return q
    out = np.repeat(q[:, None], n_layers, axis=1)
    if output_rate is not None:
        out[:, -1] = (1.0 - output_rate) ** np.arange(rounds + 1)
    return out


def rewind(params_rewind: Params, mask: Mask) -> Params:
    """theta_rewind (.) m: the survivors back at their values of step 0 (or step k).

    Args:
      params_rewind: the parameters saved at the rewind step; mask: the current mask.
    Returns:
      the masked rewind parameters.
    """
    return apply_mask(params_rewind, mask)


def random_reinit(key, init_fn: Callable[[jax.Array], Params], mask: Mask) -> Params:
    """The control "same mask, fresh random init": init_fn(key) (.) m."""
    return apply_mask(init_fn(key), mask)


def random_mask(key, mask: Mask, prunable: Any = None) -> Mask:
    """The control "random mask": per prunable leaf, as many ones as ``mask`` has, at uniformly
    random positions; non-prunable leaves copy ``mask``.

    Args:
      key: PRNG key; mask: the mask whose per-leaf counts are kept; prunable: pytree of bools
        (default: :func:`default_prunable`).
    Returns:
      the random mask, same structure and dtypes as ``mask``.
    """
    leaves, tree = jax.tree_util.tree_flatten(mask)
    prunable = default_prunable(mask) if prunable is None else prunable
    flags = [bool(f) for f in _flatten_up_to(tree, prunable)]
    keys = jax.random.split(key, len(leaves))
    new = [
        (_keep_top(jax.random.uniform(k, m.shape), jnp.sum(m > 0)).astype(m.dtype) if f else m)
        for k, m, f in zip(keys, leaves, flags)
    ]
    return jax.tree_util.tree_unflatten(tree, new)


def mask_updates(mask: Mask) -> optax.GradientTransformation:
    """optax transformation u -> u (.) m: pruned weights receive no update.

    Args:
      mask: pytree of the parameters' structure (0 / 1 entries).
    Returns:
      a stateless ``optax.GradientTransformation``.
    """

    def update(updates, state, params=None):
        return apply_mask(updates, mask), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def masked(optimizer: optax.GradientTransformation, mask: Mask) -> optax.GradientTransformation:
    """``optax.chain(optimizer, mask_updates(mask))``: train only the kept weights."""
    return optax.chain(optimizer, mask_updates(mask))


def sparsity(mask: Mask, prunable: Any = None) -> jax.Array:
    """Fraction of the prunable weights that remain: sum m / size over the prunable leaves.

    Args:
      mask: the mask (pytree); prunable: pytree of bools (default: :func:`default_prunable`).
    Returns:
      the remaining fraction, a scalar in [0, 1].
    """
    leaves, tree = jax.tree_util.tree_flatten(mask)
    prunable = default_prunable(mask) if prunable is None else prunable
    kept = [m for m, f in zip(leaves, _flatten_up_to(tree, prunable)) if bool(f)]
    return sum(jnp.sum(m > 0) for m in kept) / sum(m.size for m in kept)


def layer_counts(mask: Mask, prunable: Any = None) -> Sequence[jax.Array]:
    """Number of kept weights of each prunable leaf, in ``tree_leaves`` order.

    Args:
      mask: the mask (pytree); prunable: pytree of bools (default: :func:`default_prunable`).
    Returns:
      one scalar count per prunable leaf.
    """
    leaves, tree = jax.tree_util.tree_flatten(mask)
    prunable = default_prunable(mask) if prunable is None else prunable
    return [jnp.sum(m > 0) for m, f in zip(leaves, _flatten_up_to(tree, prunable)) if bool(f)]
