"""Input validation shared by the models: every error names the offending field."""

from __future__ import annotations

import numpy as np

__all__ = ["input_matrix", "positive", "positive_int"]


def positive_int(name: str, value) -> int:
    """A positive integer (numpy integers accepted, bools refused), returned as ``int``."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, np.integer))
        or value <= 0
    ):
        raise ValueError(f"{name}: must be a positive integer, got {value!r}")
    return int(value)


def positive(name: str, value) -> float:
    """A number > 0, returned as ``float``; otherwise ``ValueError`` naming ``name``."""
    try:
        ok = float(value) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name}: must be > 0, got {value!r}")
    return float(value)


def input_matrix(x, input_dim: int, name: str = "x"):
    """x must be [n, input_dim]."""
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) != 2 or shape[1] != input_dim:
        raise ValueError(f"{name}: expected shape [n, {input_dim}], got {shape}")
