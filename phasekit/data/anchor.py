"""Anchor-function tasks (book ch. 12-13; Zhang et al. 2024): token sequences whose label is a
function of the key item next to an anchor token. Deterministic given a seed, vectorized numpy.

Two-anchor composite (ch. 13). Sequence length T (9); anchors 1..4 act as
g_1 = +5, g_2 = +1, g_3 = -2, g_4 = -8 (:data:`SHIFTS`); the key item x (20..99) sits at position
p in 0..T-3, the anchor pair (a, b) at p+1, p+2, the other tokens are noise from 20..99; the
label is the composite

    f(X) = g_b(g_a(x)) = x + s_a + s_b.

Split rule (spec 06, with n = T the sequence length and K = n - 2 key positions): value x at
position p is used in training only if x mod K != p, and in the in-distribution (ID) test only
if x mod K == p; every value and every position is thus trained, but no (value, position)
combination of the ID test is. Held-out pairs (the OOD test, task generalization):

    variant "a": (3, 4) and (4, 3) are never trained; their reasoning answer is x - 10.
    variant "b" (the authors'): (3, 4) is trained with the non-composite label x - 6; (4, 3) is
        held out, with reasoning answer x - 10 and symmetric answer x - 6 (copying (3, 4)).

Identity task (ch. 12): one anchor (token 1) at position p in 0..T-2, the key x at p+1, label x;
the same split rule with K = T - 1 key positions.

The other ch. 12 tasks (each returns train / test :class:`Sequences`; the readings of the
anchor-function paper chosen where spec 06 leaves a choice are stated in each docstring):
:func:`classification` (nearest class value), :func:`reading_comprehension` (a question anchor
asks for the item after its occurrence in the context), :func:`working_memory` (noise between the
two anchors), :func:`synonym` (token 9 acts as anchor 3 on keys it never saw),
:func:`recitation` (successor / predecessor in a memorized text), :func:`statistical` (80/20
label mixture) and :func:`multi_anchor` (f_a(x) = x + a with anchor-specific held-out keys).
Labels stay below :data:`VOCAB_MIN` except :func:`multi_anchor` with n_anchors > 10 (x + a <=
99 + n_anchors).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np

__all__ = [
    "CompositeTask",
    "HELD_OUT",
    "KEYS",
    "RECITE",
    "SEEN_RELABEL",
    "SHIFTS",
    "STAT_SHIFTS",
    "SYMMETRIC",
    "SYNONYM",
    "Sequences",
    "SplitTask",
    "StatisticalTask",
    "VOCAB_MIN",
    "classification",
    "composite",
    "composite_label",
    "identity",
    "multi_anchor",
    "multi_anchor_held_out",
    "reading_comprehension",
    "recitation",
    "recitation_text",
    "statistical",
    "synonym",
    "train_pairs",
    "working_memory",
]

SHIFTS = (5, 1, -2, -8)  # g_a(x) = x + SHIFTS[a - 1] for anchors a = 1..4
KEYS = (20, 99)  # key items and noise tokens: 20..99 inclusive
HELD_OUT = {"a": ((3, 4), (4, 3)), "b": ((4, 3),)}
SEEN_RELABEL = {"a": {}, "b": {(3, 4): -6}}  # variant b: (3, 4) is trained as x - 6
SYMMETRIC = {"a": {}, "b": {(4, 3): -6}}  # the symmetric (memorizing) answer of a held-out pair


class Sequences(NamedTuple):
    """A set of anchor sequences.

    tokens: int32 [n, T]; label: int32 [n]; key_item: [n] the value x; position: [n] the key's
    position p; anchors: [n, k] the anchor tokens in order (k = 2 composite, 1 identity).
    """

    tokens: np.ndarray
    label: np.ndarray
    key_item: np.ndarray
    position: np.ndarray
    anchors: np.ndarray


class CompositeTask(NamedTuple):
    """train / test_id / test_ood :class:`Sequences`; ``ood_symmetric``: [n_ood] the symmetric
    answer of each OOD sequence (-1 where there is none, variant "a"); ``ood_swapped``: the OOD
    sequences with their anchor pair reversed (same noise, key, position), for commutativity."""

    train: Sequences
    test_id: Sequences
    test_ood: Sequences
    ood_symmetric: np.ndarray
    ood_swapped: Sequences


def composite_label(x, a, b, variant: str = "a"):
    """x + s_a + s_b, or the relabelled answer of a seen pair of ``variant`` (vectorized).

    Args:
      x: key items; a, b: the anchors (1..4), broadcasting arrays; variant: "a" or "b".
    Returns:
      int32 labels, the broadcast shape.
    """
    x, a, b = (np.asarray(v) for v in (x, a, b))
    shift = np.asarray(SHIFTS)
    y = x + shift[a - 1] + shift[b - 1]
    for (pa, pb), s in SEEN_RELABEL[variant].items():
        y = np.where((a == pa) & (b == pb), x + s, y)
    return y.astype(np.int32)


def train_pairs(variant: str = "a") -> list[tuple[int, int]]:
    """The ordered anchor pairs seen in training (all 16 minus the held-out ones).

    Args:
      variant: "a" or "b" (:data:`HELD_OUT`).
    """
    _check_variant(variant)
    pairs = itertools.product(range(1, 5), repeat=2)
    return [(a, b) for a, b in pairs if (a, b) not in HELD_OUT[variant]]


def _check_variant(variant):
    if variant not in HELD_OUT:
        raise ValueError(f"variant: 'a' or 'b', got {variant!r}")


def _keys():
    return np.arange(KEYS[0], KEYS[1] + 1)


def _draw_keys(rng, position, n_positions, train: bool):
    """x uniform over the keys allowed at each position: x mod K != p (train) or == p."""
    x = rng.integers(KEYS[0], KEYS[1] + 1, position.shape)
    bad = (x % n_positions == position) == train
    while bad.any():  # rejection, vectorized over all samples at once
        x[bad] = rng.integers(KEYS[0], KEYS[1] + 1, int(bad.sum()))
        bad = (x % n_positions == position) == train
    return x


def _sequences(rng, key_item, position, anchors, label, seq_len):
    """Noise tokens with the key item at ``position`` and the anchors right after it."""
    n = key_item.shape[0]
    tokens = rng.integers(KEYS[0], KEYS[1] + 1, (n, seq_len))
    rows = np.arange(n)
    tokens[rows, position] = key_item
    for j in range(anchors.shape[1]):
        tokens[rows, position + 1 + j] = anchors[:, j]
    return Sequences(
        tokens.astype(np.int32),
        np.asarray(label, np.int32),
        key_item.astype(np.int32),
        position.astype(np.int32),
        anchors.astype(np.int32),
    )


def _enumerate(pairs, positions, keys_at):
    """All (pair, position, key) combinations with key in ``keys_at(position)``."""
    rows = [(a, b, p, x) for (a, b) in pairs for p in positions for x in keys_at(p)]
    arr = np.asarray(rows, np.int64).reshape(-1, 4)
    return arr[:, :2], arr[:, 2], arr[:, 3]


def composite(n_train: int, seed: int = 0, variant: str = "a", seq_len: int = 9) -> CompositeTask:
    """The ch. 13 two-anchor composite task (see the module docstring).

    train: ``n_train`` sequences, pair uniform over :func:`train_pairs`, p uniform in 0..T-3,
    x uniform over the keys with x mod (T-2) != p. test_id: every seen pair x position x key
    with x mod (T-2) == p, once. test_ood: every held-out pair x position x key, once.

    Args:
      n_train: training sequences; seed: numpy generator seed; variant: "a" or "b" (which pairs
        are held out, :data:`HELD_OUT`); seq_len: T, tokens per sequence (>= 3).
    Returns:
      :class:`CompositeTask`.
    """
    _check_variant(variant)
    if n_train < 1:
        raise ValueError(f"n_train: must be >= 1, got {n_train}")
    if seq_len < 3:
        raise ValueError(f"seq_len: must be >= 3 (key + anchor pair), got {seq_len}")
    rng = np.random.default_rng(seed)
    k = seq_len - 2
    pairs = np.asarray(train_pairs(variant))
    anchors = pairs[rng.integers(0, len(pairs), n_train)]
    position = rng.integers(0, k, n_train)
    x = _draw_keys(rng, position, k, train=True)
    train = _sequences(
        rng,
        x,
        position,
        anchors,
        composite_label(x, anchors[:, 0], anchors[:, 1], variant),
        seq_len,
    )

    keys = _keys()
    anc, pos, x = _enumerate(pairs, range(k), lambda p: keys[keys % k == p])
    test_id = _sequences(
        rng, x, pos, anc, composite_label(x, anc[:, 0], anc[:, 1], variant), seq_len
    )

    anc, pos, x = _enumerate(HELD_OUT[variant], range(k), lambda p: keys)
    reasoning = composite_label(x, anc[:, 0], anc[:, 1], "a")
    test_ood = _sequences(rng, x, pos, anc, reasoning, seq_len)
    symmetric = np.full(x.shape, -1, np.int32)
    for (pa, pb), s in SYMMETRIC[variant].items():
        symmetric = np.where((anc[:, 0] == pa) & (anc[:, 1] == pb), x + s, symmetric).astype(
            np.int32
        )
    swapped_tokens = test_ood.tokens.copy()
    rows = np.arange(x.shape[0])
    swapped_tokens[rows, pos + 1], swapped_tokens[rows, pos + 2] = anc[:, 1], anc[:, 0]
    swapped = Sequences(
        swapped_tokens,
        composite_label(x, anc[:, 1], anc[:, 0], variant),
        test_ood.key_item,
        test_ood.position,
        anc[:, ::-1].astype(np.int32),
    )
    return CompositeTask(train, test_id, test_ood, symmetric, swapped)


def identity(
    n_train: int, seed: int = 0, seq_len: int = 9, anchor: int = 1
) -> tuple[Sequences, Sequences]:
    """The ch. 12 identity task: label = the key item right after the anchor token.

    Returns (train, test): ``n_train`` training sequences with x mod (T-1) != p (p the anchor's
    position, 0..T-2), and every (position, key) with x mod (T-1) == p once.

    Args:
      n_train: training sequences; seed: numpy generator seed; seq_len: T, tokens per sequence;
      anchor: the anchor token (1 .. KEYS[0] - 1).
    """
    if n_train < 1:
        raise ValueError(f"n_train: must be >= 1, got {n_train}")
    if seq_len < 2:
        raise ValueError(f"seq_len: must be >= 2, got {seq_len}")
    if not 1 <= anchor < KEYS[0]:
        raise ValueError(f"anchor: must be in 1..{KEYS[0] - 1}, got {anchor}")
    rng = np.random.default_rng(seed)
    k = seq_len - 1
    position = rng.integers(0, k, n_train)
    x = _draw_keys(rng, position, k, train=True)
    anchors = np.full((n_train, 1), anchor)
    train = _identity_sequences(rng, x, position, anchors, seq_len)
    keys = _keys()
    pos = np.concatenate([np.full(int((keys % k == p).sum()), p) for p in range(k)])
    xs = np.concatenate([keys[keys % k == p] for p in range(k)])
    test = _identity_sequences(rng, xs, pos, np.full((xs.shape[0], 1), anchor), seq_len)
    return train, test


def _identity_sequences(rng, x, position, anchors, seq_len):
    n = x.shape[0]
    tokens = rng.integers(KEYS[0], KEYS[1] + 1, (n, seq_len))
    rows = np.arange(n)
    tokens[rows, position] = anchors[:, 0]
    tokens[rows, position + 1] = x
    return Sequences(
        tokens.astype(np.int32),
        x.astype(np.int32),
        x.astype(np.int32),
        position.astype(np.int32),
        anchors.astype(np.int32),
    )


VOCAB_MIN = KEYS[1] + max(SHIFTS) * 2 + 1  # the largest composite label + 1 (= 110)


# ----------------------------------------------------------------------------- ch. 12 tasks

SYNONYM = (9, 3)  # token 9 behaves like anchor 3 (spec 06)
RECITE = (5, 6)  # the forward / backward recitation anchors
STAT_SHIFTS = (5, 1)  # statistical output: label x + 5 w.p. p_major, else x + 1


class SplitTask(NamedTuple):
    """train / test :class:`Sequences` of a ch. 12 task."""

    train: Sequences
    test: Sequences


class StatisticalTask(NamedTuple):
    """train / test :class:`Sequences` of the statistical-output task (test labels: the majority
    answer), ``test_minor``: [n_test] the minority answer, ``p_major``: its probability."""

    train: Sequences
    test: Sequences
    test_minor: np.ndarray
    p_major: float


def _check_common(n_train, seq_len, min_len):
    if n_train < 1:
        raise ValueError(f"n_train: must be >= 1, got {n_train}")
    if seq_len < min_len:
        raise ValueError(f"seq_len: must be >= {min_len}, got {seq_len}")


def _noise(rng, n, seq_len):
    return rng.integers(KEYS[0], KEYS[1] + 1, (n, seq_len))


def _pack(tokens, label, key_item, position, anchors) -> Sequences:
    return Sequences(
        np.asarray(tokens, np.int32),
        np.asarray(label, np.int32),
        np.asarray(key_item, np.int32),
        np.asarray(position, np.int32),
        np.asarray(anchors, np.int32).reshape(len(label), -1),
    )


def _all_combinations(n_positions, train: bool):
    """Every (position p, key x) with x mod K == p (train False) or != p (train True)."""
    keys = _keys()
    p, x = np.meshgrid(np.arange(n_positions), keys, indexing="ij")
    keep = (x % n_positions == p) != train
    return p[keep], x[keep]


def _key_anchor_sequences(rng, x, position, anchor, seq_len):
    """Noise with the key x at p and the single anchor at p + 1."""
    tokens = _noise(rng, x.shape[0], seq_len)
    rows = np.arange(x.shape[0])
    tokens[rows, position] = x
    tokens[rows, position + 1] = anchor
    return tokens


def classification(
    n_train: int, seed: int = 0, seq_len: int = 9, centers=(25, 45, 65, 85), anchor: int = 1
) -> SplitTask:
    """Classification (nearest value): key x at p, the anchor at p + 1; the label is the class
    value nearest to x, ``centers[argmin_c |x - c|]`` (a tie goes to the smaller value).

    Split rule of the module docstring with K = T - 1 key positions: train x mod K != p (``n_train``
    random sequences), test every (p, x) with x mod K == p once.

    Args:
      n_train: training sequences; seed: numpy seed; seq_len: T (>= 2); centers: the class values
        (ordinary tokens, increasing); anchor: the anchor token.
    Returns:
      :class:`SplitTask`.
    """
    _check_common(n_train, seq_len, 2)
    c = np.asarray(centers)
    if c.ndim != 1 or c.size < 2 or np.any(np.diff(c) <= 0):
        raise ValueError(f"centers: need >= 2 increasing values, got {centers}")
    if c.min() < KEYS[0] or c.max() > KEYS[1]:
        raise ValueError(f"centers: must lie in {KEYS[0]}..{KEYS[1]}, got {centers}")
    rng = np.random.default_rng(seed)
    k = seq_len - 1

    def make(p, x):
        y = c[np.argmin(np.abs(x[:, None] - c[None, :]), 1)]
        tokens = _key_anchor_sequences(rng, x, p, anchor, seq_len)
        return _pack(tokens, y, x, p, np.full(x.shape, anchor))

    p = rng.integers(0, k, n_train)
    train = make(p, _draw_keys(rng, p, k, train=True))
    return SplitTask(train, make(*_all_combinations(k, train=False)))


def multi_anchor(n_train: int, seed: int = 0, seq_len: int = 9, n_anchors: int = 4) -> SplitTask:
    """Multi-anchor f_a(x) = x + a (anchors a = 1..n_anchors): key x at p, anchor a at p + 1.

    Anchor-specific held-out key ranges: the keys 20..99 are cut into ``n_anchors`` equal blocks
    (:func:`multi_anchor_held_out`); anchor a never sees its block a - 1 in training (every key is
    trained with the other anchors). train: ``n_train`` sequences, a and p uniform, x uniform
    outside a's block; test: every (a, p, x) with x in a's block once.

    Args:
      n_train: training sequences; seed: numpy seed; seq_len: T (>= 2); n_anchors: 2..19.
    Returns:
      :class:`SplitTask`.
    """
    _check_common(n_train, seq_len, 2)
    if not 2 <= n_anchors < KEYS[0]:
        raise ValueError(f"n_anchors: must be in 2..{KEYS[0] - 1}, got {n_anchors}")
    rng = np.random.default_rng(seed)
    k = seq_len - 1
    lo, hi = multi_anchor_held_out(n_anchors)
    a = rng.integers(1, n_anchors + 1, n_train)
    p = rng.integers(0, k, n_train)
    # x uniform over the 80 - |block a| keys outside a's block: shift a uniform draw past the block
    width = hi[a - 1] - lo[a - 1] + 1
    x = KEYS[0] + rng.integers(0, KEYS[1] - KEYS[0] + 1 - width)
    x = np.where(x >= lo[a - 1], x + width, x)
    train = _pack(_key_anchor_sequences(rng, x, p, a, seq_len), x + a, x, p, a)
    rows = [
        (aa, pp, xx)
        for aa in range(1, n_anchors + 1)
        for pp in range(k)
        for xx in range(lo[aa - 1], hi[aa - 1] + 1)
    ]
    ta, tp, tx = np.asarray(rows).T
    test = _pack(_key_anchor_sequences(rng, tx, tp, ta, seq_len), tx + ta, tx, tp, ta)
    return SplitTask(train, test)


def multi_anchor_held_out(n_anchors: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) [n_anchors]: anchor a's held-out keys lo[a-1]..hi[a-1] (inclusive), the keys
    20..99 cut into ``n_anchors`` consecutive blocks of near-equal size."""
    edges = np.linspace(KEYS[0], KEYS[1] + 1, n_anchors + 1).round().astype(int)
    return edges[:-1], edges[1:] - 1


