"""The rank experiments' options beyond their presets: the authors' fixed observed order of
Fig 10.2 and the claims that read it."""

import numpy as np

from phasekit import experiments as E
from phasekit.dynamics import recovery as rec
from phasekit.theory import optimistic as opt


def test_matrix_fixed_order_tiny_recovers_rank_1_from_its_cross():
    # rank 1 with the authors' order: the first 7 entries are row 0 and column 0, which determine
    # a rank-1 matrix with a nonzero pivot M[0, 0] (M = c r / M[0, 0]): recovered at 7, never at 6
    res = E.execute(
        "optimistic-matrix",
        "tiny",
        overrides={"order": "fixed", "n_values": (6, 7, 8), "seeds": 2, "steps": 2000},
        progress=False,
        figures=False,
    )
    ds = res.ds
    assert ds.attrs["order"] == "fixed"
    target = ds["target_matrix"].values[0]
    assert abs(target[0, 0]) > 0.1
    np.testing.assert_allclose(float(ds["cross_condition"][0]), opt.cross_condition(target, 1))
    by_name = {c.name: c for c in res.claims}
    assert (
        by_name["rank-1-transition"].held
        and "fixed order" in by_name["rank-1-transition"].statement
    )
    assert by_name["none-below-optimistic"].held
    # every seed observes the same set: the recovered fraction is 0 or 1 at each n
    assert set(np.unique(ds["recovered_fraction"].values)) <= {0.0, 1.0}
    assert rec.cross_order(4)[:7].tolist() == [0, 1, 2, 3, 4, 8, 12]
