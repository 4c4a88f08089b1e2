"""MscaleDNN and Fourier-feature networks (phasekit.models.mscale) and the compact-support
activations sReLU / s2ReLU: closed forms, the plain-net limit, vmapping over scales and seeds."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from phasekit.models import activations, mlp, mscale


def test_compact_support_activations_closed_form():
    x = jnp.array([-1.0, 0.0, 0.25, 0.5, 1.0, 1.5])
    # sReLU(x) = relu(x) relu(1 - x): x(1 - x) on [0, 1], 0 outside
    np.testing.assert_allclose(activations.get("srelu")(x), [0, 0, 0.1875, 0.25, 0, 0], atol=1e-7)
    # s2ReLU(x) = sin(2 pi x) sReLU(x): sin(pi/2) * 0.1875 at 1/4, sin(pi) * 0.25 = 0 at 1/2
    np.testing.assert_allclose(activations.get("s2relu")(x), [0, 0, 0.1875, 0, 0, 0], atol=1e-6)


def test_scale_sets_and_parts():
    np.testing.assert_array_equal(mscale.scale_set(4), [1, 2, 3, 4])
    np.testing.assert_array_equal(mscale.scale_set(4, "geometric"), [1, 2, 4, 8])
    np.testing.assert_array_equal(np.bincount(mscale.part_index(10, 3)), [4, 3, 3])
    with pytest.raises(ValueError, match="kind"):
        mscale.scale_set(3, "cubic")
    with pytest.raises(ValueError, match="n_parts"):
        mscale.part_index(2, 3)


def test_one_scale_is_the_plain_net():
    p = mscale.init(jax.random.key(0), [1, 12, 12, 1])
    x = jnp.linspace(-1, 1, 7)[:, None]
    plain = mlp.apply(p, x, activation="tanh")
    np.testing.assert_array_equal(mscale.apply(p, x, jnp.ones(1), activation="tanh"), plain)
    np.testing.assert_array_equal(mscale.apply(p, x, jnp.ones(4), activation="tanh"), plain)
    assert not np.allclose(mscale.apply(p, x, mscale.scale_set(4), activation="tanh"), plain)


def test_part_i_sees_scale_i_times_x():
    """h_1 = sigma([(s_1 x) W_1 + b_1, (s_2 x) W_2 + b_2]), f = h_1 W + b, written out by hand."""
    p = mscale.init(jax.random.key(1), [2, 6, 1], bias_std=0.3)
    x = jax.random.normal(jax.random.key(2), (5, 2))
    s = jnp.array([1.0, 3.0])
    w1, b1 = p[0]["w"], p[0]["b"]
    z = jnp.concatenate([(s[0] * x) @ w1[:, :3] + b1[:3], (s[1] * x) @ w1[:, 3:] + b1[3:]], axis=1)
    want = (jnp.sin(z) @ p[1]["w"] + p[1]["b"])[:, 0]
    np.testing.assert_allclose(mscale.apply(p, x, s, activation="sin"), want, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_vmap_over_scales_and_seeds():
    x = jnp.linspace(-1, 1, 9)[:, None]
    scales = jnp.stack([jnp.ones(3), jnp.asarray(mscale.scale_set(3))])  # [2, A]
    keys = jax.random.split(jax.random.key(3), 4)
    out = jax.vmap(
        lambda k: jax.vmap(lambda s: mscale.apply(mscale.init(k, [1, 9, 1]), x, s, "srelu"))(scales)
    )(keys)
    assert out.shape == (4, 2, 9)
    p = mscale.init(keys[2], [1, 9, 1])
    np.testing.assert_allclose(
        out[2, 1], mscale.apply(p, x, scales[1], "srelu"), rtol=1e-6, atol=1e-7
    )


def test_fourier_features_closed_form():
    b = jnp.array([[1.0], [0.5]])
    x = jnp.array([[0.25], [0.0]])
    # 2 pi sigma B x at sigma = 2, x = 1/4: (pi, pi/2) -> cos = (-1, 0), sin = (0, 1); x = 0: (1, 1, 0, 0)
    np.testing.assert_allclose(
        mscale.fourier_features(x, b, 2.0), [[-1, 0, 0, 1], [1, 1, 0, 0]], atol=1e-6
    )
    p = mscale.fourier_init(jax.random.key(4), [1, 8, 1], n_features=2)
    p["b"] = b
    np.testing.assert_allclose(
        mscale.fourier_apply(p, x, 2.0, "tanh"),
        mlp.apply(p["net"], mscale.fourier_features(x, b, 2.0), "tanh"),
        rtol=1e-6,
    )


def test_fourier_frequencies_have_std_sigma_and_b_is_not_trained():
    p = mscale.fourier_init(jax.random.key(5), [1, 4, 1], n_features=20_000)
    assert p["b"].shape == (20_000, 1) and p["net"][0]["w"].shape == (40_000, 4)
    sigma = 3.0
    assert abs(float(jnp.std(sigma * p["b"])) / sigma - 1) < 0.02  # sigma B ~ N(0, sigma^2)
    x = jnp.linspace(-1, 1, 5)[:, None]
    g = jax.grad(lambda q: jnp.sum(mscale.fourier_apply(q, x, sigma, "tanh") ** 2))(p)
    assert float(jnp.abs(g["b"]).max()) == 0.0 and float(jnp.abs(g["net"][0]["w"]).max()) > 0
    g = jax.grad(lambda q: jnp.sum(mscale.fourier_apply(q, x, sigma, "tanh", train_b=True) ** 2))(p)
    assert float(jnp.abs(g["b"]).max()) > 0


def test_sigma_grid_vmaps():
    p = mscale.fourier_init(jax.random.key(6), [1, 8, 1], n_features=4)
    x = jnp.linspace(-1, 1, 5)[:, None]
    out = jax.vmap(lambda s: mscale.fourier_apply(p, x, s, "relu"))(jnp.array([1.0, 10.0]))
    np.testing.assert_allclose(out[1], mscale.fourier_apply(p, x, 10.0, "relu"), rtol=1e-6)


def test_param_counts():
    sizes = [1, 30, 30, 1]
    assert mscale.param_count(sizes) == ravel_pytree(mlp.init(jax.random.key(0), sizes))[0].size
    budget = mscale.param_count(sizes)
    h = mscale.fourier_width(budget, n_features=8, depth=2)
    assert mscale.param_count([16, h, h, 1]) <= budget < mscale.param_count([16, h + 1, h + 1, 1])
