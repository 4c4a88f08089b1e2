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


# ----------------------------------------------------------------------------- ch. 12 tasks
# Each label is recomputed from the tokens alone by a plain per-sample reference function.


def _anchor_then_key(seq, anchors):
    """(position of the single anchor, the token after it)."""
    hits = [i for i, t in enumerate(seq) if t in anchors]
    assert len(hits) == 1, seq
    return hits[0], seq[hits[0] + 1]


def _key_then_anchor(seq, anchors):
    """(position of the key, the key, the anchor): the key sits right before the single anchor."""
    hits = [i for i, t in enumerate(seq) if t in anchors]
    assert len(hits) == 1 and hits[0] >= 1, seq
    return hits[0] - 1, seq[hits[0] - 1], seq[hits[0]]


def _check_split(split, positions, is_train, k):
    for x, p in zip(split.key_item.tolist(), positions):
        assert (x % k != p) == is_train


def test_classification_labels_are_the_nearest_center():
    centers = (25, 45, 65, 85)
    task = anchor.classification(1500, seed=2, centers=centers)
    for split, is_train in ((task.train, True), (task.test, False)):
        ps = []
        for seq, y in zip(split.tokens.tolist(), split.label.tolist()):
            p, x, a = _key_then_anchor(seq, {1})
            best = min(centers, key=lambda c: (abs(x - c), c))  # tie: the smaller center
            assert y == best
            ps.append(p)
        assert ps == split.position.tolist()
        _check_split(split, ps, is_train, 8)
    assert len(task.test.label) == 80  # every key once, at the one position with x mod 8 == p
    assert set(task.train.label.tolist()) == set(centers)


def test_multi_anchor_labels_and_held_out_ranges():
    task = anchor.multi_anchor(3000, seed=0, n_anchors=4)
    lo, hi = anchor.multi_anchor_held_out(4)
    assert lo.tolist() == [20, 40, 60, 80] and hi.tolist() == [39, 59, 79, 99]
    for split, is_train in ((task.train, True), (task.test, False)):
        for seq, y in zip(split.tokens.tolist(), split.label.tolist()):
            p, x, a = _key_then_anchor(seq, {1, 2, 3, 4})
            assert y == x + a
            held = lo[a - 1] <= x <= hi[a - 1]
            assert held != is_train  # no held-out (anchor, key) in training, only those in test
    # every key is trained (with the other anchors), every anchor trained
    assert set(task.train.key_item.tolist()) == set(range(20, 100))
    assert set(task.train.anchors[:, 0].tolist()) == {1, 2, 3, 4}
    assert len(task.test.label) == 4 * 8 * 20


def test_working_memory_labels_compose_across_the_gap():
    task = anchor.working_memory(2000, seed=1, seq_len=12, max_gap=3, n_test=500)
    gaps = set()
    for split, is_train in ((task.train, True), (task.test, False)):
        for seq, y, p in zip(split.tokens.tolist(), split.label, split.position):
            hits = [i for i, t in enumerate(seq) if t in SHIFT]
            assert len(hits) == 2 and hits[0] >= 1
            x, a, b = seq[hits[0] - 1], seq[hits[0]], seq[hits[1]]
            gap = hits[1] - hits[0] - 1
            assert 1 <= gap <= 3
            gaps.add(gap)
            assert y == x + SHIFT[a] + SHIFT[b] and p == hits[0] - 1
            assert (x % 10 != p) == is_train
    assert gaps == {1, 2, 3}


def test_synonym_acts_as_anchor_3_on_unseen_keys():
    task = anchor.synonym(3000, seed=0, split_key=60)
    shift = {**SHIFT, 9: SHIFT[3]}
    for split, is_train in ((task.train, True), (task.test, False)):
        for seq, y in zip(split.tokens.tolist(), split.label.tolist()):
            p, x, a = _key_then_anchor(seq, set(shift))
            assert y == x + shift[a]
            if a == 9:
                assert (x < 60) == is_train  # the synonym never meets a held-out key in training
            else:
                assert is_train
    syn = task.train.anchors[:, 0] == 9
    assert syn.any() and (~syn).any()
    assert task.train.key_item[~syn].max() >= 60  # anchors 1..4 do see the synonym's test keys
    assert len(task.test.label) == 8 * 40


