"""Frequency-principle experiments: config checks and the claim logic on hand-made Datasets.

(The generic test in test_experiments.py runs each experiment at its tiny preset.)"""

import numpy as np
import pytest
import xarray as xr

from phasekit import experiments as E
from phasekit.experiments import base
from phasekit.experiments import frequency as X


def test_configs_refuse_bad_values_naming_the_field():
    with pytest.raises(ValueError, match="peaks"):
        X.SineConfig(peaks=(1.5, 3.0))  # not a DFT bin of the grid
    with pytest.raises(ValueError, match="peaks"):
        X.SineConfig(n=8, peaks=(1.0, 5.0))  # above n / 2
    with pytest.raises(ValueError, match="peaks"):
        X.SineConfig(peaks=(3.0, 1.0))
    with pytest.raises(ValueError, match="amplitudes"):
        X.SineConfig(peaks=(1.0, 3.0), amplitudes=(1.0,))
    with pytest.raises(ValueError, match="grad_weights"):
        X.LgradConfig(grad_weights=(1.0, 2.0))  # no plain-MSE run to compare with
    with pytest.raises(ValueError, match="asi"):
        X.RickerConfig(asi=(True,))
    with pytest.raises(ValueError, match="n_train"):
        X.ParityConfig(d=4, n_train=16)
    with pytest.raises(ValueError, match="scales"):
        X.InitScaleConfig(scales=(3.0, 1.0))
    with pytest.raises(ValueError, match="n_trains"):
        X.ParityScanConfig(n_trains=(200, 100))
    with pytest.raises(ValueError, match="n_trains"):
        X.ParityScanConfig(n_trains=(100, 1024))  # the whole cube: no test set
    with pytest.raises(ValueError, match="ks"):
        X.ScanConfig(ks=(3.0, 1.0))
    with pytest.raises(ValueError, match="ks"):
        X.ScanConfig(ks=(4.0,), amps=(1.0,))  # a single point is no scan
    with pytest.raises(ValueError, match="ks"):
        X.ScanConfig(n=16, ks=(1.0, 5.0))  # k not resolved by 16 points
    with pytest.raises(ValueError, match="init"):
        X.ScanConfig(init="kaiming")


def test_sin135_tiny_has_several_sweep_points():
    # the resume test kills a run between chunks: tiny needs >= 4 points (seeds)
    assert E.get("frequency-sin135").preset("tiny").seeds >= 4


def _sine_ds(conv, preset="quick"):
    conv = np.asarray(conv)
    seeds, peaks = conv.shape
    ds = xr.Dataset(
        {"convergence_step": (("seed", "peak"), conv)},
        coords={"seed": np.arange(seeds), "peak": [1.0, 3.0, 5.0][:peaks]},
    )
    ds.attrs.update(preset=preset, threshold=0.1)
    return ds


def test_sin135_order_claim_follows_the_convergence_steps():
    # all seeds 1 < 3 < 5: held; one seed with k = 3 before k = 1: not held (a reversal), and
    # "no-reversal" fails too; unconverged high peaks at tiny: order n/a, no-reversal held.
    verdict = lambda ds: {c.name: c.verdict for c in X.claims_sin135(ds)}
    assert verdict(_sine_ds([[10, 20, 40], [12, 30, 50]])) == {
        "order": base.HELD,
        "no-reversal": base.HELD,
    }
    assert verdict(_sine_ds([[10, 20, 40], [30, 20, 50]])) == {
        "order": base.NOT_HELD,
        "no-reversal": base.NOT_HELD,
    }
    assert verdict(_sine_ds([[10, 20, -1], [10, -1, -1]], "tiny")) == {
        "order": base.NOT_APPLICABLE,
        "no-reversal": base.HELD,
    }


