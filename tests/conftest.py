"""Shared test setup: CPU, no preallocation surprises, deterministic keys."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
