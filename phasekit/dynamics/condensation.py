"""Condensation measures (spec 02, book ch. 8): how input-weight vectors align.

For ReLU (positively homogeneous) each neuron k is a direction and an amplitude:

    A_k = |a_k| * ||(w_k, b_k)||,     Omega_k = atan2(b_k, w_k)  in [-pi, pi)  (1-D input + bias)

For high-dimensional input the direction is summarized by its projection on a fixed unit
direction p: <w_hat_k, p> (book Fig 7.6 uses p = all-ones / sqrt(dim)).

Condensation as a count: :func:`cosine_similarity_matrix` D(u, v) = u.v / (|u||v|) between
neurons (input weights, flattened conv kernels, or outputs over a batch), displayed in
:func:`leading_eigenvector_order`; :func:`condensed_directions` clusters the non-negligible
live neurons at a cosine threshold; :func:`merge_condensed` keeps one neuron per cluster
(the network reduction of book Fig 9.8).

Stages of training: :func:`initial_plateau_end` (the end of the initial loss plateau, where
initial condensation is read off), :func:`plateau_end_mask` (the ends of all plateaus, book
Fig 8.1), :func:`loss_spectrum` and :func:`spectrum_lines` (plateau losses over many runs,
book Fig 9.5). :func:`init_rate` converts an init std to the papers' init rate gamma.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from phasekit.models import two_layer

__all__ = [
    "Directions",
    "MergeReport",
    "agreement",
    "condensed_directions",
    "cosine_similarity_matrix",
    "dead_neurons",
    "init_rate",
    "initial_plateau_end",
    "layer_input_weights",
    "leading_eigenvector_order",
    "loss_spectrum",
    "merge_condensed",
    "merge_condensed_padded",
    "neuron_amplitude",
    "neuron_vectors",
    "orientation_amplitude",
    "output_agreement",
    "plateau_end_mask",
    "plateau_ends",
    "projection_amplitude",
    "shared_lines",
    "spectrum_lines",
]


def orientation_amplitude(a, w, b=None):
    """(Omega_k, A_k) of a two-layer net with 1-D input.

    Args:
      a: [..., m] output weights; w: [..., m] or [..., m, 1] input weights; b: [..., m] biases
        (None: b = 0, so Omega is 0 or -pi).
    Returns:
      omega: [..., m] angle of (w_k, b_k) in [-pi, pi);  amplitude: [..., m] = |a_k| ||(w_k, b_k)||.
    """
    w = w[..., 0] if w.ndim == a.ndim + 1 else w
    b = jnp.zeros_like(w) if b is None else b
    omega = jnp.arctan2(b, w)
    omega = jnp.where(omega >= jnp.pi, omega - 2 * jnp.pi, omega)
    return omega, jnp.abs(a) * jnp.hypot(w, b)


def projection_amplitude(a, theta_w, direction=None):
    """(<w_hat_k, p>, A_k) for high-dimensional inputs.

    Args:
      a: [..., m] output weights; theta_w: [..., m, D] input weights (bias appended if any).
      direction: [D] unit direction p; default all-ones / sqrt(D).
    """
    D = theta_w.shape[-1]
    p = (
        jnp.ones((D,), theta_w.dtype) / jnp.sqrt(D)
        if direction is None
        else direction / jnp.linalg.norm(direction)
    )
    norm = jnp.linalg.norm(theta_w, axis=-1)
    proj = (theta_w @ p) / jnp.where(norm > 0, norm, 1.0)
    return proj, jnp.abs(a) * norm


# ---------------------------------------------------------------------------------------
# Cosine similarity between neurons and its display order (book Fig 8.5, 8.10, 8.11)


def neuron_vectors(u, neuron_axis: int = 0) -> jax.Array:
    """One row per neuron: move ``neuron_axis`` to the front and flatten the rest.

    - two-layer input weights theta_w [m, d+1] (``two_layer.input_weights``): ``neuron_axis=0``;
    - an MLP layer's ``w`` [fan_in, m] or neuron outputs over a batch h [n, m]: ``neuron_axis=-1``;
    - a flax conv kernel [kh, kw, c_in, c_out] (kernels flattened over kernel x channels) or
      conv feature maps [n, H, W, c_out]: ``neuron_axis=-1``.
    Returns [m, D].

    Args:
      u: a layer's weights with one axis per neuron (e.g. [m, d], or a conv kernel).
      neuron_axis: that axis.
    Returns:
      [m, D] with D the product of the other axes' sizes.
    """
    u = jnp.moveaxis(jnp.asarray(u), neuron_axis, 0)
    return u.reshape(u.shape[0], -1)


def cosine_similarity_matrix(u, neuron_axis: int = 0) -> jax.Array:
    """D(u_k, u_l) = u_k . u_l / (|u_k| |u_l|) between all neurons of a layer.

    Args:
      u: weights or neuron outputs; see :func:`neuron_vectors` for ``neuron_axis``.
    Returns:
      [m, m]; a zero vector has cosine 0 with everything (and 0 on the diagonal).
    """
    v = neuron_vectors(u, neuron_axis)
    norm = jnp.linalg.norm(v, axis=1, keepdims=True)
    v = v / jnp.where(norm > 0, norm, 1.0)
    return jnp.clip(v @ v.T, -1.0, 1.0)


def leading_eigenvector_order(similarity, threshold: float | None = None) -> jax.Array:
    """Neuron display order: argsort of the leading eigenvector of the similarity matrix.

    For a block matrix D = P C P^T (P: cluster membership, C: the clusters' cosines) every
    eigenvector of non-zero eigenvalue lies in the span of the block indicators, so the
    leading one v is (nearly) constant on each block of aligned neurons, of opposite sign on
    an opposite block; sorting by v makes the blocks contiguous (book Fig 8.5, 8.10). With
    many clusters two blocks can get nearly equal components and interleave under noise;
    ``threshold`` then first groups the neurons by leader-follower clustering at cosine >=
    threshold and orders the groups by their mean component (neurons inside a group by their
    own component), so every group is one contiguous run.

    similarity: [m, m] -> permutation [m]. jit/vmap friendly.
    """
    D = jnp.asarray(similarity)
    _, vecs = jnp.linalg.eigh(D)
    v = vecs[:, -1]
    v = v * jnp.where(jnp.sum(v) < 0, -1.0, 1.0)  # fix the eigenvector's sign: stable display
    if threshold is None:
        return jnp.argsort(v)
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold: cosine threshold must be in (0, 1], got {threshold}")
    m = D.shape[0]
    leader = _greedy_leaders(D, jnp.ones(m, bool), jnp.arange(m), threshold)
    seg = jnp.clip(leader, 0, m - 1)
    mean = jax.ops.segment_sum(v, seg, num_segments=m) / jnp.maximum(
        jax.ops.segment_sum(jnp.ones_like(v), seg, num_segments=m), 1.0
    )
    # sort by the group's mean component, then by the group id (ties), then by v
    return jnp.lexsort((v, seg, mean[seg]))


# ---------------------------------------------------------------------------------------
# Condensed directions


def neuron_amplitude(a, theta_w) -> jax.Array:
    """A_k = ||a_k|| ||theta_w_k||: a neuron's weight in the output (exact scale for ReLU).

    a: [m] or [m, C] output weights; theta_w: [m, D] input weights. Returns [m].
    """
    a = jnp.asarray(a)
    a_norm = jnp.abs(a) if a.ndim == 1 else jnp.linalg.norm(a, axis=-1)
    return a_norm * jnp.linalg.norm(theta_w, axis=-1)


def dead_neurons(preactivation) -> jax.Array:
    """ReLU neurons with w_k . x_i + b_k <= 0 on every sample (zero output and zero gradient).

    preactivation: [n, m] -> [m] bool. Such neurons never move under gradient training, so
    they are reported apart and never counted as condensed.
    """
    return jnp.all(preactivation <= 0, axis=0)


class Directions(NamedTuple):
    """Result of :func:`condensed_directions` (arrays; vmappable).

    labels:          [m] cluster id 0..K-1, ordered by each cluster's first neuron;
                     -1 for negligible neurons, -2 for dead neurons
    sign:            [m] +1, or -1 for a neuron counted in the opposite direction of its line
                     (``odd=True`` only)
    n_directions:    K, number of condensed directions (lines when ``odd``)
    effective_width: number of effective neurons: clusters with opposite directions kept
                     apart (= K unless ``odd``; e.g. tanh "one line, two directions" -> 1, 2)
    n_active, n_negligible, n_dead: neuron counts (they sum to m)
    """

    labels: jax.Array
    sign: jax.Array
    n_directions: jax.Array
    effective_width: jax.Array
    n_active: jax.Array
    n_negligible: jax.Array
    n_dead: jax.Array


def _greedy_leaders(similarity, eligible, order, threshold):
    """Leader-follower clustering: in ``order`` (largest amplitude first), each unassigned
    eligible neuron opens a cluster and claims every unassigned eligible neuron with
    similarity >= threshold. Returns each neuron's leader index ([m], -1 if not eligible)."""
    m = similarity.shape[0]
    idx = jnp.arange(m)

    def body(t, leader):
        i = order[t]
        opens = eligible[i] & (leader[i] < 0)
        claim = opens & eligible & (leader < 0) & ((similarity[i] >= threshold) | (idx == i))
        return jnp.where(claim, i.astype(leader.dtype), leader)

    return jax.lax.fori_loop(0, m, body, -jnp.ones(m, jnp.int32))


def _labels_by_first_member(leader):
    m = leader.shape[0]
    idx = jnp.arange(m)
    first = jax.ops.segment_min(idx, jnp.where(leader >= 0, leader, m), num_segments=m + 1)
    is_first = (leader >= 0) & (first[jnp.clip(leader, 0, m - 1)] == idx)
    rank = jnp.cumsum(is_first) - 1
    labels = rank[first[jnp.clip(leader, 0, m - 1)].clip(0, m - 1)]
    return jnp.where(leader >= 0, labels, -1), jnp.sum(is_first)


def condensed_directions(
    vectors,
    amplitude=None,
    dead=None,
    threshold: float = 0.9,
    rel_amplitude: float = 1e-2,
    odd: bool = False,
) -> Directions:
    """Cluster the directions of a layer's non-negligible live neurons (spec 02).

    A neuron is *negligible* when A_k < rel_amplitude * max_l A_l (over live neurons) and
    *dead* when given so by ``dead`` (e.g. :func:`dead_neurons`). The others are grouped by
    leader-follower clustering, largest amplitude first, with cos(u_k, u_leader) >= threshold
    (|cos| when ``odd``: for an odd activation a_k sigma(w_k.x) = -a_k sigma(-w_k.x), so
    opposite directions are one line).

    Args:
      vectors: [m, D] input weights (bias appended), e.g. ``two_layer.input_weights(p)``.
      amplitude: [m] A_k (default ||u_k||), e.g. :func:`neuron_amplitude`.
      dead: [m] bool mask of dead neurons (default: none).
      threshold: cosine threshold (0.9 in the book's ch. 9).
      rel_amplitude: relative amplitude below which a neuron is negligible.
      odd: count opposite directions as one line.
    Returns:
      :class:`Directions`. jit/vmap friendly (the counts are arrays).
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold: cosine threshold must be in (0, 1], got {threshold}")
    if not 0 <= rel_amplitude < 1:
        raise ValueError(f"rel_amplitude: must be in [0, 1), got {rel_amplitude}")
    u = jnp.asarray(vectors)
    if u.ndim != 2:
        raise ValueError(f"vectors: expected [m, D], got shape {u.shape}")
    amp = jnp.linalg.norm(u, axis=1) if amplitude is None else jnp.asarray(amplitude)
    dead = jnp.zeros(u.shape[0], bool) if dead is None else jnp.asarray(dead, bool)
    return _condensed_directions(u, amp, dead, float(threshold), float(rel_amplitude), bool(odd))


@partial(jax.jit, static_argnums=(3, 4, 5))
def _condensed_directions(u, amp, dead, threshold, rel_amplitude, odd):
    m = u.shape[0]
    live_max = jnp.max(jnp.where(dead, 0.0, amp))
    eligible = ~dead & (amp > 0) & (amp >= rel_amplitude * live_max)
    order = jnp.argsort(-jnp.where(eligible, amp, -1.0))
    cos = cosine_similarity_matrix(u)

    signed = _greedy_leaders(cos, eligible, order, threshold)
    _, n_signed = _labels_by_first_member(signed)
    if odd:
        leader = _greedy_leaders(jnp.abs(cos), eligible, order, threshold)
        sign = jnp.where(cos[jnp.clip(leader, 0, m - 1), jnp.arange(m)] < 0, -1, 1)
        sign = jnp.where(leader >= 0, sign, 1)
    else:
        leader, sign = signed, jnp.ones(m, jnp.int32)
    labels, n_dir = _labels_by_first_member(leader)
    labels = jnp.where(dead, -2, labels)
    n_dead = jnp.sum(dead)
    n_active = jnp.sum(eligible)
    return Directions(labels, sign, n_dir, n_signed, n_active, m - n_active - n_dead, n_dead)


# ---------------------------------------------------------------------------------------
# Network reduction (book Fig 9.8)


class MergeReport(NamedTuple):
    """What :func:`merge_condensed` did and how well the narrow net agrees with the wide one.

    width_before, width_after, n_negligible, n_dead: neuron counts;
    max_abs_diff, rel_l2: max_i |f_narrow - f_wide| and ||f_narrow - f_wide|| / ||f_wide||
    on ``x``; prediction_agreement: fraction of equal argmax (multi-output) or equal sign
    (scalar output). The last three are NaN without ``x``.
    """

    width_before: int
    width_after: int
    n_negligible: int
    n_dead: int
    max_abs_diff: float
    rel_l2: float
    prediction_agreement: float


def agreement(f_wide, f_narrow):
    """(max |diff|, relative L2 diff, prediction agreement) of two outputs [n] or [n, C] as
    arrays (jit/vmap friendly): agreement = fraction of equal argmax (multi-output) or of
    equal sign (scalar output).

    Args:
      f_wide, f_narrow: the two networks' outputs on the same inputs, [n] or [n, C].
    Returns:
      (max |diff|, relative L2 diff, agreement), three scalars.
    """
    f_wide, f_narrow = jnp.asarray(f_wide), jnp.asarray(f_narrow)
    diff = f_narrow - f_wide
    rel = jnp.linalg.norm(diff) / jnp.maximum(jnp.linalg.norm(f_wide), jnp.finfo(diff.dtype).tiny)
    if f_wide.ndim == 2:
        agree = jnp.mean(jnp.argmax(f_wide, 1) == jnp.argmax(f_narrow, 1))
    else:
        agree = jnp.mean(jnp.sign(f_wide) == jnp.sign(f_narrow))
    return jnp.max(jnp.abs(diff)), rel, agree


def output_agreement(f_wide, f_narrow) -> tuple[float, float, float]:
    """:func:`agreement` as Python floats, computed in float64.

    Args:
      f_wide, f_narrow: outputs [n] or [n, C] (anything ``numpy.asarray`` takes).
    Returns:
      (max |diff|, relative L2 diff, agreement) as Python floats.
    """
    f_wide, f_narrow = np.asarray(f_wide, np.float64), np.asarray(f_narrow, np.float64)
    diff = f_narrow - f_wide
    rel = np.linalg.norm(diff) / max(np.linalg.norm(f_wide), np.finfo(float).tiny)
    if f_wide.ndim == 2:
        agree = np.mean(np.argmax(f_wide, 1) == np.argmax(f_narrow, 1))
    else:
        agree = np.mean(np.sign(f_wide) == np.sign(f_narrow))
    return float(np.max(np.abs(diff))), float(rel), float(agree)


def merge_condensed_padded(
    params: dict,
    x=None,
    activation: str = "relu",
    threshold: float = 0.9,
    rel_amplitude: float = 1e-2,
    odd: bool = False,
    balance: bool = False,
) -> tuple[dict, Directions]:
    """The network reduction of :func:`merge_condensed` at fixed width (jit/vmap friendly).

    Returns params of the same width m whose first K neurons are the merged ones (K =
    ``Directions.n_directions``) and whose other m - K neurons have zero input and output
    weights. Such null neurons contribute nothing, and for an activation with sigma(0) = 0
    (ReLU, tanh) their gradient is zero too (d/da_k = sigma(0) = 0, d/dw_k = a_k (...) = 0),
    so training the padded net is training the width-K net.

    ``balance`` (ReLU only): rescale each merged neuron (a_G, theta_G) -> (c a_G, theta_G / c),
    c^2 = ||theta_G|| / ||a_G||, so that ||a_G|| = ||theta_G|| (same function: ReLU is positively
    homogeneous). Gradient flow from a small init keeps every neuron balanced (|a_k|^2 -
    ||theta_k||^2 is conserved, ~0), and a group of k aligned balanced neurons of norm r has
    the same tangent kernel as one balanced neuron of norm sqrt(k) r: the balanced narrow net
    starts training exactly as the wide group does (the unbalanced merge, norms k r and r,
    is up to k times sharper and can make a step size stable for the wide net diverge).

    Args:
      params, x, activation, threshold, rel_amplitude, odd, balance: as in
        :func:`merge_condensed`.
    Returns:
      (padded params of width m, :class:`Directions` of the merge).
    """
    if balance and activation != "relu":
        raise ValueError(
            f"balance: only for ReLU (positively homogeneous), got activation {activation!r}"
        )
    theta = two_layer.input_weights(params)
    amp = neuron_amplitude(params["a"], theta)
    dead = (
        dead_neurons(two_layer.preactivation(params, x))
        if (activation == "relu" and x is not None)
        else None
    )
    dirs = condensed_directions(theta, amp, dead, threshold, rel_amplitude, odd)
    m = theta.shape[0]
    seg = jnp.where(dirs.labels >= 0, dirs.labels, m)  # segment m collects the dropped neurons
    s = dirs.sign.astype(theta.dtype)
    th = s[:, None] * theta
    amp_g = jax.ops.segment_sum(amp, seg, num_segments=m + 1)[:m]
    t_g = jax.ops.segment_sum(amp[:, None] * th, seg, num_segments=m + 1)[:m]
    t_g = t_g / jnp.where(amp_g > 0, amp_g, 1.0)[:, None]
    norm_g = jnp.linalg.norm(t_g, axis=1)
    norm_g = jnp.concatenate([jnp.where(norm_g > 0, norm_g, 1.0), jnp.ones(1, norm_g.dtype)])
    w = jnp.where(seg < m, s * jnp.linalg.norm(th, axis=1) / norm_g[seg], 0.0)
    a = jnp.asarray(params["a"])
    a_g = jax.ops.segment_sum(w.reshape((m,) + (1,) * (a.ndim - 1)) * a, seg, num_segments=m + 1)[
        :m
    ]
    if balance:
        a_norm = jnp.linalg.norm(a_g.reshape(m, -1), axis=1)
        c = jnp.sqrt(jnp.where(a_norm > 0, norm_g[:m] / jnp.where(a_norm > 0, a_norm, 1.0), 1.0))
        a_g = a_g * c.reshape((m,) + (1,) * (a.ndim - 1))
        t_g = t_g / c[:, None]
    d = params["w"].shape[1]
    out = {"a": a_g.astype(a.dtype), "w": t_g[:, :d].astype(theta.dtype)}
    if "b" in params:
        out["b"] = t_g[:, d].astype(theta.dtype)
    return out, dirs


def merge_condensed(
    params: dict,
    x=None,
    activation="relu",
    alpha=1.0,
    threshold: float = 0.9,
    rel_amplitude: float = 1e-2,
    odd: bool = False,
    balance: bool = False,
) -> tuple[dict, MergeReport]:
    """Reduce a condensed two-layer net to one neuron per condensed direction (spec 02).

    Negligible and dead neurons (dead: ReLU neurons silent on all of ``x``) are dropped; each
    group G of :func:`condensed_directions` (on theta_w, amplitudes ||a_k|| ||theta_w_k||)
    becomes one neuron with input weights the amplitude-weighted mean of the group's
    s_k theta_k and output weight weighted by input-weight norms:

        theta_G = sum_{k in G} A_k s_k theta_k / sum_{k in G} A_k,
        a_G     = sum_{k in G} s_k a_k ||theta_k|| / ||theta_G||          (s_k = +-1, ``odd``)

    For ReLU a_k relu(theta_k.x) = a_k ||theta_k|| relu(theta_hat_k.x), so the merge is exact
    when each group shares one direction; for other activations it is exact when the group's
    input weights are equal (e.g. after :func:`phasekit.theory.embedding.split_neuron`).
    Groups keep the order of their first neuron, so merging a split net returns the original.

    Args:
      params: two-layer params ``{"a": [m] or [m, C], "w": [m, d], "b": [m]}``.
      x: [n, d] inputs for dead-neuron detection (ReLU) and the agreement report.
      activation, alpha: the net's activation name and output normalization
        f = (1/alpha) sum_k a_k sigma(w_k . x + b_k).
      threshold, rel_amplitude, odd: the clustering of :func:`condensed_directions`.
      balance: ReLU only: equal norms of output and input weights per merged neuron (see
        :func:`merge_condensed_padded`).
    Returns:
      (narrow params of width K, :class:`MergeReport`). Runs eagerly (K is data-dependent);
      :func:`merge_condensed_padded` is the fixed-width, traceable form.
    """
    padded, dirs = merge_condensed_padded(
        params, x, activation, threshold, rel_amplitude, odd, balance
    )
    k = int(dirs.n_directions)
    narrow = {key: v[:k] for key, v in padded.items()}
    stats = (np.nan, np.nan, np.nan)
    if x is not None:
        stats = output_agreement(
            two_layer.apply(params, x, activation, alpha),
            two_layer.apply(narrow, x, activation, alpha),
        )
    report = MergeReport(params["w"].shape[0], k, int(dirs.n_negligible), int(dirs.n_dead), *stats)
    return narrow, report


def layer_input_weights(params: list[dict], layer: int) -> jax.Array:
    """Input weights (bias appended) of hidden ``layer`` of an MLP, one row per neuron: [m, fan_in(+1)].

    Args:
      params: :mod:`phasekit.models.mlp` parameters (a list of ``{"w", "b"}`` dicts).
      layer: index of the hidden layer.
    """
    w = params[layer]["w"].T
    return jnp.concatenate([w, params[layer]["b"][:, None]], axis=1) if "b" in params[layer] else w


def plateau_end_mask(loss, flat: float = 0.02, min_records: int = 3) -> jax.Array:
    """Records where a loss plateau ends (book Fig 8.1: snapshots at the plateaus), as a mask.

    A plateau is a run of >= ``min_records`` consecutive records over which log10(loss) changes
    by less than ``flat`` per record; its last record is marked (also the last record of the
    run when the run ends flat). loss: [R] on a log-spaced record schedule -> [R] bool.
    jit/vmap friendly.
    """
    loss = jnp.asarray(loss)
    logl = jnp.log10(jnp.maximum(loss, jnp.finfo(loss.dtype).tiny))
    is_flat = jnp.abs(jnp.diff(logl)) < flat  # transition i -> i + 1
    idx = jnp.arange(is_flat.shape[0])
    # consecutive flat transitions ending at i = i - (index of the last non-flat one before)
    length = idx - jax.lax.cummax(jnp.where(is_flat, -1, idx), axis=0)
    nxt = jnp.concatenate([is_flat[1:], jnp.zeros(1, bool)])
    end = is_flat & ~nxt & (length >= min_records - 1)
    return jnp.concatenate([jnp.zeros(1, bool), end])


def plateau_ends(loss, flat: float = 0.02, min_records: int = 3) -> np.ndarray:
    """Record indices of :func:`plateau_end_mask` (numpy).

    Args:
      loss: [R] losses on a log-spaced record schedule; flat, min_records: as in
        :func:`plateau_end_mask`.
    Returns:
      int indices [P] of the records where a plateau ends, ascending.
    """
    return np.flatnonzero(
        np.asarray(plateau_end_mask(np.asarray(loss, np.float32), flat, min_records))
    )


def initial_plateau_end(loss, drop: float = 0.1) -> jax.Array:
    """The end of the initial loss plateau: the first record whose loss is at most
    (1 - drop) L(record 0), or the last record if the loss never dropped that far (book Fig
    8.10-8.11 show the condensation inside this stage). loss: [R] -> scalar index (traceable).
    """
    if not 0 < drop < 1:
        raise ValueError(f"drop: relative loss drop must be in (0, 1), got {drop}")
    loss = jnp.asarray(loss)
    below = loss <= (1 - drop) * loss[0]
    return jnp.where(jnp.any(below), jnp.argmax(below), loss.shape[0] - 1)


def init_rate(std: float, fan_in: int) -> float:
    """The condensation papers' init rate gamma with fan_in ** -gamma = std:
    gamma = log(1 / std) / log(fan_in) (e.g. std 0.01 and fan_in 18 -> gamma = 1.593)."""
    if not std > 0:
        raise ValueError(f"std: must be > 0, got {std}")
    if isinstance(fan_in, bool) or not isinstance(fan_in, (int, np.integer)) or fan_in < 2:
        raise ValueError(
            f"fan_in: an integer >= 2 (fan_in ** -gamma = 1 for fan_in = 1), got {fan_in!r}"
        )
    return float(np.log(1.0 / std) / np.log(fan_in))


def loss_spectrum(losses, bins: int = 200, log10_range: tuple[float, float] = (-5.0, 0.0)):
    """Book Fig 9.5: the distribution of log10(loss) over all records (and seeds) of one width.

    A plateau is many records at one loss value, so plateaus shared across widths show up as
    bright bins at the same abscissa. losses: any shape (e.g. [seeds, records], linear
    schedule). Returns (edges [bins + 1], p [bins]) with p_i / sum p (NaN/inf records dropped;
    records outside the range are clipped into the end bins).

    Args:
      losses: losses of any shape; bins: the number of bins; log10_range: (low, high) of the
        histogram in log10(loss).
    """
    logl = np.log10(np.asarray(losses, np.float64).ravel())
    logl = np.clip(logl[np.isfinite(logl)], *log10_range)
    counts, edges = np.histogram(logl, bins=bins, range=log10_range)
    return edges, counts / max(counts.sum(), 1)


def spectrum_lines(edges, density, n_lines: int = 3, min_separation: float = 0.1) -> np.ndarray:
    """The ``n_lines`` brightest lines of a loss spectrum (:func:`loss_spectrum`): the bins of
    largest p_i, each at least ``min_separation`` (in log10 loss) from the lines already
    taken, so one broad line is not counted twice. Returns their centers, ascending
    (fewer when fewer bins are occupied).

    Args:
      edges: [bins + 1] bin edges of log10(loss); density: [bins] p_i (both from
        :func:`loss_spectrum`).
      n_lines: lines wanted; min_separation: least distance between two lines (log10 loss).
    Returns:
      [<= n_lines] line centers (log10 loss), ascending.
    """
    edges, density = np.asarray(edges, float), np.asarray(density, float)
    centers = 0.5 * (edges[1:] + edges[:-1])
    lines: list[float] = []
    for i in np.argsort(-density, kind="stable"):
        if density[i] <= 0 or len(lines) == n_lines:
            break
        if all(abs(centers[i] - c) >= min_separation for c in lines):
            lines.append(centers[i])
    return np.sort(np.asarray(lines))


def shared_lines(lines_per_width, tol: float = 0.1) -> np.ndarray:
    """Lines present in every width: the lines of the first entry that every other entry has
    within ``tol`` (log10 loss). ``lines_per_width``: sequence of 1-D arrays of line centers."""
    first, *rest = [np.asarray(v, float) for v in lines_per_width]
    keep = [c for c in first if all(r.size and np.min(np.abs(r - c)) <= tol for r in rest)]
    return np.asarray(keep)
