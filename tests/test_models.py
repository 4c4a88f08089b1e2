"""Models: the two-layer net of spec 01 (gradients, scaling, presets), MLP, toys, activations."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasekit.models import activations, mlp, toys, two_layer
from phasekit.theory import regimes


@pytest.mark.parametrize("activation", ["relu", "tanh", "softplus"])
def test_two_layer_gradients_match_closed_form(activation):
    """R_S = 1/(2n) sum (f - y)^2, f = (1/alpha) sum a_k sigma(w_k.x + b_k):
    dR/da_k = (1/(n alpha)) sum_i e_i sigma(z_ik),
    dR/dw_k = (1/(n alpha)) sum_i e_i a_k sigma'(z_ik) x_i,  dR/db_k likewise without x_i."""
    with jax.enable_x64(True):
        k1, k2, k3 = jax.random.split(jax.random.key(1), 3)
        p = two_layer.rescale(two_layer.init(k1, 7, 3, dtype=jnp.float64), 0.7, 1.3)
        x = jax.random.normal(k2, (5, 3), jnp.float64)
        y = jax.random.normal(k3, (5,), jnp.float64)
        alpha = 2.5
        loss = lambda q: 0.5 * jnp.mean((two_layer.apply(q, x, activation, alpha) - y) ** 2)
        g = jax.grad(loss)(p)
        sigma = activations.get(activation)
        z = x @ p["w"].T + p["b"]
        dsigma = jax.vmap(jax.vmap(jax.grad(sigma)))(z)
        e = sigma(z) @ p["a"] / alpha - y
        n = len(y)
        np.testing.assert_allclose(g["a"], (e @ sigma(z)) / (n * alpha), rtol=1e-12)
        np.testing.assert_allclose(
            g["w"], ((e[:, None] * dsigma * p["a"]).T @ x) / (n * alpha), rtol=1e-12
        )
        np.testing.assert_allclose(g["b"], (e @ (dsigma * p["a"])) / (n * alpha), rtol=1e-12)


def test_rescale_is_a_traced_multiplier_and_vmaps_with_seeds():
    """Scaling after init: a = beta1 abar, (w, b) = beta2 (wbar, bbar); a vmap over (seed, scale)
    equals the loop."""
    keys = jax.random.split(jax.random.key(0), 4)
    betas = jnp.array([0.1, 1.0, 3.0, 10.0])
    x = jnp.linspace(-1, 1, 6)[:, None]
    f = lambda k, b: two_layer.apply(
        two_layer.rescale(two_layer.init(k, 16, 1), b, 2 * b), x, alpha=b
    )
    batched = jax.jit(jax.vmap(f))(keys, betas)
    for i in range(4):
        np.testing.assert_allclose(batched[i], f(keys[i], betas[i]), rtol=1e-6)
    p = two_layer.init(keys[0], 16, 1)
    q = two_layer.rescale(p, 0.5, 4.0)
    np.testing.assert_array_equal(q["a"], 0.5 * p["a"])
    np.testing.assert_array_equal(q["b"], 4.0 * p["b"])


def test_antisymmetric_init_has_zero_output():
    """Neurons k and k + m/2 share (w, b) and have opposite a: f(theta0) = 0 up to the
    rounding of the sum (summation order differs between the two halves)."""
    p = two_layer.rescale(two_layer.init(jax.random.key(3), 64, 2, antisymmetric=True), 5.0, 5.0)
    x = jax.random.normal(jax.random.key(4), (10, 2))
    m = 32
    np.testing.assert_array_equal(p["w"][:m], p["w"][m:])
    np.testing.assert_array_equal(p["a"][:m], -p["a"][m:])
    scale = jnp.abs(jax.nn.relu(two_layer.preactivation(p, x))) @ jnp.abs(p["a"])
    assert np.all(np.abs(two_layer.apply(p, x)) <= 1e-6 * scale)


@pytest.mark.parametrize("m,d", [(10, 1), (1000, 3), (40000, 784)])
def test_presets_reproduce_table_7_1_kappas(m, d):
    """Book Table 7.1: kappa = beta1 beta2 / alpha and kappa' = beta1 / beta2 of each scheme."""
    expected = {
        "lecun": (math.sqrt(1 / (m * d)), math.sqrt(d / m)),
        "he": (math.sqrt(4 / (m * d)), math.sqrt(d / m)),
        "xavier": (math.sqrt(4 / ((m + 1) * (m + d))), math.sqrt((m + d) / (m + 1))),
        "ntk": (math.sqrt(1 / m), 1.0),
        "mean_field": (1 / m, 1.0),
        "e_et_al": (0.01, 0.01),
    }
    for name, (k, kp) in expected.items():
        a, b1, b2 = two_layer.preset(name, width=m, input_dim=d, beta=0.01)
        assert regimes.kappa(a, b1, b2) == pytest.approx(k, rel=1e-12)
        assert regimes.kappa_prime(a, b1, b2) == pytest.approx(kp, rel=1e-12)