def working_memory(
    n_train: int, seed: int = 0, seq_len: int = 12, max_gap: int = 3, n_test: int = 2000
) -> SplitTask:
    """Working memory: the two-anchor composite with noise between the anchors. Key x at p,
    anchor a at p + 1, ``g`` noise tokens (g uniform in 1..max_gap), anchor b at p + 2 + g;
    label g_b(g_a(x)) = x + s_a + s_b (:data:`SHIFTS`, all 16 pairs). p is uniform in
    0..T-3-g; the split rule with K = T - 2: train x mod K != p, test x mod K == p
    (``n_test`` random sequences).

    Args:
      n_train, n_test: sequences; seed: numpy seed; seq_len: T (>= max_gap + 3); max_gap: >= 1.
    Returns:
      :class:`SplitTask` (``position``: p; ``anchors``: [n, 2] (a, b)).
    """
    if max_gap < 1:
        raise ValueError(f"max_gap: must be >= 1, got {max_gap}")
    _check_common(n_train, seq_len, max_gap + 3)
    if n_test < 1:
        raise ValueError(f"n_test: must be >= 1, got {n_test}")
    rng = np.random.default_rng(seed)
    k = seq_len - 2

    def make(n, train):
        ab = rng.integers(1, 5, (n, 2))
        gap = rng.integers(1, max_gap + 1, n)
        p = (rng.random(n) * (seq_len - 2 - gap)).astype(int)  # uniform in 0..T-3-g
        x = _draw_keys(rng, p, k, train)
        tokens = _noise(rng, n, seq_len)
        rows = np.arange(n)
        tokens[rows, p] = x
        tokens[rows, p + 1] = ab[:, 0]
        tokens[rows, p + 2 + gap] = ab[:, 1]
        return _pack(tokens, composite_label(x, ab[:, 0], ab[:, 1]), x, p, ab)

    return SplitTask(make(n_train, True), make(n_test, False))


