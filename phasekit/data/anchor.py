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
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np

__all__ = [
    "CompositeTask",
    "HELD_OUT",
    "KEYS",
    "SEEN_RELABEL",
    "SHIFTS",
    "SYMMETRIC",
    "Sequences",
    "VOCAB_MIN",
    "composite",
    "composite_label",
    "identity",
    "train_pairs",
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
