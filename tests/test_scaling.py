"""Power-law fits with bootstrap intervals and the compute-optimal frontier (spec 07, scaling)."""

import numpy as np
import pytest

from phasekit.theory import scaling

N = np.array([8, 16, 32, 64, 128, 256, 512.0])


def test_fit_recovers_planted_power_law_within_its_interval():
    E, A, alpha = 0.05, 3.0, 0.7
    rng = np.random.default_rng(0)
    loss = scaling.power_law(N, E, A, alpha) * np.exp(0.03 * rng.standard_normal((16, N.size)))
    f = scaling.fit_power_law(N, loss, n_boot=200)
    for name, true in (("E", E), ("A", A), ("alpha", alpha)):
        lo, hi = f.interval[name]
        assert lo <= true <= hi, (name, lo, true, hi)
        assert hi - lo < 0.2 * true  # informative, not vacuous
    assert f.r2_log > 0.99


def test_noiseless_fit_is_exact_and_pure_law_without_offset():
    f = scaling.fit_power_law(N, scaling.power_law(N, 0.1, 2.0, 0.5), n_boot=0)
    assert (f.E, f.A, f.alpha) == pytest.approx((0.1, 2.0, 0.5), rel=1e-4)
    assert np.isnan(f.interval["alpha"][0])  # one curve: no seeds to resample
    g = scaling.fit_power_law(N, 5.0 * N**-1.3, offset=False, n_boot=0)
    assert (g.E, g.A, g.alpha) == pytest.approx((0.0, 5.0, 1.3), rel=1e-6)
    assert g.r2_log == pytest.approx(1.0)


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="loss"):
        scaling.fit_power_law(N[:2], np.ones(2))
    with pytest.raises(ValueError, match="loss"):
        scaling.fit_power_law(N, -np.ones(N.size))


def test_frontier_is_the_lower_envelope_of_a_chinchilla_grid():
    # L = E + A N^-a + B D^-b: the frontier's loss falls with compute and N_opt grows with it
    Np = np.geomspace(10, 1e4, 10)
    D = np.geomspace(10, 1e4, 10)
    loss = 0.1 + 5 * Np[:, None] ** -0.5 + 5 * D[None, :] ** -0.5
    fr = scaling.compute_frontier(Np, D, loss)
    assert np.all(np.diff(fr.compute) > 0) and np.all(np.diff(fr.loss) < 0)
    C = 6 * Np[:, None] * D[None, :]
    for c, l in zip(fr.compute, fr.loss):  # no grid point of at most this compute does better
        assert loss[C <= c * (1 + 1e-12)].min() == pytest.approx(l)
    assert fr.slope < 0 and fr.n_slope > 0
    # symmetric exponents: the optimal N grows like C^(1/2) in the continuum
    assert fr.n_slope == pytest.approx(0.5, abs=0.15)


def test_loglog_slope_of_a_power():
    assert scaling.loglog_slope(N, 3 * N**1.7) == pytest.approx(1.7)


def test_masked_max_width_student_trains_exactly_like_a_width_n_net():
    # the scaling experiment's traced width: units j >= N masked to 0, output weights scaled by
    # sqrt(N_max / N); Adam is coordinate-wise, so the active units follow the width-N net's path
    import jax
    import jax.numpy as jnp
    import optax

    from phasekit.dynamics import lottery, train
    from phasekit.experiments.scaling import _student_mask
    from phasekit.models import mlp

    n_max, n, d = 8, 3, 4
    x = jax.random.normal(jax.random.key(0), (32, d))
    y = jnp.sin(x[:, 0])
    unit = mlp.init(jax.random.key(1), [d, n_max, 1])
    mask = _student_mask(unit, n, n_max)
    unit[1]["w"] = unit[1]["w"] * jnp.sqrt(n_max / n)
    small = [
        {"w": unit[0]["w"][:, :n], "b": unit[0]["b"][:n]},
        {"w": unit[1]["w"][:n], "b": unit[1]["b"]},
    ]
    loss = train.mse(mlp.apply, activation="tanh")
    big = train.run(
        loss,
        lottery.apply_mask(unit, mask),
        (x, y),
        lottery.masked(optax.adam(1e-2), mask),
        steps=30,
    )
    ref = train.run(loss, small, (x, y), optax.adam(1e-2), steps=30)
    np.testing.assert_allclose(big.loss, ref.loss, rtol=1e-5)
    np.testing.assert_allclose(big.params[1]["w"][:n], ref.params[1]["w"], rtol=1e-5, atol=1e-7)
    assert np.all(np.asarray(big.params[1]["w"][n:]) == 0) and np.all(
        np.asarray(big.params[0]["w"][:, n:]) == 0
    )
