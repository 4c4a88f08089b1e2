"""Iterative magnitude pruning, rewinding and the lottery controls (spec 07, lottery tickets)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from phasekit.dynamics import lottery, train
from phasekit.models import mlp

SIZES = [6, 20, 15, 3]


def _params(seed=0):
    return mlp.init(jax.random.key(seed), SIZES)


@pytest.mark.parametrize("keep", [0.8, 0.37, 0.05, 0.0, 1.0])
def test_per_layer_pruning_keeps_exactly_the_fraction_of_largest_weights(keep):
    p = _params()
    m = lottery.magnitude_prune(p, lottery.dense_mask(p), keep)
    for layer, ml in zip(p, m):
        w, mw = np.asarray(layer["w"]), np.asarray(ml["w"])
        k = round(keep * w.size)
        assert mw.sum() == k
        if 0 < k < w.size:  # the kept ones are the k largest |w|
            assert np.abs(w[mw > 0]).min() >= np.sort(np.abs(w).ravel())[-k]
        np.testing.assert_array_equal(np.asarray(ml["b"]), 1)  # biases are never pruned


def test_global_pruning_keeps_exactly_the_fraction_over_all_layers():
    p = _params()
    m = lottery.magnitude_prune(p, lottery.dense_mask(p), 0.3, scope="global")
    total = sum(l["w"].size for l in p)
    kept = sum(int(np.asarray(ml["w"]).sum()) for ml in m)
    assert kept == round(0.3 * total)
    threshold = np.sort(np.concatenate([np.abs(np.asarray(l["w"])).ravel() for l in p]))[-kept]
    for l, ml in zip(p, m):
        w = np.abs(np.asarray(l["w"]))
        assert np.all(w[np.asarray(ml["w"]) > 0] >= threshold) and np.all(
            w[np.asarray(ml["w"]) == 0] <= threshold
        )


def test_iterated_pruning_only_removes_survivors_and_follows_the_schedule():
    p = _params()
    q = lottery.imp_keep_fractions(3, 0.2, 0.1, n_layers=len(p))
    np.testing.assert_allclose(q[:, 0], 0.8 ** np.arange(4))
    np.testing.assert_allclose(q[:, -1], 0.9 ** np.arange(4))
    m = lottery.dense_mask(p)
    for r in range(1, 4):
        # pruning scores use fresh weights each round, but pruned weights stay pruned
        p_r = _params(seed=r)
        new = lottery.magnitude_prune(p_r, m, list(q[r]))
        for old_l, new_l, frac, layer in zip(m, new, q[r], p):
            assert np.all(np.asarray(new_l["w"]) <= np.asarray(old_l["w"]))
            assert int(np.asarray(new_l["w"]).sum()) == round(frac * layer["w"].size)
        m = new


def test_pruning_vmaps_over_keep_fractions_and_seeds():
    keeps = jnp.array([0.1, 0.5, 0.9])
    keys = jax.random.split(jax.random.key(0), 3)

    def one(key, keep):
        p = mlp.init(key, SIZES)
        return lottery.magnitude_prune(p, lottery.dense_mask(p), keep)

    masks = jax.jit(jax.vmap(one))(keys, keeps)
    for i, keep in enumerate([0.1, 0.5, 0.9]):
        assert int(masks[0]["w"][i].sum()) == round(keep * SIZES[0] * SIZES[1])


def test_rewinding_restores_the_initial_values_of_the_survivors():
    p0 = _params()
    trained = jax.tree_util.tree_map(lambda w: w + 1.0, p0)
    m = lottery.magnitude_prune(trained, lottery.dense_mask(p0), 0.25)
    rw = lottery.rewind(p0, m)
    for l0, lr, ml in zip(p0, rw, m):
        w0, w, keep = (np.asarray(a["w"]) for a in (l0, lr, ml))
        np.testing.assert_array_equal(w[keep > 0], w0[keep > 0])
        np.testing.assert_array_equal(w[keep == 0], 0)


def test_masked_training_keeps_pruned_weights_at_zero_and_trains_the_rest():
    x = jax.random.normal(jax.random.key(1), (40, SIZES[0]))
    y = jax.random.randint(jax.random.key(2), (40,), 0, SIZES[-1])
    p0 = _params()
    m = lottery.magnitude_prune(p0, lottery.dense_mask(p0), 0.3)
    traj = train.run(
        train.cross_entropy(mlp.apply),
        lottery.apply_mask(p0, m),
        (x, y),
        lottery.masked(optax.adamw(1e-2, weight_decay=0.1), m),
        steps=50,
    )
    for layer, l0, ml in zip(traj.params, p0, m):
        w, keep = np.asarray(layer["w"]), np.asarray(ml["w"])
        assert np.all(w[keep == 0] == 0.0)
        assert np.all(w[keep > 0] != np.asarray(l0["w"])[keep > 0])
    assert traj.loss[-1] < traj.loss[0]


def test_random_controls_keep_the_mask_sizes():
    p0 = _params()
    m = lottery.magnitude_prune(p0, lottery.dense_mask(p0), [0.5, 0.2, 0.9])
    rm = lottery.random_mask(jax.random.key(5), m)
    assert [int(c) for c in lottery.layer_counts(rm)] == [int(c) for c in lottery.layer_counts(m)]
    assert any(not np.array_equal(np.asarray(a["w"]), np.asarray(b["w"])) for a, b in zip(rm, m))
    re = lottery.random_reinit(jax.random.key(9), lambda k: mlp.init(k, SIZES), m)
    for lr, l0, ml in zip(re, p0, m):
        keep = np.asarray(ml["w"])
        assert np.all(np.asarray(lr["w"])[keep == 0] == 0)
        assert not np.allclose(np.asarray(lr["w"])[keep > 0], np.asarray(l0["w"])[keep > 0])
    expected = sum(round(q * l["w"].size) for q, l in zip([0.5, 0.2, 0.9], p0)) / sum(
        l["w"].size for l in p0
    )
    assert float(lottery.sparsity(m)) == pytest.approx(expected)


def test_bad_arguments_raise():
    p = _params()
    with pytest.raises(ValueError, match="scope"):
        lottery.magnitude_prune(p, lottery.dense_mask(p), 0.5, scope="row")
    with pytest.raises(ValueError, match="keep"):
        lottery.magnitude_prune(p, lottery.dense_mask(p), [0.5, 0.5])
    with pytest.raises(ValueError, match="rate"):
        lottery.imp_keep_fractions(3, 1.2)
