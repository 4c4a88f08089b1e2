"""The accelerator path (``batching="vmap"``, the GPU default) is tested on CPU too: the sweep
and store suites pass under it, and it agrees with the CPU default (``lax.map``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from phasekit.data import authors_three_points
from phasekit.dynamics import phase

TESTS = Path(__file__).resolve().parent


def _under_vmap(*selection):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            *selection,
        ],
        env=os.environ | {"PHASEKIT_BATCHING": "vmap"},
        capture_output=True,
        text=True,
        cwd=TESTS.parent,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert " passed" in r.stdout


def test_store_suite_and_sweep_resume_pass_with_vmap_batching():
    """The store's suite and the sweep's kill/resume and sharding tests under the vmap path
    (the whole sweep suite too in the slow suite)."""
    _under_vmap(
        str(TESTS / "test_store.py"),
        str(TESTS / "test_sweep.py"),
        "-k",
        "test_store or resume_after_kill or shards_fill or keys_depend",
    )


@pytest.mark.slow
def test_sweep_and_store_suites_pass_with_vmap_batching():
    _under_vmap(str(TESTS / "test_sweep.py"), str(TESTS / "test_store.py"))


def test_vmap_and_map_paths_agree_on_a_phase_grid():
    """Same runs, same keys: RD* within 1e-3 (float32 reductions are ordered differently when
    vectorized), identical stop flags."""
    cfg = dict(
        gammas=(0.5, 1.0, 1.75), gamma_primes=(0.0,), widths=(100, 400), seeds=2, max_steps=5000
    )
    x, y = authors_three_points()
    a = phase.phase_diagram(x, y, phase.PhaseConfig(**cfg, batching="map"), progress=False)
    b = phase.phase_diagram(x, y, phase.PhaseConfig(**cfg, batching="vmap"), progress=False)
    np.testing.assert_array_equal(a.converged.values, b.converged.values)
    np.testing.assert_allclose(a.rd_star.values, b.rd_star.values, rtol=1e-3)
    np.testing.assert_allclose(a.S_w.values, b.S_w.values, atol=1e-3)
