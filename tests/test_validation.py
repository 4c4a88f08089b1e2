"""Bad input at the library boundary raises ValueError naming the field (the CLI's table is in
test_cli.py); a blow-up that never reaches inf is flagged diverged, its neighbours untouched."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from phasekit import experiments
from phasekit.dynamics import phase, sweep, train
from phasekit.models import two_layer
from phasekit.theory import regimes

X = jnp.linspace(-1, 1, 8)[:, None]
Y = jnp.sin(3 * X[:, 0])
P = two_layer.init(jax.random.key(0), 16, 1)
LOSS = train.mse(two_layer.apply)
NAN_X = X.at[0, 0].set(jnp.nan)
fn = lambda pt, key: {"v": pt["g"] * jnp.ones(())}

BAD = [  # (field the message must name, call)
    ("steps", lambda: train.run(LOSS, P, (X, Y), optax.sgd(0.1), steps=0)),
    ("steps", lambda: train.run(LOSS, P, (X, Y), optax.sgd(0.1), steps=True)),
    ("steps", lambda: train.run(LOSS, P, (X, Y), optax.sgd(0.1), steps=2.5)),
    ("optimizer", lambda: train.run(LOSS, P, (X, Y), optax.sgd(0.0), steps=10)),
    ("optimizer", lambda: train.run(LOSS, P, (X, Y), optax.sgd(-0.1), steps=10)),
    ("optimizer", lambda: train.run(LOSS, P, (X, Y), optax.adam(-1e-3), steps=10)),
    ("data", lambda: train.run(LOSS, P, (NAN_X, Y), optax.sgd(0.1), steps=10)),
    ("data", lambda: train.run(LOSS, P, (X, Y.at[1].set(jnp.inf)), optax.sgd(0.1), steps=10)),
    ("data", lambda: train.run(LOSS, P, (X[:0], Y[:0]), optax.sgd(0.1), steps=10)),
    ("data", lambda: train.run(LOSS, P, (X, Y[:3]), optax.sgd(0.1), steps=10)),
    (
        "batch_size",
        lambda: train.run(
            LOSS, P, (X, Y), optax.sgd(0.1), steps=10, batch_size=0, key=jax.random.key(0)
        ),
    ),
    (
        "batch_size",
        lambda: train.run(
            LOSS, P, (X, Y), optax.sgd(0.1), steps=10, batch_size=99, key=jax.random.key(0)
        ),
    ),
    ("key", lambda: train.run(LOSS, P, (X, Y), optax.sgd(0.1), steps=10, batch_size=2)),
    ("lr_backoff", lambda: train.run(LOSS, P, (X, Y), optax.sgd(0.1), steps=10, lr_backoff=1.5)),
    (
        "diverge_factor",
        lambda: train.run(LOSS, P, (X, Y), optax.sgd(0.1), steps=10, diverge_factor=0.5),
    ),
    ("n_records", lambda: train.run(LOSS, P, (X, Y), optax.sgd(0.1), steps=10, n_records=1)),
    ("schedule", lambda: train.run(LOSS, P, (X, Y), optax.sgd(0.1), steps=10, schedule="cubic")),
    ("lr", lambda: train.optimizer("gd", lr=0.0)),
    ("lr", lambda: train.optimizer("adam", lr=-1.0)),
    ("optimizer", lambda: train.optimizer("lbfgs-ish", lr=0.1)),
    (
        "x",
        lambda: phase.phase_diagram(
            np.array([[np.nan], [0.0]]), np.array([0.0, 1.0]), progress=False
        ),
    ),
    (
        "y",
        lambda: phase.phase_diagram(np.zeros((3, 1)), np.array([0.0, np.inf, 1.0]), progress=False),
    ),
    ("x", lambda: phase.phase_diagram(np.zeros((0, 1)), np.zeros(0), progress=False)),
    ("gammas", lambda: phase.PhaseConfig(gammas=(np.nan, 1.0))),
    ("gammas", lambda: phase.PhaseConfig(gammas=())),
    ("gamma_primes", lambda: phase.PhaseConfig(gamma_primes=(np.inf,))),
    ("seeds", lambda: phase.PhaseConfig(seeds=True)),
    ("seeds", lambda: phase.PhaseConfig(seeds=0)),
    ("widths", lambda: phase.PhaseConfig(widths=(100,))),
    ("widths", lambda: phase.PhaseConfig(widths=(100, 0))),
    ("widths", lambda: phase.PhaseConfig(widths=(101, 301))),
    ("rel_tol", lambda: phase.PhaseConfig(rel_tol=0.0)),
    ("eta", lambda: phase.PhaseConfig(eta=-0.1)),
    ("activation", lambda: phase.PhaseConfig(activation="swishy")),
    ("width", lambda: regimes.scaling_for(1.0, 0.0, 0)),
    ("width", lambda: regimes.scaling_for(1.0, 0.0, -5)),
    ("width", lambda: two_layer.init(jax.random.key(0), 0, 1)),
    ("width", lambda: two_layer.init(jax.random.key(0), True, 1)),
    ("axes", lambda: sweep.run(fn, {"g": [np.nan, 1.0]}, progress=False)),
    ("axes", lambda: sweep.run(fn, {"g": [True, False]}, progress=False)),
    ("axes", lambda: sweep.run(fn, {"g": []}, progress=False)),
    ("axes", lambda: sweep.run(fn, {"g": ["a", "b"]}, progress=False)),
    ("chunk_size", lambda: sweep.run(fn, {"g": [1.0]}, chunk_size=0, progress=False)),
    ("batching", lambda: sweep.run(fn, {"g": [1.0]}, batching="pmap", progress=False)),
    ("key_axes", lambda: sweep.run(fn, {"g": [1.0]}, key_axes=("seed",), progress=False)),
    ("shard", lambda: sweep.run(fn, {"g": [1.0]}, shard="1/1", progress=False)),
    ("shard", lambda: sweep.run(fn, {"g": [1.0]}, shard="half", progress=False)),
    ("experiment", lambda: experiments.get("no-such-experiment")),
    ("preset", lambda: experiments.get("phase-diagram").preset("huge")),
    ("n", lambda: experiments.get("phase-diagram-digits").preset("tiny", n=-3)),
    ("seeds", lambda: experiments.get("phase-diagram").preset("tiny", seeds=True)),
    ("no_such_field", lambda: experiments.get("phase-diagram").preset("tiny", no_such_field=1)),
]


@pytest.mark.parametrize("field,call", BAD, ids=[f"{i}-{f}" for i, (f, _) in enumerate(BAD)])
def test_bad_input_raises_value_error_naming_the_field(field, call):
    with pytest.raises(ValueError, match=rf"\b{field}\b"):
        call()


def test_numpy_integers_are_accepted_where_integers_are():
    p = two_layer.init(jax.random.key(0), np.int64(16), np.int32(1))
    assert p["a"].shape == (16,)
    assert phase.PhaseConfig(widths=(np.int64(100), np.int64(200)), seeds=np.int64(2)).widths == (
        100,
        200,
    )
    alpha, beta1, beta2 = regimes.scaling_for(1.0, 0.0, np.int64(100))
    assert np.isclose(beta1, 0.1)


def test_relu_blow_up_is_diverged_not_hit_cap_and_neighbours_are_untouched():
    """ReLU two-layer net at lr 10 .. 1e6: the loss explodes to ~1e18 without reaching inf, the
    neurons die and the loss settles above its initial value. Such runs are flagged diverged
    (loss > 1e6 x initial), frozen at their last sane parameters; sane neighbours in the same
    vmapped batch are bit-identical to the same lanes in a batch without blow-ups."""
    x = jnp.linspace(-1, 1, 16)[:, None]
    y = jnp.sin(3 * x[:, 0])
    loss = train.mse(two_layer.apply)

    def one(key, lr):
        p = two_layer.init(key, 64, 1)
        return train.run(loss, p, (x, y), optax.sgd(lr), steps=500, n_records=6)

    lrs = jnp.array([0.01, 10.0, 1e2, 1e4, 1e6, 0.005])
    keys = jax.random.split(jax.random.key(3), len(lrs))
    batch = jax.jit(jax.vmap(one))(keys, lrs)
    assert batch.diverged.tolist() == [False, True, True, True, True, False]
    assert not bool(batch.hit_cap[1:5].any())
    # frozen at the last sane parameters: their loss is within the limit and finite
    for i in range(1, 5):
        p = jax.tree_util.tree_map(lambda a: a[i], batch.params)
        assert float(loss(p, (x, y))) <= 1e6 * float(batch.loss0[i])
    calm = jax.jit(jax.vmap(one))(keys, lrs.at[1:5].set(0.01))  # same batch, sane neighbours only
    for i in (0, 5):
        np.testing.assert_array_equal(np.asarray(calm.loss[i]), np.asarray(batch.loss[i]))
        assert float(batch.loss[i, -1]) < float(batch.loss0[i]) and not bool(batch.diverged[i])
    # without the loss-multiple rule the same runs are not flagged (the old behaviour)
    off = jax.jit(
        jax.vmap(
            lambda k, lr: train.run(
                loss,
                two_layer.init(k, 64, 1),
                (x, y),
                optax.sgd(lr),
                steps=500,
                n_records=6,
                diverge_factor=None,
            )
        )
    )(keys, lrs)
    assert not bool(off.diverged[1:4].all())


def test_traced_learning_rates_skip_the_descent_check_but_train():
    lrs = jnp.array([0.05, 0.1])
    out = jax.jit(
        jax.vmap(lambda lr: train.run(LOSS, P, (X, Y), optax.sgd(lr), steps=20).loss[-1])
    )(lrs)
    assert np.all(np.isfinite(out))
