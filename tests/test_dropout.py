"""Dropout (spec 02, book ch. 8.4 / 11.4): masks, the explicit regularizer R_1, training."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from phasekit.dynamics import dropout, train
from phasekit.models import mlp
from phasekit.models import two_layer as tl


def test_mask_values_mean_and_variance():
    p = 0.7
    m = np.asarray(dropout.mask(jax.random.key(0), (400_000,), p))
    np.testing.assert_allclose(np.unique(m), [0.0, 1 / p], rtol=1e-6)
    eta = m - 1  # (1-p)/p w.p. p, -1 w.p. 1-p: mean 0, variance (1-p)/p
    se = np.sqrt((1 - p) / p / m.size)
    assert abs(eta.mean()) < 4 * se
    np.testing.assert_allclose(eta.var(), (1 - p) / p, rtol=0.02)
    np.testing.assert_array_equal(dropout.mask(jax.random.key(1), (10,), 1.0), np.ones(10))
    with pytest.raises(ValueError, match="p"):
        dropout.mask(jax.random.key(0), (3,), 0.0)


def _mc_check(loss_fn, params, data, expected, n_masks=20_000):
    keys = jax.random.split(jax.random.key(42), n_masks)
    samples = np.asarray(jax.jit(jax.vmap(lambda k: loss_fn(params, data, k)))(keys))
    mean, se = samples.mean(), samples.std(ddof=1) / np.sqrt(n_masks)
    assert abs(mean - expected) < 4 * se, (mean, expected, se)
    return se


@pytest.mark.parametrize("p", [0.9, 0.5])
def test_monte_carlo_dropout_loss_equals_rs_plus_r1_two_layer(p):
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (12, 2), jnp.float64)
        y = jnp.sin(x[:, 0]) - x[:, 1]
        params = tl.init(jax.random.key(1), 8, 2, dtype=jnp.float64)
        alpha = 2.0
        rs = train.mse(tl.apply, activation="tanh", alpha=alpha)(params, (x, y))
        r1 = dropout.two_layer_regularizer(params, x, p, activation="tanh", alpha=alpha)
        loss = dropout.mse(dropout.two_layer_apply, p, activation="tanh", alpha=alpha)
        se = _mc_check(loss, params, (x, y), float(rs + r1))
        assert float(r1) > 10 * se  # R_1 is resolved: omitting it would fail


def test_monte_carlo_dropout_loss_equals_rs_plus_r1_deep_multi_output():
    """Dropout after the last hidden layer only (p = [1, p]); vector outputs sum over k."""
    with jax.enable_x64(True):
        p = 0.6
        x = jax.random.normal(jax.random.key(0), (10, 3), jnp.float64)
        y = jnp.stack([x[:, 0] * x[:, 1], jnp.cos(x[:, 2])], axis=1)
        params = mlp.init(jax.random.key(3), [3, 7, 6, 2], dtype=jnp.float64)
        rs = train.mse(mlp.apply, activation="tanh")(params, (x, y))
        r1 = dropout.mlp_regularizer(params, x, p, activation="tanh")
        loss = dropout.mse(dropout.mlp_apply, [1.0, p], activation="tanh")
        se = _mc_check(loss, params, (x, y), float(rs + r1))
        assert float(r1) > 10 * se
        # without a key the dropout network is the plain network
        np.testing.assert_allclose(
            dropout.mlp_apply(params, x, p=p, activation="tanh"), mlp.apply(params, x, "tanh")
        )


def test_train_with_dropout_vmapped_over_seeds():
    x = jnp.linspace(-1, 1, 16)[:, None]
    y = jnp.tanh(3 * x[:, 0])
    params = tl.rescale(tl.init(jax.random.key(0), 20, 1), 0.5, 1.0)
    opt = optax.sgd(0.1)

    def run(key, p):
        loss = dropout.mse(dropout.two_layer_apply, p, activation="tanh")
        return train.run(
            loss, params, (x, y), opt, steps=50, n_records=3, key=key, loss_takes_key=True
        )

    keys = jax.random.split(jax.random.key(1), 3)
    trajs = jax.jit(jax.vmap(run, in_axes=(0, None)))(keys, 0.8)
    a = np.asarray(trajs.params["a"])
    assert not np.allclose(a[0], a[1])  # a fresh mask per seed and per step
    again = jax.jit(run)(keys[0], 0.8)
    np.testing.assert_allclose(again.params["a"], a[0], rtol=1e-5)  # deterministic per key
    # p = 1 is plain gradient descent
    plain = train.run(
        train.mse(tl.apply, activation="tanh"), params, (x, y), opt, steps=50, n_records=3
    )
    np.testing.assert_allclose(
        jax.jit(run)(keys[0], 1.0).params["a"], plain.params["a"], rtol=1e-5, atol=1e-7
    )


@pytest.mark.parametrize("p", [0.8, 0.5])
def test_mean_mse_is_the_mask_average_of_the_dropout_loss(p):
    """mean_mse = R_S + R_1 equals E_eta of the dropout loss (two-layer, dropout on the hidden layer)."""
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(5), (9, 1), jnp.float64)
        y = jnp.cos(2 * x[:, 0])
        params = tl.init(jax.random.key(6), 10, 1, dtype=jnp.float64)
        mean = dropout.mean_mse(
            tl.apply, dropout.two_layer_regularizer, p, activation="relu", alpha=1.5
        )
        noisy = dropout.mse(dropout.two_layer_apply, p, activation="relu", alpha=1.5)
        expected = float(mean(params, (x, y)))
        _mc_check(noisy, params, (x, y), expected)
        clean = float(train.mse(tl.apply, activation="relu", alpha=1.5)(params, (x, y)))
        assert expected > clean  # R_1 > 0: the mean is not the clean loss
        # p = 1: no regularizer
        np.testing.assert_allclose(
            dropout.mean_mse(tl.apply, dropout.two_layer_regularizer, 1.0)(params, (x, y)),
            train.mse(tl.apply)(params, (x, y)),
            rtol=1e-12,
        )


def test_valued_as_reports_the_clean_loss_and_steps_by_the_dropout_gradient():
    """L = D + stop_gradient(C - D): L == C in value, grad L == grad D for the same mask."""
    x = jnp.linspace(-1, 1, 10)[:, None]
    y = jnp.sin(2 * x[:, 0])
    params = tl.init(jax.random.key(0), 16, 1)
    noisy = dropout.mse(dropout.two_layer_apply, 0.6)
    clean = train.mse(tl.apply)
    loss = dropout.valued_as(noisy, clean)
    key = jax.random.key(3)
    np.testing.assert_allclose(loss(params, (x, y), key), clean(params, (x, y)), rtol=1e-6)
    assert (
        abs(float(noisy(params, (x, y), key) - clean(params, (x, y)))) > 1e-3
    )  # the values differ
    g, gd = jax.grad(loss)(params, (x, y), key), jax.grad(noisy)(params, (x, y), key)
    for a, b in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(gd)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # train.run's stop rule then fires on the clean loss
    target = 0.5 * float(clean(params, (x, y)))
    traj = train.run(
        loss,
        params,
        (x, y),
        optax.sgd(0.05),
        steps=5000,
        n_records=2,
        key=key,
        loss_takes_key=True,
        stop_loss=target,
    )
    assert bool(traj.converged) and 0 < int(traj.n_steps) < 5000
    assert float(clean(traj.params, (x, y))) <= target


def test_teacher_is_a_width_two_tanh_net_with_six_parameters():
    x = jnp.linspace(-12, 12, 50)
    net = {"a": jnp.ones(2), "w": jnp.ones((2, 1)), "b": jnp.array([-6.0, 6.0])}
    np.testing.assert_allclose(
        dropout.teacher(x), tl.apply(net, x[:, None], "tanh"), rtol=1e-6, atol=1e-6
    )
    assert dropout.TEACHER_PARAMETERS == sum(v.size for v in net.values())
    np.testing.assert_allclose(dropout.teacher(jnp.array([0.0])), [0.0], atol=1e-7)  # odd function


def test_excess_variation_counts_wiggles_between_data_points():
    """V = TV(fit on the data range) / TV(data) - 1: 0 for a fit monotone between the data points,
    2h / TV(data) for a bump of height h on a flat stretch."""
    grid = jnp.linspace(-1.5, 1.5, 3001)
    x = jnp.array([1.0, -1.0, 0.0])  # unsorted on purpose
    y = jnp.maximum(x, 0.0) ** 2  # 0, 0, 1 in order: TV(data) = 1
    smooth = jnp.maximum(grid, 0.0) ** 2
    np.testing.assert_allclose(dropout.excess_variation(smooth, grid, x, y), 0.0, atol=2e-3)
    h = 0.1
    bump = smooth + h * jnp.exp(-(((grid + 0.5) / 0.05) ** 2))
    np.testing.assert_allclose(dropout.excess_variation(bump, grid, x, y), 2 * h, rtol=0.02)
    wild = smooth + 0.2 * jnp.sin(40 * grid)  # about 2 * 0.4 per period, ~12 periods
    assert float(dropout.excess_variation(wild, grid, x, y)) > 3.0
    outside = smooth + jnp.where(
        jnp.abs(grid) > 1.0, jnp.sin(40 * grid), 0.0
    )  # beyond the data: not counted
    np.testing.assert_allclose(dropout.excess_variation(outside, grid, x, y), 0.0, atol=2e-3)


def test_orientation_concentration_from_spread_to_condensed():
    amp = jnp.ones(36 * 10)
    spread = -jnp.pi + (jnp.arange(360) + 0.5) * (2 * jnp.pi / 360)  # 10 neurons per bin
    np.testing.assert_allclose(dropout.orientation_concentration(spread, amp), 4 / 36, rtol=1e-6)
    two_rays = jnp.where(jnp.arange(360) % 2 == 0, 0.3, -2.0)
    np.testing.assert_allclose(dropout.orientation_concentration(two_rays, amp), 1.0, rtol=1e-6)
    # amplitude-weighted: one strong neuron outweighs many weak ones
    weights = jnp.where(jnp.arange(360) == 0, 1000.0, 1.0)
    assert float(dropout.orientation_concentration(spread, weights)) > 0.7


def test_dropout_is_a_mask_inside_the_models_own_forward_pass():
    """dropout.*_apply = the model's apply with masks m = 1/p or 0 drawn from the same key
    (one forward pass per model); a residual MLP keeps its skip connections under dropout."""
    from phasekit.models import mlp as mlp_model

    x = jax.random.normal(jax.random.key(0), (7, 3))
    key, p = jax.random.key(5), 0.6
    tl_p = tl.init(jax.random.key(1), 9, 3)
    m = dropout.mask(key, (7, 9), p)
    np.testing.assert_allclose(
        dropout.two_layer_apply(tl_p, x, key=key, p=p, activation="tanh"),
        (jnp.tanh(tl.preactivation(tl_p, x)) * m) @ tl_p["a"],
        rtol=1e-6,
    )
    params = mlp_model.init(jax.random.key(2), [3, 4, 4, 2])
    k1, k2 = jax.random.split(key)
    m1, m2 = dropout.mask(k1, (7, 4), p), dropout.mask(k2, (7, 4), p)
    h1 = jnp.tanh(x @ params[0]["w"] + params[0]["b"]) * m1
    h2 = h1 + jnp.tanh(h1 @ params[1]["w"] + params[1]["b"]) * m2
    np.testing.assert_allclose(
        dropout.mlp_apply(params, x, key=key, p=p, activation="tanh", residual=True),
        h2 @ params[2]["w"] + params[2]["b"],
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        dropout.mlp_apply(params, x, p=p, activation="tanh", residual=True),
        mlp_model.apply(params, x, activation="tanh", residual=True),
        rtol=1e-6,
    )
    assert not np.allclose(
        dropout.mlp_apply(params, x, key=key, p=p, activation="tanh", residual=True),
        dropout.mlp_apply(params, x, key=key, p=p, activation="tanh"),
    )
