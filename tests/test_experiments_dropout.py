"""Dropout experiments beyond the generic checks of test_experiments.py: a tiny run cut into
2-point chunks writes several chunks and resumes bit for bit after losing one; configs refuse
bad values naming the field."""

from __future__ import annotations

import shutil

import pytest
import xarray as xr

from phasekit import experiments as E
from phasekit.dynamics import sweep


def _two_point_chunks(monkeypatch):
    run = sweep.run
    monkeypatch.setattr(sweep, "run", lambda *a, **k: run(*a, **(k | {"chunk_size": 2})))


@pytest.mark.parametrize("name", ["dropout-outputs"])
def test_resumes_after_losing_a_chunk(name, monkeypatch, tmp_path):
    """A tiny run in 2-point chunks writes several chunks per sub-store; with one deleted from
    each, the rerun recomputes them and returns the same Dataset and claims."""
    _two_point_chunks(monkeypatch)
    ref = E.execute(name, "tiny", out=tmp_path / "ref", progress=False, figures=False)
    stores = sorted({p.parent for p in (tmp_path / "ref" / "store").rglob("chunk-*.npz")})
    assert stores and all(len(list(s.glob("chunk-*.npz"))) > 1 for s in stores), (
        "a tiny run writes several chunks"
    )
    shutil.copytree(tmp_path / "ref" / "store", tmp_path / "cut" / "store")
    for s in stores:
        sorted(
            (tmp_path / "cut" / "store" / s.relative_to(tmp_path / "ref" / "store")).glob(
                "chunk-*.npz"
            )
        )[0].unlink()
    again = E.execute(name, "tiny", out=tmp_path / "cut", progress=False, figures=False)
    xr.testing.assert_identical(ref.ds.drop_attrs(), again.ds.drop_attrs())
    assert [c.to_json() for c in again.claims] == [c.to_json() for c in ref.claims]


def test_sample_size_shards_fill_one_store(monkeypatch, tmp_path):
    """Two shards compute disjoint halves; the claims come from the run that finds the store complete."""
    _two_point_chunks(monkeypatch)
    first = E.execute("dropout-sample-size", "tiny", out=tmp_path, shard="0/2", progress=False)
    assert not first.complete and not first.claims
    assert first.ds["test_error"].isnull().any()
    second = E.execute("dropout-sample-size", "tiny", out=tmp_path, shard="1/2", progress=False)
    assert second.complete and second.claims and not second.ds["test_error"].isnull().any()


@pytest.mark.parametrize(
    "name,field,value",
    [
        ("dropout-outputs", "ps", (0.9, 0.5)),  # no p = 1 reference
        ("dropout-outputs", "ps", (1.0, 1.5)),
        ("dropout-outputs", "n_show", 5000),
        ("dropout-sample-size", "ps", (1.0,)),
        ("dropout-flatness", "lr", 0.0),
        ("dropout-flatness", "target_loss", -1.0),
    ],
)
def test_bad_values_name_the_field(name, field, value):
    with pytest.raises(ValueError, match=field):
        E.get(name).preset("tiny", **{field: value})


def _sample_size_ds(plain, dropped, ns=(4, 8, 40)):
    import numpy as np

    med = np.stack([np.asarray(plain, float), np.asarray(dropped, float)], axis=1)  # [n, p]
    return xr.Dataset(
        {"test_error_median": (("n", "p"), med)},
        coords={"n": list(ns), "p": [1.0, 0.5]},
        attrs={"preset": "quick", "config_x_max": 10.0, "config_n_test": 500},
    )


def test_sample_size_claims_compare_to_the_teacher_scale():
    """no-dropout-poor: p = 1's median test MSE over E[teacher^2] on the test grid, at every
    n > 6; recovery: dropout's best over p = 1 at every n > 6 (only n = 8, 40 count here)."""
    import numpy as np

    from phasekit.dynamics import dropout
    from phasekit.experiments import dropout as D

    y2 = float(np.mean(np.asarray(dropout.teacher(np.linspace(-10, 10, 500))) ** 2))
    good = _sample_size_ds([1.0, 0.02 * y2, 0.002 * y2], [1.0, 0.03 * y2, 0.01 * y2])
    by = {c.name: c for c in D.sample_size_claims(good)}
    assert not by["no-dropout-poor"].held
    assert np.isclose(by["no-dropout-poor"].measured, 0.002, rtol=1e-3)
    assert not by["recovery"].held and np.isclose(by["recovery"].measured, 5.0, rtol=1e-3)
    poor = _sample_size_ds([1.0, 0.5 * y2, 0.3 * y2], [1.0, 0.01 * y2, 0.001 * y2])
    by = {c.name: c for c in D.sample_size_claims(poor)}
    assert by["no-dropout-poor"].held and by["recovery"].held
