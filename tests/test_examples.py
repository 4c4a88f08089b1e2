"""The example notebooks run top to bottom (at their tiny size) against the installed library."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _execute(name, tmp_path, monkeypatch, **env):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    return "".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )


def test_experiments_notebook_runs_reads_claims_and_reloads(tmp_path, monkeypatch):
    out = _execute(
        "experiments.ipynb",
        tmp_path,
        monkeypatch,
        PHASEKIT_PRESET="tiny",
        PHASEKIT_OUT=str(tmp_path / "pd"),
    )
    assert "claims held at the tiny preset" in out and "S_w identical" in out
    assert (tmp_path / "pd" / "results.nc").exists()


def test_own_model_notebook(tmp_path, monkeypatch):
    out = _execute("own_model.ipynb", tmp_path, monkeypatch, PHASEKIT_SIZE="tiny")
    assert "S_w(first layer) =" in out and "top-5 Hessian eigenvalues" in out and "rank" in out
    assert "CNN S_w of the convolution" in out and "sharpness along training" in out
    err = float(out.split("max |NTK - J J^T| =")[1].split()[0])
    assert err < 1e-3
