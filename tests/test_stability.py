"""phasekit.dynamics.stability: the GD stability threshold 2 / lr, sharpness stored with the run."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from phasekit.dynamics import stability, train
from phasekit.models import mlp
from phasekit.theory import hessian as hs

LAM = 4.0  # curvature of the quadratic: threshold lr = 2 / LAM = 0.5


def _quadratic(x, data):
    return 0.5 * LAM * x[0] ** 2 + 0.0 * jnp.sum(data)


def test_gd_on_a_quadratic_converges_below_two_over_lambda_and_diverges_above():
    """x_t = (1 - lr lambda)^t x_0 exactly, so L_t = (1 - lr lambda)^(2t) L_0; sharpness = lambda."""
    lrs = jnp.array([0.9, 0.99, 1.01, 1.1]) * 2 / LAM
    traj = jax.jit(
        jax.vmap(
            lambda lr: stability.track_sharpness(
                _quadratic,
                jnp.ones(1),
                jnp.zeros((3, 1)),
                optax.sgd(lr),
                steps=200,
                every=40,
                diverge_factor=None,
            )
        )
    )(lrs)  # the exact unbounded growth of GD above 2/lambda
    np.testing.assert_array_equal(traj.step[0], np.arange(0, 201, 40))
    np.testing.assert_allclose(traj.observables["sharpness"], LAM, rtol=1e-6)
    factor = (1 - np.asarray(lrs, np.float64) * LAM) ** 2
    expected = 0.5 * LAM * factor[:, None] ** np.arange(0, 201, 40)[None, :]
    np.testing.assert_allclose(traj.loss, expected, rtol=1e-3, atol=1e-30)
    final = np.asarray(traj.loss[:, -1])
    assert np.all(final[:2] < 1e-3 * 0.5 * LAM) and np.all(final[2:] > 2.0 * 0.5 * LAM)
    np.testing.assert_array_equal(
        np.asarray(lrs) < stability.stability_threshold(LAM), [True, True, False, False]
    )


def test_tracked_sharpness_equals_the_dense_hessian_top_eigenvalue_on_the_fixed_subset():
    x = jax.random.normal(jax.random.key(1), (24, 2))
    y = jnp.sin(2 * x[:, 0])
    p0 = mlp.init(jax.random.key(0), [2, 8, 1])
    loss = train.mse(mlp.apply, activation="tanh")
    traj = jax.jit(
        lambda p: stability.track_sharpness(
            loss, p, (x, y), optax.sgd(0.1), steps=60, every=20, subset=10, num_steps=30
        )
    )(p0)
    top = jax.jit(lambda p, data: jnp.linalg.eigvalsh(hs.hessian(loss, p, data))[-1])
    sub = stability.fixed_subset((x, y), 10)
    dense = [top(p, sub) for p in (p0, traj.params)]
    sharp = np.asarray(traj.observables["sharpness"])
    assert sharp.shape == (4,)
    np.testing.assert_allclose(sharp[[0, -1]], dense, rtol=1e-4)
    full = top(p0, (x, y))
    assert abs(full - dense[0]) > 1e-3 * full  # the subset is a real restriction of the data


def test_late_sharpness_ratio_divides_by_two_over_lr():
    s = np.array([[1.0, 2.0, 3.0, 5.0], [1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_allclose(
        stability.late_sharpness_ratio(s, [0.4, 1.0], fraction=0.5), [0.8, 0.5]
    )


def test_late_sharpness_slope_of_a_ramp_in_threshold_units():
    # lambda = 1 + b t (ramp, slope b), then flat at 2/lr: slope in ratio units = b lr / 2, and 0
    t = np.arange(0.0, 800.0, 100.0)
    ramp = 1.0 + 0.01 * t
    flat = np.r_[1.0 + 0.01 * t[:4], np.full(4, 5.0)]
    nan_tail = ramp.copy()
    nan_tail[-1] = np.nan  # a diverged record is skipped, the slope of the rest is unchanged
    got = stability.late_sharpness_slope(np.stack([ramp, flat, nan_tail]), t, [0.2, 0.4, 0.2], 0.5)
    np.testing.assert_allclose(got, [0.01 * 0.2 / 2, 0.0, 0.01 * 0.2 / 2], atol=1e-12)
    with pytest.raises(ValueError, match="steps"):
        stability.late_sharpness_slope(np.ones((1, 4)), np.arange(3), [0.1])


def test_bad_record_interval_and_subset_raise():
    with pytest.raises(ValueError, match="every"):
        stability.track_sharpness(
            _quadratic, jnp.ones(1), jnp.zeros((3, 1)), optax.sgd(0.1), steps=10, every=3
        )
    with pytest.raises(ValueError, match="subset"):
        stability.fixed_subset(jnp.zeros((3, 1)), 5)


def test_sharpness_vs_lr_with_a_seed_axis_equals_each_seed_alone():
    """Every (seed, lr) lane of the vmapped program is the run of that seed alone at that lr."""
    x = jax.random.normal(jax.random.key(1), (16, 2))
    data = (x, jnp.sin(2 * x[:, :1]))
    loss = train.mse(mlp.apply, activation="tanh")
    keys = jax.random.split(jax.random.key(0), 3)
    params = jax.vmap(lambda k: mlp.init(k, [2, 6, 1]))(keys)
    lrs = jnp.array([0.02, 0.08])  # both stable: a diverging run amplifies rounding differences
    key = jax.random.key(7)
    both = stability.sharpness_vs_lr(
        loss, params, data, lrs, steps=20, every=10, key=key, seed_axis=True
    )
    assert both.observables["sharpness"].shape == (3, 2, 3)
    for s in range(3):
        alone = stability.sharpness_vs_lr(
            loss,
            jax.tree_util.tree_map(lambda a: a[s], params),
            data,
            lrs,
            steps=20,
            every=10,
            key=jax.random.fold_in(key, s),
        )
        np.testing.assert_allclose(
            both.loss[s], alone.loss, rtol=1e-4
        )  # vmapped vs alone: float32 reassociation
        np.testing.assert_allclose(
            both.observables["sharpness"][s], alone.observables["sharpness"], rtol=1e-4
        )
    assert np.ptp(np.asarray(both.observables["sharpness"][:, 0, 0])) > 1e-3  # the seeds differ
    with pytest.raises(ValueError, match="seed axis"):
        stability.sharpness_vs_lr(
            loss,
            [{"w": jnp.ones((3, 2)), "b": jnp.ones(2)}],
            data,
            lrs,
            steps=20,
            every=10,
            seed_axis=True,
        )


def test_warm_started_tracking_agrees_with_cold_starts_with_fewer_hvps_and_vmaps_over_lrs():
    """Vmapped over two learning rates, every record's top-2 eigenvalues from a warm start (the
    previous record's eigenvectors) equal the cold-started ones to the residual tolerance's accuracy
    (Ritz values err by O(residual^2 / gap), within tol * lambda here), with fewer HVPs in total;
    each lane's run is plain GD p <- p - lr grad L at its own lr."""
    from phasekit.dynamics.stability import track_top_eigenpairs

    x = jax.random.normal(jax.random.key(1), (32, 3))
    data = (x, jnp.sin(2 * x[:, :1]))
    loss = train.mse(mlp.apply, activation="tanh")
    p0 = mlp.init(jax.random.key(0), [3, 12, 1])
    tol, lrs = 1e-4, jnp.array([0.05, 0.1])
    run = jax.jit(
        jax.vmap(
            lambda lr, warm: track_top_eigenpairs(
                loss,
                p0,
                data,
                optax.sgd(lr),
                steps=60,
                every=5,
                k=2,
                tol=tol,
                max_steps=40,
                warm=warm,
            )
        )
    )
    both = run(
        jnp.concatenate([lrs, lrs]), jnp.array([True, True, False, False])
    )  # one program, 4 lanes
    warm, cold = (
        jax.tree_util.tree_map(lambda a: a[sl], both) for sl in (slice(0, 2), slice(2, 4))
    )
    assert warm.values.shape == (2, 13, 2) and warm.num_hvp.shape == (2, 13)
    np.testing.assert_allclose(warm.values, cold.values, rtol=tol)
    assert np.all(np.asarray(warm.residuals) <= tol * np.abs(np.asarray(warm.values)) * 1.001)
    assert int(warm.num_hvp[:, 1:].sum()) < 0.8 * int(cold.num_hvp[:, 1:].sum())

    def gd(lr):
        step = lambda p, _: (
            jax.tree_util.tree_map(lambda a, g: a - lr * g, p, jax.grad(loss)(p, data)),
            None,
        )
        return loss(jax.lax.scan(step, p0, None, length=60)[0], data)

    np.testing.assert_allclose(warm.loss[:, -1], jax.jit(jax.vmap(gd))(lrs), rtol=1e-5)
    np.testing.assert_allclose(warm.trajectory.loss[:, -1], warm.loss[:, -1], rtol=1e-6)
