"""The anchor experiments' recipe: the AdamW schedule, and a vmapped gamma x weight-decay x seed
grid of Transformer runs equals the same runs trained one by one."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from phasekit.data import anchor as tasks
from phasekit.dynamics import train
from phasekit.experiments import anchor
from phasekit.models import transformer


def test_schedule_warms_up_linearly_then_decays_by_cosine():
    cfg = anchor.PhaseConfig(
        n_train=1000,
        batch_size=100,
        epochs=10,
        warmup_epochs=2,
        lr=1e-3,
        warmup_factor=20,
        end_lr=1e-5,
    )
    assert cfg.steps == 100
    sched = optax.warmup_cosine_decay_schedule(1e-3 / 20, 1e-3, 20, 100, 1e-5)
    opt = anchor.optimizer(cfg, 0.0)
    # a unit gradient through clip(1) -> adamw: the first Adam step has |update| = lr(0) per coordinate
    p = {"w": jnp.zeros(4)}
    upd, _ = opt.update({"w": jnp.full(4, 1e-3)}, opt.init(p), p)
    np.testing.assert_allclose(-upd["w"], 1e-3 / 20, rtol=1e-3)
    assert float(sched(0)) == pytest.approx(5e-5) and float(sched(20)) == pytest.approx(1e-3)
    assert float(sched(60)) == pytest.approx(
        1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + np.cos(np.pi * 0.5)), rel=1e-4
    )
    assert float(sched(100)) == pytest.approx(1e-5)


def test_bad_config_raises():
    with pytest.raises(ValueError, match="batch_size"):
        anchor.PhaseConfig(n_train=100, batch_size=200)
    with pytest.raises(ValueError, match="gammas"):
        anchor.PhaseConfig(gammas=(-0.1,))
    with pytest.raises(ValueError, match="vocab"):
        anchor.PhaseConfig(vocab=50)


@pytest.mark.slow  # two Transformer training programs to compile: ~4 min on the loaded 2-core machine
def test_vmapped_grid_equals_runs_one_by_one():
    task = tasks.composite(64, seed=0)
    data = (jnp.asarray(task.train.tokens), jnp.asarray(task.train.label))
    cfg = anchor.PhaseConfig(n_train=64, batch_size=16, epochs=1.0, warmup_epochs=0.25)

    def one(gamma, wd, seed):
        k_init, k_train = jax.random.split(jax.random.key(seed))
        p = transformer.rescale(
            transformer.init(k_init, tasks.VOCAB_MIN, 9, d_model=8, depth=1), gamma
        )
        traj = train.run(
            train.cross_entropy(transformer.apply),
            p,
            data,
            anchor.optimizer(cfg, wd),
            steps=cfg.steps,
            n_records=2,
            batch_size=16,
            key=k_train,
        )
        return traj.loss, traj.params

    gammas, wds, seeds = jnp.array([0.3, 0.8]), jnp.array([0.0, 0.5]), jnp.array([0, 1])
    many = jax.jit(jax.vmap(one))(gammas, wds, seeds)
    single = jax.jit(one)
    for i in range(2):
        loss, params = single(gammas[i], wds[i], seeds[i])
        np.testing.assert_allclose(many[0][i], loss, rtol=1e-5)
        for a, b in zip(jax.tree_util.tree_leaves(many[1]), jax.tree_util.tree_leaves(params)):
            np.testing.assert_allclose(a[i], b, rtol=1e-4, atol=1e-6)
    assert abs(float(many[0][0, -1] - many[0][1, -1])) > 1e-4  # the runs differ
