"""Linearized training: kernel-GD closed form, and f vs f_lin in the linear and condensed regimes."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from phasekit.dynamics import linearization, train
from phasekit.models import two_layer
from phasekit.theory import ntk
from phasekit.theory import ntk_analytic as na

X = jnp.array([[-0.5], [0.0], [0.5]])
Y = jnp.array([-0.5, 0.0, 1.0])  # the authors' three-point 1-D data set
GRID = jnp.linspace(-1, 1, 41)[:, None]


def test_gd_on_linearized_model_follows_closed_form():
    """f_t - y = (I - lr Theta/n)^t (f_0 - y) on train points; f_t(X) by the kernel extension."""
    m, steps, lr = 64, 400, 0.5
    alpha, beta1, beta2 = two_layer.preset("ntk", m, 1)
    params = two_layer.rescale(two_layer.init(jax.random.key(0), m, 1), beta1, beta2)
    f = functools.partial(two_layer.apply, alpha=alpha)
    f_lin = ntk.linearize(f, params)
    times = np.array([0, 1, 10, 100, steps])
    run = jax.jit(
        lambda p: train.run(
            train.mse(f_lin),
            p,
            (X, Y),
            optax.sgd(lr),
            steps=steps,
            record_at=times,
            observe=lambda q: {"train": f_lin(q, X), "test": f_lin(q, GRID)},
        )
    )
    traj = run(params)
    pred = jax.jit(
        lambda p: na.predict_gd_mse(
            ntk.empirical_ntk(f, p, X),
            Y,
            f(p, X),
            lr,
            times,
            ntk.empirical_ntk(f, p, GRID, X),
            f0_test=f(p, GRID),
        )
    )(params)
    assert pred.train.shape == (len(times), 3) and pred.test.shape == (len(times), 41)
    np.testing.assert_allclose(pred.train, traj.observables["train"], atol=2e-5)
    np.testing.assert_allclose(pred.test, traj.observables["test"], atol=2e-5)
    assert (
        float(jnp.max(jnp.abs(traj.observables["train"][0] - traj.observables["train"][-1]))) > 0.3
    )  # it moved


def test_closed_form_limits():
    """t -> inf: f -> y on train and kernel regression f0 + K(X,x) K^-1 (y - f0) on test;
    gradient flow = GD for a small learning rate; a zero mode grows like lr t / n."""
    rng = np.random.default_rng(3)
    a = rng.normal(size=(5, 5)).astype(np.float32)
    kernel = a @ a.T + 0.5 * np.eye(5, dtype=np.float32)
    cross = rng.normal(size=(3, 5)).astype(np.float32)
    y, f0 = np.arange(5.0, dtype=np.float32), np.ones(5, np.float32)

    @jax.jit
    def cases():
        times = jnp.array([500.0, 5000.0])
        return (
            na.predict_gd_mse(kernel, y, f0, 0.1, 1e6, cross, f0_test=jnp.zeros(3)),
            na.predict_gd_mse(kernel, y, f0, 1e-4, times).train,
            na.predict_gd_mse(kernel, y, f0, 1e-4, times, flow=True).train,
            na.predict_gd_mse(
                jnp.diag(jnp.array([2.0, 0.0])),
                jnp.ones(2),
                jnp.zeros(2),
                0.1,
                10.0,
                jnp.array([[0.0, 1.0]]),
            ),
        )

    late, gd, flow, null = cases()
    np.testing.assert_allclose(late.train, y, atol=1e-4)
    np.testing.assert_allclose(
        late.test, cross @ np.linalg.solve(kernel, y - f0), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(gd, flow, rtol=1e-3)
    # kernel diag(2, 0), n = 2: mode 1 never moves on train; the test point coupled to it by
    # Theta(X, x) = (0, 1) gets Theta^-1 (1 - S_t) -> lr t / n = 0.5 times the residual 1
    np.testing.assert_allclose(null.train, [1.0 - (1.0 - 0.1) ** 10, 0.0], rtol=1e-5)
    np.testing.assert_allclose(null.test, [0.5], rtol=1e-5)
    with pytest.raises(ValueError, match="ntk_train_train"):
        na.predict_gd_mse(jnp.ones((3, 2)), y, f0, 0.1, 1.0)
    with pytest.raises(ValueError, match="y"):
        na.predict_gd_mse(kernel, y[:4], f0[:4], 0.1, 1.0)


def test_pair_training_equals_separate_training():
    """The pair (theta, theta_lin) under Adam moves each model exactly as training it alone."""
    params = two_layer.rescale(two_layer.init(jax.random.key(1), 16, 1), 0.5, 1.0)
    f = functools.partial(two_layer.apply, alpha=1.0)
    opt = optax.adam(1e-2)
    pair = linearization.train_with_linearization(f, params, (X, Y), opt, steps=50, n_records=5)
    alone = train.run(train.mse(f), params, (X, Y), opt, steps=50, n_records=5)
    alone_lin = train.run(
        train.mse(ntk.linearize(f, params)), params, (X, Y), opt, steps=50, n_records=5
    )
    np.testing.assert_allclose(pair.observables["loss_net"], alone.loss, rtol=1e-5)
    np.testing.assert_allclose(pair.observables["loss_lin"], alone_lin.loss, rtol=1e-5)
    gap = jnp.sqrt(
        jnp.mean((f(pair.params[0], X) - ntk.linearize(f, params)(pair.params[1], X)) ** 2)
    )
    np.testing.assert_allclose(pair.observables["gap"][-1], gap, rtol=1e-5)


def _max_gap(alpha, beta1, beta2, width, lr, steps):
    params = two_layer.rescale(
        two_layer.init(jax.random.key(0), width, 1, antisymmetric=True), beta1, beta2
    )
    f = functools.partial(two_layer.apply, alpha=alpha)
    run = jax.jit(
        lambda p: linearization.train_with_linearization(
            f,
            p,
            (X, Y),
            optax.sgd(lr),
            steps=steps,
            x_eval=GRID,
            input_weights=two_layer.input_weights,
            n_records=20,
        )
    )
    traj = run(params)
    return float(traj.observables["gap_rel"].max()), traj


def test_linear_regime_stays_linear_condensed_does_not():
    """NTK preset, m = 2000: f ~ f_lin along training (gap < 3% of the output scale, RD small);
    condensed point (gamma, gamma') = (1.5, 0): the gap reaches the output scale (> 50%)."""
    m = 2000
    gap_linear, traj_linear = _max_gap(*two_layer.preset("ntk", m, 1), m, lr=1.0, steps=2000)
    assert gap_linear < 0.03
    assert float(traj_linear.observables["loss_net"][-1]) < 1e-6  # it did fit the data
    assert float(traj_linear.observables["rd"][-1]) < 0.05
    gamma, gamma_prime = 1.5, 0.0
    beta1, beta2 = m ** (-(gamma + gamma_prime) / 2), m ** ((gamma_prime - gamma) / 2)
    gap_condensed, traj_condensed = _max_gap(1.0, beta1, beta2, m, lr=1.0, steps=20000)
    assert float(traj_condensed.observables["loss_net"][-1]) < 1e-6
    assert gap_condensed > 0.5
    assert float(traj_condensed.observables["rd"][-1]) > 1.0


def test_frequency_rank_correlation_is_spearman_with_ties():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for _ in range(5):
        freq = rng.integers(0, 6, size=30) / 2.0  # many ties, like DFT bins
        expected = scipy_stats.spearmanr(np.arange(30), freq)[0]
        np.testing.assert_allclose(
            na.frequency_rank_correlation(jnp.asarray(freq), 30), expected, rtol=1e-5
        )
    np.testing.assert_allclose(na.frequency_rank_correlation(jnp.arange(40.0), 30), 1.0, rtol=1e-6)
    np.testing.assert_allclose(
        na.frequency_rank_correlation(-jnp.arange(40.0), 10), -1.0, rtol=1e-6
    )


def test_relative_kernel_error():
    k = jnp.array([[2.0, 1.0], [1.0, 2.0]])
    np.testing.assert_allclose(na.relative_kernel_error(1.1 * k, k), 0.1, rtol=1e-5)
    np.testing.assert_allclose(
        na.relative_kernel_error(k + jnp.eye(2), k), np.sqrt(2 / 10), rtol=1e-5
    )
