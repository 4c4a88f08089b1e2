"""The ``phasekit`` command: bad input exits 2 with one line naming the field (no traceback);
the entry point works from a wheel installed into a fresh venv, outside the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from phasekit.experiments import cli

ROOT = Path(__file__).resolve().parent.parent

BAD = [  # (argv, text the one-line message must contain)
    (["run", "no-such-experiment"], "experiment"),
    (["run", "phase-diagram", "--preset", "huge"], "preset"),
    (["run", "phase-diagram", "--set", "no_such_field=1"], "no_such_field"),
    (["run", "phase-diagram", "--set", "seeds=0"], "seeds"),
    (["run", "phase-diagram", "--set", "seeds=true"], "seeds"),
    (["run", "phase-diagram", "--seeds", "2.5"], "seeds"),
    (["run", "phase-diagram", "--set", "seeds"], "set"),
    (["run", "phase-diagram-digits", "--n", "-3"], "n"),
    (["run", "phase-diagram-digits", "--n=0"], "n"),
    (["run", "phase-diagram", "--widths", "100"], "widths"),
    (["run", "phase-diagram", "--widths", "100,abc"], "widths"),
    (["run", "phase-diagram", "--widths", "101,301"], "widths"),
    (["run", "phase-diagram", "--rel-tol", "nan"], "rel_tol"),
    (["run", "phase-diagram", "--rel-tol", "2"], "rel_tol"),
    (["run", "phase-diagram", "--eta", "-1"], "eta"),
    (["run", "phase-diagram", "--data", "cifar"], "data"),
    (["run", "phase-diagram", "--data", "mnist"], "mnist_dir"),
    (["run", "phase-diagram", "--activation", "swishy"], "activation"),
    (["run", "phase-diagram", "--shard", "3/2"], "shard"),
    (["run", "phase-diagram", "--seeds"], "seeds"),
    (["report", "/nonexistent/folder"], "out"),
    (["reproduce", "--only", "no-such-area"], "only"),
    (["reproduce", "--preset", "huge"], "preset"),
    (["frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize("argv,field", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_exits_2_with_one_line(argv, field, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be computed or written in the repo
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("phasekit: error:"), err
    assert field in err, err
    assert "Traceback" not in err


def test_entry_point_process_prints_no_traceback(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "phasekit", "run", "phase-diagram", "--n", "-3", "--data", "digits"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["phasekit: error: n: must be >= 1, got -3"]


def test_list_shows_every_experiment_and_fields(capsys):
    from phasekit import experiments

    assert cli.main(["list"]) == 0
    text = capsys.readouterr().out
    for name in experiments.names():
        assert name in text
    assert cli.main(["list", "phase-diagram"]) == 0
    text = capsys.readouterr().out
    assert "seeds" in text and "tiny:" in text and ">= 1" in text


def test_run_and_report_from_a_wheel_in_a_fresh_venv(tmp_path):
    """Build the wheel, install it (no deps) into a fresh venv whose dependencies come from this
    environment's site-packages, and call the installed ``phasekit`` from outside the repo."""
    wheels, src = tmp_path / "wheels", tmp_path / "src"
    # build from a copy: setuptools leaves build/ and *.egg-info in the source tree
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "results", "build", "*.egg-info", "__pycache__", ".pytest_cache"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(src),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("phasekit-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    # dependencies (jax, flax, ...) from this interpreter's site-packages; a .pth-added folder
    # is appended after the venv's own site-packages and its editable-install hooks are not run
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
    )
    exe = venv / "bin" / "phasekit"  # the console script declared in [project.scripts]
    assert exe.exists()
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import phasekit; print(phasekit.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=work,
        env=env,
    ).stdout
    assert str(site) in where, where
    r = subprocess.run(
        [str(exe), "run", "phase-diagram", "--preset", "tiny", "--out", "pd", "--no-progress"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert "held" in r.stdout and (work / "pd" / "results.nc").exists()
    (work / "pd" / "s_w_heatmap.png").unlink()
    r = subprocess.run(
        [str(exe), "report", "pd"], capture_output=True, text=True, cwd=work, env=env
    )
    assert r.returncode == 0, r.stderr
    assert (work / "pd" / "s_w_heatmap.png").exists() and "sign(S_w)" in r.stdout