def test_recitation_forward_and_backward():
    task = anchor.recitation(2000, seed=3)
    text = anchor.recitation_text(3).tolist()
    assert sorted(text) == list(range(20, 100))
    for split, is_train in ((task.train, True), (task.test, False)):
        for seq, y, p in zip(split.tokens.tolist(), split.label.tolist(), split.position):
            q, x = _anchor_then_key(seq, {5, 6})
            i = text.index(x)
            want = text[(i + 1) % 80] if seq[q] == 5 else text[(i - 1) % 80]
            assert y == want and q == p
            assert (x % 8 != p) == is_train
    assert len(task.test.label) == 2 * 80
    assert set(task.train.anchors[:, 0].tolist()) == {5, 6}


def test_statistical_output_is_an_80_20_mixture():
    n = 20000
    task = anchor.statistical(n, seed=0, p_major=0.8)
    x = task.train.key_item
    for seq, xi in zip(task.train.tokens[:500].tolist(), x[:500].tolist()):
        assert _key_then_anchor(seq, {1})[1] == xi
    major = task.train.label == x + 5
    assert np.all(major | (task.train.label == x + 1))
    # binomial: |freq - 0.8| < 4 sigma, sigma = sqrt(0.8 * 0.2 / n) = 0.0028
    assert abs(major.mean() - 0.8) < 4 * np.sqrt(0.16 / n)
    assert np.all(task.test.label == task.test.key_item + 5)
    assert np.all(task.test_minor == task.test.key_item + 1)
    _check_split(task.train, task.train.position.tolist(), True, 8)
    _check_split(task.test, task.test.position.tolist(), False, 8)
    other = anchor.statistical(n, seed=0, p_major=0.6)
    assert abs((other.train.label == other.train.key_item + 5).mean() - 0.6) < 4 * np.sqrt(0.24 / n)


def test_reading_comprehension_answers_the_question_anchor():
    task = anchor.reading_comprehension(2000, seed=0, seq_len=9, n_facts=3, n_anchors=6, n_test=500)
    for split, is_train in ((task.train, True), (task.test, False)):
        for seq, y, j in zip(split.tokens.tolist(), split.label.tolist(), split.position):
            context, question = seq[:6], seq[-1]
            facts = {context[2 * i]: (i, context[2 * i + 1]) for i in range(3)}
            assert len(facts) == 3 and set(facts) <= set(range(1, 7))  # distinct anchors
            assert all(20 <= t <= 99 for t in seq[6:8] + context[1::2])
            slot, item = facts[question]
            assert (y, slot) == (item, j)
            assert (item % 3 != slot) == is_train
    assert set(task.train.position.tolist()) == {0, 1, 2}


@pytest.mark.parametrize(
    "make",
    [
        lambda s: anchor.classification(300, seed=s),
        lambda s: anchor.multi_anchor(300, seed=s),
        lambda s: anchor.working_memory(300, seed=s, n_test=100),
        lambda s: anchor.synonym(300, seed=s),
        lambda s: anchor.recitation(300, seed=s),
        lambda s: anchor.statistical(300, seed=s),
        lambda s: anchor.reading_comprehension(300, seed=s, n_test=100),
    ],
)
def test_ch12_tasks_are_deterministic_and_seeded(make):
    a, b, c = make(5), make(5), make(6)
    for u, v in zip(a, b):
        if isinstance(u, anchor.Sequences):
            assert all(np.array_equal(f, g) for f, g in zip(u, v))
    assert not np.array_equal(a.train.tokens, c.train.tokens)
    assert a.train.tokens.dtype == np.int32 and a.train.tokens.max() <= 99
    assert a.train.label.max() < anchor.VOCAB_MIN


def test_ch12_bad_arguments_raise():
    with pytest.raises(ValueError, match="centers"):
        anchor.classification(10, centers=(50, 40))
    with pytest.raises(ValueError, match="n_anchors"):
        anchor.multi_anchor(10, n_anchors=1)
    with pytest.raises(ValueError, match="seq_len"):
        anchor.working_memory(10, seq_len=5, max_gap=3)
    with pytest.raises(ValueError, match="split_key"):
        anchor.synonym(10, split_key=20)
    with pytest.raises(ValueError, match="p_major"):
        anchor.statistical(10, p_major=0.4)
    with pytest.raises(ValueError, match="n_facts"):
        anchor.reading_comprehension(10, n_facts=1)
    with pytest.raises(ValueError, match="n_train"):
        anchor.recitation(0)
