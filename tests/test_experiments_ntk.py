"""NTK experiments beyond the generic checks of test_experiments.py: chunked resume, the
stored slope equals a refit of the stored errors, configs refuse bad values naming the field."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import xarray as xr

from phasekit import experiments as E
from phasekit.dynamics import sweep


@pytest.mark.parametrize("name", ["linearization-gap"])
def test_resumes_after_losing_a_chunk(name, monkeypatch, tmp_path):
    """A tiny run in 2-point chunks writes several chunks; with one deleted, the rerun recomputes
    it and returns the same Dataset."""
    run = sweep.run
    monkeypatch.setattr(sweep, "run", lambda *a, **k: run(*a, **(k | {"chunk_size": 2})))
    ref = E.execute(name, "tiny", out=tmp_path / "ref", progress=False, figures=False)
    chunks = sorted((tmp_path / "ref" / "store").rglob("chunk-*.npz"))
    assert len(chunks) > 1, "a tiny run writes several chunks"
    shutil.copytree(tmp_path / "ref" / "store", tmp_path / "cut" / "store")
    (tmp_path / "cut" / chunks[0].relative_to(tmp_path / "ref")).unlink()
    again = E.execute(name, "tiny", out=tmp_path / "cut", progress=False, figures=False)
    xr.testing.assert_identical(ref.ds.drop_attrs(), again.ds.drop_attrs())


def test_ntk_spectrum_slope_is_the_fit_of_its_errors():
    """error_slope = least-squares slope of log RMS error over log m, and the analytic kernel's
    spectrum sits in the Dataset next to the empirical ones (same grid, descending)."""
    ds = E.execute("ntk-spectrum", "tiny", progress=False, figures=False).ds
    rms = np.sqrt((ds["kernel_error"].values ** 2).mean(axis=1))
    slope = np.polyfit(np.log(ds["width"].values), np.log(rms), 1)[0]
    np.testing.assert_allclose(float(ds["error_slope"]), slope, rtol=1e-4)
    lam = ds["analytic_eigenvalue"].values
    assert np.all(np.diff(lam) <= 1e-6 * lam[0]) and lam.size == ds.sizes["x"]


@pytest.mark.parametrize(
    "name,field,value",
    [
        ("linearization-gap", "width", 201),  # odd with antisymmetric init
        ("ntk-spectrum", "widths", (64,)),  # one width: no slope
        ("ntk-spectrum", "n_ranked", 500),
        ("ntk-spectrum", "implementation", "magic"),
    ],
)
def test_bad_values_name_the_field(name, field, value):
    with pytest.raises(ValueError, match=field):
        E.get(name).preset("tiny", **{field: value})
