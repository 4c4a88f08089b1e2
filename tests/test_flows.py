"""phasekit.dynamics.flows: the central flow of GD (Cohen et al. 2025) and gradient flow.

The math checked: Hellmann-Feynman grad S = grad_w (u^T H u) equals a finite difference of S; the
edge complementarity problem's KKT conditions; on a quadratic below 2/eta the central flow is
gradient flow, which is exp(-eta A t) w_0; on L(x, y) = (1/2)(s0 + y) x^2 - alpha y the flow holds
S = 2/eta with sigma^2 = 2 alpha, and GD's long-run time averages of S and x^2 match; with two
such directions the PSD sigma^2 matrix has eigenvalues 2 alpha_1, 2 alpha_2."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from phasekit.dynamics import flows, train
from phasekit.models import mlp
from phasekit.theory import hessian as hs

ETA, ALPHA = 0.02, 0.005
S0 = 2 / ETA + 1


def _toy(p):
    """L(x, y) = (1/2)(s0 + y) x^2 - alpha y: sharpness s0 + y along x, a constant drive up it."""
    return 0.5 * (S0 + p[1]) * p[0] ** 2 - ALPHA * p[1]


def _toy_sharpness(p):
    a = S0 + p[1]
    return 0.5 * (a + jnp.sqrt(a * a + 4 * p[0] ** 2))  # lambda_max of [[a, x], [x, 0]]


def test_hellmann_feynman_gradient_of_the_sharpness_equals_a_finite_difference():
    with jax.enable_x64(True):
        p = mlp.init(jax.random.key(0), [3, 6, 2], dtype=jnp.float64)
        x = jax.random.normal(jax.random.key(1), (16, 3), jnp.float64)
        data = (x, jax.random.normal(jax.random.key(2), (16, 2), jnp.float64))
        loss = train.mse(mlp.apply, activation="tanh")
        theta, unravel = ravel_pytree(p)
        S = lambda t: np.linalg.eigvalsh(np.asarray(hs.hessian(loss, unravel(t), data)))[-1]
        _, U = np.linalg.eigh(np.asarray(hs.hessian(loss, p, data)))
        grad = ravel_pytree(
            hs.curvature_gradient(loss, p, unravel(jnp.asarray(U[:, -1])), data=data)
        )[0]
        eps = 1e-5
        for i in range(3):
            d = jax.random.normal(jax.random.key(10 + i), theta.shape, theta.dtype)
            fd = (S(theta + eps * d) - S(theta - eps * d)) / (2 * eps)
            np.testing.assert_allclose(float(jnp.vdot(grad, d)), fd, rtol=1e-6)


def test_edge_covariance_solves_the_semidefinite_complementarity_problem():
    """X >= 0, D = G(g + (1/2) G^* X) - C >= 0 and <X, D> = 0 (k = 2, random G); k = 1 in closed form."""
    with jax.enable_x64(True):
        _k, M = 2, 7
        A = jax.random.normal(jax.random.key(0), (3, M), jnp.float64)
        Gt = jnp.stack([jnp.stack([A[0], A[1]]), jnp.stack([A[1], A[2]])])  # symmetric in (i, j)
        g = -2.0 * A[0] - 0.5 * A[2] + 0.1 * jax.random.normal(jax.random.key(1), (M,), jnp.float64)
        C = jnp.diag(jnp.array([0.3, -0.2]))
        c, K = Gt @ g, jnp.einsum("ijm,lnm->ijln", Gt, Gt)
        X = np.asarray(flows.edge_covariance(c, K, C, iters=3000))
        D = np.asarray(Gt @ (g + 0.5 * jnp.einsum("ij,ijm->m", X, Gt)) - C)
        assert (
            np.linalg.eigvalsh(X).min() > -1e-10 and np.linalg.eigvalsh(X).max() > 0.1
        )  # an active edge
        assert np.linalg.eigvalsh(0.5 * (D + D.T)).min() > -1e-6
        assert abs(np.sum(X * D)) < 1e-6
        c1, K1 = jnp.array([[0.5]]), jnp.array([[[[4.0]]]])
        np.testing.assert_allclose(
            flows.edge_covariance(c1, K1, jnp.array([[-0.5]])), [[0.0]]
        )  # below: 0
        np.testing.assert_allclose(
            flows.edge_covariance(-c1, K1, jnp.zeros((1, 1))), [[0.25]]
        )  # -2 c / K


def test_central_flow_is_gradient_flow_on_a_quadratic_below_the_edge():
    """L = w^T A w / 2 with lambda_max(A) = 5 < 2 / eta: sigma^2 = 0, so the central flow is gradient
    flow, w(t) = exp(-eta A t) w_0, integrated by Euler to O(dt); records on train.run's schedule."""
    A = jnp.diag(jnp.array([1.0, 3.0, 5.0]))
    loss = lambda w: 0.5 * w @ A @ w
    w0, eta = jnp.array([1.0, -1.0, 0.5]), 0.3
    kw = dict(steps=20, n_records=8, substeps=20, max_lanczos=3, tol=1e-5)
    cf = jax.jit(lambda w: flows.central_flow(loss, w, None, eta, **kw))(w0)
    gf = jax.jit(lambda w: flows.gradient_flow(loss, w, None, eta, **kw))(w0)
    np.testing.assert_array_equal(cf.step, train.record_steps(20, 8))
    np.testing.assert_allclose(cf.loss, gf.loss, rtol=1e-6)
    np.testing.assert_allclose(cf.sigma2, 0.0)
    np.testing.assert_allclose(cf.predicted_loss, cf.loss)
    np.testing.assert_allclose(cf.sharpness[:, 0], 5.0, rtol=1e-5)
    t, lam = np.asarray(cf.step, float)[:, None], np.diag(A)[None, :]
    euler = (1 - eta * lam / 20) ** (20 * t) * np.asarray(w0)  # the scheme, exactly
    exact = np.exp(-eta * lam * t) * np.asarray(w0)  # the flow; Euler is O(dt) off it
    np.testing.assert_allclose(gf.loss, 0.5 * (euler**2 * lam).sum(1), rtol=1e-4)
    bound = (
        20 * eta**2 * np.diag(A)[:2] ** 2 / 20
    )  # |log(Euler / exp)| <= t eta^2 lambda^2 dt (to 2x)
    assert np.all(np.abs(np.log(np.asarray(gf.params)[:2] / exact[-1, :2])) <= bound)


