"""Condensation measures (spec 02, book ch. 8-9): cosine matrices, direction counts, merging."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from phasekit.dynamics import condensation as cond
from phasekit.dynamics import train
from phasekit.models import two_layer as tl
from phasekit.theory import embedding as emb


def test_cosine_matrix_definition_and_layouts():
    u = jax.random.normal(jax.random.key(0), (7, 4))
    D = cond.cosine_similarity_matrix(u)
    ref = (u @ u.T) / np.outer(np.linalg.norm(u, axis=1), np.linalg.norm(u, axis=1))
    np.testing.assert_allclose(D, ref, atol=1e-6)
    np.testing.assert_allclose(jnp.diag(D), 1.0, atol=1e-6)
    # invariant to positive rescaling of a neuron, sign flips its row and column
    scale = jnp.array([3.0, 1, 1, 0.1, 1, 1, -1])[:, None]
    D2 = cond.cosine_similarity_matrix(scale * u)
    s = jnp.sign(scale[:, 0])
    np.testing.assert_allclose(D2, D * s[:, None] * s[None, :], atol=1e-6)
    # neuron outputs over a batch h [n, m] (neuron axis last) and flax conv kernels [kh, kw, c_in, c_out]
    h = jax.random.normal(jax.random.key(1), (30, 5))
    np.testing.assert_allclose(
        cond.cosine_similarity_matrix(h, neuron_axis=-1),
        cond.cosine_similarity_matrix(h.T),
        atol=1e-6,
    )
    k = jax.random.normal(jax.random.key(2), (3, 3, 2, 6))
    flat = np.stack([np.asarray(k[..., c]).ravel() for c in range(6)])
    np.testing.assert_allclose(
        cond.cosine_similarity_matrix(k, neuron_axis=-1),
        cond.cosine_similarity_matrix(flat),
        atol=1e-6,
    )


def _planted(k, m=60, d=6, noise=0.05, seed=0, signs=False):
    kd, kl, kn, ka, ks = jax.random.split(jax.random.key(seed), 5)
    centers = jax.random.normal(kd, (k, d))
    labels = jnp.arange(m) % k  # every cluster populated
    labels = jax.random.permutation(kl, labels)
    norms = jax.random.uniform(ka, (m, 1), minval=0.5, maxval=2.0)
    u = norms * centers[labels] / jnp.linalg.norm(centers[labels], axis=1, keepdims=True)
    if signs:
        u = u * jnp.where(jnp.arange(m) % 2 == 0, 1.0, -1.0)[:, None]
    return u + noise * jax.random.normal(kn, (m, d)), labels


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8])
def test_condensed_directions_recovers_planted_clusters(k):
    u, labels = _planted(k, seed=k)
    r = cond.condensed_directions(u, threshold=0.9)
    assert int(r.n_directions) == k and int(r.effective_width) == k
    assert int(r.n_active) == 60 and int(r.n_dead) == 0 and int(r.n_negligible) == 0
    # same partition as the planted one (labels up to renaming)
    pairs = {(int(a), int(b)) for a, b in zip(r.labels, labels)}
    assert len(pairs) == k
    labels = np.asarray(labels)
    D = cond.cosine_similarity_matrix(u)

    def runs(order):
        order = np.asarray(order)
        assert sorted(order.tolist()) == list(range(60))  # a permutation
        return np.count_nonzero(np.diff(labels[order]) != 0) + 1

    # the leading eigenvector of a block matrix is (nearly) constant on each block ...
    v = np.linalg.eigh(np.asarray(D))[1][:, -1]
    spread = max(np.ptp(v[labels == c]) for c in range(k))
    assert spread <= (0.2 * np.ptp(v) if k > 1 else 0.1 * abs(v.mean()))
    # ... so sorting by it shows the blocks; with up to 5 clusters here their components are
    # well apart and every block is one contiguous run
    if k <= 5:
        assert runs(cond.leading_eigenvector_order(D)) == k
    # grouping at the cosine threshold first makes every cluster contiguous for every k
    assert runs(cond.leading_eigenvector_order(D, threshold=0.9)) == k


def test_odd_lines_negligible_and_dead_reported_apart():
    u, _ = _planted(3, signs=True, seed=1)
    r = cond.condensed_directions(u, odd=True)
    assert int(r.n_directions) == 3 and int(r.effective_width) == 6
    assert int(cond.condensed_directions(u).n_directions) == 6
    amp = jnp.linalg.norm(u, axis=1).at[:4].set(1e-5)
    dead = jnp.zeros(60, bool).at[4:9].set(True)
    r = cond.condensed_directions(u, amp, dead, odd=True)
    assert (int(r.n_negligible), int(r.n_dead), int(r.n_active)) == (4, 5, 51)
    assert np.all(np.asarray(r.labels[:4]) == -1) and np.all(np.asarray(r.labels[4:9]) == -2)
    # jit/vmap over seeds
    us = jnp.stack([_planted(k, seed=k)[0] for k in (2, 4)])
    np.testing.assert_array_equal(
        jax.jit(jax.vmap(cond.condensed_directions))(us).n_directions, [2, 4]
    )


def test_dead_relu_neurons_detected():
    x = jax.random.uniform(jax.random.key(0), (40, 1), minval=-1, maxval=1)
    p = {"a": jnp.ones(3), "w": jnp.array([[1.0], [1.0], [0.5]]), "b": jnp.array([0.0, -2.0, 0.1])}
    np.testing.assert_array_equal(cond.dead_neurons(tl.preactivation(p, x)), [False, True, False])


def test_tanh_initial_condensation_two_opposite_blocks():
    """Fig 8.10 setup (5-50-1 tanh, n = 80, small init gamma = 2, GD): at the end of the
    initial plateau (loss still >= 0.9 L0) the input weights form two opposite blocks."""
    x = jax.random.uniform(jax.random.key(1), (80, 5), minval=-4, maxval=2)
    y = jnp.sum(3.5 * jnp.sin(5 * x + 1), axis=1)
    s = 50.0**-2
    p0 = tl.rescale(tl.init(jax.random.key(0), 50, 5), s, s)
    loss = train.mse(tl.apply, activation="tanh")
    traj = train.run(loss, p0, (x, y), optax.sgd(0.05), steps=55, n_records=2)
    assert float(traj.loss[-1]) >= 0.9 * float(traj.loss0)

    def block_stats(p):
        D = np.asarray(cond.cosine_similarity_matrix(tl.input_weights(p)))
        v = np.linalg.eigh(D)[1][:, -1]
        A, B = v >= 0, v < 0
        return D[np.ix_(A, A)].mean(), D[np.ix_(B, B)].mean(), D[np.ix_(A, B)].mean(), A.sum()

    inA, inB, across, size = block_stats(traj.params)
    assert inA > 0.9 and inB > 0.9 and across < -0.9 and 5 <= size <= 45
    assert block_stats(p0)[0] < 0.9  # not there at initialization


@pytest.mark.parametrize("outputs", [None, 3])
def test_merge_condensed_undoes_splitting(outputs):
    with jax.enable_x64(True):
        narrow = tl.init(jax.random.key(4), 4, 2, dtype=jnp.float64)
        if outputs:
            narrow["a"] = jax.random.normal(jax.random.key(5), (4, outputs), jnp.float64)
        wide = emb.embed_to_width(narrow, 11, alphas=[0.3, 0.6, 0.5, 0.25, 0.7, 0.4, 0.5])
        wide = emb.equal_split(wide, 0, 2, 3)
        x = jax.random.normal(jax.random.key(6), (100, 2), jnp.float64)
        merged, rep = cond.merge_condensed(wide, x, "relu")
        assert (rep.width_before, rep.width_after) == (13, 4)
        for key in narrow:
            np.testing.assert_allclose(merged[key], narrow[key], rtol=1e-12, atol=1e-14)
        assert rep.max_abs_diff < 1e-12 and rep.prediction_agreement == 1.0
        # tanh: exact too (equal input weights within each group)
        merged_t, rep_t = cond.merge_condensed(wide, x, "tanh")
        assert rep_t.width_after == 4 and rep_t.max_abs_diff < 1e-12


def test_merge_condensed_relu_same_direction_different_norms():
    """ReLU is positively homogeneous: neurons on one ray merge exactly whatever their norms."""
    with jax.enable_x64(True):
        w = jnp.array([[1.0], [2.0], [0.5], [-1.0]])
        p = {"a": jnp.array([1.0, -0.3, 2.0, 0.7]), "w": w, "b": jnp.array([0.2, 0.4, 0.1, 0.3])}
        x = jnp.linspace(-2, 2, 50)[:, None]
        merged, rep = cond.merge_condensed(p, x)
        assert rep.width_after == 2 and rep.max_abs_diff < 1e-12


def test_merge_padded_is_traceable_and_trains_like_the_narrow_net():
    """The padded merge puts the K merged neurons first and zeros elsewhere; null ReLU neurons
    have zero gradient, so GD on the padded net is GD on the narrow one."""
    with jax.enable_x64(True):
        narrow = tl.init(jax.random.key(4), 4, 2, dtype=jnp.float64)
        wide = emb.embed_to_width(narrow, 9, alphas=[0.3, 0.6, 0.5, 0.25, 0.7])
        x = jax.random.normal(jax.random.key(6), (60, 2), jnp.float64)
        padded, dirs = jax.jit(lambda p: cond.merge_condensed_padded(p, x))(wide)
        assert int(dirs.n_directions) == 4 and padded["w"].shape == (9, 2)
        np.testing.assert_allclose(padded["a"][:4], narrow["a"], rtol=1e-12)
        assert np.all(np.asarray(padded["a"][4:]) == 0) and np.all(np.asarray(padded["w"][4:]) == 0)
        y = jnp.sin(x[:, 0])
        loss = train.mse(tl.apply)
        t_pad = train.run(loss, padded, (x, y), optax.sgd(0.1), steps=200, n_records=5)
        t_nar = train.run(loss, narrow, (x, y), optax.sgd(0.1), steps=200, n_records=5)
        np.testing.assert_allclose(t_pad.loss, t_nar.loss, rtol=1e-10)
        assert np.all(np.asarray(t_pad.params["a"][4:]) == 0)
        assert float(t_nar.loss[-1]) < 0.9 * float(t_nar.loss[0])  # it did train


def test_agreement_matches_output_agreement():
    f = jax.random.normal(jax.random.key(0), (50, 3))
    g = f + 0.3 * jax.random.normal(jax.random.key(1), (50, 3))
    ref = cond.output_agreement(f, g)
    np.testing.assert_allclose([float(v) for v in jax.jit(cond.agreement)(f, g)], ref, rtol=1e-5)
    assert cond.output_agreement(f[:, 0], -f[:, 0])[2] == 0.0  # sign agreement for scalar outputs
    assert cond.output_agreement(f, f) == (0.0, 0.0, 1.0)


def test_plateau_ends_of_a_staircase_loss():
    """log10 loss: flat at 0 for records 0..9, drop, flat at -1 for 12..20, drop to -2 (flat
    only 2 records: too short), flat at -3 for 26..35 (the run ends flat)."""
    logl = np.concatenate(
        [
            np.zeros(10),
            [-0.5, -0.8],
            -np.ones(9),
            [-1.5],
            -2 * np.ones(2),
            [-2.5, -2.8],
            -3 * np.ones(10),
        ]
    )
    ends = cond.plateau_ends(10.0**logl)
    np.testing.assert_array_equal(ends, [9, 20, 35])
    mask = jax.jit(cond.plateau_end_mask)(jnp.asarray(10.0**logl))
    np.testing.assert_array_equal(np.flatnonzero(mask), ends)
    assert cond.plateau_ends(10.0**logl, min_records=12).size == 0


def test_initial_plateau_end_and_init_rate():
    loss = jnp.array([1.0, 0.99, 0.95, 0.91, 0.89, 0.5, 0.1])
    assert int(cond.initial_plateau_end(loss, drop=0.1)) == 4  # first loss <= 0.9 L0
    assert int(cond.initial_plateau_end(loss, drop=0.05)) == 2
    assert int(jax.jit(cond.initial_plateau_end)(jnp.ones(5))) == 4  # never dropped: last record
    with pytest.raises(ValueError, match="drop"):
        cond.initial_plateau_end(loss, drop=1.5)
    for std, fan_in in ((0.01, 18), (0.01, 3), (0.5, 100), (2.0, 10)):
        assert fan_in ** -cond.init_rate(std, fan_in) == pytest.approx(std, rel=1e-12)
    assert cond.init_rate(0.01, 100) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="fan_in"):
        cond.init_rate(0.01, 1)


def test_spectrum_lines_shared_across_widths():
    """Two widths whose runs sit on plateaus at log10 loss -1, -2 (and -3 for one of them)."""
    rng = np.random.default_rng(0)
    a = np.concatenate(
        [
            10 ** (-1 + 0.01 * rng.standard_normal(300)),
            10 ** (-2 + 0.01 * rng.standard_normal(200)),
            10 ** rng.uniform(-5, 0, 50),
        ]
    )
    b = np.concatenate(
        [
            10 ** (-1 + 0.01 * rng.standard_normal(200)),
            10 ** (-2 + 0.01 * rng.standard_normal(300)),
            10 ** (-3.5 + 0.01 * rng.standard_normal(250)),
            10 ** rng.uniform(-5, 0, 50),
        ]
    )
    lines = []
    for losses in (a, b):
        edges, p = cond.loss_spectrum(losses)
        assert p.sum() == pytest.approx(1.0)
        lines.append(cond.spectrum_lines(edges, p, n_lines=3))
    assert np.all(np.abs(lines[1] - [-3.5, -2.0, -1.0]) < 0.05)
    np.testing.assert_allclose(cond.shared_lines(lines), [-2.0, -1.0], atol=0.05)
    assert cond.shared_lines([lines[1], lines[0]]).size == 2  # -3.5 is not in the first width


def _ntk(p, x):
    """Tangent kernel J J^T of a two-layer ReLU net's output on x (all parameters)."""
    from jax.flatten_util import ravel_pytree

    theta, unravel = ravel_pytree(p)
    J = jax.jacobian(lambda t: tl.apply(unravel(t), x))(theta).reshape(-1, theta.size)
    return J @ J.T


