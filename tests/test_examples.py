"""The example notebooks run top to bottom (at small size) against the installed library."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from phasekit.data import authors_three_points
from phasekit.dynamics import phase, sweep

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_phase_diagram_notebook_replots_a_results_file(tmp_path, monkeypatch):
    cfg = phase.PhaseConfig(gammas=(0.5, 1.0, 1.75), gamma_primes=(0.0,), widths=(100, 400),
                            seeds=1, max_steps=3000)
    path = sweep.save(phase.phase_diagram(*authors_three_points(), cfg, progress=False), tmp_path / "pd.nc")
    monkeypatch.setenv("PHASEKIT_RESULTS", str(path))
    nb = nbformat.read(EXAMPLES / "phase_diagram.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(EXAMPLES)}}).execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "sign(S_w) matches theory" in outputs