def test_central_flow_holds_the_toy_at_the_edge_and_matches_gds_time_averages():
    """Toy L(x, y) = (1/2)(s0 + y) x^2 - alpha y, eta = 0.02, alpha = 0.005, s0 = 2/eta + 1,
    x0 = 1.2 sqrt(2 alpha), y0 = 0, float64. Flow: S = 2/eta, sigma^2 = 2 alpha, predicted loss
    L + sigma^2 / eta. GD (steps 1e5..2e5): mean S ~ 2/eta, mean x^2 ~ sigma^2 (measured 99.98, 0.01003)."""
    with jax.enable_x64(True):
        p0 = jnp.array([1.2 * np.sqrt(2 * ALPHA), 0.0])
        cf = jax.jit(
            lambda p: flows.central_flow(
                _toy,
                p,
                None,
                ETA,
                steps=1000,
                n_records=11,
                schedule="linear",
                substeps=8,
                max_lanczos=2,
                tol=1e-8,
            )
        )(p0)
        late = slice(2, None)
        np.testing.assert_allclose(cf.sharpness[late, 0], 2 / ETA, rtol=1e-6)
        np.testing.assert_allclose(cf.sigma2[late, 0], 2 * ALPHA, rtol=1e-4)
        np.testing.assert_allclose(
            cf.predicted_loss[late], cf.loss[late] + cf.sigma2[late, 0] / ETA, rtol=1e-6
        )
        assert abs(float(cf.params[0])) < 1e-8  # x has decayed: the flow sits at the time average

        def gd(p, _):
            return p - ETA * jax.grad(_toy)(p), (_toy_sharpness(p), p[0] ** 2)

        _, (S, x2) = jax.jit(lambda p: jax.lax.scan(gd, p, None, length=200_000))(p0)
        S, x2 = np.asarray(S[100_000:]), np.asarray(x2[100_000:])
    assert abs(S.mean() / (2 / ETA) - 1) < 5e-4
    assert abs(x2.mean() / float(cf.sigma2[-1, 0]) - 1) < 0.01