@pytest.mark.parametrize("outputs", [None, 2])
def test_balanced_merge_keeps_function_and_tangent_kernel(outputs):
    """k aligned balanced ReLU neurons (|a| = ||theta||, norm r) and one balanced neuron of norm
    sqrt(k) r have the same output and the same tangent kernel; the plain merge (norms k r, r)
    keeps the output but not the kernel."""
    with jax.enable_x64(True):
        base = tl.init(jax.random.key(1), 3, 2, dtype=jnp.float64)
        if outputs:
            base["a"] = jax.random.normal(jax.random.key(2), (3, outputs), jnp.float64)
        theta = tl.input_weights(base)
        a_norm = jnp.linalg.norm(base["a"].reshape(3, -1), axis=1)
        c = jnp.sqrt(jnp.linalg.norm(theta, axis=1) / a_norm)  # balance the narrow neurons
        base = {
            "a": base["a"] * c.reshape((3,) + (1,) * (base["a"].ndim - 1)),
            "w": base["w"] / c[:, None],
            "b": base["b"] / c,
        }
        k = (4, 2, 3)
        wide = {
            key: jnp.concatenate([jnp.repeat(v[j : j + 1], kj, axis=0) for j, kj in enumerate(k)])
            for key, v in base.items()
        }  # k_j identical copies of neuron j: f is sum_j k_j a_j relu(.)
        x = jax.random.normal(jax.random.key(3), (25, 2), jnp.float64)
        merged, rep = cond.merge_condensed(wide, x, balance=True)
        plain, _ = cond.merge_condensed(wide, x)
        assert rep.width_after == 3 and rep.max_abs_diff < 1e-12
        th_m = tl.input_weights(merged)
        np.testing.assert_allclose(
            jnp.linalg.norm(merged["a"].reshape(3, -1), axis=1),
            jnp.linalg.norm(th_m, axis=1),
            rtol=1e-12,
        )
        np.testing.assert_allclose(
            jnp.linalg.norm(th_m, axis=1),
            np.sqrt(k) * jnp.linalg.norm(theta / c[:, None], axis=1),
            rtol=1e-12,
        )
        np.testing.assert_allclose(tl.apply(plain, x), tl.apply(merged, x), rtol=1e-10, atol=1e-12)
        K_wide = _ntk(wide, x)
        np.testing.assert_allclose(_ntk(merged, x), K_wide, rtol=1e-10, atol=1e-10)
        assert np.max(np.abs(_ntk(plain, x) - K_wide)) > 0.1 * np.max(np.abs(K_wide))
        with pytest.raises(ValueError, match="balance"):
            cond.merge_condensed(wide, x, "tanh", balance=True)
