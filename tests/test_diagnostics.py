"""phasekit.theory.diagnostics and the course's training tools: the closed forms they state."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from phasekit.dynamics import regularization as reg
from phasekit.dynamics import stateful, train
from phasekit.models import mlp
from phasekit.models import normalized_mlp as nmlp
from phasekit.theory import diagnostics as dg


def _scaled_mlp(key, sizes, std):
    """mlp with every weight ~ N(0, std^2) (biases 0)."""
    p = mlp.init(key, sizes, scheme="lecun")
    return [{"w": layer["w"] * std * np.sqrt(layer["w"].shape[0]), "b": layer["b"]} for layer in p]


@pytest.mark.parametrize("gain", [2.0, 0.05])
def test_relu_variance_recursion_on_a_wide_net_at_init(gain):
    """Var[z_l] / Var[z_{l-1}] = n sigma_w^2 / 2 for ReLU (He, n sigma^2 = 2: ratio 1; a small
    init: ratio gain / 2), within 4 standard errors over 16 independent nets."""
    n, depth, seeds = 512, 4, 16
    std = np.sqrt(gain / n)
    x = jax.random.normal(jax.random.key(1), (128, n))

    def pre_var(key):
        return dg.mlp_activation_statistics(_scaled_mlp(key, [n] * (depth + 1), std), x, "relu")[
            "pre_var"
        ]

    q = np.asarray(jax.jit(jax.vmap(pre_var))(jax.random.split(jax.random.key(0), seeds)))
    ratio = q[:, 1:] / q[:, :-1]  # [seeds, depth - 1]
    mean, sem = ratio.mean(0), ratio.std(0, ddof=1) / np.sqrt(seeds)
    assert np.all(np.abs(mean - gain / 2) < 4 * sem), (mean, sem)
    assert np.all(sem < 0.05 * gain / 2)  # the check is tight: a 10% error would fail it
    pred = np.asarray(dg.variance_recursion("relu", q[:, 0].mean(), np.full(depth - 1, gain)))
    np.testing.assert_allclose(q.mean(0), pred, rtol=0.05)


def test_variance_map_quadrature_closed_forms():
    q = jnp.array([0.01, 1.0, 4.0])
    np.testing.assert_allclose(dg.variance_map("relu", q, 2.0), q, rtol=1e-3)  # He: fixed point
    np.testing.assert_allclose(dg.variance_map("identity", q, 3.0), 3 * q, rtol=1e-6)
    # tanh(z)^2 = z^2 - 2 z^4 / 3 + ...: E = q - 2 q^2 for small q
    np.testing.assert_allclose(dg.variance_map("tanh", 1e-3, 1.0), 1e-3 - 2e-6, rtol=1e-4)


def test_flax_capture_intermediates_statistics_match_the_layer_outputs():
    m = nmlp.MLP((8, 8), activation="tanh")
    x = jax.random.normal(jax.random.key(0), (32, 3))
    params, _ = nmlp.init(jax.random.key(1), m, 3)
    stats = dg.flax_activation_statistics(m, {"params": params}, x, train=False)
    z0 = x @ params["Dense_0"]["kernel"] + params["Dense_0"]["bias"]
    np.testing.assert_allclose(stats["Dense_0"]["std"], jnp.std(z0), rtol=1e-5)
    np.testing.assert_allclose(
        stats[""]["mean"], jnp.mean(m.apply({"params": params}, x)), rtol=1e-5
    )
    norms = dg.named_gradient_norms(lambda p: jnp.sum(m.apply({"params": p}, x) ** 2), params)
    assert set(norms) == {f"['Dense_{i}']['{k}']" for i in range(3) for k in ("bias", "kernel")}


def _quadratic(spectrum):
    return lambda x, data: 0.5 * jnp.sum(spectrum * x**2)


def _dist_run(loss, x0, opt, steps):
    traj = train.run(
        loss,
        x0,
        (jnp.zeros((1, 1)),),
        opt,
        steps=steps,
        record_at=np.arange(steps + 1),
        observe=lambda x: {"dist": jnp.linalg.norm(x)},
        diverge_factor=None,
    )
    return traj.step, traj.observables["dist"]


@pytest.mark.parametrize("kappa", [10.0, 100.0])
def test_gd_rate_on_a_quadratic_is_kappa_minus_one_over_kappa_plus_one(kappa):
    s = dg.quadratic_spectrum(kappa, 8)
    x0 = jnp.ones(8)
    steps, dist = _dist_run(_quadratic(s), x0, optax.sgd(dg.gd_optimal_lr(1.0, kappa)), 400)
    assert abs(float(dg.contraction_rate(steps, dist)) - float(dg.gd_rate(kappa))) < 1e-3
    # a smaller step is slower: the measured rate is not the formula by construction
    steps, dist = _dist_run(_quadratic(s), x0, optax.sgd(0.5 / kappa), 400)
    assert float(dg.contraction_rate(steps, dist)) > float(dg.gd_rate(kappa)) + 1e-2


def test_tuned_heavy_ball_rate_on_a_quadratic():
    kappa = 100.0
    s = dg.quadratic_spectrum(kappa, 8)
    lr, beta = dg.heavy_ball_tuning(1.0, kappa)
    steps, dist = _dist_run(_quadratic(s), jnp.ones(8), optax.sgd(lr, momentum=beta), 600)
    r = float(dg.contraction_rate(steps, dist, jordan=True))
    assert abs(r - float(dg.heavy_ball_rate(kappa))) < 2e-3
    assert r < float(dg.gd_rate(kappa)) - 0.1


def _small_model():
    x = jax.random.normal(jax.random.key(0), (24, 3))
    y = jnp.sin(x[:, 0])
    p = mlp.init(jax.random.key(1), [3, 5, 1], bias_std=0.1)
    return train.mse(mlp.apply, activation="tanh"), p, (x, y)


def test_b_simple_equals_a_brute_force_covariance():
    loss, p, (x, y) = _small_model()
    ns = dg.gradient_noise_scale(loss, p, (x, y))
    grad = jax.jit(lambda p, xi, yi: jax.flatten_util.ravel_pytree(jax.grad(loss)(p, (xi, yi)))[0])
    g = np.stack(
        [np.asarray(grad(p, x[i : i + 1], y[i : i + 1])) for i in range(x.shape[0])]
    )  # one sample at a time
    full = np.asarray(jax.flatten_util.ravel_pytree(jax.grad(loss)(p, (x, y)))[0])
    np.testing.assert_allclose(
        g.mean(0), full, rtol=1e-4, atol=1e-7
    )  # G is the full-batch gradient
    tr = np.trace(np.cov(g.T, bias=True))
    np.testing.assert_allclose(ns.trace_sigma, tr, rtol=1e-4)
    np.testing.assert_allclose(ns.b_simple, tr / np.sum(full**2), rtol=1e-4)


@pytest.mark.slow
def test_two_batch_estimator_recovers_b_simple():
    """E|G_B|^2 = |G|^2 + tr(Sigma) / B for batches drawn with replacement."""
    loss, p, data = _small_model()
    ns = dg.gradient_noise_scale(loss, p, data)
    sq = dg.batch_gradient_sq_norms(loss, p, data, 4, 20000, jax.random.key(2)).mean()
    np.testing.assert_allclose(sq, ns.grad_sq_norm + ns.trace_sigma / 4, rtol=0.03)
    est = dg.estimated_noise_scale(loss, p, data, 2, 16, 20000, jax.random.key(3))
    np.testing.assert_allclose(est.b_simple, ns.b_simple, rtol=0.1)


def test_steps_epochs_fit_recovers_the_tradeoff():
    b = np.array([1, 2, 4, 8, 16, 64, 256])
    s_min, b_crit = 50.0, 12.0
    fit = dg.steps_epochs_fit(b, s_min * (1 + b_crit / b))
    np.testing.assert_allclose(fit, (s_min, s_min * b_crit, b_crit), rtol=1e-6)


def test_gradient_direction_on_a_quadratic():
    a = jnp.array([1.0, 4.0])
    loss = lambda w, data: 0.5 * jnp.sum(a * w**2)
    w = jnp.array([1.0, 1.0])
    etas = jnp.array([0.1, 0.2, 0.4])
    d = dg.gradient_direction(loss, w, None, etas)
    g = a * w
    np.testing.assert_allclose(d.loss, jax.vmap(lambda e: loss(w - e * g, None))(etas), rtol=1e-6)
    np.testing.assert_allclose(
        d.grad_change, etas * jnp.linalg.norm(a * g), rtol=1e-6
    )  # g(w) - g(w - eta g) = eta A g
    np.testing.assert_allclose(
        dg.effective_smoothness(d, etas), jnp.linalg.norm(a * g) / jnp.linalg.norm(g), rtol=1e-6
    )
    assert float(dg.loss_variation(d)) == pytest.approx(float(d.loss.max() - d.loss.min()))


def _least_squares():
    x = jax.random.normal(jax.random.key(0), (64, 6)) * jnp.array([3.0, 2.0, 1.0, 0.5, 0.3, 0.1])
    y = x @ jnp.arange(1.0, 7.0) + 0.1 * jax.random.normal(jax.random.key(1), (64,))
    return x, y


def test_early_stopping_and_ridge_filters_match_training():
    with jax.enable_x64(True):
        x, y = _least_squares()
        x, y = x.astype(jnp.float64), y.astype(jnp.float64)
        ls = dg.least_squares_spectrum(x, y)
        loss = lambda w, data: 0.5 * jnp.mean((data[0] @ w - data[1]) ** 2)
        lr, t = 0.9 / float(ls.s[-1]), 50
        w = train.run(loss, jnp.zeros(6), (x, y), optax.sgd(lr), steps=t).params
        np.testing.assert_allclose(
            dg.measured_filter(ls, w), dg.early_stopping_filter(ls.s, lr, t), rtol=1e-8, atol=1e-10
        )
        lam = 0.05
        w = train.run(loss, jnp.zeros(6), (x, y), reg.l2_sgd(lr, lam), steps=20000).params
        np.testing.assert_allclose(dg.measured_filter(ls, w), dg.ridge_filter(ls.s, lam), rtol=1e-6)
        np.testing.assert_allclose(
            w, jnp.linalg.solve(x.T @ x / 64 + lam * jnp.eye(6), x.T @ y / 64), rtol=1e-6
        )
        # matched at lambda = 1 / (eta t): both pass large s and stop small s
        phi_gd, phi_r = (
            dg.early_stopping_filter(ls.s, lr, t),
            dg.ridge_filter(ls.s, dg.matched_ridge(lr, t)),
        )
        assert float(jnp.max(jnp.abs(phi_gd - phi_r))) < 0.25


def test_ista_solves_the_lasso_with_an_orthonormal_design():
    """X^T X / n = I: the lasso solution is the soft-thresholded OLS solution."""
    q, _ = jnp.linalg.qr(jax.random.normal(jax.random.key(0), (40, 5)))
    x = q * jnp.sqrt(40.0)
    c = jnp.array([2.0, -1.0, 0.3, -0.05, 0.0])
    y = x @ c
    loss = lambda w, data: 0.5 * jnp.mean((data[0] @ w - data[1]) ** 2)
    w = train.run(loss, jnp.full(5, 0.5), (x, y), reg.proximal_sgd(0.5, 0.2), steps=200).params
    np.testing.assert_allclose(w, reg.soft_threshold(c, 0.2), atol=1e-5)
    assert float(reg.sparsity(w, 1e-6)) == pytest.approx(
        2 / 5
    )  # -0.05 and 0 are thresholded to zero


def test_batchnorm_eval_mode_uses_the_running_statistics():
    m = nmlp.MLP((16, 16), batch_norm=True, momentum=0.5)
    x = 3.0 + 2.0 * jax.random.normal(jax.random.key(0), (64, 4))
    params, bs = nmlp.init(jax.random.key(1), m, 4)
    y = jnp.zeros(64)
    loss = stateful.flax_loss(m)
    _, bs1 = loss(params, bs, (x, y))
    z0 = x @ params["Dense_0"]["kernel"]
    np.testing.assert_allclose(
        bs1["BatchNorm_0"]["mean"], 0.5 * 0.0 + 0.5 * z0.mean(0), rtol=1e-5, atol=1e-6
    )
    traj = stateful.run(
        loss,
        params,
        bs,
        (x, y),
        optax.sgd(0.01),
        steps=4,
        every=2,
        batch_size=16,
        key=jax.random.key(2),
    )
    v = {"params": traj.params, "batch_stats": traj.state}
    a, b = x[:8], jnp.concatenate([x[:1], x[40:47]])
    ev = lambda xb: m.apply(v, xb, train=False)
    np.testing.assert_allclose(ev(a)[0], ev(b)[0], rtol=1e-6)  # independent of the batch
    np.testing.assert_allclose(ev(a)[0], ev(x[:1])[0], rtol=1e-6)
    tr = lambda xb: m.apply(v, xb, train=True, mutable=["batch_stats"])[0]
    assert abs(float(tr(a)[0] - tr(b)[0])) > 1e-4  # training mode: batch statistics
    # eval BN layer 0 = (z - running mean) / sqrt(running var + eps) * scale + bias
    st = traj.state["BatchNorm_0"]
    z = a @ traj.params["Dense_0"]["kernel"]
    bn = (z - st["mean"]) / jnp.sqrt(st["var"] + 1e-5) * traj.params["BatchNorm_0"][
        "scale"
    ] + traj.params["BatchNorm_0"]["bias"]
    stats = dg.flax_activation_statistics(m, v, a, train=False)
    np.testing.assert_allclose(stats["BatchNorm_0"]["std"], jnp.std(bn), rtol=1e-4)
    np.testing.assert_allclose(stats["BatchNorm_0"]["mean"], jnp.mean(bn), rtol=1e-4, atol=1e-6)


def test_stateful_run_without_state_equals_train_run():
    m = nmlp.MLP((8,), activation="tanh")
    x = jax.random.normal(jax.random.key(0), (32, 3))
    y = jnp.sin(x[:, 0])
    params, bs = nmlp.init(jax.random.key(1), m, 3)
    traj = stateful.run(
        stateful.flax_loss(m), params, bs, (x, y), optax.sgd(0.1), steps=20, every=5
    )
    ref = train.run(
        train.mse(lambda p, x: m.apply({"params": p}, x, train=False)),
        params,
        (x, y),
        optax.sgd(0.1),
        steps=20,
    )
    np.testing.assert_allclose(
        jax.flatten_util.ravel_pytree(traj.params)[0],
        jax.flatten_util.ravel_pytree(ref.params)[0],
        rtol=1e-5,
        atol=1e-6,
    )
    assert not bool(traj.diverged)
    bad = stateful.run(stateful.flax_loss(m), params, bs, (x, y), optax.sgd(1e4), steps=20, every=5)
    assert bool(bad.diverged) and np.all(np.isfinite(jax.flatten_util.ravel_pytree(bad.params)[0]))
