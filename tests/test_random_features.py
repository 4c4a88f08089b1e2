"""Random-features regression: the closed forms (min-norm = numpy's lstsq, ridge -> min-norm)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasekit.theory import random_features as rf


def _problem(n=30, n_feat=50, d=6, k=2, seed=0):
    kx, kw, ky = jax.random.split(jax.random.key(seed), 3)
    x = jax.random.normal(kx, (n, d))
    w = jax.random.normal(kw, (n_feat, d)) / np.sqrt(d)
    y = jax.random.normal(ky, (n, k))
    return x, w, y


@pytest.mark.parametrize("n_feat", [12, 50])  # under- and over-parameterized
def test_min_norm_fit_equals_numpy_lstsq(n_feat):
    x, w, y = _problem(n_feat=n_feat)
    phi = rf.relu_features(x, w)
    want = np.linalg.lstsq(np.asarray(phi, np.float64), np.asarray(y, np.float64), rcond=None)[0]
    np.testing.assert_allclose(rf.min_norm_fit(phi, y), want, rtol=2e-3, atol=2e-4)
    if n_feat > x.shape[0]:  # interpolates
        assert float(rf.mse(phi, rf.min_norm_fit(phi, y), y)) < 1e-6


@pytest.mark.parametrize("n_feat", [12, 50])
def test_ridge_tends_to_min_norm_and_solves_its_normal_equations(n_feat):
    with jax.enable_x64(True):
        x, w, y = (jnp.asarray(a, jnp.float64) for a in _problem(n_feat=n_feat))
        phi = rf.relu_features(x, w)
        a0 = rf.min_norm_fit(phi, y)
        gaps = [
            float(jnp.linalg.norm(rf.ridge_fit(phi, y, lam) - a0))
            for lam in (1e-2, 1e-4, 1e-6, 1e-9)
        ]
        assert all(g2 < g1 for g1, g2 in zip(gaps, gaps[1:])) and gaps[-1] < 1e-4 * np.linalg.norm(
            a0
        )
        lam, n = 0.1, x.shape[0]
        a = rf.ridge_fit(phi, y, lam)
        np.testing.assert_allclose(
            phi.T @ (phi @ a - y) / n + lam * a, 0.0, atol=1e-10
        )  # gradient = 0


def test_masked_features_fit_like_the_used_features_alone():
    x, w, y = _problem(n_feat=50)
    mask = rf.feature_mask(20, 50)
    a = rf.min_norm_fit(rf.relu_features(x, w, mask), y)
    a_small = rf.min_norm_fit(rf.relu_features(x, w[:20]), y)
    np.testing.assert_allclose(a[:20], a_small, rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(a[20:], 0.0)
    r = rf.ridge_fit(rf.relu_features(x, w, mask), y, 0.05)
    np.testing.assert_allclose(
        r[:20], rf.ridge_fit(rf.relu_features(x, w[:20]), y, 0.05), rtol=1e-4, atol=1e-5
    )


def test_fit_switches_on_lambda_and_test_error_peaks_at_interpolation():
    x, w, y = _problem(n=40, n_feat=400, d=10)
    phi = rf.relu_features(x, w)
    np.testing.assert_allclose(rf.fit(phi, y, 0.0), rf.min_norm_fit(phi, y))
    np.testing.assert_allclose(rf.fit(phi, y, 0.3), rf.ridge_fit(phi, y, 0.3))
    xt = jax.random.normal(jax.random.key(9), (200, 10))
    yt = jax.random.normal(jax.random.key(8), (200, 2))
    err = jax.jit(
        jax.vmap(lambda m: rf.generalization_error(x, y, xt, yt, w, rf.feature_mask(m, 400)))
    )(jnp.array([10, 40, 400]))
    assert err[1] > err[0] and err[1] > err[2]  # pure-noise labels: the N = n fit is the worst
