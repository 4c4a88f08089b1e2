"""Modular arithmetic tables and grokking times (spec 07, grokking)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasekit.data import modular
from phasekit.dynamics import grokking


@pytest.mark.parametrize("op", modular.OPERATIONS)
def test_table_labels_recomputed_by_plain_python(op):
    p = 7
    pairs, labels = modular.table(p, op)
    expected = {}
    for a in range(p):
        for b in range(p):
            if op == "+":
                expected[(a, b)] = (a + b) % p
            elif op == "-":
                expected[(a, b)] = (a - b) % p
            elif op == "*":
                expected[(a, b)] = (a * b) % p
            elif b != 0:  # c = a / b  <=>  c * b = a (mod p), found by search
                expected[(a, b)] = next(c for c in range(p) if (c * b) % p == a)
    got = {(int(a), int(b)): int(c) for (a, b), c in zip(pairs, labels)}
    assert got == expected
    assert len(labels) == (p * (p - 1) if op == "/" else p * p)


def test_division_needs_a_prime():
    with pytest.raises(ValueError, match="p"):
        modular.table(8, "/")
    modular.table(8, "*")  # fine: no inverse needed


@pytest.mark.parametrize("p, op, frac", [(7, "+", 0.3), (11, "/", 0.5), (13, "-", 0.77)])
def test_split_exact_fraction_disjoint_and_complete(p, op, frac):
    sp = modular.split(p, op, frac, seed=3)
    n = p * (p - 1) if op == "/" else p * p
    assert len(sp.train_labels) == round(frac * n)
    assert len(sp.train_labels) + len(sp.test_labels) == n
    train = {tuple(r) for r in sp.train_pairs.tolist()}
    test = {tuple(r) for r in sp.test_pairs.tolist()}
    assert not train & test
    assert train | test == {tuple(r) for r in modular.table(p, op)[0].tolist()}
    # labels travel with their pairs
    full = {
        tuple(r): int(c) for r, c in zip(modular.table(p, op)[0].tolist(), modular.table(p, op)[1])
    }
    assert all(full[tuple(r)] == int(c) for r, c in zip(sp.test_pairs.tolist(), sp.test_labels))


def test_split_is_deterministic_given_the_seed():
    a, b, c = (modular.split(11, "+", 0.5, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.train_pairs, b.train_pairs)
    assert not np.array_equal(a.train_pairs, c.train_pairs)


def test_bad_fraction_raises():
    with pytest.raises(ValueError, match="train_fraction"):
        modular.split(5, "+", 1.0)
    with pytest.raises(ValueError, match="train_fraction"):
        modular.split(5, "+", 0.01)  # rounds to 0 of 25 rows


def test_one_hot_pairs_code_a_then_b():
    x = modular.one_hot_pairs(np.array([[2, 0], [4, 4]]), 5)
    assert x.shape == (2, 10) and x.dtype == np.float32
    np.testing.assert_array_equal(x.sum(1), [2, 2])
    np.testing.assert_array_equal(np.argmax(x[:, :5], 1), [2, 4])
    np.testing.assert_array_equal(np.argmax(x[:, 5:], 1), [0, 4])


def test_grokking_times_on_planted_curves():
    steps = np.arange(0, 1000, 10)
    train_acc = np.clip(
        steps / 200, 0, 1
    )  # reaches 0.99 first at step 200 (0.99 * 200 = 198 -> 200)
    test_acc = 1 / (
        1 + np.exp(-(steps - 600) / 20)
    )  # logistic: >= 0.99 from 600 + 20 log 99 = 691.9 -> 700
    t = grokking.grokking_times(steps, train_acc, test_acc, 0.99)
    assert float(t.step_train) == 200
    assert float(t.step_test) == 700
    assert float(t.delay) == 500
    # a run that never generalizes: NaN delay, bounded below by budget - step_train
    t = grokking.grokking_times(steps, train_acc, 0.5 * test_acc, 0.99)
    assert np.isnan(float(t.step_test)) and np.isnan(float(t.delay))
    assert float(grokking.delay_lower_bound(t, 1000)) == 800


def test_grokking_times_vmap_over_runs():
    steps = jnp.arange(5)
    acc = jnp.array([[0, 0.5, 1, 1, 1], [0, 0, 0, 0, 1.0], [0, 0, 0, 0, 0]])
    s = jax.jit(jax.vmap(lambda a: grokking.first_step_reaching(steps, a, 0.99)))(acc)
    np.testing.assert_array_equal(np.asarray(s), [2, 4, np.nan])


def test_threshold_validated():
    with pytest.raises(ValueError, match="threshold"):
        grokking.grokking_times(np.arange(3), np.ones(3), np.ones(3), 1.5)