def test_bad_inputs_raise_value_error_naming_the_field():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="width"):
        two_layer.init(key, width=0, input_dim=1)
    with pytest.raises(ValueError, match="width"):
        two_layer.preset("ntk", width=-3, input_dim=1)
    with pytest.raises(ValueError, match="activation"):
        two_layer.apply(two_layer.init(key, 4, 1), jnp.ones((2, 1)), activation="swishy")
    with pytest.raises(ValueError, match="preset"):
        two_layer.preset("kaiming", width=10, input_dim=1)
    with pytest.raises(ValueError, match="x"):
        two_layer.apply(two_layer.init(key, 4, 2), jnp.ones((3, 1)))
    with pytest.raises(ValueError, match="beta"):
        two_layer.preset("e_et_al", width=10, input_dim=1)
    with pytest.raises(ValueError, match="sizes"):
        mlp.init(key, [3, 0, 1])


def test_activations_formulas():
    x = jnp.linspace(-3, 3, 13)
    np.testing.assert_allclose(activations.get("xtanh")(x), x * np.tanh(x), rtol=1e-6)
    np.testing.assert_allclose(
        activations.get("x2tanh")(x), x**2 * np.tanh(x), rtol=1e-6, atol=1e-7
    )
    np.testing.assert_allclose(activations.get("sin:5")(x), np.sin(5 * x), rtol=1e-5, atol=1e-6)
    a = 0.3
    r = np.pi**0.25 / (15 * a) * (1 - (x / a) ** 2) * np.exp(-((x / a) ** 2) / 2)
    np.testing.assert_allclose(activations.get(f"ricker:{a}")(x), r, rtol=1e-5, atol=1e-7)
    assert set(activations.NAMES) >= {
        "relu",
        "tanh",
        "sigmoid",
        "softplus",
        "identity",
        "ricker",
        "sin",
    }


def test_mlp_init_std_and_residual():
    """std = fan_in^-gamma (init rate); He: Var = 2/fan_in; residual adds the skip path."""
    p = mlp.init(jax.random.key(0), [400, 400, 1], gamma=1.0)
    assert np.std(np.asarray(p[0]["w"])) == pytest.approx(1 / 400, rel=0.02)
    p = mlp.init(jax.random.key(0), [500, 500, 1], scheme="he")
    assert np.var(np.asarray(p[0]["w"])) == pytest.approx(2 / 500, rel=0.02)
    q = mlp.init(jax.random.key(1), [3, 3, 3, 1], scheme="lecun")
    x = jax.random.normal(jax.random.key(2), (4, 3))
    h1 = jnp.tanh(x @ q[0]["w"] + q[0]["b"]) + x
    h2 = jnp.tanh(h1 @ q[1]["w"] + q[1]["b"]) + h1
    np.testing.assert_allclose(
        mlp.apply(q, x, "tanh", residual=True), (h2 @ q[2]["w"] + q[2]["b"])[:, 0], rtol=1e-5
    )


def test_mlp_torch_init_is_uniform_fan_in():
    """PyTorch's nn.Linear default: w, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), so |w| <= bound,
    Var w = bound^2 / 3 = layer_std^2, and the values fill the interval (a uniform's max is
    within a hair of the bound; a normal of the same std would exceed it)."""
    sizes = [300, 256, 1]
    p = mlp.init(jax.random.key(0), sizes, scheme="torch")
    for layer, fi, fo in zip(p, sizes[:-1], sizes[1:]):
        bound = fi**-0.5
        for leaf in (np.asarray(layer["w"]), np.asarray(layer["b"])):
            assert np.abs(leaf).max() <= bound
        w = np.asarray(layer["w"])
        assert mlp.layer_std(fi, fo, "torch") == pytest.approx(bound / 3**0.5)
        if w.size > 1000:
            assert np.std(w) == pytest.approx(bound / 3**0.5, rel=0.02)
            assert np.abs(w).max() > 0.99 * bound
            # uniform: E|w| = bound / 2 (a normal of the same std has E|w| = 0.461 bound)
            assert np.abs(w).mean() == pytest.approx(bound / 2, rel=0.02)
    b = np.asarray(p[0]["b"])
    assert np.std(b) == pytest.approx(300**-0.5 / 3**0.5, rel=0.15)
    # an explicit bias_std overrides the uniform biases; gamma overrides the scheme
    q = mlp.init(jax.random.key(0), sizes, scheme="torch", bias_std=0.0)
    assert np.all(np.asarray(q[0]["b"]) == 0)
    g = mlp.init(jax.random.key(0), [400, 400, 1], scheme="torch", gamma=1.0)
    assert np.std(np.asarray(g[0]["w"])) == pytest.approx(1 / 400, rel=0.02)


def test_toys():
    x = jnp.array([[1.0, 2.0], [3.0, -1.0]])
    t = jnp.array([0.5, 1.0, 2.0, -1.5])
    np.testing.assert_allclose(toys.f_nl_apply(t, x), 0.5 + x[:, 0] - 3.0 * x[:, 1])
    p = toys.matrix_factorization_init(jax.random.key(0), 4)
    e = jnp.array([[0, 1], [3, 2], [2, 2]])
    np.testing.assert_allclose(
        toys.matrix_factorization_apply(p, e), (p["A"] @ p["B"])[e[:, 0], e[:, 1]], rtol=1e-6
    )
    w = jnp.array([0.0, 0.0])
    assert float(toys.one_one_one_apply(w, jnp.ones(1), output="sigmoid")[0]) == pytest.approx(0.5)
