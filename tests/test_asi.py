"""Anti-symmetric initialization: h(x; theta_0) = 0 exactly, and the same training start as f."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from phasekit.dynamics import train
from phasekit.models import asi, mlp, toys, two_layer

KEY = jax.random.key(0)


def _mlp(sizes, **kw):
    return lambda key: mlp.init(key, sizes, **kw)


# (name, init(key), apply_fn, apply kwargs, input dim)
ARCHS = [
    ("mlp-relu", _mlp([3, 32, 32, 1]), mlp.apply, {"activation": "relu"}, 3),
    (
        "mlp-ricker-0.1-big-init",
        _mlp([1, 50, 50, 1], gamma=0.1),
        mlp.apply,
        {"activation": "ricker:0.1"},
        1,
    ),
    (
        "mlp-sin-5-residual-4-outputs",
        _mlp([2, 16, 16, 16, 4]),
        mlp.apply,
        {"activation": "sin:5", "residual": True},
        2,
    ),
    (
        "two-layer-softplus-alpha-0.01",
        lambda k: two_layer.rescale(two_layer.init(k, 33, 5), 3.0, 2.0),
        two_layer.apply,
        {"activation": "softplus", "alpha": 0.01},
        5,
    ),
    ("linear-toy", lambda k: toys.linear_init(k, 7, std=100.0), toys.linear_apply, {}, 7),
]


@pytest.mark.parametrize("name,init_fn,apply_fn,kw,d", ARCHS, ids=[a[0] for a in ARCHS])
def test_output_is_exactly_zero_at_init(name, init_fn, apply_fn, kw, d):
    # At theta1 = theta2, f(x; theta1) - f(x; theta2) is the same float computation twice:
    # zero bit for bit, for any architecture and activation and however large f is; also
    # compiled and vmapped over seeds, as in the experiments.
    x = 3.0 * jax.random.normal(jax.random.key(1), (17, d))

    @jax.jit
    @jax.vmap
    def base_and_asi(key):
        p = init_fn(key)
        return apply_fn(p, x, **kw), asi.apply(apply_fn, asi.pair(p), x, **kw)

    base, h = base_and_asi(jax.random.split(KEY, 3))
    assert float(jnp.abs(base).max()) > 1e-3
    assert h.shape == base.shape
    assert np.all(np.asarray(h) == 0.0)


def test_wrapper_init_apply_and_parameter_count():
    init, apply = asi.antisymmetric(mlp.init, mlp.apply)
    p = init(KEY, [1, 20, 1])
    base = mlp.init(KEY, [1, 20, 1])
    assert ravel_pytree(p)[0].size == 2 * ravel_pytree(base)[0].size
    assert np.all(np.asarray(apply(p, jnp.linspace(-1, 1, 9)[:, None], activation="tanh")) == 0.0)


def test_gradients_are_opposite_halves_and_tangent_kernel_unchanged():
    # grad_theta1 h = grad f / sqrt 2 = -grad_theta2 h, so the tangent kernel of h at theta_0,
    # J1 J1^T + J2 J2^T = (1/2 + 1/2) J_f J_f^T, equals that of f.
    base = mlp.init(KEY, [1, 16, 16, 1])
    x = jnp.linspace(-2, 2, 6)[:, None]
    flat, unravel = ravel_pytree(base)

    @jax.jit
    def jacobians(v):
        jf = jax.jacobian(lambda u: mlp.apply(unravel(u), x, activation="tanh"))(v)
        j1, j2 = jax.jacobian(
            lambda u1, u2: asi.apply(
                mlp.apply, {"theta1": unravel(u1), "theta2": unravel(u2)}, x, activation="tanh"
            ),
            argnums=(0, 1),
        )(v, v)
        return jf, j1, j2

    jf, j1, j2 = jacobians(flat)
    np.testing.assert_allclose(j1, jf / np.sqrt(2), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(j2, -jf / np.sqrt(2), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(j1 @ j1.T + j2 @ j2.T, jf @ jf.T, rtol=1e-5, atol=1e-6)


def test_copies_train_independently_and_fit():
    x = jnp.linspace(-1, 1, 20)[:, None]
    y = jnp.sin(3 * x[:, 0])
    loss = train.mse(lambda p, x: asi.apply(mlp.apply, p, x, activation="tanh"))
    p0 = asi.pair(mlp.init(KEY, [1, 16, 16, 1]))
    tr = jax.jit(lambda p: train.run(loss, p, (x, y), optax.adam(1e-2), steps=200, n_records=2))(p0)
    assert not np.allclose(
        ravel_pytree(tr.params["theta1"])[0], ravel_pytree(tr.params["theta2"])[0]
    )
    assert float(tr.loss[-1]) < 1e-2 * float(tr.loss0)


def test_bad_params_raise():
    with pytest.raises(ValueError, match="params"):
        asi.apply(mlp.apply, mlp.init(KEY, [1, 4, 1]), jnp.ones((2, 1)))


def test_switchable_is_asi_when_on_and_the_plain_net_when_off():
    # on = 1: exactly 0 at theta1 = theta2 and equal to asi.apply after the copies separate;
    # on = 0: f(theta1), with a zero gradient for theta2 (so training leaves it untouched).
    x = jnp.linspace(-2, 2, 7)[:, None]
    base = mlp.init(KEY, [1, 16, 16, 1])
    p = asi.pair(base)
    run = jax.jit(jax.vmap(lambda on: asi.switchable(mlp.apply, p, x, on, activation="tanh")))
    h = run(jnp.array([1, 0]))
    assert np.all(np.asarray(h[0]) == 0.0)
    np.testing.assert_allclose(h[1], mlp.apply(base, x, activation="tanh"), rtol=1e-6)
    moved = {"theta1": jax.tree_util.tree_map(lambda a: 1.1 * a, base), "theta2": base}
    np.testing.assert_allclose(
        asi.switchable(mlp.apply, moved, x, 1, activation="tanh"),
        asi.apply(mlp.apply, moved, x, activation="tanh"),
        rtol=1e-5,
        atol=1e-7,
    )
    g = jax.grad(lambda q: jnp.sum(asi.switchable(mlp.apply, q, x, 0, activation="tanh") ** 2))(
        moved
    )
    assert all(float(jnp.abs(v).max()) == 0.0 for v in jax.tree_util.tree_leaves(g["theta2"]))
    assert float(ravel_pytree(g["theta1"])[0] @ ravel_pytree(g["theta1"])[0]) > 0
    with pytest.raises(ValueError, match="params"):
        asi.switchable(mlp.apply, base, x, 1)