def synonym(n_train: int, seed: int = 0, seq_len: int = 9, split_key: int = 60) -> SplitTask:
    """Synonym: single-anchor maps f_a(x) = x + s_a (anchors 1..4, :data:`SHIFTS`; key x at p,
    anchor at p + 1), and token 9 a synonym of anchor 3 (:data:`SYNONYM`: x - 2). Anchors 1..4
    are trained on every key; the synonym only on keys x < ``split_key``. test: the synonym with
    every key x >= split_key at every position once (label x - 2, the map borrowed from anchor 3).

    Args:
      n_train: training sequences (anchor uniform over 1, 2, 3, 4, 9); seed: numpy seed;
      seq_len: T (>= 2); split_key: the first held-out key of the synonym (21..99).
    Returns:
      :class:`SplitTask`.
    """
    _check_common(n_train, seq_len, 2)
    if not KEYS[0] < split_key <= KEYS[1]:
        raise ValueError(f"split_key: must be in {KEYS[0] + 1}..{KEYS[1]}, got {split_key}")
    rng = np.random.default_rng(seed)
    k = seq_len - 1
    syn, like = SYNONYM
    shift = np.asarray(SHIFTS)
    a = np.asarray([1, 2, 3, 4, syn])[rng.integers(0, 5, n_train)]
    p = rng.integers(0, k, n_train)
    x = np.where(
        a == syn,
        rng.integers(KEYS[0], split_key, n_train),
        rng.integers(KEYS[0], KEYS[1] + 1, n_train),
    )
    s = shift[np.where(a == syn, like, a) - 1]
    train = _pack(_key_anchor_sequences(rng, x, p, a, seq_len), x + s, x, p, a)
    tp, tx = (v.ravel() for v in np.meshgrid(np.arange(k), np.arange(split_key, KEYS[1] + 1)))
    test = _pack(
        _key_anchor_sequences(rng, tx, tp, syn, seq_len),
        tx + shift[like - 1],
        tx,
        tp,
        np.full(tx.shape, syn),
    )
    return SplitTask(train, test)