def test_two_directions_at_the_edge_give_a_psd_sigma2_with_eigenvalues_two_alpha_i():
    """L = sum_i (1/2)(s0_i + y_i) x_i^2 - alpha_i y_i with both s0_i > 2/eta: k = 2 tracks both
    (degenerate at 2/eta, so only the PSD matrix X is defined, not its basis); its eigenvalues are
    2 alpha_1, 2 alpha_2 and both top eigenvalues stay at 2/eta."""
    alphas = jnp.array([0.005, 0.002])
    s0 = jnp.array([101.0, 101.5])

    def loss(p):
        x, y = p[:2], p[2:]
        return jnp.sum(0.5 * (s0 + y) * x**2 - alphas * y)

    with jax.enable_x64(True):
        p0 = jnp.array([0.1, 0.05, 0.0, 0.0])
        cf = jax.jit(
            lambda p: flows.central_flow(
                loss,
                p,
                None,
                ETA,
                steps=600,
                n_records=4,
                schedule="linear",
                substeps=8,
                k=2,
                max_lanczos=4,
                tol=1e-9,
            )
        )(p0)
    np.testing.assert_allclose(cf.sharpness[-1], 2 / ETA, rtol=1e-5)
    np.testing.assert_allclose(cf.sigma2[-1], 2 * alphas, rtol=1e-3)


def test_central_flow_vmaps_over_learning_rates_and_records_distance_to_a_reference():
    with jax.enable_x64(True):
        p0 = jnp.array([1.2 * np.sqrt(2 * ALPHA), 0.0])
        lrs = jnp.array([0.02, 0.0199])  # both with 2/lr below s0: at the edge
        ref = jnp.zeros((5, 2))
        kw = dict(
            steps=200,
            n_records=5,
            schedule="linear",
            substeps=8,
            max_lanczos=2,
            tol=1e-8,
            reference=ref,
        )
        both = jax.jit(jax.vmap(lambda lr: flows.central_flow(_toy, p0, None, lr, **kw)))(lrs)
        for i in range(2):
            one = jax.jit(lambda lr: flows.central_flow(_toy, p0, None, lr, **kw))(lrs[i])
            np.testing.assert_allclose(both.loss[i], one.loss, rtol=1e-9)
            np.testing.assert_allclose(both.distance[i], one.distance, rtol=1e-9)
        np.testing.assert_allclose(both.sharpness[:, -1, 0], 2 / lrs, rtol=1e-6)
        np.testing.assert_allclose(both.distance[:, 0], np.linalg.norm(p0), rtol=1e-12)


def test_moving_average_and_bad_arguments():
    np.testing.assert_allclose(
        flows.moving_average(np.array([1.0, 3.0, 1.0, 3.0, 1.0]), 2), [2.0, 2.0, 2.0, 2.0]
    )
    with pytest.raises(ValueError, match="substeps"):
        flows.central_flow(_toy, jnp.ones(2), None, 0.1, steps=10, substeps=0)
    with pytest.raises(ValueError, match="lr"):
        flows.central_flow(_toy, jnp.ones(2), None, -0.1, steps=10)
    with pytest.raises(ValueError, match="max_lanczos"):
        flows.central_flow(_toy, jnp.ones(2), None, 0.1, steps=10, max_lanczos=5)
    with pytest.raises(ValueError, match="reference"):
        flows.central_flow(
            _toy,
            jnp.ones(2),
            None,
            0.1,
            steps=10,
            n_records=3,
            max_lanczos=2,
            reference=jnp.zeros((2, 2)),
        )


def _up_crossings(s, level):
    return np.where((s[:-1] < level) & (s[1:] >= level))[0]


