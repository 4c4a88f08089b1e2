"""The central-flow experiment's onset analysis on a hand-made Dataset: the peak overshoot of
the sharpness over 2/lr after GD first reaches the edge, for GD and the two flows (the
experiment's own tiny run is in test_experiments)."""

import numpy as np
import pytest
import xarray as xr

from phasekit.experiments import flows


def _ds():
    step = np.arange(0, 501, 50)  # 11 records
    lr = np.array([0.5, 1.0])  # 2/lr = 4, 2
    thr = 2 / lr
    rise = np.array([2.0, 3.0, 4.0, 4.8, 4.4, 3.9, 4.1, 4.0, 4.0, 4.0, 4.0])  # onset at 100
    gd = np.stack([rise, np.full(11, 2.2)])  # lr 1: above the edge from the first record
    ef = np.stack([np.where(step >= 100, np.minimum(rise, 4.6), rise), np.full(11, 2.1)])
    cf = np.stack([np.minimum(rise, 4.02), np.full(11, 2.0)])
    dims = ("lr", "step")
    return xr.Dataset(
        {
            "gd_sharpness": (dims, gd),
            "ef_sharpness": (dims, ef),
            "cf_sharpness": (dims, cf),
            "threshold": (("lr",), thr),
        },
        coords={"lr": lr, "step": step},
    )


def test_onset_overshoot_over_the_window_after_gds_onset():
    out = flows.onset_overshoot(_ds())
    assert out["lrs"] == [0.5]  # lr 1 is past the edge at the first record: no onset to resolve
    # within 200 steps of step 100: GD peaks at 4.8 (0.2 over 4), the edge flow at 4.6, CF at 4.02
    assert out["gd"] == [pytest.approx(0.2)] and out["ef"] == [pytest.approx(0.15)]
    assert out["cf"] == [pytest.approx(0.005)]
    assert out["ef_gd"] == [pytest.approx(0.75)] and out["cf_gd"] == [pytest.approx(0.025)]


def test_the_window_ends_onset_steps_after_the_onset(monkeypatch):
    ds = _ds()
    ds["gd_sharpness"][0, 8] = 9.0  # step 400: outside [100, 300]
    assert flows.onset_overshoot(ds)["gd"] == [pytest.approx(0.2)]
    monkeypatch.setattr(flows, "ONSET_STEPS", 300)
    assert flows.onset_overshoot(ds)["gd"] == [pytest.approx(1.25)]
