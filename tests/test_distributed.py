"""Scale-out through JAX's own runtime, for real: two processes on localhost (CPU devices,
coordinator on 127.0.0.1) run one experiment into one store; the result equals one process's."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import xarray as xr

from phasekit import experiments


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_with_jax_distributed_equal_one_process(tmp_path):
    env = os.environ | {"PHASEKIT_CPU_DEVICES": "1"}
    base = [
        sys.executable,
        "-m",
        "phasekit",
        "run",
        "phase-diagram",
        "--preset",
        "tiny",
        "--set",
        "seeds=2",
        "--no-progress",
        "--no-figures",
    ]
    subprocess.run(
        base + ["--out", str(tmp_path / "one")], check=True, env=env, capture_output=True
    )
    port = _free_port()
    procs = [
        subprocess.Popen(
            base
            + [
                "--out",
                str(tmp_path / "two"),
                "--distributed",
                "--coordinator",
                f"127.0.0.1:{port}",
                "--num-processes",
                "2",
                "--process-id",
                str(i),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    assert "process 0 of 2" in outs[0][0] and "process 1 of 2" in outs[1][0]
    one, two = experiments.load(tmp_path / "one"), experiments.load(tmp_path / "two")
    xr.testing.assert_identical(one.drop_attrs(), two.drop_attrs())
    # each process computed its own share of the grid
    assert len(list((tmp_path / "two" / "store" / "grid").glob("chunk-*.npz"))) >= 2