def test_edge_flow_on_the_toy_orbits_the_central_flows_point_with_its_time_averages():
    """Edge flow on L(x, y) = (1/2)(s0 + y) x^2 - alpha y from the center (0, 0) with rho0 = GD's
    initial oscillation x0: (s = eta S - 2, r = rho^2) is a Lotka-Volterra pair, so the model orbits
    (S, rho^2) = (2/eta, 2 alpha) and its averages over whole orbits are exactly those (to the
    Euler error in S); GD on the same toy runs the same cycle (its first period within 5%)."""
    x0 = 1.2 * np.sqrt(2 * ALPHA)
    with jax.enable_x64(True):
        ef = jax.jit(
            lambda p: flows.edge_flow(
                _toy,
                p,
                None,
                ETA,
                steps=50_000,
                n_records=5001,
                schedule="linear",
                substeps=8,
                max_lanczos=2,
                rho0=x0,
                rho_min=1e-250,
            )
        )(jnp.zeros(2))

        def gd(p, _):
            return p - ETA * jax.grad(_toy)(p), _toy_sharpness(p)

        _, S_gd = jax.jit(lambda p: jax.lax.scan(gd, p, None, length=35_000))(jnp.array([x0, 0.0]))
    S, r, step = (np.asarray(a) for a in (ef.sharpness[:, 0], ef.sigma2[:, 0], ef.step))
    up = _up_crossings(S, 2 / ETA)
    assert len(up) >= 2, "at least one whole orbit"
    whole = slice(up[0], up[-1])
    assert abs(S[whole].mean() / (2 / ETA) - 1) < 1e-4  # measured 2e-5 (substeps 8)
    assert abs(r[whole].mean() / (2 * ALPHA) - 1) < 1e-3  # measured 5e-6
    assert np.isfinite(r).all() and r.max() > 10 * 2 * ALPHA > 100 * r.min()  # a wide cycle
    period_ef = step[up[1]] - step[up[0]]
    up_gd = _up_crossings(np.asarray(S_gd), 2 / ETA)
    period_gd = up_gd[1] - up_gd[0]
    assert abs(period_ef / period_gd - 1) < 0.05  # measured 20.5k vs 21.2k GD steps
    np.testing.assert_allclose(ef.predicted_loss, ef.loss + 0.5 * S * r, rtol=1e-6, atol=1e-12)


def test_edge_flow_center_is_gradient_flow_on_a_quadratic_and_rho_decays_at_eta_s_minus_2():
    """L = w^T A w / 2: the averaged gradient (1/2)[A(w + rho u) + A(w - rho u)] = A w for any rho,
    so the center is gradient flow (the same Euler steps); u stays the top eigenvector and
    log rho(t) = log rho0 + t (eta lambda_max - 2) exactly (Euler is exact for a constant rate)."""
    eta, rho0 = 0.3, 0.1
    kw = dict(steps=20, n_records=8, substeps=20, max_lanczos=3, tol=1e-6)
    with jax.enable_x64(True):
        A = jnp.diag(jnp.array([1.0, 3.0, 5.0]))
        loss = lambda w: 0.5 * w @ A @ w
        w0 = jnp.array([1.0, -1.0, 0.5])
        ef = jax.jit(lambda w: flows.edge_flow(loss, w, None, eta, rho0=rho0, **kw))(w0)
        gf = jax.jit(lambda w: flows.gradient_flow(loss, w, None, eta, **kw))(w0)
    np.testing.assert_array_equal(ef.step, train.record_steps(20, 8))
    np.testing.assert_allclose(ef.loss, gf.loss, rtol=1e-10)
    np.testing.assert_allclose(ef.sharpness[:, 0], 5.0, rtol=1e-8)
    t = np.asarray(ef.step, float)
    np.testing.assert_allclose(
        np.log(ef.sigma2[:, 0]) / 2, np.log(rho0) + t * (eta * 5.0 - 2), rtol=1e-8
    )
    np.testing.assert_allclose(ef.num_hvp[1:], np.diff(t) * 20 + 1)


def test_edge_flow_vmaps_over_learning_rates_and_rejects_bad_arguments():
    with jax.enable_x64(True):
        lrs = jnp.array([0.02, 0.0199])
        kw = dict(steps=300, n_records=4, schedule="linear", substeps=4, max_lanczos=2)
        p0 = jnp.array([0.0, 0.0])
        both = jax.jit(jax.vmap(lambda lr: flows.edge_flow(_toy, p0, None, lr, rho0=0.1, **kw)))(
            lrs
        )
        for i in range(2):
            one = jax.jit(lambda lr: flows.edge_flow(_toy, p0, None, lr, rho0=0.1, **kw))(lrs[i])
            np.testing.assert_allclose(both.loss[i], one.loss, rtol=1e-9)
            np.testing.assert_allclose(both.sigma2[i], one.sigma2, rtol=1e-9)
    for bad, match in (
        (dict(substeps=0), "substeps"),
        (dict(rho0=-1.0), "rho0"),
        (dict(rho_min=0.0), "rho_min"),
        (dict(max_lanczos=5), "max_lanczos"),
    ):
        with pytest.raises(ValueError, match=match):
            flows.edge_flow(_toy, jnp.ones(2), None, 0.1, steps=10, **bad)
    with pytest.raises(ValueError, match="lr"):
        flows.edge_flow(_toy, jnp.ones(2), None, -0.1, steps=10)
