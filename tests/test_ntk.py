"""Empirical NTK (all implementations = J1 J2^T), analytic two-layer ReLU kernels, 1-D spectra."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasekit.models import cnn, mlp, two_layer
from phasekit.theory import ntk
from phasekit.theory import ntk_analytic as na

IMPLS = ("auto", "jacobian", "ntvp", "structured")


def jacrev_ntk(apply_fn, params, x1, x2):
    """Reference: Theta = J1 J2^T from full-batch jax.jacrev, [n1, n2, *out, *out] untraced."""
    j1 = jax.tree_util.tree_leaves(jax.jacrev(lambda p: apply_fn(p, x1))(params))
    j2 = jax.tree_util.tree_leaves(jax.jacrev(lambda p: apply_fn(p, x2))(params))
    out1, out2 = apply_fn(params, x1).shape, apply_fn(params, x2).shape
    flat = lambda j, out: j.reshape(out + (-1,))
    if len(out1) == 1:
        return sum(flat(a, out1) @ flat(b, out2).T for a, b in zip(j1, j2))
    return sum(jnp.einsum("icp,jdp->ijcd", flat(a, out1), flat(b, out2)) for a, b in zip(j1, j2))


def rel(a, b):
    return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


class FlaxMLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = nn.gelu(nn.Dense(12)(x))
        return nn.Dense(3)(jnp.tanh(nn.Dense(10)(h)))


X1 = np.random.default_rng(1).normal(size=(7, 3)).astype(np.float32)
X2 = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)


@functools.cache
def model(name):
    """(apply_fn, params, x1, x2) of the test models (params from one jitted init each)."""
    key = jax.random.key(0)
    if name == "mlp":
        return (
            functools.partial(mlp.apply, activation="tanh", residual=True),
            jax.jit(lambda k: mlp.init(k, [3, 8, 8, 2], gamma=0.5))(key),
            X1,
            X2,
        )
    if name == "two_layer":
        return (
            functools.partial(two_layer.apply, alpha=4.0),
            jax.jit(lambda k: two_layer.rescale(two_layer.init(k, 32, 3), 0.5, 2.0))(key),
            X1,
            X2,
        )
    if name == "cnn":
        images = jax.random.normal(jax.random.key(3), (9, 6, 6, 1))
        return (
            cnn.apply,
            jax.jit(lambda k: cnn.init(k, (6, 6, 1), features=3))(key),
            images[:5],
            images[5:],
        )
    flax_mlp = FlaxMLP()
    return flax_mlp.apply, jax.jit(flax_mlp.init)(key, X1), X1, X2


MODELS = ("mlp", "two_layer", "cnn", "flax")


@pytest.mark.parametrize("name", MODELS)
def test_all_implementations_equal_jacrev_contraction(name):
    """Theta(x1, x2) = J1 J2^T to 1e-5 (float32): every implementation, traced and untraced,
    in blocks of 3 samples or not (on the MLP), and with x2 = x1; 'auto' picks the structured
    rules for every model here (the CNN's conv layer too)."""
    apply_fn, params, x1, x2 = model(name)
    assert ntk.ntk_plan(apply_fn, params, x1).implementation == "structured"
    impls = ("jacobian", "ntvp", "structured")
    variants = name == "mlp"  # blocks and untraced outputs: same code for every model
    trace = lambda k: jnp.einsum("ijcc->ij", k) if k.ndim == 4 else k

    @jax.jit
    def kernels(params):
        out = {
            "ref": jacrev_ntk(apply_fn, params, x1, x2),
            "auto": ntk.empirical_ntk(apply_fn, params, x1, x2),
            "ref_sym": jacrev_ntk(apply_fn, params, x1, x1),
        }
        for impl in impls:
            out[impl] = ntk.empirical_ntk(apply_fn, params, x1, x2, implementation=impl)
            if impl == "structured":  # x2 = None reuses the factors of x1 (its own path)
                out[impl + " sym"] = ntk.empirical_ntk(apply_fn, params, x1, implementation=impl)
            if (
                variants and impl != "jacobian"
            ):  # blocks: ntvp covers the generic path, structured its own
                out[impl + " blocks"] = ntk.empirical_ntk(
                    apply_fn, params, x1, x2, implementation=impl, batch_size=3
                )
            if variants:
                out[impl + " untraced"] = ntk.empirical_ntk(
                    apply_fn, params, x1, x2, implementation=impl, trace_axes=()
                )
        return out

    got = kernels(params)
    ref, ref_sym = got.pop("ref"), trace(got.pop("ref_sym"))
    for label, kernel in got.items():
        want = (
            ref if label.endswith("untraced") else ref_sym if label.endswith("sym") else trace(ref)
        )
        assert kernel.shape == want.shape, label
        assert rel(kernel, want) < 1e-5, label


def test_vmap_over_seeds_and_jit():
    """vmap over a stacked seed axis of params = one call per seed."""
    f = functools.partial(two_layer.apply, alpha=2.0)
    keys = jax.random.split(jax.random.key(5), 3)

    def kernels(p):
        return jnp.stack(
            [
                ntk.empirical_ntk(f, p, X1, X2, implementation=impl, batch_size=4)
                for impl in ("jacobian", "ntvp", "structured")
            ]
        )

    batched = jax.jit(jax.vmap(kernels))(jax.vmap(lambda k: two_layer.init(k, 16, 3))(keys))
    single = jax.jit(kernels)
    for s, k in enumerate(keys):
        assert rel(batched[s], single(two_layer.init(k, 16, 3))) < 1e-5


def test_bad_arguments_name_the_field():
    f, params, _, _ = model("mlp")
    with pytest.raises(ValueError, match="implementation"):
        ntk.empirical_ntk(f, params, X1, implementation="fast")
    with pytest.raises(ValueError, match="trace_axes"):
        ntk.empirical_ntk(f, params, X1, trace_axes=(1,))
    with pytest.raises(ValueError, match="batch_size"):
        ntk.empirical_ntk(f, params, X1, batch_size=0)
    with pytest.raises(ValueError, match="apply_fn"):
        ntk.empirical_ntk(lambda p, x: (f(p, x), f(p, x)), params, X1)


def test_linearize_is_first_order_taylor():
    """f_lin(theta0) = f(theta0); f_lin is affine in theta; f - f_lin = O(|dtheta|^2)."""
    f, params, x, _ = model("mlp")
    direction = jax.tree_util.tree_map(lambda p: jnp.full_like(p, 0.1), params)

    @jax.jit
    def along(params, direction, steps):
        f_lin = ntk.linearize(f, params)
        at = lambda s: jax.tree_util.tree_map(lambda p, d: p + s * d, params, direction)
        return jnp.stack([f(at(s), x) for s in steps]), jnp.stack([f_lin(at(s), x) for s in steps])

    net, lin = along(params, direction, (0.0, 1.0, 2.0))
    np.testing.assert_allclose(lin[0], net[0], rtol=0, atol=0)
    np.testing.assert_allclose(lin[2] - lin[0], 2 * (lin[1] - lin[0]), rtol=1e-4, atol=1e-6)
    with jax.enable_x64(True):
        to64 = lambda t: jax.tree_util.tree_map(lambda p: p.astype(jnp.float64), t)
        net, lin = along(to64(params), to64(direction), (1e-2, 5e-3))
        err = jnp.max(jnp.abs(net - lin), axis=(1, 2))
    assert 3.5 < float(err[0] / err[1]) < 4.5  # halving the step quarters the error


def test_empirical_ntk_converges_to_analytic_like_inverse_sqrt_width():
    """NTK preset: ||Theta_m - Theta_inf|| / ||Theta_inf|| ~ m^-1/2 (sum of m i.i.d. neuron terms)."""
    x = jnp.linspace(-1, 1, 8)[:, None]
    widths = np.array([64, 512, 4096])
    errors = []
    for m in widths:
        alpha, beta1, beta2 = two_layer.preset("ntk", int(m), 1)
        exact = na.two_layer_relu_ntk(x, width=int(m), alpha=alpha, beta1=beta1, beta2=beta2)
        f = functools.partial(two_layer.apply, alpha=alpha)

        def error(key):
            p = two_layer.rescale(two_layer.init(key, int(m), 1), beta1, beta2)
            return jnp.sum((ntk.empirical_ntk(f, p, x) - exact) ** 2) / jnp.sum(exact**2)

        errors.append(
            float(
                jnp.sqrt(
                    jnp.mean(jax.jit(jax.vmap(error))(jax.random.split(jax.random.key(1), 16)))
                )
            )
        )
    slope = np.polyfit(np.log(widths), np.log(errors), 1)[0]
    assert -0.7 <= slope <= -0.3, (slope, errors)
    assert errors[-1] < 0.05


def test_analytic_kernels_are_the_means_at_any_width():
    """E Theta_emp and E f(x) f(x') over seeds equal the arc-cosine formulas (He preset, m = 32)."""
    m, d = 32, 2
    x = jax.random.normal(jax.random.key(7), (5, d))
    alpha, beta1, beta2 = two_layer.preset("he", m, d)
    f = functools.partial(two_layer.apply, alpha=alpha)

    def sample(key):
        p = two_layer.rescale(two_layer.init(key, m, d), beta1, beta2)
        out = f(p, x)
        return ntk.empirical_ntk(f, p, x), out[:, None] * out[None, :]

    thetas, products = jax.jit(jax.vmap(sample))(jax.random.split(jax.random.key(8), 2000))
    scales = dict(width=m, alpha=alpha, beta1=beta1, beta2=beta2)
    for draws, exact in (
        (thetas, na.two_layer_relu_ntk(x, **scales)),
        (products, na.two_layer_relu_nngp(x, **scales)),
    ):
        stderr = jnp.std(draws, axis=0) / np.sqrt(draws.shape[0])
        assert float(jnp.max(jnp.abs(jnp.mean(draws, axis=0) - exact) / stderr)) < 5.0


def test_spectrum_1d_finds_the_frequency_of_a_stationary_kernel():
    """K(x, x') = sum_k c_k cos(2 pi k (x - x')) on a periodic grid: eigenvector j has frequency k_j."""
    n = 64
    grid = jnp.arange(n) / n
    c = {1: 8.0, 3: 4.0, 6: 2.0, 10: 1.0}
    diff = grid[:, None] - grid[None, :]
    kernel = sum(ck * jnp.cos(2 * jnp.pi * k * diff) for k, ck in c.items())
    spec = na.spectrum_1d(kernel, grid)
    np.testing.assert_allclose(spec.eigenvalues[:8:2], [ck * n / 2 for ck in c.values()], rtol=1e-4)
    np.testing.assert_allclose(spec.frequency[:8], [1, 1, 3, 3, 6, 6, 10, 10], atol=1e-6)


def test_top_ntk_eigenfunctions_have_the_lowest_frequencies():
    """F-Principle in the linear regime: the ReLU NTK's eigenvalues decay with frequency."""
    grid = jnp.linspace(-1, 1, 128)[:, None]
    empirical = jax.jit(
        lambda p: ntk.empirical_ntk(functools.partial(two_layer.apply, alpha=32.0), p, grid)
    )
    for kernel in (
        na.two_layer_relu_ntk(grid),
        empirical(two_layer.init(jax.random.key(0), 1024, 1)),
    ):
        spec = na.spectrum_1d(kernel, grid)
        freq = np.asarray(spec.frequency)
        assert freq[:3].max() <= 1.0  # top three: at most one cycle
        assert np.median(freq[:5]) < np.median(freq[5:15]) < np.median(freq[15:30])
        ranks = np.argsort(np.argsort(freq[:30]))
        assert np.corrcoef(ranks, np.arange(30))[0, 1] > 0.8  # rank correlation


def test_cnn_reads_its_architecture_and_checks_inputs():
    """cnn.apply: [n, 6, 6, 1] -> [n]; wrong channel count or architecture -> ValueError naming the field."""
    apply_fn, variables, x, _ = model("cnn")
    assert apply_fn(variables, x).shape == (x.shape[0],)
    with pytest.raises(ValueError, match="x"):
        cnn.apply(variables, jnp.ones((2, 6, 6, 2)))
    with pytest.raises(ValueError, match="features"):
        cnn.apply(variables, x, features=5)
    with pytest.raises(ValueError, match="input_shape"):
        cnn.init(jax.random.key(0), (6, 6))
