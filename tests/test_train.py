"""The training engine: exact GD on quadratics, vmap = loop, divergence flags, stop rules."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from phasekit.dynamics import train
from phasekit.models import two_layer

X = jnp.linspace(-1, 1, 8)[:, None]
Y = jnp.sin(3 * X[:, 0])
LOSS = train.mse(two_layer.apply, activation="tanh")


def quadratic(lam):
    return lambda p, data: 0.5 * lam * jnp.sum(p**2)


def test_gd_on_quadratic_is_exact_at_every_record():
    """GD on 0.5 lam x^2: x_s = (1 - lr lam)^s x_0, loss_s = 0.5 lam x_s^2."""
    lam, lr = 3.0, 0.1
    with jax.enable_x64(True):
        tr = train.run(
            quadratic(lam),
            jnp.array([2.0]),
            jnp.zeros((1,)),
            optax.sgd(lr),
            steps=200,
            n_records=12,
        )
        xs = 2.0 * (1 - lr * lam) ** np.asarray(tr.step, float)
        np.testing.assert_allclose(tr.loss, 0.5 * lam * xs**2, rtol=1e-10)
    assert tr.step[0] == 0 and tr.step[-1] == 200 and len(tr.step) <= 12
    assert not bool(tr.diverged) and int(tr.n_steps) == 200


def test_record_steps_log_spaced_and_bounded():
    s = train.record_steps(10_000, 30)
    assert s[0] == 0 and s[-1] == 10_000 and np.all(np.diff(s) > 0) and len(s) <= 30
    ratios = s[-6:][1:] / s[-6:][:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=0.05)  # geometric at large steps
    lin = train.record_steps(100, 11, "linear")
    np.testing.assert_array_equal(lin, np.arange(0, 101, 10))


def _one(key, lr):
    p = two_layer.rescale(two_layer.init(key, 32, 1), 1.0, 1.0)
    return train.run(
        LOSS,
        p,
        (X, Y),
        optax.sgd(lr),
        steps=300,
        n_records=10,
        stop_loss=1e-3,
        observe=lambda q: {"a_norm": jnp.linalg.norm(q["a"])},
    )


def test_vmapped_runs_equal_runs_one_by_one_and_divergence_is_isolated():
    """A batch of 16 runs (seeds x learning rates, one with a huge lr) equals the same runs
    trained one at a time; the huge-lr run is flagged diverged and frozen at finite params."""
    keys = jax.random.split(jax.random.key(0), 16)
    lrs = jnp.linspace(0.02, 0.12, 16).at[5].set(1e4)
    batch = jax.jit(jax.vmap(_one))(keys, lrs)
    single = jax.jit(_one)
    assert (
        batch.loss.shape == (16, len(batch.step[0]))
        and batch.observables["a_norm"].shape == batch.loss.shape
    )
    for i in range(16):
        solo = single(keys[i], lrs[i])
        assert bool(batch.diverged[i]) == bool(solo.diverged) == (i == 5)
        if i == 5:  # chaotic blow-up: only the flag is reproducible to the bit
            continue
        np.testing.assert_allclose(batch.loss[i], solo.loss, rtol=2e-5)
        np.testing.assert_allclose(batch.params["w"][i], solo.params["w"], rtol=2e-5, atol=1e-7)
        assert int(batch.n_steps[i]) == int(solo.n_steps)
    assert all(np.all(np.isfinite(l)) for l in jax.tree_util.tree_leaves(batch.params))
    assert not bool(batch.converged[5])


def test_stop_rules_fire_at_the_exact_step_and_freeze_the_run():
    """On 0.5 lam x^2 with x_0 = 1: loss_s = 0.5 lam q^(2s), q = 1 - lr lam. The run stops at
    the first s with loss_s <= threshold, and later records repeat the final value."""
    lam, lr, thr = 2.0, 0.1, 1e-3
    q = 1 - lr * lam
    expected = int(np.ceil(np.log(thr / (0.5 * lam)) / (2 * np.log(q))))
    with jax.enable_x64(True):
        tr = train.run(
            quadratic(lam),
            jnp.array([1.0]),
            jnp.zeros((1,)),
            optax.sgd(lr),
            steps=500,
            stop_loss=thr,
        )
        rel = train.run(
            quadratic(lam),
            jnp.array([1.0]),
            jnp.zeros((1,)),
            optax.sgd(lr),
            steps=500,
            stop_rel_loss=thr / (0.5 * lam),
        )
    assert bool(tr.converged) and int(tr.n_steps) == expected == int(rel.n_steps)
    stopped = np.asarray(tr.step) >= expected
    np.testing.assert_allclose(
        np.asarray(tr.loss)[stopped], 0.5 * lam * q ** (2 * expected), rtol=1e-12
    )


def test_lr_backoff_rescues_a_too_large_step():
    """On 0.5 lam x^2, lr = 3/lam makes |1 - lr lam| = 2 (divergent); halving on every rise
    brings the step below 2/lam and the run converges."""
    lam = 4.0
    tr = train.run(
        quadratic(lam),
        jnp.array([1.0]),
        jnp.zeros((1,)),
        optax.sgd(3 / lam),
        steps=200,
        stop_loss=1e-10,
        lr_backoff=0.5,
    )
    assert bool(tr.converged) and not bool(tr.diverged)
    plain = train.run(
        quadratic(lam), jnp.array([1.0]), jnp.zeros((1,)), optax.sgd(3 / lam), steps=200
    )
    assert bool(plain.diverged) or float(plain.loss[-1]) > 1e10


def test_minibatch_sgd_and_adam_reduce_the_loss():
    p = two_layer.init(jax.random.key(2), 32, 1)
    sgd = train.run(LOSS, p, (X, Y), optax.sgd(0.1), steps=400, batch_size=4, key=jax.random.key(3))
    adam = train.run(LOSS, p, (X, Y), train.optimizer("adam", 1e-2), steps=400)
    assert float(sgd.loss[-1]) < 0.5 * float(sgd.loss0)
    assert float(adam.loss[-1]) < 0.1 * float(adam.loss0)


def test_bad_inputs_raise_value_error_naming_the_field():
    p = two_layer.init(jax.random.key(0), 4, 1)
    with pytest.raises(ValueError, match="lr"):
        train.optimizer("gd", lr=0.0)
    with pytest.raises(ValueError, match="lr"):
        train.optimizer("adam", lr=-1e-3)
    with pytest.raises(ValueError, match="optimizer"):
        train.optimizer("lbfgs-ish", lr=1e-3)
    with pytest.raises(ValueError, match="data.*x and y"):
        train.run(LOSS, p, (X, Y[:5]), optax.sgd(0.1), steps=10)
    with pytest.raises(ValueError, match="y: need as many samples as x"):
        LOSS(p, (X, Y[:5]))
    with pytest.raises(ValueError, match="batch_size"):
        train.run(LOSS, p, (X, Y), optax.sgd(0.1), steps=10, batch_size=100, key=jax.random.key(0))
    with pytest.raises(ValueError, match="steps"):
        train.run(LOSS, p, (X, Y), optax.sgd(0.1), steps=-1)
    with pytest.raises(ValueError, match="lr_backoff"):
        train.run(LOSS, p, (X, Y), optax.sgd(0.1), steps=10, lr_backoff=2.0)


def test_cross_entropy_and_its_gradient_equal_optax_and_accuracy_counts_argmax_hits():
    import optax as ox

    key = jax.random.key(7)
    x = jax.random.normal(key, (12, 3))
    labels = jnp.arange(12) % 4
    w = jax.random.normal(jax.random.key(8), (3, 4))
    apply = lambda p, xx: xx @ p
    loss = train.cross_entropy(apply)
    ref = lambda p: jnp.mean(ox.softmax_cross_entropy(apply(p, x), jax.nn.one_hot(labels, 4)))
    np.testing.assert_allclose(loss(w, (x, labels)), ref(w), rtol=1e-6)
    np.testing.assert_allclose(loss(w, (x, jax.nn.one_hot(labels, 4))), ref(w), rtol=1e-6)
    np.testing.assert_allclose(
        jax.grad(loss)(w, (x, labels)), jax.grad(ref)(w), rtol=1e-5, atol=1e-7
    )
    # closed form: equal logits give log k
    np.testing.assert_allclose(loss(jnp.zeros((3, 4)), (x, labels)), np.log(4.0), rtol=1e-6)
    acc = train.accuracy(apply, x, labels)(w)["accuracy"]
    hits = int(np.sum(np.argmax(np.asarray(x @ w), -1) == np.asarray(labels)))
    assert round(float(acc) * 12) == hits
