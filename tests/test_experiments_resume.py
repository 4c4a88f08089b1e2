"""kill -9 an experiment run by the ``phasekit`` command after its first chunk is stored, rerun
the same command: the Dataset equals an uninterrupted run's bit for bit (same machine)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import xarray as xr

from phasekit import experiments

# one experiment per area of the issue (phase, frequency, rank, condensation), each at its tiny
# preset cut into 2-point chunks; extra --set make the grid long enough for the kill to land
RESUMABLE = {
    "phase-diagram": ["--set", "seeds=3"],
    "frequency-sin135": [],
    "optimistic-matrix": [],
    "condensation-process": [],
}


def _cmd(name, out, extra):
    return [
        sys.executable,
        "-m",
        "phasekit",
        "run",
        name,
        "--preset",
        "tiny",
        "--out",
        str(out),
        "--no-progress",
        "--no-figures",
        *extra,
    ]


ENV = os.environ | {"PHASEKIT_CHUNK_SIZE": "2"}


# two of them in the default suite (each is three CLI processes); all four in the slow suite
DEFAULT = {"phase-diagram", "condensation-process"}


@pytest.mark.parametrize(
    "name", [n if n in DEFAULT else pytest.param(n, marks=pytest.mark.slow) for n in RESUMABLE]
)
def test_kill_then_rerun_is_bit_identical(name, tmp_path):
    assert name in experiments.names()
    extra = RESUMABLE[name]
    subprocess.run(_cmd(name, tmp_path / "ref", extra), check=True, env=ENV, capture_output=True)
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        _cmd(name, out, extra), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while time.time() < deadline and not list((out / "store").rglob("chunk-*.npz")):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list((out / "store").rglob("chunk-*.npz")), "no chunk before the kill"
    assert not (out / "results.nc").exists(), "the kill came too late"
    subprocess.run(_cmd(name, out, extra), check=True, env=ENV, capture_output=True)
    ref, res = experiments.load(tmp_path / "ref"), experiments.load(out)
    assert ref.attrs["config"] == res.attrs["config"]
    xr.testing.assert_identical(ref.drop_attrs(), res.drop_attrs())
