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
        np.testing.assert_allclose(dropout.mlp_apply(params, x, p=p, activation="tanh"),
                                   mlp.apply(params, x, "tanh"))


def test_train_with_dropout_vmapped_over_seeds():
    x = jnp.linspace(-1, 1, 16)[:, None]
    y = jnp.tanh(3 * x[:, 0])
    params = tl.rescale(tl.init(jax.random.key(0), 20, 1), 0.5, 1.0)
    opt = optax.sgd(0.1)

    def run(key, p):
        loss = dropout.mse(dropout.two_layer_apply, p, activation="tanh")
        return train.run(loss, params, (x, y), opt, steps=50, n_records=3, key=key,
                         loss_takes_key=True)

    keys = jax.random.split(jax.random.key(1), 3)
    trajs = jax.jit(jax.vmap(run, in_axes=(0, None)))(keys, 0.8)
    a = np.asarray(trajs.params["a"])
    assert not np.allclose(a[0], a[1])  # a fresh mask per seed and per step
    again = jax.jit(run)(keys[0], 0.8)
    np.testing.assert_allclose(again.params["a"], a[0], rtol=1e-5)  # deterministic per key
    # p = 1 is plain gradient descent
    plain = train.run(train.mse(tl.apply, activation="tanh"), params, (x, y), opt, steps=50, n_records=3)
    np.testing.assert_allclose(jax.jit(run)(keys[0], 1.0).params["a"], plain.params["a"], rtol=1e-5, atol=1e-7)
