"""MNIST-1D (Greydanus 2020) as an optional data set: generated locally by the ``mnist1d``
package (``pip install mnist1d``) from its ten built-in 1-D templates; nothing is downloaded.

Each sample is a template padded, scaled, translated, sheared and noised into a length-40
signal (``mnist1d.data.make_dataset``); the whole set is centred and scaled to unit std.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "mnist1d",
]


def mnist1d(split: str = "train", n: int | None = None, num_samples: int = 5000, seed: int = 42):
    """MNIST-1D: x [n, 40] float32, y [n] int32 labels 0..9 (the package's defaults: 5000
    samples, 80% train). ``seed`` fixes the generation (the package seeds numpy's global
    generator with it, so the global numpy state is saved and restored here).

    Args:
      split: "train" or "test"; n: keep the first n samples (None: all); num_samples: samples
        generated (train and test together); seed: the generation seed.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split: 'train' or 'test', got {split!r}")
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:
        raise ImportError(
            "MNIST-1D needs the optional package mnist1d: pip install mnist1d "
            "(it generates the data locally; no download)"
        ) from e
    args = get_dataset_args()
    args.num_samples, args.seed = int(num_samples), int(seed)
    state = np.random.get_state()
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(state)
    x, y = (d["x"], d["y"]) if split == "train" else (d["x_test"], d["y_test"])
    return np.asarray(x[:n], np.float32), np.asarray(y[:n], np.int32)
