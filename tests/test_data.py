"""Datasets: bundled scikit-learn sets, MNIST IDX reading from local files, synthetic targets."""

import gzip
import struct

import numpy as np
import pytest

from phasekit import data


def _write_idx(path, array, code):
    header = (
        b"\x00\x00"
        + bytes([code, array.ndim])
        + b"".join(struct.pack(">I", s) for s in array.shape)
    )
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(array.dtype.newbyteorder(">")).tobytes())


def test_mnist_reads_local_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images, 0x08)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels, 0x08)
    x, y = data.mnist(tmp_path, split="test")
    assert x.shape == (5, 784) and x.dtype == np.float32
    np.testing.assert_allclose(x[2], images[2].ravel() / 255.0)
    np.testing.assert_array_equal(y, labels)
    floats = rng.normal(size=(2, 3)).astype(np.float32)
    _write_idx(tmp_path / "f.idx", floats, 0x0D)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "f.idx"), floats)


def test_missing_mnist_names_the_expected_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "train-images-idx3-ubyte.gz")):
        data.mnist(tmp_path)
    with pytest.raises(ValueError, match="split"):
        data.mnist(tmp_path, split="validation")


def test_bundled_datasets():
    x, y = data.digits()
    assert x.shape == (1797, 64) and 0 <= x.min() and x.max() <= 1 and set(y) == set(range(10))
    x, y = data.iris()
    assert (
        x.shape == (150, 4)
        and np.allclose(x.mean(0), 0, atol=1e-5)
        and np.allclose(x.std(0), 1, atol=1e-5)
    )
    with pytest.raises(ValueError, match="data"):
        data.load("cifar")


def test_synthetic_targets():
    x, y = data.authors_three_points()
    np.testing.assert_array_equal(x[:, 0], [-0.5, 0, 0.5])
    np.testing.assert_array_equal(y, [-0.5, 0, 1])
    g = data.uniform_grid(5, -np.pi, np.pi)
    np.testing.assert_allclose(
        data.sin_mixture(g, (1, 5)), np.sin(g[:, 0]) + np.sin(5 * g[:, 0]), atol=1e-6
    )
    # spec 02 target: slopes 0, 2, 1, -0.5, 0 on the pieces split at -0.3, 0, 0.4, 0.8
    t = np.array([-1.0, -0.5, -0.3, 0.0, 0.4, 0.8, 1.0])
    f = data.relu_combination(t[:, None])
    np.testing.assert_allclose(f, [0, 0, 0, 0.6, 1.0, 0.8, 0.8], atol=1e-6)
    with pytest.raises(ValueError, match="n"):
        data.uniform_grid(0)


def test_hypercube_and_parity():
    # {-1, 1}^3: 8 distinct points, row i = 1 - 2 * bits of i; parity = product of coordinates,
    # +1 on the points with an even number of -1 entries; half of the cube has each label.
    x = data.hypercube(3)
    assert x.shape == (8, 3) and x.dtype == np.float32 and len({tuple(r) for r in x}) == 8
    np.testing.assert_array_equal(x[5], [-1, 1, -1])  # 5 = 0b101
    p = data.parity(x)
    np.testing.assert_array_equal(p, np.where((x == -1).sum(1) % 2 == 0, 1.0, -1.0))
    assert p.sum() == 0
    with pytest.raises(ValueError, match="x"):
        data.parity(np.array([[1.0, 0.5]]))
    with pytest.raises(ValueError, match="d"):
        data.hypercube(0)


def test_train_test_split_partitions_and_with_noise_is_reproducible():
    tr, te = data.train_test_split(20, 7, seed=1)
    assert len(tr) == 7 and len(te) == 13
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, te])), np.arange(20))
    np.testing.assert_array_equal(data.train_test_split(20, 7, seed=1)[0], tr)
    assert not np.array_equal(data.train_test_split(20, 7, seed=2)[0], tr)
    with pytest.raises(ValueError, match="n_train"):
        data.train_test_split(5, 5)
    y = np.zeros(4000, np.float32)
    a, b = data.with_noise(y, 0.5, seed=3), data.with_noise(y, 0.5, seed=3)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and np.std(a) == pytest.approx(0.5, rel=0.05)
    np.testing.assert_array_equal(data.with_noise(y, 0.0), y)
    with pytest.raises(ValueError, match="std"):
        data.with_noise(y, -1.0)
