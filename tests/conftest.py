"""Shared test setup: CPU, no preallocation surprises, deterministic keys, and one XLA
compilation cache per test session.

The cache (``JAX_COMPILATION_CACHE_DIR``, a fresh temporary directory per session unless the
caller sets one) is shared by the xdist workers and by the subprocesses the tests start (a
killed sweep and its rerun, the writers sharing a store, the processes of a jax.distributed
run), which otherwise compile the same programs again. A deserialized executable is the same
program, so results are the same bits; it starts empty, so nothing from an earlier run or
another machine is used."""

import os
import shutil
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

_OWN_CACHE = None


def pytest_configure(config):
    global _OWN_CACHE
    if hasattr(config, "workerinput"):  # an xdist worker: the controller has set it up
        return
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        _OWN_CACHE = tempfile.mkdtemp(prefix="phasekit-xla-cache-")
        os.environ["JAX_COMPILATION_CACHE_DIR"] = _OWN_CACHE
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")


def pytest_unconfigure(config):
    if _OWN_CACHE is not None and not hasattr(config, "workerinput"):
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)
