"""Real datasets: scikit-learn's bundled digits and iris; MNIST from local IDX(.gz) files."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "digits",
    "iris",
    "MNIST_ENV",
    "load",
    "mnist",
    "read_idx",
]

MNIST_ENV = "PHASEKIT_MNIST_DIR"
_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _standardize(x):
    x = x.astype(np.float32)
    return (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)


def digits(n: int | None = None, scale: str = "unit"):
    """scikit-learn's 8x8 digits: x [1797, 64], y [1797] integer labels 0..9.

    scale: "unit" (pixels / 16, in [0, 1]) or "standard" (zero mean, unit variance per pixel).

    Args:
      n: keep the first n samples (None: all).
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.data.astype(np.float32) / 16.0 if scale == "unit" else _standardize(d.data)
    return x[:n], d.target[:n].astype(np.int32)


def iris(scale: str = "standard"):
    """scikit-learn's iris: x [150, 4] (standardized by default), y [150] labels 0..2.

    Args:
      scale: "standard" (zero mean, unit variance per column) or anything else (raw float32).
    """
    from sklearn.datasets import load_iris

    d = load_iris()
    x = _standardize(d.data) if scale == "standard" else d.data.astype(np.float32)
    return x, d.target.astype(np.int32)


def read_idx(path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a numpy array.

    Args:
      path: the file (``.gz``: gzipped).
    Returns:
      the array, with the file's dtype and shape.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\x00\x00":
        raise ValueError(f"path: {path} is not an IDX file (bad magic number)")
    dtypes: dict[int, npt.DTypeLike] = {
        0x08: np.uint8,
        0x09: np.int8,
        0x0B: ">i2",
        0x0C: ">i4",
        0x0D: ">f4",
        0x0E: ">f8",
    }
    dtype, ndim = np.dtype(dtypes[data[2]]), data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype, offset=4 + 4 * ndim).reshape(shape)


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
        if (directory / name).exists():
            return directory / name
    return None


def mnist(directory=None, split: str = "train", n: int | None = None):
    """MNIST from local IDX files: x [n, 784] in [0, 1], y [n] labels.

    ``directory`` defaults to $PHASEKIT_MNIST_DIR, else ``~/.phasekit/mnist``. Nothing is
    downloaded: a missing file raises FileNotFoundError naming the expected paths.

    Args:
      directory: where the IDX files are; split: "train" (60000) or "test" (10000); n: keep the
        first n samples (None: all).
    """
    if split not in _MNIST_FILES:
        raise ValueError(f"split: 'train' or 'test', got {split!r}")
    directory = Path(
        directory or os.environ.get(MNIST_ENV, Path.home() / ".phasekit" / "mnist")
    ).expanduser()
    paths = [_find(directory, stem) for stem in _MNIST_FILES[split]]
    if None in paths:
        expected = ", ".join(str(directory / (s + ".gz")) for s in _MNIST_FILES[split])
        raise FileNotFoundError(
            f"MNIST {split} files not found. Put the IDX files (gzipped or not) at: {expected} "
            f"(or set ${MNIST_ENV} / pass directory=...). phasekit never downloads data."
        )
    x = read_idx(paths[0]).reshape(-1, 28 * 28).astype(np.float32) / 255.0
    y = read_idx(paths[1]).astype(np.int32)
    return x[:n], y[:n]


def load(name: str, **kwargs):
    """Dataset by name: digits | iris | mnist."""
    loaders: dict[str, Callable[..., Any]] = {"digits": digits, "iris": iris, "mnist": mnist}
    if name not in loaders:
        raise ValueError(f"data: unknown dataset {name!r}; known: {', '.join(loaders)}")
    return loaders[name](**kwargs)
