"""The layer-curvature experiment's analysis on a hand-made Dataset: the edge onset, the
sharpening ratio, the layer carrying the top eigenvector before and at the edge, and the
Gauss-Newton gap (the experiment's own tiny run is in test_experiments)."""

import numpy as np
import pytest
import xarray as xr

from phasekit.experiments import base, curvature


def _ds():
    step = np.arange(0, 101, 10)  # 11 records
    lr = np.array([0.5])  # 2/lr = 4
    s = np.array([1.0, 1.5, 2.0, 3.0, 3.5, 3.9, 4.1, 4.0, 3.95, 4.05, 4.0])  # edge (>= 3.8) at 5
    share = np.zeros((11, 2))
    share[:5] = [0.8, 0.2]  # layer1 carries u while sharpening
    share[5:] = [0.3, 0.7]  # layer2 at the edge
    block = np.stack([0.5 * s, 0.9 * s], -1)
    block[:5] = np.stack([0.9 * s[:5], 0.5 * s[:5]], -1)
    gn = s.copy()
    gn[5:] *= [1.0, 0.97, 1.02, 0.95, 1.0, 1.01]  # max gap 0.05 from the onset on
    gn[:5] *= 0.5  # before the edge G may differ: not counted
    dims = ("loss", "lr", "step")
    return xr.Dataset(
        {
            "sharpness": (dims, s[None, None]),
            "gn_sharpness": (dims, gn[None, None]),
            "share": (dims + ("layer",), share[None, None]),
            "block_sharpness": (dims + ("layer",), block[None, None]),
            "threshold": (("lr",), 2 / lr),
        },
        coords={"loss": ["mse"], "lr": lr, "step": step, "layer": ["layer1", "layer2"]},
    )


def test_phases_split_sharpening_from_the_edge():
    ph = curvature.phases(_ds())
    assert ph["onset"] == [50]  # first record with lambda_max >= 0.95 x 4 = 3.8
    assert ph["sharpening"] == [pytest.approx(3.9)]
    assert ph["carrier_sharpening"] == ["layer1"] and ph["carrier_edge"] == ["layer2"]
    assert ph["edge_sharpest"] == ["layer2"] and ph["carrier_share"] == [pytest.approx(0.7)]
    assert ph["gn_gap"] == [pytest.approx(0.05)]


def test_phases_of_a_run_that_never_reaches_the_edge():
    ds = _ds()
    ds["sharpness"] = ds["sharpness"] * 0.5
    ph = curvature.phases(ds)
    assert ph["onset"] == [-1] and np.isnan(ph["sharpening"][0]) and np.isnan(ph["gn_gap"][0])
    assert ph["carrier_edge"] == [""]


@pytest.mark.parametrize(
    "field, value",
    [("losses", ("mse", "hinge")), ("losses", ()), ("every", 7), ("lrs", (0.1, 0.1))],
)
def test_config_names_the_bad_field(field, value):
    with pytest.raises(ValueError, match=field):
        curvature.LayerCurvatureConfig(**{field: value})


def test_claims_per_loss_and_at_the_edge_over_the_runs_that_reached_it():
    """MSE sharpens 4x to the edge; cross-entropy's lambda_max falls (never at the edge): the
    sharpening claim is per loss, the edge claims judge the MSE run alone."""
    one = _ds()
    ce = one.copy(deep=True).assign_coords(loss=["cross_entropy"])
    ce["sharpness"] = ce["sharpness"] * 0 + np.linspace(1.0, 0.2, 11)
    ds = xr.concat([one, ce], "loss", data_vars="all")
    ds["threshold"] = one["threshold"]
    ds["gn_sharpness"] = ds["sharpness"] * 1.0
    ds["block_gn"] = ds["block_sharpness"] * 0.9
    ds.attrs["preset"] = "quick"
    got = {c.name: c for c in curvature.claims(ds)}
    assert got["progressive-sharpening-mse"].verdict == base.HELD
    assert got["progressive-sharpening-mse"].measured == [pytest.approx(3.9)]
    assert got["progressive-sharpening-cross-entropy"].verdict == base.NOT_HELD
    assert "separates the classes" in got["progressive-sharpening-cross-entropy"].cause
    assert got["top-eigenvector-layer"].verdict == base.HELD
    assert got["top-eigenvector-layer"].measured == [pytest.approx(0.7)]
    assert got["gauss-newton-is-the-sharpness"].measured == [pytest.approx(0.0)]
