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