def test_lgrad_claims_compare_the_same_seed_under_both_losses():
    # delta_f [grad_weight, seed, step, peak]; L_grad's highest peak converges at 100 and 200,
    # L's never (seed 0) or later (seed 1): held. Swap the losses: not held.
    step = np.array([0, 100, 200, 400])
    df = np.ones((2, 2, 4, 3))
    df[1, 0, 1:, -1] = 0.05
    df[1, 1, 2:, -1] = 0.05
    df[0, 1, 3:, -1] = 0.08
    df[0, 0, :, -1] = 0.5

    def ds(delta):
        d = xr.Dataset(
            {"delta_f": (("grad_weight", "seed", "step", "peak"), delta)},
            coords={
                "grad_weight": [0.0, 1.0],
                "seed": [0, 1],
                "step": step,
                "peak": [1.0, 3.0, 5.0],
            },
        )
        d.attrs.update(preset="quick", threshold=0.1)
        return X._with_convergence(d, 0.1)

    good = {c.name: c for c in X.claims_lgrad(ds(df))}
    assert good["lgrad-converges-high-first"].held and good["lower-high-error"].held
    assert good["lgrad-converges-high-first"].measured == [-1, 100, 400, 200]
    bad = {c.name: c for c in X.claims_lgrad(ds(df[::-1]))}
    assert not bad["lgrad-converges-high-first"].held and not bad["lower-high-error"].held


def _scan_ds(high, along="k", preset="quick", magnitude=1):
    """Convergence steps [value, seed] of the high peak along k (a fixed) or a (k fixed); the
    low peak converges at step 5 everywhere, the complex steps equal the magnitude ones."""
    high = np.asarray(high)
    n, seeds = high.shape
    conv = np.stack([np.full_like(high, 5), high], -1)  # [value, seed, peak]
    vals = np.arange(1.0, n + 1)
    if along == "k":
        conv, coords = conv[:, None], {"k": vals, "a": [0.2]}
    else:
        conv, coords = conv[None], {"k": [4.0], "a": vals}
    dims = ("k", "a", "seed", "peak")
    ds = xr.Dataset(
        {
            v: (dims, conv)
            for v in (
                "convergence_step",
                "convergence_step_complex",
                "settled_step",
                "settled_step_complex",
            )
        },
        coords=coords | {"seed": np.arange(seeds), "peak": ["low", "high"]},
    )
    ds.attrs.update(preset=preset, threshold=0.05, window=10, magnitude=magnitude)
    return ds


def test_scan_claims_follow_the_median_high_peak_step():
    # k scan: medians 100 < 200 < 400 < never: held; a reversal (k = 2 before k = 1) or a
    # never before a converged k: not held. a scan: the mirror image.
    verdict = lambda cl: {c.name: c.verdict for c in cl}
    up = [[100, 90], [200, 210], [400, 380], [-1, -1]]
    assert set(verdict(X.claims_scan_k(_scan_ds(up))).values()) == {base.HELD}
    rev = [[100, 90], [50, 40], [400, 380], [-1, -1]]
    assert verdict(X.claims_scan_k(_scan_ds(rev)))["grows-with-k"] == base.NOT_HELD
    gap = [[100, 90], [-1, -1], [400, 380]]
    assert verdict(X.claims_scan_k(_scan_ds(gap)))["grows-with-k"] == base.NOT_HELD
    # median over seeds: one slow seed of three does not decide
    noisy = [[100, 90, 1000], [200, 210, 150], [400, 380, 390]]
    assert verdict(X.claims_scan_k(_scan_ds(noisy)))["grows-with-k"] == base.HELD
    down = [[900, 950], [500, 520], [300, 310]]
    got = verdict(X.claims_scan_amplitude(_scan_ds(down, along="a")))
    assert got == {"falls-with-a": base.HELD, "falls-with-a-settled": base.HELD}
    flat = [[900, 950], [900, 950], [300, 310]]
    assert (
        verdict(X.claims_scan_amplitude(_scan_ds(flat, along="a")))["falls-with-a"] == base.NOT_HELD
    )
    # the smallest amplitude never converging is fine (later than every converged one)
    slow = [[-1, -1], [500, 520], [300, 310]]
    assert verdict(X.claims_scan_amplitude(_scan_ds(slow, along="a")))["falls-with-a"] == base.HELD
