"""Modular arithmetic tables for grokking (Power et al. 2022): all pairs (a, b) of Z_p^2 with
the label c = a o b mod p, a random train fraction of the table, the rest for test.

    "+": c = (a + b) mod p        "-": c = (a - b) mod p        "*": c = (a b) mod p
    "/": c = a b^{-1} mod p, b in {1, ..., p - 1}  (p prime, b^{-1} = b^{p - 2} mod p)

Inputs for an MLP are the concatenated one-hot codes [e_a, e_b] in R^{2p} (a learned
embedding of a and b is the first linear layer of the MLP on these codes).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "OPERATIONS",
    "Split",
    "one_hot_pairs",
    "split",
    "table",
]

OPERATIONS = ("+", "-", "*", "/")


def _is_prime(p: int) -> bool:
    return p >= 2 and all(p % q for q in range(2, int(p**0.5) + 1))


def table(p: int, operation: str = "+") -> tuple[np.ndarray, np.ndarray]:
    """The whole table: pairs [n, 2] (columns a, b; int32) and labels [n] (int32).

    n = p^2 for + - *, n = p (p - 1) for / (divisor b != 0; p must be prime so that every
    nonzero b has an inverse). Rows are in lexicographic order of (a, b).

    Args:
      p: the modulus; operation: one of :data:`OPERATIONS` ("+", "-", "*", "/").
    """
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 2:
        raise ValueError(f"p: must be an integer >= 2, got {p!r}")
    if operation not in OPERATIONS:
        raise ValueError(f"operation: one of {OPERATIONS}, got {operation!r}")
    if operation == "/" and not _is_prime(int(p)):
        raise ValueError(f"p: division mod p needs a prime p, got {p}")
    a, b = (
        g.ravel().astype(np.int64) for g in np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    )
    if operation == "/":
        a, b = a[b != 0], b[b != 0]
    if operation == "+":
        c = a + b
    elif operation == "-":
        c = a - b
    elif operation == "*":
        c = a * b
    else:
        c = a * np.array([pow(int(v), int(p) - 2, int(p)) for v in b], dtype=np.int64)
    return np.stack([a, b], 1).astype(np.int32), np.mod(c, p).astype(np.int32)


class Split(NamedTuple):
    """A train / test split of a table (int32): train_pairs [n_train, 2], train_labels
    [n_train], test_pairs [n_test, 2], test_labels [n_test]."""

    train_pairs: np.ndarray
    train_labels: np.ndarray
    test_pairs: np.ndarray
    test_labels: np.ndarray


def split(p: int, operation: str = "+", train_fraction: float = 0.5, seed: int = 0) -> Split:
    """A random train fraction of the table: n_train = round(train_fraction * n) rows drawn
    without replacement by ``numpy.random.default_rng(seed)`` (deterministic given the seed),
    the other n - n_train rows for test (disjoint, together the whole table).

    Args:
      p: the modulus; operation: as in :func:`table`; train_fraction: in (0, 1); seed: numpy
        generator seed.
    Returns:
      :class:`Split`.
    """
    pairs, labels = table(p, operation)
    n = len(labels)
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction: must be in (0, 1), got {train_fraction!r}")
    n_train = int(round(train_fraction * n))
    if not 0 < n_train < n:
        raise ValueError(
            f"train_fraction: {train_fraction} of {n} rows leaves an empty train or test set"
        )
    perm = np.random.default_rng(seed).permutation(n)
    tr, te = np.sort(perm[:n_train]), np.sort(perm[n_train:])
    return Split(pairs[tr], labels[tr], pairs[te], labels[te])


def one_hot_pairs(pairs: np.ndarray, p: int) -> np.ndarray:
    """Concatenated one-hot codes [e_a, e_b]: [n, 2p] float32 (pairs: [n, 2] in Z_p).

    Args:
      pairs: [n, 2] int pairs (a, b) in Z_p; p: the modulus.
    """
    pairs = np.asarray(pairs)
    if (
        pairs.ndim != 2
        or pairs.shape[1] != 2
        or pairs.min(initial=0) < 0
        or pairs.max(initial=0) >= p
    ):
        raise ValueError(
            f"pairs: need an [n, 2] array of integers in [0, {p}), got shape {pairs.shape}"
        )
    eye = np.eye(p, dtype=np.float32)
    return np.concatenate([eye[pairs[:, 0]], eye[pairs[:, 1]]], axis=1)