def recitation_text(seed: int = 0) -> np.ndarray:
    """The memorized "text" of the recitation task: a random order of the keys 20..99, [80]."""
    return np.random.default_rng([seed, 12]).permutation(_keys())


def recitation(n_train: int, seed: int = 0, seq_len: int = 9) -> SplitTask:
    """Forward / backward recitation of a memorized text S (:func:`recitation_text`, a random
    order of the keys 20..99, cyclic): anchor r at p, key x at p + 1; forward (r = 5,
    :data:`RECITE`): label = the token after x in S; backward (r = 6): the token before it.
    Split rule with K = T - 1 (p the anchor's position): train x mod K != p (direction uniform),
    test every (direction, p, x) with x mod K == p once.

    Args:
      n_train: training sequences; seed: numpy seed (also of S); seq_len: T (>= 2).
    Returns:
      :class:`SplitTask` (``anchors``: [n, 1] the direction anchor).
    """
    _check_common(n_train, seq_len, 2)
    rng = np.random.default_rng(seed)
    text = recitation_text(seed)
    index = np.empty(KEYS[1] + 1, int)
    index[text] = np.arange(text.size)
    k = seq_len - 1

    def make(r, p, x):
        step = np.where(r == RECITE[0], 1, -1)
        y = text[(index[x] + step) % text.size]
        tokens = _noise(rng, x.shape[0], seq_len)
        rows = np.arange(x.shape[0])
        tokens[rows, p] = r
        tokens[rows, p + 1] = x
        return _pack(tokens, y, x, p, r)

    r = np.asarray(RECITE)[rng.integers(0, 2, n_train)]
    p = rng.integers(0, k, n_train)
    train = make(r, p, _draw_keys(rng, p, k, train=True))
    tp, tx = _all_combinations(k, train=False)
    tr = np.repeat(np.asarray(RECITE), tp.size)
    test = make(tr, np.tile(tp, 2), np.tile(tx, 2))
    return SplitTask(train, test)


