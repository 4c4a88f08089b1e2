"""Phase diagram: RD and S_w definitions, the lr rule, and agreement with the theoretical map."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasekit.data import authors_three_points
from phasekit.dynamics import phase
from phasekit.models import two_layer

X, Y = (jnp.asarray(a) for a in authors_three_points())


def test_relative_distance_on_pytrees():
    t0 = {"w": jnp.array([3.0, 0.0]), "b": jnp.array([4.0])}
    t1 = {"w": jnp.array([3.0, 1.0]), "b": jnp.array([4.0])}
    assert float(phase.relative_distance(t1, t0)) == pytest.approx(1 / 5)


def test_scaling_exponent_recovers_power_laws():
    m = np.array([100, 400, 1600, 6400])
    rd = np.stack([2.0 * m**-0.5, 0.1 * m**0.75, 3.0 * m**0.0])
    fit = phase.scaling_exponent(m, rd)
    np.testing.assert_allclose(fit.slope, [-0.5, 0.75, 0.0], atol=1e-12)
    assert not fit.poor_fit.any() and np.allclose(fit.stderr, 0, atol=1e-12)
    noisy = 2.0 * m**-0.5 * np.array([1.0, 3.0, 0.3, 2.0])
    bad = phase.scaling_exponent(m, noisy)
    assert bad.poor_fit and bad.stderr > 0.1
    masked = phase.scaling_exponent(m, noisy, valid=np.array([True, False, False, True]))
    assert masked.n == 2 and masked.slope == pytest.approx(np.log(2.0) / np.log(64) - 0.5)


def test_empirical_boundary_is_the_linear_zero_crossing():
    g = np.array([0.5, 1.0, 1.5])
    s = np.array([[-0.4, -0.5], [-0.1, 0.2], [0.3, 0.4]])
    np.testing.assert_allclose(
        phase.empirical_boundary(g, s), [1.0 + 0.5 * 0.1 / 0.4, 0.5 + 0.5 * 0.5 / 0.7]
    )


def test_learning_rate_rule_uses_the_gauss_newton_trace():
    """tr G = (1/n) sum_i ||grad_theta f(x_i)||^2, checked against autodiff."""
    p = two_layer.rescale(two_layer.init(jax.random.key(0), 50, 1), 0.3, 2.0)
    alpha, eta = 1.7, 0.25
    grads = jax.vmap(
        jax.grad(lambda q, x: two_layer.apply(q, x[None], "relu", alpha)[0]), (None, 0)
    )(p, X)
    trace = sum(float(jnp.sum(g**2)) for g in jax.tree_util.tree_leaves(grads)) / len(X)
    resid = np.abs(np.asarray(two_layer.apply(p, X, "relu", alpha)) - np.asarray(Y))
    c = np.mean(resid * np.sqrt(np.asarray(X)[:, 0] ** 2 + 1)) / alpha
    assert float(phase.learning_rate(p, X, Y, "relu", alpha, eta)) == pytest.approx(
        eta / (trace + c), rel=1e-5
    )


def _rd_star(cfg, points, widths, seed=0):
    key = jax.random.key(seed)
    out = {}
    for m in widths:
        g = jnp.array([p[0] for p in points])
        gp = jnp.array([p[1] for p in points])
        res = jax.jit(jax.vmap(lambda a, b: phase.train_point(a, b, m, key, X, Y, cfg)[0]))(g, gp)
        out[m] = res
    return out


def test_halving_the_learning_rate_does_not_change_rd_star():
    """Gradient flow is approximated: eta -> eta/2 moves RD* by < 2% (linear and condensed)."""
    points = [(0.5, 0.0), (1.75, 0.0), (1.0, 0.5)]
    base = phase.PhaseConfig(widths=(100, 400), max_steps=20_000)
    half = phase.PhaseConfig(widths=(100, 400), max_steps=40_000, eta=base.eta / 2)
    a, b = _rd_star(base, points, [400]), _rd_star(half, points, [400])
    assert bool(a[400]["converged"].all()) and bool(b[400]["converged"].all())
    np.testing.assert_allclose(b[400]["rd_star"], a[400]["rd_star"], rtol=0.02)


def test_ntk_preset_is_linear_regime():
    """NTK preset (alpha = sqrt(m), beta1 = beta2 = 1): RD* decreases with width, S_w <= -0.3
    on the quick widths."""
    cfg = phase.PhaseConfig(widths=(100, 6400), max_steps=10_000)
    widths = (100, 400, 1600, 6400)
    keys = jax.random.split(jax.random.key(7), 2)
    rd = np.zeros((2, len(widths)))
    for j, m in enumerate(widths):
        alpha, b1, b2 = two_layer.preset("ntk", m, 1)
        res = jax.jit(jax.vmap(lambda k: phase.train_network(alpha, b1, b2, m, k, X, Y, cfg)[0]))(
            keys
        )
        assert bool(res["converged"].all())
        rd[:, j] = res["rd_star"]
    assert np.all(np.diff(rd, axis=1) < 0)
    fit = phase.scaling_exponent(widths, np.exp(np.log(rd).mean(0)))
    assert fit.slope <= -0.3


def test_reduced_grid_agrees_with_theory_away_from_the_boundary(tmp_path):
    """sign(S_w) = theoretical regime at every point >= 0.1 from the boundary; gamma = 1.75,
    gamma' = 0 is condensed (S_w > 0). Also checks the Dataset layout and store resume."""
    cfg = phase.PhaseConfig(
        gammas=(0.25, 0.75, 1.25, 1.75),
        gamma_primes=(-0.5, 0.0, 0.75),
        widths=(100, 400, 1600),
        seeds=1,
        max_steps=10_000,
    )
    ds = phase.phase_diagram(X, Y, cfg, store=tmp_path / "store", progress=False)
    assert ds["rd_star"].dims == ("gamma", "gamma_prime", "width", "seed")
    assert ds["rd"].dims[-1] == "record" and ds["S_w"].dims == ("gamma", "gamma_prime")
    agree = phase.agreement(ds, margin=0.1)
    assert agree["n_compared"] >= 10 and agree["disagree"] == [], agree
    assert float(ds["S_w"].sel(gamma=1.75, gamma_prime=0.0)) > 0
    assert float(ds["S_w"].sel(gamma=0.25, gamma_prime=0.0)) < 0
    again = phase.phase_diagram(X, Y, cfg, store=tmp_path / "store", progress=False)
    np.testing.assert_array_equal(again["rd_star"], ds["rd_star"])
    # the same grid computed by the code before the phase diagram's run became the init-scale
    # sweep's (commit d38d749, batching="map"; tests/data/phase_reduced_grid_d38d749.npz): the
    # same runs (steps, converged and final loss bit for bit); RD* to float32 rounding (the
    # norms are now summed per parameter group, a different order of the same terms)
    ref = np.load(Path(__file__).with_name("data") / "phase_reduced_grid_d38d749.npz")
    np.testing.assert_array_equal(ds["steps"].values, ref["steps"])
    np.testing.assert_array_equal(ds["converged"].values, ref["converged"])
    np.testing.assert_array_equal(ds["loss_star"].values, ref["loss_star"])
    np.testing.assert_allclose(ds["rd_star"].values, ref["rd_star"], rtol=1e-6)
    np.testing.assert_allclose(ds["S_w"].values, ref["S_w"], rtol=1e-5, atol=1e-6)


def test_bad_config_raises_value_error_naming_the_field():
    for kwargs, field in [
        ({"widths": (100,)}, "widths"),
        ({"seeds": 0}, "seeds"),
        ({"rel_tol": 2.0}, "rel_tol"),
        ({"eta": -1.0}, "eta"),
        ({"activation": "nope"}, "activation"),
        ({"widths": (100, 101)}, "widths"),
    ]:
        with pytest.raises(ValueError, match=field):
            phase.PhaseConfig(**kwargs)
    with pytest.raises(ValueError, match="y"):
        phase.phase_diagram(X, Y[:2], phase.PhaseConfig())
