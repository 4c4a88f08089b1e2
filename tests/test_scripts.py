"""Every script runs end to end at its quick preset and writes its figures (slow: minutes
each; run by hand with `pytest -m slow tests/test_scripts.py`)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNS = [
    ("phase_diagram", ["--preset", "quick", "--no-progress"]),
    ("phase_diagram", ["--data", "digits", "--no-progress"]),
    ("edge_of_stability", []), ("flatness_batch_size", []), ("flatness_dropout", []),
    ("vanishing_gradients", []),
    ("one_one_one_landscape", []), ("linearization_gap", []), ("ntk_spectrum", []),
    ("optimistic_fnl", []), ("optimistic_matrix", []), ("optimistic_init_std", []),
    ("optimistic_cnn", []),
    *[("condensation", ["--experiment", e]) for e in ("process", "activation", "residual")],
    *[("embedding", ["--experiment", e]) for e in ("loss_spectrum", "hessian", "reduction")],
    *[("dropout", ["--experiment", e]) for e in ("outputs", "sample_size")],
    ("frequency_principle", ["--experiment", "all"]),
]


@pytest.mark.slow
@pytest.mark.parametrize("script,args", RUNS, ids=[f"{s}{'-' + a[1] if a else ''}" for s, a in RUNS])
def test_script_quick_preset(script, args, tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts" / f"{script}.py"), *args, "--out", str(tmp_path)],
                   check=True, cwd=ROOT, timeout=1800)
    assert list(tmp_path.rglob("*.png")), "no figure written"
