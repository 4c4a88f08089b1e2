"""Mode connectivity: path endpoints, the barrier of a net with itself, and weight matching
recovering a planted permutation of hidden units exactly."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasekit.dynamics import train
from phasekit.models import mlp
from phasekit.theory import connectivity as mc

SIZES = [5, 16, 12, 3]


def _net(seed):
    return mlp.init(jax.random.key(seed), SIZES, bias_std=0.5)


def _data():
    x = jax.random.normal(jax.random.key(7), (40, SIZES[0]))
    return x, jax.random.randint(jax.random.key(8), (40,), 0, SIZES[-1])


LOSS = train.cross_entropy(mlp.apply, activation="relu")
LINEAR = jax.jit(
    mc.linear_barrier, static_argnums=(0, 4)
)  # one compile per path length, not op by op


def _close(t1, t2, **kw):
    for u, v in zip(jax.tree_util.tree_leaves(t1), jax.tree_util.tree_leaves(t2)):
        np.testing.assert_allclose(u, v, **kw)


def test_bezier_passes_through_both_endpoints_and_its_control_point_shapes_it():
    a, b, c = _net(0), _net(1), _net(2)
    _close(mc.bezier(a, c, b, 0.0), a)
    _close(mc.bezier(a, c, b, 1.0), b)
    # phi(1/2) = a/4 + c/2 + b/4, and the midpoint control point gives the straight line
    _close(
        mc.bezier(a, c, b, 0.5),
        jax.tree_util.tree_map(lambda x, z, y: x / 4 + z / 2 + y / 4, a, c, b),
        rtol=1e-6,
        atol=1e-6,
    )
    _close(
        mc.bezier(a, mc.bezier_init(a, b), b, 0.3), mc.interpolate(a, b, 0.3), rtol=1e-5, atol=1e-6
    )


def test_linear_barrier_of_a_net_with_itself_is_zero_and_positive_between_two_nets():
    a, data = _net(0), _data()
    same = LINEAR(LOSS, a, a, data, 25)
    assert float(same.barrier) == 0.0
    np.testing.assert_allclose(same.losses, LOSS(a, data), rtol=1e-6)
    two = LINEAR(LOSS, a, _net(1), data, 11)
    assert two.losses.shape == (11,)
    assert float(two.barrier) == pytest.approx(
        float(two.losses.max() - (two.losses[0] + two.losses[-1]) / 2)
    )


def test_weight_matching_recovers_a_planted_permutation_exactly():
    a, data = _net(3), _data()
    rng = np.random.default_rng(0)
    planted = [rng.permutation(s) for s in SIZES[1:-1]]
    b = mc.permute_mlp(a, planted)
    np.testing.assert_allclose(mlp.apply(b, data[0]), mlp.apply(a, data[0]), rtol=1e-5, atol=1e-6)
    assert float(LINEAR(LOSS, a, b, data, 25).barrier) > 0  # permuted copy: a real barrier
    perms = mc.weight_matching(a, b)
    aligned = mc.permute_mlp(b, perms)
    for la, lb in zip(a, aligned):
        np.testing.assert_array_equal(la["w"], lb["w"])
        np.testing.assert_array_equal(la["b"], lb["b"])
    assert float(LINEAR(LOSS, a, aligned, data, 25).barrier) == 0.0
    # the traced version (pure_callback) under jit and vmap over a pair of planted copies
    bs = jax.tree_util.tree_map(
        lambda u, v: jnp.stack([u, v]), b, mc.permute_mlp(a, [p[::-1] for p in planted])
    )
    out = jax.jit(jax.vmap(lambda bb: mc.align(a, bb)))(bs)
    for la, lb in zip(a, out):
        np.testing.assert_array_equal(lb["w"][0], la["w"])
        np.testing.assert_array_equal(lb["w"][1], la["w"])


@pytest.mark.slow  # three training runs; the tiny mode-connectivity experiment trains a curve too
def test_bezier_objective_trains_the_control_point_below_the_straight_line():
    a, b, data = _net(0), _net(1), _data()
    fa = train.run(LOSS, a, data, train.optimizer("adam", 1e-2), steps=200, n_records=2).params
    fb = train.run(LOSS, b, data, train.optimizer("adam", 1e-2), steps=200, n_records=2).params
    obj = mc.bezier_objective(LOSS, fa, fb, n_samples=4)
    traj = train.run(
        obj,
        mc.bezier_init(fa, fb),
        data,
        train.optimizer("adam", 1e-2),
        steps=200,
        n_records=2,
        loss_takes_key=True,
        key=jax.random.key(0),
    )
    line = mc.linear_barrier(LOSS, fa, fb, data)
    curve = mc.bezier_barrier(LOSS, fa, traj.params, fb, data)
    np.testing.assert_allclose(
        np.asarray(curve.losses)[[0, -1]], np.asarray(line.losses)[[0, -1]], rtol=1e-5
    )
    assert float(curve.max_loss) < float(line.max_loss)
