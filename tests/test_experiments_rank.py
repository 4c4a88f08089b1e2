"""The rank experiments (book ch. 10): configs refuse bad grids, sharded runs fill both sub-stores
of Fig 10.5, and the claims judge transitions against the optimistic sizes as stated.
(Every experiment also runs at its tiny preset in tests/test_experiments.py.)"""

import numpy as np
import pytest
import xarray as xr

from phasekit import experiments as E
from phasekit.experiments import base, rank


@pytest.mark.parametrize(
    "name, field, value",
    [
        ("optimistic-matrix", "ranks", (1, 5)),  # rank > d = 4
        ("optimistic-matrix", "n_values", (1, 17)),  # more entries than d^2
        ("optimistic-matrix", "n_values", (3, 2)),  # not increasing
        ("optimistic-fnl", "targets", ("1", "x3")),  # unknown target
        ("optimistic-init-std", "matrix_n", (7, 20)),
        ("optimistic-cnn", "archs", ("cnn", "cnn")),
        ("optimistic-cnn", "lrs", (0.1, -0.1)),
    ],
)
def test_bad_config_names_the_field(name, field, value):
    with pytest.raises(ValueError, match=field):
        E.get(name).preset("tiny", **{field: value})


def test_init_std_shards_fill_both_sub_stores(tmp_path):
    # two processes' shards (i/2) of the two sweeps of Fig 10.5: the first leaves the result
    # incomplete (no claims), the second finds every point of both grids in the stores
    over = dict(
        fnl_init_stds=(1e-4, 1e-1),
        fnl_n=(2, 3),
        matrix_init_stds=(1e-5,),
        matrix_n=(7, 8),
        seeds=2,
        steps=300,
    )
    first = E.execute(
        "optimistic-init-std", "tiny", overrides=over, out=tmp_path, shard="0/2", progress=False
    )
    assert not first.complete and not first.claims
    second = E.execute(
        "optimistic-init-std", "tiny", overrides=over, out=tmp_path, shard="1/2", progress=False
    )
    assert second.complete and second.claims
    ds = second.ds
    assert ds["fnl_test_error"].shape == (2, 2, 2) and ds["matrix_test_error"].shape == (1, 2, 2)
    for v in ("fnl_test_error", "matrix_test_error"):
        assert np.isfinite(ds[v].values).all()
    assert (tmp_path / "store" / "fnl").is_dir() and (tmp_path / "store" / "matrix").is_dir()


def _matrix_ds(transition, recovered_at_R, preset="quick"):
    """A Fig 10.2 result for targets of rank 1, 2 (d = 4) with given transitions and fractions of
    seeds recovered at n = R (none below R)."""
    n = np.arange(1, 17)
    R = np.asarray([7, 12])
    frac = np.zeros((2, n.size))
    for i in range(2):
        frac[i, R[i] - 1] = recovered_at_R[i]
        frac[i, R[i] :] = 1.0
    ds = xr.Dataset(
        {
            "rank": ("target", [1, 2]),
            "optimistic_size": ("target", R),
            "transition": ("target", np.asarray(transition, float)),
            "recovered_fraction": (("target", "n"), frac),
            "target_matrix": (("target", "row", "col"), np.zeros((2, 4, 4))),
        },
        coords={"n": n},
        attrs={"threshold": 1e-3, "preset": preset},
    )
    return ds


def test_matrix_claims_hold_only_at_exactly_2rd_minus_r2():
    good = {c.name: c for c in rank.matrix_claims(_matrix_ds([7, 12], [0.75, 0.5]))}
    assert good["rank-1-transition"].held and good["rank-2-transition"].held
    assert good["none-below-optimistic"].held
    late = {c.name: c for c in rank.matrix_claims(_matrix_ds([7, 13], [0.75, 0.25]))}
    c = late["rank-2-transition"]
    assert c.verdict == base.NOT_HELD and c.measured == [13] and c.book == 12
    assert "25% recover at n = 12" in c.cause and "from n = 13" in c.cause
    # at the tiny preset a rank-2 claim (min_preset quick) that fails is "n/a", never "held"
    assert {c.name: c for c in rank.matrix_claims(_matrix_ds([7, 13], [0.75, 0.25], "tiny"))}[
        "rank-2-transition"
    ].verdict == base.NOT_APPLICABLE
    early = _matrix_ds([7, 12], [0.75, 0.5])
    early["recovered_fraction"][1, 10] = 0.25  # a seed recovers rank 2 from 11 < 12 entries
    assert not {c.name: c for c in rank.matrix_claims(early)}["none-below-optimistic"].held


def _cnn_ds(transitions, train_loss_wide=1e-7):
    archs, widths, n = (
        ["cnn", "cnn_no_sharing", "fc"],
        [1, 10],
        np.asarray([4, 6, 8, 12, 16, 24, 32]),
    )
    R = np.asarray([6, 12, 18])
    loss = np.full((3, 2, n.size, 2), 1e-12)
    loss[:, 1] = train_loss_wide
    return xr.Dataset(
        {
            "optimistic_size": ("arch", R),
            "rank_at_target": (("arch", "width"), np.repeat(R[:, None], 2, 1)),
            "rank_gap": (("arch", "width"), np.full((3, 2), 1e9)),
            "transition": (("arch", "width"), np.asarray(transitions, float)),
            "train_loss": (("arch", "width", "n", "seed"), loss),
            "best_lr": (("arch", "width", "n", "seed"), np.full((3, 2, n.size, 2), 0.5)),
        },
        coords={"arch": archs, "width": widths, "n": n, "lr": [0.1, 0.5]},
        attrs={"threshold": 1e-4, "preset": "quick", "steps": 20000},
    )


def test_cnn_width_independence_is_judged_against_1_5_R():
    near = {c.name: c for c in rank.cnn_claims(_cnn_ds([[6, 8], [16, 16], [24, 24]]))}
    assert near["width-independent"].held and near["ordering"].held and near["rank-at-target"].held
    far = {c.name: c for c in rank.cnn_claims(_cnn_ds([[6, 14], [16, np.nan], [24, 32]]))}
    c = far["width-independent"]
    assert c.verdict == base.NOT_HELD
    assert c.measured[0] == pytest.approx(14 / 6, rel=1e-3) and c.measured[2] == pytest.approx(
        32 / 18, rel=1e-3
    )
    assert not np.isfinite(c.measured[1])  # not recovered on the n grid
    assert "2.3x R" in c.cause and "cnn_no_sharing" in c.cause and "1e-07" in c.cause
    unordered = {c.name: c for c in rank.cnn_claims(_cnn_ds([[16, 16], [6, 16], [24, 24]]))}
    assert not unordered["ordering"].held
