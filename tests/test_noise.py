"""Label noise corrupts exactly the stated fraction, always to another class; MNIST-1D loads
locally when the optional package is there."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasekit.data import noise


def test_label_noise_flips_exactly_the_fraction_to_other_classes():
    y = jnp.arange(200) % 10
    for p in (0.0, 0.15, 1.0):
        yn, flip = noise.label_noise(jax.random.key(0), y, p, 10)
        assert int(flip.sum()) == int(np.floor(p * 200))
        np.testing.assert_array_equal(yn != y, flip)  # every corrupted label changed, others kept
        assert int(yn.min()) >= 0 and int(yn.max()) < 10
    many = jax.vmap(lambda p: noise.label_noise(jax.random.key(1), y, p, 10)[1].sum())(
        jnp.array([0.1, 0.5])
    )
    np.testing.assert_array_equal(many, [20, 100])
    with pytest.raises(ValueError, match="num_classes"):
        noise.label_noise(jax.random.key(0), y, 0.1, 1)


def test_mnist1d_is_generated_locally():
    pytest.importorskip("mnist1d")
    from phasekit.data.mnist_1d import mnist1d

    x, y = mnist1d("train", num_samples=200)
    xt, yt = mnist1d("test", num_samples=200)
    assert x.shape == (160, 40) and xt.shape == (40, 40) and x.dtype == np.float32
    assert set(np.unique(y)) <= set(range(10))
    np.testing.assert_array_equal(mnist1d("train", num_samples=200)[0], x)  # deterministic