def statistical(
    n_train: int, seed: int = 0, seq_len: int = 9, p_major: float = 0.8, anchor: int = 1
) -> StatisticalTask:
    """Statistical output: key x at p, the anchor at p + 1; the training label is x + 5 with
    probability ``p_major`` and x + 1 otherwise (:data:`STAT_SHIFTS`), drawn independently per
    sequence, so the cross-entropy optimum is softmax ~ (p_major, 1 - p_major) on the two.
    Split rule with K = T - 1: train x mod K != p; test every (p, x) with x mod K == p once,
    labelled with the majority answer x + 5 (``test_minor``: x + 1).

    Args:
      n_train: training sequences; seed: numpy seed; seq_len: T (>= 2); p_major: in (0.5, 1);
      anchor: the anchor token.
    Returns:
      :class:`StatisticalTask`.
    """
    _check_common(n_train, seq_len, 2)
    if not 0.5 < p_major < 1.0:
        raise ValueError(f"p_major: must be in (0.5, 1), got {p_major}")
    rng = np.random.default_rng(seed)
    k = seq_len - 1
    major, minor = STAT_SHIFTS
    p = rng.integers(0, k, n_train)
    x = _draw_keys(rng, p, k, train=True)
    y = x + np.where(rng.random(n_train) < p_major, major, minor)
    train = _pack(
        _key_anchor_sequences(rng, x, p, anchor, seq_len), y, x, p, np.full(x.shape, anchor)
    )
    tp, tx = _all_combinations(k, train=False)
    test = _pack(
        _key_anchor_sequences(rng, tx, tp, anchor, seq_len),
        tx + major,
        tx,
        tp,
        np.full(tx.shape, anchor),
    )
    return StatisticalTask(train, test, (tx + minor).astype(np.int32), float(p_major))


