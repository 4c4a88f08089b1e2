"""Anchor-function generators (spec 06): every label recomputed by a plain reference function,
the split rule x mod (T-2) != p, no held-out pair in training, determinism."""

import numpy as np
import pytest

from phasekit.data import anchor

SHIFT = {1: 5, 2: 1, 3: -2, 4: -8}


def reference_composite(seq, variant):
    """Plain Python: find the anchor pair, compose the two shifts (variant b: (3,4) -> x-6)."""
    for p in range(len(seq) - 2):
        a, b = seq[p + 1], seq[p + 2]
        if a in SHIFT and b in SHIFT:
            x = seq[p]
            if variant == "b" and (a, b) == (3, 4):
                return x - 6, p, (a, b)
            return x + SHIFT[a] + SHIFT[b], p, (a, b)
    raise AssertionError(f"no anchor pair in {seq}")


@pytest.mark.parametrize("variant", ["a", "b"])
def test_composite_labels_split_and_held_out(variant):
    task = anchor.composite(3000, seed=1, variant=variant)
    held = set(anchor.HELD_OUT[variant])
    for split, name in ((task.train, "train"), (task.test_id, "id"), (task.test_ood, "ood")):
        anchors_per_seq = np.isin(split.tokens, [1, 2, 3, 4]).sum(1)
        assert np.all(anchors_per_seq == 2)
        assert split.tokens.min() >= 1 and split.tokens.max() <= 99
        for seq, y, p, x in zip(split.tokens.tolist(), split.label, split.position, split.key_item):
            label, pos, pair = reference_composite(seq, "a" if name == "ood" else variant)
            assert (label, pos, seq[pos]) == (y, p, x)
            assert (pair in held) == (name == "ood")
            if name == "train":
                assert x % 7 != p
            if name == "id":
                assert x % 7 == p
    # every seen pair, position and key is trained; the ID test is every x mod 7 == p combination once
    assert set(np.unique(task.train.position)) == set(range(7))
    assert set(np.unique(task.train.key_item)) == set(range(20, 100))
    assert len(task.test_id.label) == len(anchor.train_pairs(variant)) * sum(
        1 for p in range(7) for x in range(20, 100) if x % 7 == p
    )
    assert len(task.test_ood.label) == len(held) * 7 * 80
    if variant == "b":
        assert np.all(task.ood_symmetric == task.test_ood.key_item - 6)
        assert np.all(task.test_ood.label == task.test_ood.key_item - 10)
        trained_34 = (task.train.anchors == [3, 4]).all(1)
        assert trained_34.any() and np.all(
            task.train.label[trained_34] == task.train.key_item[trained_34] - 6
        )
    else:
        assert np.all(task.ood_symmetric == -1)
    # the swapped copies differ only in the anchor order
    diff = task.test_ood.tokens != task.ood_swapped.tokens
    assert np.all(diff.sum(1) == 2)
    assert np.all(task.ood_swapped.anchors == task.test_ood.anchors[:, ::-1])


def test_composite_is_deterministic_and_seeded():
    a, b, c = (
        anchor.composite(500, seed=3),
        anchor.composite(500, seed=3),
        anchor.composite(500, seed=4),
    )
    assert np.array_equal(a.train.tokens, b.train.tokens) and np.array_equal(
        a.test_ood.tokens, b.test_ood.tokens
    )
    assert not np.array_equal(a.train.tokens, c.train.tokens)


def test_identity_labels_and_split():
    train, test = anchor.identity(2000, seed=0, seq_len=9)
    for split, is_train in ((train, True), (test, False)):
        for seq, y, p in zip(split.tokens.tolist(), split.label, split.position):
            assert seq.count(1) == 1
            q = seq.index(1)
            assert (q, seq[q + 1]) == (p, y)
            assert (y % 8 != p) == is_train
    assert len(test.label) == 80


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="variant"):
        anchor.composite(10, variant="c")
    with pytest.raises(ValueError, match="n_train"):
        anchor.composite(0)
    with pytest.raises(ValueError, match="seq_len"):
        anchor.identity(10, seq_len=1)
