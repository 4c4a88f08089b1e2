"""Every registered experiment at its tiny preset: runs through the store, describes its
variables, states checked claims with numbers, and every claim the tiny preset supports holds.
The quick preset (claims with min_preset <= quick asserted) runs in the slow suite."""

from __future__ import annotations

import json

import numpy as np
import pytest

from phasekit import experiments as E
from phasekit.experiments import base

NAMES = E.names()
# Tiny presets whose run (compile included) takes more than ~25 s on 2 idle cores: they run with
# the slow suite (``make test-slow``), both at tiny and at quick, to keep ``make test`` near 10 min.
SLOW_TINY = {
    "pde-high-frequency",
    "pde-regression-peaks",
    "anchor-depth",
    "anchor-identity",
    "mode-connectivity",
    "course-hparam-search",
    "central-flow",
}
TINY = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_TINY else n for n in NAMES]


def _check(res, preset):
    ds = res.ds
    assert ds.attrs["experiment"] and ds.attrs["preset"] == preset
    assert json.loads(ds.attrs["config"])  # config as JSON ...
    assert any(k.startswith("config_") for k in ds.attrs)  # ... and as flat attrs
    assert "phasekit_version" in ds.attrs
    assert not base.undescribed(ds)
    assert res.claims, "an experiment states at least one claim"
    for c in res.claims:
        assert c.verdict in (base.HELD, base.NOT_HELD, base.NOT_APPLICABLE)
        assert np.size(c.measured) >= 1 and not isinstance(c.measured, str)
        assert c.figure and c.statement
        if c.verdict != base.HELD:
            assert c.cause, f"{c.name}: a claim not held names its likely cause"
    must = [
        c
        for c in res.claims
        if base.preset_rank(c.min_preset) <= base.preset_rank(preset) and c.reproduces
    ]
    failed = [(c.name, c.measured, c.detail) for c in must if not c.held]
    assert not failed, f"claims expected to hold at {preset} did not: {failed}"
    text = (res.out / "claims.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert res.figures and all(p.exists() and p.stat().st_size > 1000 for p in res.figures)


@pytest.mark.parametrize("name", TINY)
def test_tiny(name, tmp_path):
    res = E.execute(name, "tiny", out=tmp_path / name, progress=False)
    _check(res, "tiny")
    # report: reload, re-check and redraw from the Dataset alone
    for p in res.figures:
        p.unlink()
    again = E.report(tmp_path / name)
    assert [c.to_json() for c in again.claims] == [c.to_json() for c in res.claims]
    assert sorted(p.name for p in again.figures) == sorted(p.name for p in res.figures)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_quick(name, tmp_path):
    _check(E.execute(name, "quick", out=tmp_path / name, progress=False), "quick")


def test_slow_tiny_names_are_registered():
    assert SLOW_TINY <= set(NAMES)


def test_registry_names_are_unique_and_presets_validate():
    reg = E.registry()
    assert len(reg) == len(set(reg)) >= 2
    for exp in reg.values():
        for p in base.PRESETS:
            exp.preset(p)
        assert exp.area and exp.figure and exp.title