def reading_comprehension(
    n_train: int,
    seed: int = 0,
    seq_len: int = 9,
    n_facts: int = 3,
    n_anchors: int = 6,
    n_test: int = 2000,
) -> SplitTask:
    """Reading comprehension: a context of ``n_facts`` (anchor, item) pairs at positions (2j,
    2j + 1), j = 0..n_facts-1, with distinct anchors drawn from 1..n_anchors and items from
    20..99, noise after them, and a question at the last position: one of the context's anchors;
    the label is the item that follows that anchor in the context. ``position``: the slot j of
    the asked fact; ``key_item``: its item x. Split rule over slots (K = n_facts): train
    x mod K != j, test x mod K == j (``n_test`` random sequences).

    Args:
      n_train, n_test: sequences; seed: numpy seed; seq_len: T (>= 2 n_facts + 1);
      n_facts: >= 2; n_anchors: n_facts..19.
    Returns:
      :class:`SplitTask` (``anchors``: [n, n_facts] the context's anchors in order).
    """
    if n_facts < 2:
        raise ValueError(f"n_facts: must be >= 2 (the split rule needs two slots), got {n_facts}")
    if not n_facts <= n_anchors < KEYS[0]:
        raise ValueError(f"n_anchors: must be in {n_facts}..{KEYS[0] - 1}, got {n_anchors}")
    _check_common(n_train, seq_len, 2 * n_facts + 1)
    if n_test < 1:
        raise ValueError(f"n_test: must be >= 1, got {n_test}")
    rng = np.random.default_rng(seed)

    def make(n, train):
        # distinct anchors per sequence: the first n_facts of a random permutation of 1..n_anchors
        anchors = np.argsort(rng.random((n, n_anchors)), 1)[:, :n_facts] + 1
        j = rng.integers(0, n_facts, n)
        items = rng.integers(KEYS[0], KEYS[1] + 1, (n, n_facts))
        rows = np.arange(n)
        items[rows, j] = _draw_keys(rng, j, n_facts, train)
        tokens = _noise(rng, n, seq_len)
        tokens[:, 0 : 2 * n_facts : 2] = anchors
        tokens[:, 1 : 2 * n_facts : 2] = items
        tokens[:, -1] = anchors[rows, j]
        return _pack(tokens, items[rows, j], items[rows, j], j, anchors)

    return SplitTask(make(n_train, True), make(n_test, False))
