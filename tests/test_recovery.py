"""The recovery experiment: small-init GD fits a target from its optimistic sample size (book ch. 10)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasekit.dynamics import recovery as rec
from phasekit.models import toys
from phasekit.theory import optimistic as opt


def test_matrix_completion_transition_at_2rd_minus_r2():
    # d = 4: R = 7 (rank 1), 12 (rank 2). Below R the observed entries cannot pin the target
    # down (no seed recovers it); from R on, small-init GD recovers it.
    d = 4
    targets = rec.low_rank_matrices(jax.random.key(0), d, [1, 2])
    R1, R2 = opt.matrix_factorization(d, 1), opt.matrix_factorization(d, 2)
    ns = [R1 - 1, R1, R1 + 1, R2 - 1, R2, R2 + 2]
    conds = {"target": targets[jnp.asarray([0, 0, 0, 1, 1, 1])], "n": jnp.asarray(ns)}
    res = rec.recovery(
        *rec.matrix_completion_task(d),
        init_stds=[1e-6],
        lrs=[0.5, 1.0, 2.0],
        n_seeds=8,
        steps=20000,
        key=jax.random.key(1),
        conditions=conds,
        stop_loss=1e-12,
    )
    err = np.asarray(res.test_error)[:, 0]  # [conditions, seeds]
    assert np.all(np.asarray(res.train_loss) < 1e-8)  # every run interpolates its samples
    mean, median, recovered = err.mean(-1), np.median(err, -1), (err < 1e-2).mean(-1)
    # rank 1: high at 6 (no seed recovers), an order of magnitude lower from 7 on
    assert mean[0] > 0.2 and recovered[0] == 0
    assert mean[1] < 0.1 * mean[0] and mean[2] < 0.2 * mean[0] and recovered[1] >= 0.75
    # rank 2: no seed recovers at 11; recovery starts at 12 (not every seed: small-init GD
    # can land on another rank-2 interpolant); low by 14
    assert mean[3] > 0.2 and recovered[3] == 0
    assert recovered[4] > 0 and median[4] < 0.25 * median[3]
    assert mean[5] < 0.1


def test_f_nl_needs_two_samples_for_span_1_x1_linear_needs_three():
    # Fig 10.1: f* = 1 + x1. f_NL recovers it from 2 samples (t2 t3 stays ~0 from small init),
    # the linear model f_L = t0 + t1 x1 + t2 x2 needs 3.
    x_test = jax.random.normal(jax.random.key(2), (500, 2))
    target = lambda x, c: c["coef"][0] + x @ c["coef"][1:]
    conds = {"coef": jnp.asarray([[1.0, 1.0, 0.0]] * 3), "n": jnp.asarray([1, 2, 3])}
    f_l = lambda t, x: t[0] + x @ t[1:]
    errs = {}
    for name, apply_fn, n_params in [("L", f_l, 3), ("NL", toys.f_nl_apply, 4)]:
        task = rec.regression_task(
            apply_fn,
            lambda k, m=n_params: jax.random.normal(k, (m,)),
            target,
            lambda k, n: jax.random.normal(k, (n, 2)),
            3,
            x_test,
        )
        res = rec.recovery(
            *task,
            init_stds=[1e-4],
            lrs=[0.1, 0.3],
            n_seeds=6,
            steps=20000,
            key=jax.random.key(3),
            conditions=conds,
            stop_loss=1e-14,
        )
        errs[name] = np.median(np.asarray(res.test_error)[:, 0], -1)
    assert errs["L"][1] > 1e-2 and errs["L"][2] < 1e-6
    assert errs["NL"][0] > 1e-2 and errs["NL"][1] < 1e-6


def test_best_lr_is_kept_and_diverged_runs_are_skipped():
    # one-parameter least squares f = t x on x = 1, y = 1: t - 1 shrinks by (1 - lr) per step,
    # so lr = 3 overflows to inf within 200 steps and lr = 0.9 beats lr = 0.1
    task = rec.regression_task(
        lambda t, x: t[0] * x[:, 0],
        lambda k: jnp.zeros(1),
        lambda x, c: x[:, 0],
        lambda k, n: jnp.ones((n, 1)),
        1,
        jnp.ones((4, 1)),
    )
    res = rec.recovery(
        *task,
        init_stds=[1.0, 0.0],
        lrs=[0.1, 0.9, 3.0],
        n_seeds=2,
        steps=200,
        key=jax.random.key(0),
        conditions={"n": jnp.asarray([1])},
    )
    assert np.all(np.asarray(res.diverged)[..., 2]) and not np.any(
        np.asarray(res.diverged)[..., :2]
    )
    np.testing.assert_allclose(res.lr, 0.9)
    assert np.all(np.asarray(res.test_error) < 1e-20)
    assert np.all(np.asarray(res.test_error_all)[..., 0] > 1e-20)


def test_generic_observation_sets_have_full_tangent_rank():
    d = 4
    targets = rec.low_rank_matrices(jax.random.key(4), d, [1, 2, 3])
    sample = jax.jit(rec.matrix_completion_task(d).sample_fn)
    rank_on = jax.jit(rec._tangent_rank_on)
    for t, r in zip(targets, (1, 2, 3)):
        R = opt.matrix_factorization(d, r)
        np.testing.assert_allclose(np.linalg.svd(np.asarray(t), compute_uv=False)[r:], 0, atol=1e-5)
        for n in (R - 1, R):
            _, _, w = sample(jax.random.key(n), {"target": t, "n": n})
            assert int(w.sum()) == n and int(rank_on(t, w)) == min(n, R)


def test_bad_arguments_name_the_field():
    task = rec.matrix_completion_task(4)
    with pytest.raises(ValueError, match="select"):
        rec.recovery(
            *task,
            init_stds=[1e-3],
            lrs=[1.0],
            n_seeds=1,
            steps=1,
            key=jax.random.key(0),
            select="x",
        )
    with pytest.raises(ValueError, match="lrs"):
        rec.recovery(*task, init_stds=[1e-3], lrs=[-1.0], n_seeds=1, steps=1, key=jax.random.key(0))


def test_recovery_point_is_one_entry_of_the_grid():
    # the function a sweep calls per point gives the numbers recovery() computes for that
    # (condition, std, seed) in its one compiled grid: seed s uses fold_in(key, s), so the same
    # samples and init direction (up to float32 rounding of differently vectorized programs;
    # another seed would change the error by orders of magnitude)
    key = jax.random.key(5)
    task = rec.fnl_task(3, jax.random.normal(jax.random.key(1), (200, 2)), nonlinear=True)
    conds = {"coef": jnp.asarray([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]), "n": jnp.asarray([2, 3])}
    kw = dict(lrs=[0.1, 0.3], steps=2000, stop_loss=1e-14)
    stds = [1e-1, 1e-4]
    grid = rec.recovery(*task, init_stds=stds, n_seeds=3, key=key, conditions=conds, **kw)
    point = jax.jit(lambda k, c, std: rec.recovery_point(task, c, std, k, **kw))
    for c, s, seed in [(0, 1, 0), (1, 0, 1), (1, 1, 2)]:
        pt = point(
            jax.random.fold_in(key, seed), jax.tree_util.tree_map(lambda a: a[c], conds), stds[s]
        )
        np.testing.assert_allclose(
            pt["test_error"], grid.test_error[c, s, seed], rtol=1e-3, atol=1e-12
        )
        np.testing.assert_allclose(
            pt["test_error_all"], grid.test_error_all[c, s, seed], rtol=1e-3, atol=1e-12
        )
        assert float(pt["best_lr"]) == float(grid.lr[c, s, seed])
    other = point(
        jax.random.fold_in(key, 7), jax.tree_util.tree_map(lambda a: a[0], conds), stds[0]
    )
    assert not np.allclose(other["test_error_all"], grid.test_error_all[0, 0, 0], rtol=1e-2)


def test_select_lr_keeps_lowest_error_and_skips_failed_runs():
    err = jnp.asarray([[0.3, 0.1, 0.0], [jnp.nan, 0.2, 0.5], [1.0, 2.0, 3.0]])
    loss = jnp.asarray([[1e-3, 1e-9, 1e-12], [1.0, 1e-6, 1e-9], [1.0, 1.0, 1.0]])
    div = jnp.asarray([[False, False, True], [False, False, False], [True, True, True]])
    e, l, lr = rec.select_lr(err, loss, div, jnp.asarray([0.1, 0.2, 0.4]))
    # row 0: lr 0.4 diverged, so 0.2 (error 0.1); row 1: the NaN error is skipped; row 2: all diverged
    np.testing.assert_allclose(e[:2], [0.1, 0.2])
    np.testing.assert_allclose(lr[:2], [0.2, 0.2])
    assert np.isnan(e[2]) and np.isnan(l[2]) and np.isnan(lr[2])
    _, _, lr_train = rec.select_lr(err, loss, div, jnp.asarray([0.1, 0.2, 0.4]), select="train")
    np.testing.assert_allclose(lr_train[:2], [0.2, 0.4])  # lowest training loss instead


def test_transition_is_first_n_from_which_error_stays_low():
    n = [1, 2, 3, 4, 5]
    errs = np.asarray(
        [
            [1.0, 1e-6, 1.0, 1e-6, 1e-7],  # dips at 2, rises again: settles at 4
            [1.0, 1.0, 1.0, 1.0, 1e-3],  # never <= 1e-4
            [1e-9, 1e-9, 1e-9, 1e-9, 1e-9],
        ]
    )
    np.testing.assert_array_equal(rec.transition(n, errs, 1e-4), [4, np.nan, 1])
    np.testing.assert_allclose(rec.recovered_fraction([[1e-5, 1.0, np.nan, 1e-6]], 1e-4), [0.5])


def test_fnl_task_one_program_for_both_models():
    # f_L and f_NL from one task family with a traced switch: f* = 1 + x1 is recovered by f_NL
    # from 2 samples (t2 t3 stays ~0 from small init), by f_L only from 3 (book Fig 10.1)
    x_test = jax.random.normal(jax.random.key(2), (500, 2))
    cond = lambda n: {"coef": jnp.asarray([1.0, 1.0, 0.0]), "n": n}

    @jax.jit
    def err(nonlinear, n, key):
        task = rec.fnl_task(3, x_test, nonlinear)
        return rec.recovery_point(
            task, cond(n), 1e-4, key, lrs=[0.1, 0.3], steps=20000, stop_loss=1e-14, n_seeds=4
        )["test_error"]

    k = jax.random.key(3)
    e = {(nl, n): float(np.median(err(nl, n, k))) for nl in (False, True) for n in (1, 2, 3)}
    assert e[(True, 1)] > 1e-2 and e[(True, 2)] < 1e-6
    assert e[(False, 2)] > 1e-2 and e[(False, 3)] < 1e-6


@pytest.mark.parametrize("arch", ["cnn", "cnn_no_sharing", "fc"])
def test_conv_task_error_is_zero_at_the_teacher_and_relative(arch):
    x_test = jax.random.normal(jax.random.key(1), (300, 5))
    task = rec.conv_task(arch, 2, 8, x_test)
    cond = {"n": 8}
    assert float(task.test_error_fn(opt.conv_teacher_point(arch, 2), cond)) < 1e-12
    zero = jax.tree_util.tree_map(jnp.zeros_like, task.init_fn(jax.random.key(0)))
    np.testing.assert_allclose(
        task.test_error_fn(zero, cond), 1.0, rtol=1e-6
    )  # f = 0: relative error 1
    x, y, w = task.sample_fn(jax.random.key(4), cond)
    assert x.shape == (8, 5) and float(w.sum()) == 8
    assert float(task.loss_fn(opt.conv_teacher_point(arch, 2), (x, y, w))) < 1e-12


def test_cross_order_is_the_authors_order_and_its_prefixes_are_crosses():
    # the authors' Fig 10.2 order for d = 4, and for every d, r: the first 2rd - r^2 entries are
    # exactly the first r rows and r columns (|rows u cols| = 2 r d - r^2)
    assert rec.cross_order(4).tolist() == [0, 1, 2, 3, 4, 8, 12, 5, 6, 7, 9, 13, 10, 11, 14, 15]
    for d in range(1, 7):
        order = rec.cross_order(d)
        assert sorted(order.tolist()) == list(range(d * d))
        for r in range(1, d + 1):
            R = opt.matrix_factorization(d, r)
            cross = {i * d + j for i in range(d) for j in range(d) if i < r or j < r}
            assert set(order[:R].tolist()) == cross
    with pytest.raises(ValueError, match="d"):
        rec.cross_order(0)


def test_fixed_order_observes_the_first_n_entries_for_every_seed():
    d = 4
    order = rec.cross_order(d)
    target = rec.low_rank_matrices(jax.random.key(0), d, [2])[0]
    task = rec.matrix_completion_task(d, order=order)
    for n in (1, 7, 12, 16):
        masks = [task.sample_fn(jax.random.key(k), {"target": target, "n": n})[2] for k in (0, 1)]
        expected = np.zeros(d * d)
        expected[order[:n]] = 1
        for w in masks:
            np.testing.assert_array_equal(np.asarray(w), expected)
    with pytest.raises(ValueError, match="order"):
        rec.matrix_completion_task(d, order=np.arange(15))


def test_fixed_cross_recovers_a_well_conditioned_rank_2_target_at_12():
    # with the cross of 2 rows and 2 columns (the first 12 of the order) and a well-conditioned
    # leading 2x2 block the target is determined (M = C W^-1 R): small-init GD recovers it at 12
    # and not at 11 (one entry short of the dimension 2rd - r^2 = 12 of the rank-2 matrices)
    d = 4
    targets = rec.low_rank_matrices(jax.random.key(0), d, [1, 1, 2, 2])[3:]
    assert opt.cross_condition(targets[0], 2) < 5
    res = rec.recovery(
        *rec.matrix_completion_task(d, order=rec.cross_order(d)),
        init_stds=[1e-6],
        lrs=[1.0],
        n_seeds=2,
        steps=20000,
        key=jax.random.key(1),
        conditions={"target": jnp.stack([targets[0]] * 2), "n": jnp.asarray([11, 12])},
        stop_loss=1e-14,
    )
    err = np.asarray(res.test_error)[:, 0]  # [n, seeds]
    assert np.all(err[0] > 1e-2) and np.all(err[1] < 1e-4)


def test_neuron_task_is_zero_at_the_target_in_any_width():
    # tanh(x + 1) as neuron 0 of a width-m net (a = 1, w = 1, b = 1, the others zero): test error
    # and training loss 0; f = 0 has relative error 1
    x_test = jax.random.normal(jax.random.key(1), (300, 1))
    for m in (1, 2, 20):
        task = rec.neuron_task(m, 6, x_test)
        star = opt.embed_in_wider({"a": jnp.ones(1), "w": jnp.ones((1, 1)), "b": jnp.ones(1)}, m)
        assert float(task.test_error_fn(star, {"n": 6})) < 1e-12
        data = task.sample_fn(jax.random.key(2), {"n": 4})
        assert float(data[2].sum()) == 4 and float(task.loss_fn(star, data)) < 1e-12
        zero = jax.tree_util.tree_map(jnp.zeros_like, task.init_fn(jax.random.key(0)))
        np.testing.assert_allclose(task.test_error_fn(zero, {"n": 6}), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="width"):
        rec.neuron_task(0, 6, x_test)


def test_recovery_point_optimizer_adam_takes_sign_steps():
    # f = t x on x = 1, y = 5, t0 = 0: one GD step gives t = lr * 5 = 0.5 (error 4.5^2), one Adam
    # step t = lr * g / (|g| + eps) = 0.1 (error 4.9^2, optax eps 1e-8)
    task = rec.regression_task(
        lambda t, x: t[0] * x[:, 0],
        lambda k: jnp.zeros(1),
        lambda x, c: 5.0 * x[:, 0],
        lambda k, n: jnp.ones((n, 1)),
        1,
        jnp.ones((4, 1)),
    )
    kw = dict(lrs=[0.1], steps=1)
    gd = rec.recovery_point(task, {"n": 1}, 1.0, jax.random.key(0), **kw)
    adam = rec.recovery_point(task, {"n": 1}, 1.0, jax.random.key(0), optimizer="adam", **kw)
    np.testing.assert_allclose(gd["test_error"], 4.5**2, rtol=1e-5)
    np.testing.assert_allclose(adam["test_error"], 4.9**2, rtol=1e-5)
    with pytest.raises(ValueError, match="optimizer"):
        rec.recovery_point(task, {"n": 1}, 1.0, jax.random.key(0), optimizer="lbfgs", **kw)
