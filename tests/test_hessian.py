"""phasekit.theory.hessian: dense vs iterative agreement, Hutchinson/SLQ identities, book numbers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from phasekit.models import mlp, toys
from phasekit.theory import hessian as hs


def _mse(p, data):
    x, y = data
    return 0.5 * jnp.mean(jnp.sum((mlp.apply(p, x, activation="tanh") - y) ** 2, axis=1))


@pytest.fixture(scope="module")
def small_net():
    """A 3-5-4-2 tanh MLP (M = 54) on 20 random points, float64, with its dense Hessian."""
    with jax.enable_x64(True):
        p = mlp.init(jax.random.key(0), [3, 5, 4, 2], dtype=jnp.float64)
        x = jax.random.normal(jax.random.key(1), (20, 3), jnp.float64)
        y = jax.random.normal(jax.random.key(2), (20, 2), jnp.float64)
        H = np.asarray(hs.hessian(_mse, p, (x, y)))
    return p, x, y, H, np.linalg.eigvalsh(H)


def test_dense_hessian_is_symmetric_and_matches_finite_differences_of_the_gradient(small_net):
    p, x, y, H, _ = small_net
    with jax.enable_x64(True):
        theta, unravel = ravel_pytree(p)
        g = lambda t: ravel_pytree(jax.grad(_mse)(unravel(t), (x, y)))[0]
        e = 1e-6
        fd = np.stack(
            [(g(theta.at[i].add(e)) - g(theta.at[i].add(-e))) / (2 * e) for i in (0, 17, 53)]
        )
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    np.testing.assert_allclose(fd, H[[0, 17, 53]], atol=1e-7)


def test_hvp_equals_dense_hessian_times_v_also_when_accumulated_over_minibatches(small_net):
    p, x, y, H, _ = small_net
    with jax.enable_x64(True):
        v = jax.tree_util.tree_map(
            lambda a: jax.random.normal(jax.random.key(3), a.shape, a.dtype), p
        )
        vf = np.asarray(ravel_pytree(v)[0])
        hv = np.asarray(ravel_pytree(hs.hvp(_mse, p, v, (x, y)))[0])
        batched = np.asarray(hs.hessian_matvec(_mse, p, (x, y), batch_size=7)(vf))  # 7 + 7 + rest 6
    np.testing.assert_allclose(hv, H @ vf, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(batched, H @ vf, rtol=1e-10, atol=1e-12)


def test_lanczos_top5_and_bottom5_equal_eigh_of_the_dense_hessian(small_net):
    p, x, y, H, ev = small_net
    with jax.enable_x64(True):
        vals, vecs = hs.top_eigenpairs(_mse, p, (x, y), k=5, num_steps=30)
        bottom = np.asarray(hs.bottom_eigenvalues(_mse, p, (x, y), k=5))
        U = np.asarray(jax.vmap(lambda t: ravel_pytree(t)[0])(vecs))  # Ritz vectors, [5, M]
        vals = np.asarray(vals)
    np.testing.assert_allclose(vals, ev[::-1][:5], rtol=1e-6)
    np.testing.assert_allclose(bottom, ev[:5], rtol=1e-6)
    np.testing.assert_allclose(H @ U.T, U.T * vals, atol=1e-6)  # H u = lambda u
    np.testing.assert_allclose(U @ U.T, np.eye(5), atol=1e-8)


def test_lanczos_survives_breakdown_on_a_low_rank_hessian():
    """L = 1/2 |A theta|^2 with rank(A) = 2 in M = 6: Lanczos hits an invariant subspace early."""
    with jax.enable_x64(True):
        A = jax.random.normal(jax.random.key(0), (2, 6), jnp.float64)
        loss = lambda t: 0.5 * jnp.sum((A @ t) ** 2)
        vals = np.asarray(hs.top_eigenvalues(loss, jnp.ones(6, jnp.float64), k=3))
        expected = np.sort(np.linalg.eigvalsh(np.asarray(A.T @ A)))[::-1][:3]
    np.testing.assert_allclose(vals, expected, atol=1e-10)
    assert np.all(np.isfinite(vals))


def test_hutchinson_trace_is_within_three_standard_errors_of_the_exact_trace(small_net):
    p, x, y, H, _ = small_net
    with jax.enable_x64(True):
        est, se = hs.trace(_mse, p, (x, y), num_probes=64, key=jax.random.key(5))
        est_batched, _ = hs.trace(
            _mse, p, (x, y), num_probes=64, key=jax.random.key(5), probe_batch=16
        )
        est, se, est_batched = float(est), float(se), float(est_batched)
    # Rademacher variance: 2 sum_{i != j} H_ij^2, so the standard error is known in closed form
    exact_se = np.sqrt(2 * (np.sum(H**2) - np.sum(np.diag(H) ** 2)) / 64)
    assert abs(est - np.trace(H)) < 3 * se
    assert 0.5 * exact_se < se < 2 * exact_se
    np.testing.assert_allclose(est_batched, est, rtol=1e-12)


def test_slq_density_integrates_to_one_and_its_mean_is_trace_over_m(small_net):
    p, x, y, H, ev = small_net
    M = H.shape[0]
    with jax.enable_x64(True):
        key = jax.random.key(7)
        nodes, weights = hs.spectral_density(_mse, p, (x, y), num_probes=8, num_steps=M, key=key)
        hutch, se = hs.trace(_mse, p, (x, y), num_probes=8, key=key)
        grid = np.linspace(ev[0] - 1, ev[-1] + 1, 4001)
        rho = np.asarray(hs.broaden(nodes, weights, jnp.asarray(grid), sigma=0.05))
        nodes, weights, hutch, se = (np.asarray(a) for a in (nodes, weights, hutch, se))
    dt = grid[1] - grid[0]
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.sum(rho) * dt, 1.0, atol=1e-6)
    slq_mean = np.mean(np.sum(weights * nodes, axis=1))
    np.testing.assert_allclose(slq_mean, hutch / M, rtol=1e-10)  # same probes: exact identity
    np.testing.assert_allclose(np.sum(grid * rho) * dt, slq_mean, atol=1e-6)
    assert abs(slq_mean - np.trace(H) / M) < 3 * se / M
    # M Lanczos steps: the quadrature nodes that carry weight are exact eigenvalues
    heavy = nodes[0][weights[0] > 1e-10]
    assert heavy.size > 10
    assert np.min(np.abs(heavy[:, None] - ev[None, :]), axis=1).max() < 1e-8


def test_power_iteration_converges_to_lambda_max_of_a_psd_hessian():
    with jax.enable_x64(True):
        lam = jnp.array([5.0, 3.0, 1.0, 0.5], jnp.float64)
        loss = lambda t: 0.5 * jnp.sum(lam * t**2)
        rq = np.asarray(hs.power_iteration(loss, jnp.zeros(4, jnp.float64), num_iters=80))
    np.testing.assert_allclose(rq[-1], 5.0, rtol=1e-10)
    assert abs(rq[0] - 5.0) > 1e-3  # the start vector is not already the eigenvector


def test_one_one_one_cross_entropy_hessian_at_origin_is_indefinite():
    """L(w1, w2) = -log sigmoid(w2 sigmoid(w1)) at x = 1, label 1: H(0, 0) = [[0, -1/8], [-1/8, 1/16]]."""
    with jax.enable_x64(True):

        def loss(w, data):
            x, y = data
            f = toys.one_one_one_apply(w, x, hidden="sigmoid", output="sigmoid")
            return -jnp.mean(y * jnp.log(f) + (1 - y) * jnp.log1p(-f))

        H = hs.hessian(loss, jnp.zeros(2, jnp.float64), (jnp.ones(1), jnp.ones(1)))
        counts = hs.eigen_counts(jnp.linalg.eigvalsh(H), 1e-12)
    np.testing.assert_allclose(H, [[0.0, -1 / 8], [-1 / 8, 1 / 16]], atol=1e-14)
    assert tuple(int(c) for c in counts) == (1, 0, 1)


def test_one_one_one_mse_hessian_is_indefinite_wherever_w2_is_nonzero():
    """MSE 1/2 (w2 s(w1) - 0)^2, s = sigmoid: det H = -s' w2^2 s^2 (s + s') < 0 for w2 != 0."""
    with jax.enable_x64(True):
        loss = lambda w: 0.5 * toys.one_one_one_apply(w, jnp.ones(1))[0] ** 2
        W = jax.random.uniform(jax.random.key(0), (50, 2), jnp.float64, -4, 4)
        dets = jax.vmap(lambda w: jnp.linalg.det(hs.hessian(loss, w)))(W)
        s = jax.nn.sigmoid(W[:, 0])
        ds = s * (1 - s)
        np.testing.assert_allclose(dets, -ds * W[:, 1] ** 2 * s**2 * (s + ds), rtol=1e-9)
        assert np.all(dets < 0)
        assert abs(float(jnp.linalg.det(hs.hessian(loss, jnp.array([1.0, 0.0]))))) < 1e-15


def test_eigen_counts_are_stable_across_the_spectral_gap():
    """Teacher = student: zero residuals, H = J^T J / n has rank n, so M - n eigenvalues are 0."""
    with jax.enable_x64(True):
        p = mlp.init(jax.random.key(0), [2, 6, 1], dtype=jnp.float64)  # M = 25
        x = jax.random.normal(jax.random.key(1), (8, 2), jnp.float64)
        y = mlp.apply(p, x, activation="tanh")
        loss = lambda p: 0.5 * jnp.mean((mlp.apply(p, x, activation="tanh") - y) ** 2)
        ev = np.linalg.eigvalsh(np.asarray(hs.hessian(loss, p)))
    zero_scale, gap_top = np.sort(np.abs(ev))[25 - 8 - 1], np.sort(np.abs(ev))[25 - 8]
    assert gap_top / zero_scale > 1e6
    for tol in np.geomspace(10 * zero_scale, gap_top / 10, 7):
        assert tuple(int(c) for c in hs.eigen_counts(ev, tol)) == (0, 17, 8)
    assert int(hs.eigen_counts(ev, 2 * gap_top)[1]) > 17  # past the gap the count moves
    with pytest.raises(ValueError, match="tol"):
        hs.eigen_counts(ev, -1.0)


def test_gauss_newton_part_plus_residual_part_is_the_mse_hessian():
    with jax.enable_x64(True):
        p = mlp.init(jax.random.key(0), [2, 5, 2], dtype=jnp.float64)  # M = 27
        x = jax.random.normal(jax.random.key(1), (6, 2), jnp.float64)
        y = jax.random.normal(jax.random.key(2), (6, 2), jnp.float64)
        apply = lambda p, x: mlp.apply(p, x, activation="tanh")
        G, R = hs.mse_hessian_parts(apply, p, x, y)
        H = hs.hessian(_mse, p, (x, y))
        J = jax.jacrev(lambda t: apply(ravel_pytree(p)[1](t), x).reshape(-1))(ravel_pytree(p)[0])
        v = jax.tree_util.tree_map(jnp.ones_like, p)
        gv = ravel_pytree(hs.gauss_newton_vp(apply, p, v, x))[0]
        _, R_interp = hs.mse_hessian_parts(apply, p, x, apply(p, x))
        G, R, H, J, gv, R_interp = (np.asarray(a) for a in (G, R, H, J, gv, R_interp))
        v = np.asarray(ravel_pytree(v)[0])
    np.testing.assert_allclose(G + R, H, atol=1e-12)
    np.testing.assert_allclose(gv, G @ v, atol=1e-12)
    assert np.linalg.eigvalsh(G).min() > -1e-12  # PSD
    assert np.abs(R).max() > 1e-3  # nonzero residuals away from interpolation ...
    np.testing.assert_allclose(R_interp, 0.0, atol=1e-12)  # ... and zero at interpolation
    ntk = np.linalg.eigvalsh(np.asarray(J @ J.T) / 6)  # NTK Gram / n: the nonzero spectrum of G
    np.testing.assert_allclose(np.linalg.eigvalsh(G)[-12:], ntk, atol=1e-10)


def test_top_eigenvalue_is_jittable_and_vmaps_over_seeds():
    x = jax.random.normal(jax.random.key(1), (16, 2))
    y = jnp.sin(x[:, :1])

    @jax.jit
    @jax.vmap
    def sharpness(key):
        p = mlp.init(key, [2, 8, 1])
        return hs.top_eigenvalues(_mse, p, (x, y), k=2, key=key), jnp.linalg.eigvalsh(
            hs.hessian(_mse, p, (x, y))
        )

    top, ev = sharpness(jax.random.split(jax.random.key(0), 3))
    np.testing.assert_allclose(top, ev[:, ::-1][:, :2], rtol=1e-4)
    assert np.ptp(np.asarray(top[:, 0])) > 1e-3  # the seeds give different nets


def test_bad_arguments_raise_value_errors_naming_the_field(small_net):
    p, x, y, _, _ = small_net
    with jax.enable_x64(True):  # the fixture's params are float64
        with pytest.raises(ValueError, match="k"):
            hs.top_eigenvalues(_mse, p, (x, y), k=0)
        with pytest.raises(ValueError, match="batch_size"):
            hs.hessian_matvec(_mse, p, (x, y), batch_size=21)
        with pytest.raises(ValueError, match="num_probes"):
            hs.trace(_mse, p, (x, y), num_probes=1)


def test_generalized_gauss_newton_of_cross_entropy_is_the_hessian_of_a_model_linear_in_its_params():
    """f = x W + b is linear in theta, so d^2 f = 0 and H = (1/n) sum_i J_i^T (diag p_i - p_i p_i^T) J_i."""
    from phasekit.dynamics import train

    with jax.enable_x64(True):
        apply = lambda p, x: x @ p["w"] + p["b"]
        p = {
            "w": jax.random.normal(jax.random.key(0), (4, 3), jnp.float64),
            "b": jax.random.normal(jax.random.key(1), (3,), jnp.float64),
        }
        x = jax.random.normal(jax.random.key(2), (10, 4), jnp.float64)
        labels = jax.random.randint(jax.random.key(3), (10,), 0, 3)
        H = np.asarray(hs.hessian(train.cross_entropy(apply), p, (x, labels)))
        G = np.asarray(hs.gauss_newton(apply, p, x, loss="cross_entropy"))
        v = jax.tree_util.tree_map(lambda a: jnp.linspace(-1, 1, a.size).reshape(a.shape), p)
        gv = np.asarray(ravel_pytree(hs.gauss_newton_vp(apply, p, v, x, loss="cross_entropy"))[0])
        vf = np.asarray(ravel_pytree(v)[0])
    np.testing.assert_allclose(G, H, atol=1e-12)
    np.testing.assert_allclose(gv, H @ vf, atol=1e-12)
    assert np.abs(H).max() > 1e-2
    # the softmax output Hessian: PSD, rows sum to zero (shifting all logits changes nothing)
    Hf = np.asarray(hs.output_hessian(jnp.asarray([[0.3, -1.0, 2.0]]), "cross_entropy"))[0]
    np.testing.assert_allclose(Hf.sum(1), 0.0, atol=1e-7)
    assert np.linalg.eigvalsh(Hf).min() > -1e-7
    with pytest.raises(ValueError, match="loss"):
        hs.gauss_newton(apply, p, x, loss="hinge")


def test_dense_hessian_in_float64_from_float32_params_matches_a_float64_reference():
    p32 = mlp.init(jax.random.key(0), [3, 5, 2])
    x32 = jax.random.normal(jax.random.key(1), (12, 3))
    y32 = jax.random.normal(jax.random.key(2), (12, 2))
    H = hs.hessian(_mse, p32, (x32, y32), dtype="float64")
    assert H.dtype == np.float64
    with jax.enable_x64(True):
        f64 = lambda t: jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), t)
        ref = np.asarray(hs.hessian(_mse, f64(p32), f64((x32, y32))))
    assert ref.dtype == np.float64
    np.testing.assert_allclose(np.asarray(H), ref, rtol=1e-13, atol=1e-15)
    H32 = hs.hessian(_mse, p32, (x32, y32))
    assert H32.dtype == np.float32 and np.abs(np.asarray(H32, np.float64) - ref).max() > 1e-12
    with pytest.raises(ValueError, match="dtype"):
        hs.hessian(_mse, p32, (x32, y32), dtype="int32")


def test_gauss_newton_with_apply_kwargs_compiles_once():
    """Keyword arguments of ``apply`` are a hashable static argument, not a fresh partial per call."""
    p = mlp.init(jax.random.key(0), [2, 4, 1])
    x = jax.random.normal(jax.random.key(1), (5, 2))
    hs.gauss_newton(mlp.apply, p, x, activation="tanh")
    before = hs._gauss_newton._cache_size()
    for _ in range(3):
        hs.gauss_newton(mlp.apply, p, x, activation="tanh")
        hs.mse_hessian_parts(mlp.apply, p, x, x[:, :1], activation="tanh")
    assert hs._gauss_newton._cache_size() == before
    assert hs._hessian._cache_size() >= 1
    n = hs._hessian._cache_size()
    hs.mse_hessian_parts(mlp.apply, p, x, x[:, :1], activation="tanh")
    assert hs._hessian._cache_size() == n


def _block_slices(p, labels=None):
    """Index sets of each block in the raveled parameter vector (ravel order = leaf order)."""
    labs = hs.block_labels(p, labels)
    sizes = [a.size for a in jax.tree_util.tree_leaves(p)]
    starts = np.cumsum([0] + sizes)
    return {
        name: np.concatenate(
            [np.arange(starts[i], starts[i + 1]) for i, lab in enumerate(labs) if lab == name]
        )
        for name in hs.block_names(p, labels)
    }


def test_block_eigenvalues_equal_eigh_of_the_dense_hessians_diagonal_blocks(small_net):
    """Lanczos on the block HVP (tangent zero outside the block) with M_B steps gives the exact
    spectrum of H_BB, the diagonal block of the dense float64 Hessian; per leaf and per layer."""
    p, x, y, H, ev = small_net
    layers = [{"w": f"layer{i}", "b": f"layer{i}"} for i in range(len(p))]
    with jax.enable_x64(True):
        for labels in (None, layers):
            names = hs.block_names(p, labels)
            top = np.asarray(
                hs.block_top_eigenvalues(_mse, p, (x, y), labels=labels, k=3, num_steps=40)
            )
            assert top.shape == (len(names), 3)
            for b, name in enumerate(names):
                idx = _block_slices(p, labels)[name]
                dense = np.linalg.eigvalsh(H[np.ix_(idx, idx)])[::-1]
                kb = min(3, idx.size)
                np.testing.assert_allclose(top[b, :kb], dense[:kb], rtol=1e-8, atol=1e-10)
                assert np.all(np.isnan(top[b, kb:]))  # a 2-entry bias block has 2 eigenvalues
                assert top[b, 0] <= ev[-1] + 1e-10  # Cauchy interlacing
    assert len(hs.block_names(p)) == 6 and len(hs.block_names(p, layers)) == 3


def test_block_slq_nodes_are_block_eigenvalues_and_weights_sum_to_one(small_net):
    """With m = M_B Lanczos steps the Gauss quadrature is exact: the nodes carrying weight are
    eigenvalues of H_BB, and sum_j w_j lambda_j = z^T H_BB z / |z|^2 averages to tr(H_BB) / M_B."""
    p, x, y, H, _ = small_net
    layers = [{"w": f"layer{i}", "b": f"layer{i}"} for i in range(len(p))]
    with jax.enable_x64(True):
        dens = hs.block_spectral_density(
            _mse, p, (x, y), labels=layers, num_probes=200, num_steps=30
        )
    nodes, weights = np.asarray(dens.nodes), np.asarray(dens.weights)
    assert nodes.shape[:2] == (3, 200)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-10)
    for b, name in enumerate(hs.block_names(p, layers)):
        idx = _block_slices(p, layers)[name]
        Hb = H[np.ix_(idx, idx)]
        eig = np.linalg.eigvalsh(Hb)
        heavy = weights[b] > 1e-8
        gap = np.abs(nodes[b][heavy][:, None] - eig[None, :]).min(1)
        if idx.size <= 30:
            assert gap.max() < 1e-6 * max(1.0, np.abs(eig).max())
        mean = (weights[b] * nodes[b]).sum(-1)
        se = mean.std(ddof=1) / np.sqrt(mean.size)
        assert abs(mean.mean() - np.trace(Hb) / idx.size) < 4 * se + 1e-12


def test_block_shares_of_the_top_eigenvector_sum_to_one_and_match_the_dense_eigenvector(small_net):
    p, x, y, H, _ = small_net
    with jax.enable_x64(True):
        shares = np.asarray(hs.top_eigenvector_shares(_mse, p, (x, y), k=2, num_steps=54))
    np.testing.assert_allclose(shares.sum(1), 1.0, atol=1e-12)
    _, U = np.linalg.eigh(H)
    for i in range(2):
        u = U[:, -1 - i]
        dense = [np.sum(u[idx] ** 2) for idx in _block_slices(p).values()]
        np.testing.assert_allclose(shares[i], dense, atol=1e-8)


def test_block_gauss_newton_eigenvalues_equal_the_dense_gauss_newton_blocks(small_net):
    p, x, y, H, _ = small_net
    with jax.enable_x64(True):
        G = np.asarray(hs.gauss_newton(mlp.apply, p, x, activation="tanh"))
        top = np.asarray(
            hs.block_top_eigenvalues(
                _mse,
                p,
                (x, y),
                k=2,
                curvature="gauss_newton",
                apply_fn=mlp.apply,
                apply_kwargs={"activation": "tanh"},
            )
        )
    hess = []
    for b, idx in enumerate(_block_slices(p).values()):
        dense = np.linalg.eigvalsh(G[np.ix_(idx, idx)])[::-1]
        np.testing.assert_allclose(
            top[b, : min(2, idx.size)], dense[: min(2, idx.size)], rtol=1e-8, atol=1e-10
        )
        hess.append(np.linalg.eigvalsh(H[np.ix_(idx, idx)])[-1])
    assert not np.allclose(top[:, 0], hess)  # away from interpolation G != H (residual part)
    with pytest.raises(ValueError, match="apply_fn"):
        hs.block_top_eigenvalues(_mse, p, (x, y), curvature="gauss_newton")
    with pytest.raises(ValueError, match="curvature"):
        hs.block_top_eigenvalues(_mse, p, (x, y), curvature="fisher")
    with pytest.raises(ValueError, match="labels"):
        hs.block_top_eigenvalues(_mse, p, (x, y), labels=["a", "b"])


def test_warm_started_lanczos_agrees_with_cold_and_needs_fewer_products(small_net):
    """Adaptive Lanczos stops at residual |H v - theta v| <= tol theta. Started from the top
    eigenvectors of a nearby point it returns the same eigenpairs (to the stated tolerance) with
    fewer products than a cold (random) start."""
    p, x, y, H, ev = small_net
    with jax.enable_x64(True):
        theta, unravel = ravel_pytree(p)
        moved = unravel(
            theta + 1e-3 * jax.random.normal(jax.random.key(5), theta.shape, theta.dtype)
        )
        H2 = np.asarray(hs.hessian(_mse, moved, (x, y)))
        ev2 = np.linalg.eigvalsh(H2)[::-1]
        tol = 1e-6
        top = jax.jit(
            lambda q, v0: hs.lanczos_top(hs.hessian_matvec(_mse, q, (x, y)), v0, 2, 54, tol=tol)
        )
        old = top(p, jax.random.normal(jax.random.key(1), theta.shape, theta.dtype))
        cold = top(moved, jax.random.normal(jax.random.key(2), theta.shape, theta.dtype))
        warm = top(moved, hs.warm_start(old.vectors, jax.random.key(3)))
    for r in (cold, warm):
        np.testing.assert_allclose(np.asarray(r.values), ev2[:2], rtol=1e-5)
        assert np.all(np.asarray(r.residuals) <= tol * np.abs(np.asarray(r.values)) * (1 + 1e-9))
        Hv = H2 @ np.asarray(r.vectors).T
        np.testing.assert_allclose(
            np.linalg.norm(Hv - np.asarray(r.vectors).T * np.asarray(r.values), axis=0),
            np.asarray(r.residuals),
            rtol=1e-3,
            atol=1e-9,
        )
    assert int(warm.num_matvecs) < int(cold.num_matvecs)
