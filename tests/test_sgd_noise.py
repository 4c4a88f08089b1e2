"""SGD noise structure: projected gradient covariance, its alignment with H, weight PCA and the
variance-flatness power law, checked on linear regression in closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasekit.theory import landscape, sgd_noise


def _linear_regression(n=20000, noise=0.5, seed=0):
    """y = w*.x + eps, x ~ N(0, S) with S = Q diag(4, 1, 1/4) Q^T; returns data, the OLS minimum,
    the loss and L(w_hat)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    x = rng.normal(size=(n, 3)) * np.sqrt([4.0, 1.0, 0.25]) @ q.T
    y = x @ np.array([1.0, -2.0, 0.5]) + noise * rng.normal(size=n)
    w_hat = np.linalg.lstsq(x, y, rcond=None)[0]

    def loss(w, data):
        return 0.5 * jnp.mean((data[0] @ w - data[1]) ** 2)

    data = (jnp.asarray(x), jnp.asarray(y))
    return data, jnp.asarray(w_hat), loss, float(loss(jnp.asarray(w_hat), data))


def test_projected_covariance_is_the_projected_sample_covariance():
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        g = rng.normal(size=(50, 7)) @ rng.normal(size=(7, 7))
        v = np.linalg.qr(rng.normal(size=(7, 3)))[0].T  # [3, 7] orthonormal rows
        want = v @ np.cov(g, rowvar=False, bias=True) @ v.T
        np.testing.assert_allclose(sgd_noise.projected_covariance(g, v), want, rtol=1e-12)
        with pytest.raises(ValueError, match="basis"):
            sgd_noise.projected_covariance(g, v[:, :5])


def test_covariance_alignment_is_one_for_sigma_proportional_to_h_and_known_for_isotropic():
    lam = jnp.array([5.0, 2.0, 1.0, 0.5])
    assert float(sgd_noise.covariance_alignment(0.3 * jnp.diag(lam), lam)) == pytest.approx(1.0)
    iso = float(sgd_noise.covariance_alignment(jnp.eye(4), lam))
    assert iso == pytest.approx(float(lam.sum() / (2.0 * jnp.linalg.norm(lam))), rel=1e-6)
    assert iso < 0.9


def test_gradient_covariance_of_linear_regression_is_two_l_times_the_hessian():
    # at the minimum g_i = -eps_i x_i: Sigma = s^2 S = 2 L H (sampling error ~ sqrt(8 / n) = 2%)
    with jax.enable_x64(True):
        data, w_hat, loss, L = _linear_regression()
        out = sgd_noise.gradient_noise(loss, w_hat, data, k=3, num_random=4, num_steps=3)
        lam = np.asarray(out.eigenvalues)
        np.testing.assert_allclose(lam, [4.0, 1.0, 0.25], rtol=0.05)  # H = X^T X / n ~ S
        np.testing.assert_allclose(out.variance, 2 * L * lam, rtol=0.08)
        off = np.asarray(out.covariance) - np.diag(np.diagonal(out.covariance))
        assert np.abs(off).max() < 0.05 * 2 * L * lam[0]
        assert float(out.alignment) > 0.99
        # isotropic reference: tr(Sigma) / P = 2 L tr(H) / P
        assert float(out.mean_variance) == pytest.approx(2 * L * lam.sum() / 3, rel=0.08)
        assert np.all(out.random_variance < out.variance[0])


def test_variance_flatness_exponent_of_a_quadratic_is_two():
    # L(w + s p) = L + lambda s^2 / 2 reaches e L at s = sqrt(2 (e - 1) L / lambda):
    # F = 2 sqrt(2 (e - 1) L / lambda), and sigma^2 = 2 L lambda ~ F^-2
    with jax.enable_x64(True):
        data, w_hat, loss, L = _linear_regression()
        out = sgd_noise.gradient_noise(loss, w_hat, data, k=3, num_random=1, num_steps=3)
        evecs = np.linalg.eigh(np.asarray(data[0]).T @ np.asarray(data[0]) / data[0].shape[0])[1]
        F = np.array(
            [
                float(landscape.direction_flatness(loss, w_hat, jnp.asarray(v), data, max_step=5.0))
                for v in evecs.T[::-1]
            ]
        )
        np.testing.assert_allclose(F, 2 * np.sqrt(2 * (np.e - 1) * L / out.eigenvalues), rtol=1e-4)
        fit = sgd_noise.power_law_exponent(F, out.variance)
        assert fit.psi == pytest.approx(2.0, abs=0.1)
        assert fit.r < -0.99


def test_power_law_exponent_recovers_psi_and_drops_bad_pairs():
    x = np.array([1.0, 2.0, 4.0, 8.0, 0.0, np.inf])
    y = 3.0 * np.where(x > 0, x, 1.0) ** -4.0
    fit = sgd_noise.power_law_exponent(x, y)
    assert fit.psi == pytest.approx(4.0)
    assert fit.c == pytest.approx(np.log(3.0))
    assert fit.r == pytest.approx(-1.0)
    assert np.isnan(sgd_noise.power_law_exponent([1.0, 1.0], [2.0, 3.0]).psi)


def test_weight_pca_recovers_the_variances_of_orthogonal_fluctuations():
    with jax.enable_x64(True):
        e1, e2, mean = np.eye(5)[0], np.eye(5)[3], np.arange(5.0)
        a, b = 3.0 * np.array([1, -1, 1, -1]), np.array([1, 1, -1, -1])
        snaps = mean + a[:, None] * e1 + b[:, None] * e2
        out = sgd_noise.weight_pca(snaps, 2)
        np.testing.assert_allclose(out.mean, mean, atol=1e-12)
        np.testing.assert_allclose(out.variance, [9.0, 1.0], rtol=1e-12)
        np.testing.assert_allclose(np.abs(out.directions), np.stack([e1, e2]), atol=1e-12)
        with pytest.raises(ValueError, match="k"):
            sgd_noise.weight_pca(snaps, 5)


def test_detrended_weight_pca_removes_a_linear_drift_exactly():
    # fluctuations orthogonal to 1 and t in time: the detrended PCA sees only them
    with jax.enable_x64(True):
        t = np.arange(4.0)
        a, b = (
            np.array([1.0, -1, -1, 1]),
            np.array([1.0, -3, 3, -1]),
        )  # a.1 = a.t = b.1 = b.t = a.b = 0
        e = np.eye(6)
        snaps = 1.0 + 10.0 * t[:, None] * e[5] + 3.0 * a[:, None] * e[0] + b[:, None] * e[2]
        raw = sgd_noise.weight_pca(snaps, 2)
        np.testing.assert_allclose(np.abs(raw.directions[0]), e[5], atol=1e-12)  # the drift
        out = sgd_noise.weight_pca(snaps, 2, detrend=True)
        np.testing.assert_allclose(out.variance, [9.0, 5.0], rtol=1e-12)
        np.testing.assert_allclose(np.abs(out.directions), np.stack([e[0], e[2]]), atol=1e-12)
        np.testing.assert_allclose(out.mean, snaps.mean(0), atol=1e-12)
