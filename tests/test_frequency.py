"""Frequency principle: spectra, Delta_F, convergence steps, high-dim methods, L_grad (spec 04)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from phasekit.dynamics import frequency as F
from phasekit.dynamics import losses, train
from phasekit.models import mlp, toys, two_layer

KEY = jax.random.key(0)


def grid(n, lo=-np.pi, length=2 * np.pi):
    return lo + length * np.arange(n) / n


# ----------------------------------------------------------------------------- spectra


def test_dft_recovers_planted_frequencies_and_amplitudes_exactly():
    # y = c0 + sum_j A_j cos(k_j x + phi_j) on a uniform grid of [-pi, pi): the one-sided
    # amplitude is c0 at bin 0, A_j at bin k_j (any phase) and 0 elsewhere, to rounding.
    n, ks, amps, phis = (
        128,
        np.array([1, 4, 9, 30]),
        np.array([1.0, 0.3, 2.5, 0.05]),
        np.array([0.0, 1.0, -2.0, 0.5]),
    )
    x = grid(n)
    y = 0.7 + np.cos(np.outer(x, ks) + phis) @ amps
    with jax.enable_x64(True):
        amp = np.asarray(F.amplitude(F.dft(jnp.asarray(y)), n))
    np.testing.assert_allclose(amp[ks], amps, rtol=1e-12)
    assert amp[0] == pytest.approx(0.7, rel=1e-12)
    rest = np.delete(amp, np.concatenate([[0], ks]))
    assert rest.max() < 1e-13
    np.testing.assert_array_equal(F.find_peaks(amp), ks[amps >= 0.1 * amps.max()])
    np.testing.assert_array_equal(F.find_peaks(amp, rel_height=0.01), ks)
    np.testing.assert_array_equal(F.find_peaks(amp, n_peaks=2, rel_height=0.01), [1, 9])
    # Nyquist bin (n even) is not doubled: cos(pi j) has amplitude 1.
    assert float(F.amplitude(F.dft(jnp.cos(np.pi * np.arange(8.0))), 8)[-1]) == pytest.approx(1.0)


def test_dft_frequencies_map_bins_to_angular_frequency():
    # On [0, L) with n points, bin k is 2 pi k / L; on [-pi, pi) it is k.
    np.testing.assert_allclose(F.dft_frequencies(grid(64)), np.arange(33), rtol=1e-12)
    np.testing.assert_allclose(
        F.dft_frequencies(grid(10, 0.0, 2.0)[:, None]), np.pi * np.arange(6), rtol=1e-12
    )
    with pytest.raises(ValueError, match="x"):
        F.dft_frequencies(np.array([0.0, 0.1, 0.3]))


def test_nudft_equals_dft_up_to_the_grid_phase_in_1d_and_2d():
    # On x_j = x_0 + j dx, c(xi_k) = exp(-i xi_k x_0) c_k; on a 2-D tensor grid, the 2-D DFT.
    rng = np.random.default_rng(0)
    n, x = 32, grid(32)
    y = rng.normal(size=n)
    with jax.enable_x64(True):
        c = np.asarray(F.nudft(x, y, np.arange(17.0)))
        np.testing.assert_allclose(
            c * np.exp(1j * np.arange(17) * x[0]), np.asarray(F.dft(y)), atol=1e-14
        )
        g = grid(8)
        xx = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
        z = rng.normal(size=(8, 8))
        freqs = np.array([[1.0, 2.0], [3.0, -1.0], [0.0, 4.0]])
        c2 = np.asarray(F.nudft(xx, z.reshape(-1), freqs))
    ref = np.fft.fft2(z) / 64
    expected = [ref[int(k1) % 8, int(k2) % 8] * np.exp(-1j * (k1 + k2) * g[0]) for k1, k2 in freqs]
    np.testing.assert_allclose(c2, expected, atol=1e-14)
    with pytest.raises(ValueError, match="freqs"):
        F.nudft(xx, z.reshape(-1), np.arange(3.0))


def test_sine_series_derivative_matches_autodiff():
    x = jnp.linspace(-3, 3, 11)
    f, df = F.sine_series(x, [1.0, 3.0, 5.0], [1.0, 0.5, 0.2])
    auto = jax.vmap(
        jax.grad(lambda s: F.sine_series(s[None], [1.0, 3.0, 5.0], [1.0, 0.5, 0.2])[0][0])
    )(x)
    np.testing.assert_allclose(df, auto, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- Delta_F


def test_relative_spectral_error_complex_vs_magnitude():
    # h_hat = f_hat e^{i phi}: the complex error is |e^{i phi} - 1| = 2 |sin(phi / 2)|, the
    # magnitude error (the original code's) is 0; h_hat = 0 gives 1 in both.
    f_hat = jnp.array([2.0 + 1.0j, -0.5j])
    phi = 0.4
    np.testing.assert_allclose(
        F.relative_spectral_error(f_hat * np.exp(1j * phi), f_hat), 2 * np.sin(phi / 2), rtol=1e-6
    )
    np.testing.assert_allclose(
        F.relative_spectral_error(f_hat * np.exp(1j * phi), f_hat, magnitude=True), 0, atol=1e-6
    )
    np.testing.assert_allclose(F.relative_spectral_error(0 * f_hat, f_hat), 1.0)


def test_spectral_error_observable_limits():
    # h = 0 misses every peak entirely (Delta_F = 1); h = f + (a mode off the peaks) has Delta_F = 0.
    x = grid(64)[:, None]
    y, _ = F.sine_series(x, [1.0, 3.0, 5.0])
    off = 0.3 * jnp.sin(8 * x[:, 0])
    obs = F.spectral_error_observable(lambda s, x: s * (y + off), x, y, [1.0, 3.0, 5.0])
    np.testing.assert_allclose(obs(0.0)["delta_f"], 1.0, rtol=1e-6)
    np.testing.assert_allclose(obs(1.0)["delta_f"], 0.0, atol=1e-5)
    np.testing.assert_allclose(obs(0.5)["delta_f"], 0.5, rtol=1e-5)
    with pytest.raises(ValueError, match="coord"):
        F.spectral_error_observable(lambda p, x: x[:, 0], jnp.ones((5, 2)), jnp.ones(5), [1.0])


def test_convergence_step_rules_and_never():
    steps = jnp.array([0, 1, 2, 4, 8, 16])
    d = jnp.array(
        [
            [1.0, 1.0, 1.0, 1.0],
            [0.05, 1.0, 1.0, 1.0],
            [0.2, 0.05, 1.0, 0.05],
            [0.05, 0.05, 1.0, 0.05],
            [0.05, 0.05, 0.05, 0.05],
            [0.05, 0.05, 1.0, 0.2],
        ]
    )
    cs = F.convergence_step(steps, d, threshold=0.1)
    np.testing.assert_array_equal(cs.step, [4, 2, -1, -1])  # a dip that comes back does not count
    np.testing.assert_array_equal(cs.converged, [True, True, False, False])
    cs2 = F.convergence_step(steps, d, threshold=0.1, window=2)
    np.testing.assert_array_equal(cs2.step, [4, 2, -1, 2])
    # The window is cut at the end of the trajectory: a final record below counts.
    tail = F.convergence_step(jnp.arange(3), jnp.array([[1.0], [1.0], [0.05]]), window=3)
    np.testing.assert_array_equal(tail.step, [2])
    batched = F.convergence_step(jnp.stack([steps, steps]), jnp.stack([d, jnp.ones_like(d)]))
    np.testing.assert_array_equal(batched.step, [[4, 2, -1, -1], [-1, -1, -1, -1]])
    with pytest.raises(ValueError, match="delta_f"):
        F.convergence_step(steps[:3], d)


# ----------------------------------------------------------------------------- high dimension


def test_principal_direction_recovers_the_stretched_axis():
    u = np.array([3.0, -1.0, 2.0, 0.5]) / np.linalg.norm([3.0, -1.0, 2.0, 0.5])
    rng = np.random.default_rng(1)
    x = np.outer(rng.normal(size=500) * 10, u) + 0.1 * rng.normal(size=(500, 4)) + 5.0
    p = np.asarray(F.principal_direction(jnp.asarray(x, jnp.float32)))
    np.testing.assert_allclose(p, u, atol=2e-3)


def test_projection_method_reads_a_planted_frequency_along_the_principal_direction():
    # x = t u + s v (u, v orthonormal in R^5, Var t >> Var s): the first principal direction is
    # +-u, so coord = x . p = +-t + const, and on a uniform t grid over one period the
    # non-uniform DFT of y = sin(3 t) has |c(3)| = 1/2 and |c(k)| = 0 for the other integers k.
    q, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(5, 2)))
    u, v = q[:, 0], q[:, 1]
    t = grid(128)
    s = 0.1 * np.cos(7 * t)
    x = np.outer(t, u) + np.outer(s, v) + 1.0
    with jax.enable_x64(True):
        p = F.principal_direction(jnp.asarray(x))
        c = np.abs(
            np.asarray(
                F.nudft(jnp.asarray(x) @ p, jnp.sin(3 * jnp.asarray(t)), jnp.arange(1.0, 9.0))
            )
        )
    assert abs(float(np.asarray(p) @ u)) == pytest.approx(1.0, abs=1e-5)  # cov(t, s) ~ 1e-3, not 0
    np.testing.assert_allclose(c, 0.5 * (np.arange(1, 9) == 3), atol=1e-4)


def test_gaussian_filter_is_a_normalized_low_pass():
    # Rows sum to 1 (constants pass unchanged). In the interior of a dense grid, the
    # normalized Gaussian average of cos(k x) is exp(-k^2 delta^2 / 2) cos(k x).
    with jax.enable_x64(True):
        x = jnp.linspace(-10, 10, 801)[:, None]
        w = F.gaussian_filter_weights(x, 0.3)
        np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-12)
        y = jnp.cos(2.0 * x[:, 0])
        low, high = F.low_high_split(y, w)
        mid = slice(300, 501)
        np.testing.assert_allclose(low[mid], np.exp(-(2.0**2) * 0.3**2 / 2) * y[mid], atol=1e-9)
        np.testing.assert_allclose(low + high, y, atol=1e-14)
        np.testing.assert_allclose(F.low_high_split(jnp.full(801, 2.5), w)[1], 0.0, atol=1e-12)
        # Residual r = h - y: r = -s y gives (s, s); a constant r = c passes the filter whole.
        np.testing.assert_allclose(F.filtering_errors(0.75 * y, y, w), [0.25, 0.25], rtol=1e-12)
        e = F.filtering_errors(y + 0.1, y, w)
        assert float(e[0]) == pytest.approx(
            0.1 * np.sqrt(801) / float(jnp.linalg.norm(low)), rel=1e-12
        )
        assert float(e[1]) == pytest.approx(0.0, abs=1e-12)


def test_boolean_degree_power_on_the_full_cube():
    # Walsh transform on all of {-1,1}^6: parity is pure degree 6, x1 x3 pure degree 2,
    # and Parseval holds: sum_l P_l = mean y^2.
    d = 6
    x = 1.0 - 2.0 * ((np.arange(2**d)[:, None] >> np.arange(d)) & 1)
    np.testing.assert_allclose(
        F.boolean_degree_power(x, np.prod(x, axis=1)), np.eye(d + 1)[d], atol=1e-6
    )
    np.testing.assert_allclose(
        F.boolean_degree_power(x, x[:, 0] * x[:, 2]), np.eye(d + 1)[2], atol=1e-6
    )
    y = np.random.default_rng(0).normal(size=2**d)
    assert float(F.boolean_degree_power(x, y).sum()) == pytest.approx(np.mean(y**2), rel=1e-5)


def test_parity_holdout_identity_and_its_cases():
    # the identity holds for any h: test correlation = (2^d c - n mean_T) / (2^d - n)
    d = 7
    x = 1.0 - 2.0 * ((np.arange(2**d)[:, None] >> np.arange(d)) & 1)
    y = np.prod(x, axis=1)
    rng = np.random.default_rng(0)
    mask = np.zeros(2**d, bool)
    mask[rng.permutation(2**d)[:40]] = True
    h = rng.normal(size=(3, 2**d))
    r = F.parity_holdout(h, y, mask)
    np.testing.assert_allclose(r.test_correlation, (h * y)[:, ~mask].mean(-1), rtol=1e-6)
    np.testing.assert_allclose(r.predicted_test_correlation, r.test_correlation, atol=1e-6)
    np.testing.assert_allclose(r.chance_coefficient, 40 * r.train_correlation / 2**d, rtol=1e-6)
    # h = the labels on T, 0 elsewhere (no parity coefficient beyond n / 2^d): test corr 0;
    # h = the labels on T plus any degree < d function: test corr = minus its train corr share
    h0 = np.where(mask, y, 0.0)
    assert float(F.parity_holdout(h0, y, mask).test_correlation) == pytest.approx(0, abs=1e-7)
    g = x[:, 0] + x[:, 1] * x[:, 2]  # degrees 1 and 2: c_[d](g) = 0
    rg = F.parity_holdout(g, y, mask)
    assert float(rg.parity_coefficient) == pytest.approx(0, abs=1e-7)
    assert float(rg.test_correlation) == pytest.approx(
        -40 * float(rg.train_correlation) / (2**d - 40), rel=1e-5
    )
    # h = parity itself: correlation 1 everywhere, chance coefficient n / 2^d
    rp = F.parity_holdout(y, y, mask)
    assert float(rp.test_correlation) == pytest.approx(1.0)
    assert float(rp.chance_coefficient) == pytest.approx(40 / 2**d)
    with pytest.raises(ValueError, match="train_mask"):
        F.parity_holdout(h, y, np.ones(2**d, bool))
    with pytest.raises(ValueError, match="h:"):
        F.parity_holdout(h[:, :10], y, mask)


def test_hamming_nearest_vote_is_wrong_on_parity_next_to_training_points():
    # cube minus one point: its d Hamming-1 neighbours are all in T with the opposite parity,
    # so the vote is -d * parity (always wrong); a point at distance 2 from T gets the right sign
    d = 5
    x = 1.0 - 2.0 * ((np.arange(2**d)[:, None] >> np.arange(d)) & 1)
    y = np.prod(x, axis=1)
    v = F.hamming_nearest_vote(x[1:], y[1:], x[:1])
    assert v[0] == -d * y[0]
    far = np.flatnonzero(((d - x @ x[0]) / 2) >= 2)  # training set: points at distance >= 2
    v2 = F.hamming_nearest_vote(x[far], y[far], x[:1])
    assert np.sign(v2[0]) == y[0] and v2[0] == y[0] * 10  # C(5, 2) = 10 points at distance 2
    with pytest.raises(ValueError, match="x_test"):
        F.hamming_nearest_vote(x[1:], y[1:], x[:1, :3])


def test_fourier_mode_eigenvalues_of_a_circulant_kernel():
    # K_ij = sum_m b_m cos(m (x_i - x_j)) on a uniform periodic grid has eigenvalue n b_m / 2 on mode m.
    n, b = 64, {1: 3.0, 4: 0.5, 7: 0.01}
    x = grid(n)
    diff = x[:, None] - x[None, :]
    k = sum(bm * np.cos(m * diff) for m, bm in b.items())
    lam = F.fourier_mode_eigenvalues(
        jnp.asarray(k), jnp.asarray(x), jnp.array([1.0, 4.0, 7.0, 2.0])
    )
    np.testing.assert_allclose(lam, [n * 1.5, n * 0.25, n * 0.005, 0.0], atol=1e-3)


# ----------------------------------------------------------------------------- losses


def test_derivative_augmented_mse_closed_form_for_a_linear_model():
    # h(x) = x . theta has grad_x h = theta: L_grad = L + lambda * mean_i |theta - dy_i|^2.
    rng = np.random.default_rng(0)
    x, theta = jnp.asarray(rng.normal(size=(9, 3))), jnp.array([1.0, -2.0, 0.5])
    y, dy = jnp.asarray(rng.normal(size=9)), jnp.asarray(rng.normal(size=(9, 3)))
    expected = 0.5 * jnp.mean((x @ theta - y) ** 2) + 0.3 * jnp.mean(
        jnp.sum((theta - dy) ** 2, axis=1)
    )
    got = losses.derivative_augmented_mse(toys.linear_apply, weight=0.3)(theta, (x, y, dy))
    assert float(got) == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(ValueError, match="dy"):
        losses.derivative_augmented_mse(toys.linear_apply)(theta, (x, y, dy[:, :2]))


def test_input_gradient_matches_finite_differences():
    p = mlp.init(KEY, [2, 8, 8, 1])
    x = jnp.array([[0.3, -0.2], [1.0, 0.5]])
    f = lambda x: mlp.apply(p, x, activation="tanh")
    g = jax.jit(lambda x: losses.input_gradient(mlp.apply, p, x, activation="tanh"))(x)
    e = 1e-3 * jnp.eye(2)[:, None, :]  # [2 directions, 1, 2]
    fd = jax.jit(jax.vmap(lambda ej: (f(x + ej) - f(x - ej)) / 2e-3))(e)  # [2, n]
    np.testing.assert_allclose(g, fd.T, rtol=2e-2, atol=1e-4)


# ----------------------------------------------------------------------------- training


def _sin135():
    x = jnp.asarray(grid(64), jnp.float32)[:, None]
    y, dy = F.sine_series(x, [1.0, 3.0, 5.0])
    return x, y, dy[:, None]


def test_frequency_principle_order_on_sin135():
    # Equal amplitudes, small init (std = fan_in^-1), tanh: Delta_F < 0.1 is reached by the
    # peaks in the order 1 < 3 < 5 (Fig 4.7), for every seed.
    x, y, _ = _sin135()
    apply = lambda p, x: mlp.apply(p, x, activation="tanh")
    obs = F.spectral_error_observable(apply, x, y, [1.0, 3.0, 5.0])

    @jax.jit
    @jax.vmap
    def one(key):
        p = mlp.init(key, [1, 100, 100, 1], gamma=1.0)
        return train.run(
            train.mse(apply), p, (x, y), optax.adam(1e-3), steps=2000, n_records=50, observe=obs
        )

    tr = one(jax.random.split(KEY, 3))
    cs = F.convergence_step(tr.step, tr.observables["delta_f"], threshold=0.1)
    assert bool(cs.converged.all()), cs.step
    s = np.asarray(cs.step)
    assert np.all(s[:, 0] < s[:, 1]) and np.all(s[:, 1] < s[:, 2]), s


def test_lgrad_speeds_up_the_highest_peak():
    # Same seeds, same GD step: with the derivative term the k = 5 peak converges earlier
    # than with plain MSE (mode k of the residual is weighted 1/2 + k^2 instead of 1/2).
    # L_grad with weight 0 is exactly L, so both losses run in one compiled, vmapped program.
    x, y, dy = _sin135()
    m = 200
    apply = lambda p, x: two_layer.apply(p, x, activation="tanh", alpha=m**0.5)
    obs = F.spectral_error_observable(apply, x, y, [1.0, 3.0, 5.0])

    def one(weight, key):
        p = two_layer.rescale(two_layer.init(key, m, 1), 1.0, 2.0)
        return train.run(
            losses.derivative_augmented_mse(apply, weight=weight),
            p,
            (x, y, dy),
            optax.sgd(0.2),
            steps=2500,
            n_records=50,
            observe=obs,
        )

    keys = jax.random.split(KEY, 3)
    tr = jax.jit(jax.vmap(jax.vmap(one, (None, 0)), (0, None)))(jnp.array([0.0, 1.0]), keys)
    assert not bool(tr.diverged.any())
    cs = F.convergence_step(tr.step, tr.observables["delta_f"], threshold=0.1)  # [loss, seed, peak]
    plain, grad = cs.step[0, :, 2], cs.step[1, :, 2]
    assert bool(cs.converged[1, :, 2].all()), cs.step
    assert bool(jnp.all(~cs.converged[0, :, 2] | (grad < plain))), cs.step


def test_filtering_method_low_part_converges_first():
    # Target = smooth part + a high-frequency product; with the default delta the low part's
    # relative error falls below the high part's early and stays below.
    x = jax.random.uniform(jax.random.key(1), (300, 2), minval=-np.pi, maxval=np.pi)
    y = jnp.sin(x[:, 0]) + jnp.cos(x[:, 1]) + jnp.sin(5 * x[:, 0]) * jnp.cos(5 * x[:, 1])
    apply = lambda p, x: mlp.apply(p, x, activation="tanh")
    obs = F.filtering_observable(apply, x, y)
    p0 = mlp.init(KEY, [2, 64, 64, 1], gamma=1.0)
    steps = 600
    tr = jax.jit(
        lambda p: train.run(
            train.mse(apply), p, (x, y), optax.adam(1e-3), steps=steps, n_records=30, observe=obs
        )
    )(p0)
    e_low, e_high = tr.observables["e_low"][:, 0], tr.observables["e_high"][:, 0]
    late = np.asarray(tr.step) >= steps // 10
    assert np.all(np.asarray(e_low < 0.8 * e_high)[late])
    assert float(e_low[-1]) < 0.5 and float(e_high[-1]) > 0.7


# ----------------------------------------------------------------------------- convergence order


def test_in_frequency_order_strict_and_weak():
    # Peaks listed low -> high; -1 = never (later than any converged peak).
    steps = np.array(
        [
            [10, 20, 40],  # low to high: strict and weak
            [10, 10, 40],  # tie: weak only
            [10, 20, -1],  # highest not yet converged: weak only
            [10, -1, -1],  # two unconverged: weak only (inf <= inf)
            [30, 20, 40],  # a reversal: neither
            [-1, 20, 40],  # lowest never: neither
            [10, -1, 40],
        ]
    )  # a higher peak converged while a lower one never did: neither
    np.testing.assert_array_equal(F.in_frequency_order(steps, strict=True), [1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(F.in_frequency_order(steps, strict=False), [1, 1, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(F.never_as([5, -1], 100), [5, 100])
    with pytest.raises(ValueError, match="step"):
        F.in_frequency_order(np.array([3]))


def test_order_agreement_counts_concordant_pairs():
    # 4 items, 6 pairs: identical order 1, reversed 0, one swapped neighbour pair 5/6.
    pred = np.array([1.0, 2.0, 3.0, 4.0])
    assert F.order_agreement(pred, [10, 20, 30, 40]) == 1.0
    assert F.order_agreement(pred, [40, 30, 20, 10]) == 0.0
    assert F.order_agreement(pred, [10, 30, 20, 40]) == pytest.approx(5 / 6)
    # measured never (+inf) is later than every converged peak; two nevers are a tie (disagree)
    assert F.order_agreement(pred, [10, 20, 30, np.inf]) == 1.0
    assert F.order_agreement(pred, [10, 20, np.inf, np.inf]) == pytest.approx(5 / 6)
    with pytest.raises(ValueError, match="b"):
        F.order_agreement(pred, [1.0, 2.0])


def test_loss_plateau_finds_the_longest_run_at_the_level():
    steps = np.array([0, 1, 2, 4, 8, 16, 32, 64, 128])
    loss = np.array([0.5, 0.26, 0.4, 0.26, 0.25, 0.24, 0.26, 0.1, 0.26])
    p = F.loss_plateau(steps, loss, 0.25, rtol=0.1)
    assert (p.start, p.end) == (4, 32) and p.span == pytest.approx(8.0)
    assert F.loss_plateau(steps, loss, 1.0, rtol=0.1) == (-1, -1, 0.0)
    # A single record at the level at step 0 has span 1 (step 0 counts as step 1).
    assert F.loss_plateau(steps[:2], np.array([0.25, 1.0]), 0.25).span == 1.0


def test_unfit_loss_of_one_sine_on_full_periods_is_a_squared_over_4():
    # (1/2) mean_j A^2 sin^2(k x_j) = A^2 / 4 on a uniform grid of [-pi, pi) (0 < k < n/2).
    x = grid(64)
    assert F.unfit_loss(x, [5.0], [2.0]) == pytest.approx(1.0, rel=1e-5)
    assert F.unfit_loss(x, [3.0, 5.0]) == pytest.approx(0.5, rel=1e-5)  # orthogonal modes add
