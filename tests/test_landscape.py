"""phasekit.theory.landscape: filter normalization, slices on quadratics, Feng-Tu flatness, gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasekit.models import mlp, toys, two_layer
from phasekit.theory import landscape as ls

A = jnp.array([[3.0, 1.0], [1.0, 2.0]])
C = jnp.array([0.5, -1.0])


def _quadratic(theta, c0):
    """L = c0 + c.theta + theta^T A theta / 2: every slice is an exact parabola."""
    return c0 + C @ theta + 0.5 * theta @ A @ theta


def test_filter_normalized_direction_has_the_block_norms_of_the_parameters():
    p = mlp.init(jax.random.key(0), [3, 4, 2], bias_std=1.0)
    d = ls.random_direction(jax.random.key(1), p)
    for layer_d, layer_p in zip(d, p):
        np.testing.assert_allclose(
            jnp.linalg.norm(layer_d["w"], axis=0), jnp.linalg.norm(layer_p["w"], axis=0), rtol=1e-5
        )
        np.testing.assert_array_equal(layer_d["b"], 0.0)  # biases ignored (Li et al.)
    # the direction's own scale is irrelevant; each neuron gets its own factor
    raw = ls.random_direction(jax.random.key(1), p, normalization=None)
    again = ls.filter_normalize(jax.tree_util.tree_map(lambda a: 7.0 * a, raw), p)
    np.testing.assert_allclose(again[0]["w"], d[0]["w"], rtol=1e-5)
    assert not np.allclose(d[0]["w"] / raw[0]["w"], (d[0]["w"] / raw[0]["w"])[0, 0])
    # two_layer: neurons along axis 0 of w [m, d]; 1-D a, b normalized as whole leaves
    q = two_layer.init(jax.random.key(2), width=5, input_dim=3)
    e = ls.random_direction(jax.random.key(3), q, axis=0, ignore_1d=False)
    np.testing.assert_allclose(
        jnp.linalg.norm(e["w"], axis=1), jnp.linalg.norm(q["w"], axis=1), rtol=1e-5
    )
    np.testing.assert_allclose(jnp.linalg.norm(e["a"]), jnp.linalg.norm(q["a"]), rtol=1e-5)
    with pytest.raises(ValueError, match="normalization"):
        ls.random_direction(jax.random.key(0), p, normalization="unit")


def test_slices_and_interpolation_of_a_quadratic_are_exact_parabolas():
    theta, d1, d2 = jnp.array([0.3, -0.2]), jnp.array([1.0, 0.5]), jnp.array([-0.4, 1.0])
    a, b = jnp.linspace(-2, 2, 5), jnp.linspace(-1, 1, 3)
    g = C + A @ theta
    parabola = lambda d, s: _quadratic(theta, 1.0) + s * (g @ d) + 0.5 * s**2 * (d @ A @ d)
    np.testing.assert_allclose(
        ls.slice_1d(_quadratic, theta, d1, a, 1.0), parabola(d1, a), rtol=1e-5
    )
    S = ls.slice_2d(_quadratic, theta, d1, d2, a, b, 1.0)
    assert S.shape == (5, 3)
    np.testing.assert_allclose(S[:, 1], parabola(d1, a), rtol=1e-5)
    np.testing.assert_allclose(S[2, :], parabola(d2, b), rtol=1e-5)
    np.testing.assert_allclose(S[4, 2], _quadratic(theta + 2 * d1 + d2, 1.0), rtol=1e-5)
    other = theta + d2
    curve = ls.interpolate(_quadratic, theta, other, jnp.array([0.0, 1.0, 2.0]), 1.0)
    np.testing.assert_allclose(
        curve,
        [_quadratic(theta, 1.0), _quadratic(other, 1.0), _quadratic(theta + 2 * d2, 1.0)],
        rtol=1e-5,
    )


def test_directional_curvature_is_d_a_d_on_a_quadratic_and_the_second_difference_of_the_line():
    d = jnp.array([1.0, -0.5])
    assert float(ls.directional_curvature(_quadratic, jnp.array([0.3, -0.2]), d, 1.0)) == (
        pytest.approx(float(d @ A @ d), rel=1e-6)
    )
    # a non-quadratic loss: d^2/dt^2 L((1 - t) a + t b) at t = 1 by central differences
    with jax.enable_x64(True):
        p = mlp.init(jax.random.key(0), [2, 5, 1])
        q = mlp.init(jax.random.key(1), [2, 5, 1])
        x = jax.random.normal(jax.random.key(2), (8, 2))
        loss = lambda p, x: jnp.mean(jnp.sin(mlp.apply(p, x, activation="tanh")) ** 2)
        p, q = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), (p, q))
        x = x.astype(jnp.float64)
        h = 1e-4  # central-difference error O(h^2): 6e-5 relative at h = 1e-3
        line = ls.interpolate(loss, p, q, jnp.array([1.0 - h, 1.0, 1.0 + h]), x)
        fd = (line[0] - 2 * line[1] + line[2]) / h**2
        diff = jax.tree_util.tree_map(lambda b, a: b - a, q, p)
        np.testing.assert_allclose(ls.directional_curvature(loss, q, diff, x), fd, rtol=1e-5)


def test_direction_flatness_on_a_quadratic_matches_the_closed_form():
    """At the minimum, L = L0 + lambda s^2 / 2 along an eigenvector: F = 2 sqrt(2 (e - 1) L0 / lambda)."""
    lam, vecs = np.linalg.eigh(np.asarray(A))
    theta_min = -jnp.linalg.solve(A, C)
    L0 = 1.0 - 0.5 * C @ jnp.linalg.solve(A, C)  # = 0.5875 > 0
    for i in range(2):
        d = 3.0 * jnp.asarray(vecs[:, i])  # the length of d does not matter
        F = ls.direction_flatness(_quadratic, theta_min, d, 1.0, max_step=3.0)
        np.testing.assert_allclose(F, 2 * np.sqrt(2 * (np.e - 1) * L0 / lam[i]), rtol=1e-5)
    sharp, flat = (
        ls.direction_flatness(_quadratic, theta_min, jnp.asarray(vecs[:, i]), 1.0, max_step=3.0)
        for i in (1, 0)
    )
    assert sharp < flat
    assert (
        ls.direction_flatness(_quadratic, theta_min, jnp.asarray(vecs[:, 0]), 1.0, max_step=0.1)
        == np.inf
    )


def test_layer_gradient_norms_vanish_for_sigmoid_with_xavier_but_not_relu_with_he():
    """Course notes: 10-layer MLP, MSE: |dL/dW_1| / |dL/dW_10| ~ 1e-6 (sigmoid, Xavier), O(0.1) (ReLU, He)."""
    x = jax.random.normal(jax.random.key(1), (32, 8))
    y = jnp.sin(x[:, 0])
    sizes = [8] + [32] * 9 + [1]

    @jax.jit
    def norms(key):
        out = []
        for act, scheme in (("sigmoid", "xavier"), ("relu", "he")):
            loss = lambda p: 0.5 * jnp.mean((mlp.apply(p, x, activation=act) - y) ** 2)
            out.append(ls.layer_gradient_norms(loss, mlp.init(key, sizes, scheme=scheme)))
        g = jax.grad(loss)(mlp.init(key, sizes, scheme="he"))  # by hand, for the ReLU + He net
        return out + [jnp.stack([jnp.linalg.norm(layer["w"]) for layer in g])]

    sig, relu, by_hand = norms(jax.random.key(0))
    np.testing.assert_allclose(relu, by_hand, rtol=1e-6)
    assert sig[0] / sig[-1] < 1e-4
    assert relu[0] / relu[-1] > 1e-2


def test_eigenvalues_on_grid_find_the_negative_curvature_of_the_one_one_one_net():
    """Cross-entropy, sigmoid hidden and output, x = 1, label 1: eig H(0, 0) = (1 -+ sqrt 17) / 32."""

    def loss(w):
        return -jnp.log(toys.one_one_one_apply(w, jnp.ones(1), output="sigmoid")[0])

    grid = jnp.stack(
        jnp.meshgrid(jnp.linspace(-2, 2, 5), jnp.linspace(-2, 2, 5), indexing="ij"), axis=-1
    )
    ev = ls.eigenvalues_on_grid(loss, grid)
    assert ev.shape == (5, 5, 2)
    np.testing.assert_allclose(
        ev[2, 2], [(1 - np.sqrt(17)) / 32, (1 + np.sqrt(17)) / 32], rtol=1e-5
    )
    assert np.all(ev[..., 1] >= ev[..., 0])


def test_gradient_norm_ratio_is_first_over_last_layer_along_the_last_axis():
    """ratio = norms[..., 0] / norms[..., -1], batched over leading axes (seeds)."""
    norms = jnp.asarray([[1e-6, 0.5, 2.0], [3.0, 1.0, 1.5]])
    np.testing.assert_allclose(ls.gradient_norm_ratio(norms), [5e-7, 2.0], rtol=1e-6)
    np.testing.assert_allclose(ls.gradient_norm_ratio(norms, first=1), [0.25, 1 / 1.5], rtol=1e-6)


def _x64():
    return jax.enable_x64(True)


def test_one_one_one_losses_and_closed_form_hessians_agree_with_autodiff():
    """MSE: det H = s^2 (w2^2 s'^2 + r w2 s'') - s'^2 (w2 s + r)^2, r = w2 s - y (< 0 off w2 = 0 for y = 0);
    cross-entropy at the origin: H = [[0, (1/2 - y)/4], [(1/2 - y)/4, 1/16]]."""
    from phasekit.theory import hessian

    with _x64():
        x = jnp.ones(1, jnp.float64)
        w = jnp.asarray([0.7, -1.3], jnp.float64)
        f = toys.one_one_one_apply(w, x, output="sigmoid")
        np.testing.assert_allclose(
            toys.one_one_one_cross_entropy(w, (x, jnp.ones(1))), -jnp.log(f), rtol=1e-12
        )
        np.testing.assert_allclose(
            toys.one_one_one_mse(w, (x, jnp.ones(1))),
            0.5 * (toys.one_one_one_apply(w, x) - 1) ** 2,
            rtol=1e-12,
        )
        for y in (0.0, 1.0, 0.3):
            yy = jnp.full(1, y, jnp.float64)
            H0 = hessian.hessian(toys.one_one_one_cross_entropy, jnp.zeros(2, jnp.float64), (x, yy))
            np.testing.assert_allclose(H0, ls.one_one_one_ce_origin_hessian(y), atol=1e-14)
            for w1, w2 in ((0.7, -1.3), (-2.0, 0.4), (3.0, 2.5)):
                H = hessian.hessian(
                    toys.one_one_one_mse, jnp.asarray([w1, w2], jnp.float64), (x, yy)
                )
                np.testing.assert_allclose(
                    ls.one_one_one_mse_hessian_det(w1, w2, y), jnp.linalg.det(H), rtol=1e-9
                )
        np.testing.assert_allclose(
            ls.one_one_one_ce_origin_hessian(1.0), [[0, -1 / 8], [-1 / 8, 1 / 16]]
        )
        w1, w2 = np.meshgrid(np.linspace(-6, 6, 13), np.linspace(-6, 6, 12))  # even count: w2 != 0
        assert np.all(ls.one_one_one_mse_hessian_det(w1, w2, 0.0) < 0)
        assert np.any(ls.one_one_one_mse_hessian_det(w1, w2, 1.0) > 0)


def test_interpolation_barrier_is_the_segment_max_over_the_worse_endpoint():
    """L(t) = 1 + t + 2 exp(-((t - 1/2)/0.1)^2): L(1/2) = 3.5 over the worse endpoint L(1) = 2; monotone: 1."""
    ts = np.linspace(-1.0, 2.0, 31)
    bump = 1.0 + ts + 2.0 * np.exp(-(((ts - 0.5) / 0.1) ** 2))
    monotone = 1.0 + ts
    out = ls.interpolation_barrier(ts, np.stack([bump, monotone]))
    np.testing.assert_allclose(out, [(1.5 + 2.0) / 2.0, 1.0], rtol=1e-6)
    with pytest.raises(ValueError, match="ts"):
        ls.interpolation_barrier(np.linspace(0.1, 0.9, 5), np.ones(5))
