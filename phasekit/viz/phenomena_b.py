"""Figures of book ch. 14's double descent, neural collapse and mode connectivity
(:mod:`phasekit.experiments.double_descent`, :mod:`~phasekit.experiments.collapse`,
:mod:`~phasekit.experiments.connectivity`), drawn from their Datasets alone."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def _band(ax, x, values, label, color=None, **kw):
    """Median over the last axis (seeds) with the min-max range shaded."""
    med = np.nanmedian(values, -1)
    (line,) = ax.plot(x, med, marker="o", ms=3, label=label, color=color, **kw)
    if values.shape[-1] > 1:
        ax.fill_between(x, np.nanmin(values, -1), np.nanmax(values, -1), color=line.get_color(), alpha=0.2)
    return line


# ----------------------------------------------------------------------------- double descent

def random_features_figures(ds) -> dict:
    """``double-descent``: test MSE (log) and |a| against N / n, one line per (noise, lambda)."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    r = ds["ratio"].values
    for nz in ds["noise"].values:
        for lam in ds["ridge"].values:
            sel = dict(noise=nz, ridge=lam)
            label = f"noise {nz:g}, " + ("min-norm" if lam == 0 else f"ridge {lam:g}")
            style = "-" if lam == 0 else "--"
            _band(ax, r, ds["test_error"].sel(**sel).transpose("ratio", "seed").values, label, ls=style)
            _band(ax2, r, ds["coef_norm"].sel(**sel).transpose("ratio", "seed").values, label, ls=style)
    for a, name in ((ax, "test MSE"), (ax2, "coefficient norm |a|")):
        a.axvline(1.0, color="k", lw=0.8, ls=":")
        a.set(xscale="log", yscale="log", xlabel="N / n (features / samples)", ylabel=name)
    ax.legend(fontsize=7)
    fig.suptitle(f"Double descent of random ReLU features, digits, n = {ds.attrs.get('n')} "
                 f"(median and range over {ds.sizes['seed']} seeds)", fontsize=10)
    return {"random_features": fig}


def width_figures(ds) -> dict:
    """``double-descent-width``: final train / test MSE against parameters per target P / (n C),
    and the test MSE against training step per width."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    ppt = ds["params_per_target"].values
    for var in ("train_error", "test_error"):
        _band(ax, ppt, ds[var].isel(step=-1).transpose("width", "seed").values, var.replace("_", " "))
    ax.axvline(1.0, color="k", lw=0.8, ls=":")
    ax.set(xscale="log", yscale="log", xlabel="P / (n C)", ylabel="MSE (final)")
    ax.legend(fontsize=8)
    steps = ds["step"].values
    cmap = plt.get_cmap("viridis")
    for i, m in enumerate(ds["width"].values):
        ax2.plot(np.maximum(steps, 1), ds["test_error"].sel(width=m).median("seed").values,
                 color=cmap(i / max(ds.sizes["width"] - 1, 1)), label=f"m = {m}")
    ax2.set(xscale="log", yscale="log", xlabel="step", ylabel="test MSE (median)")
    ax2.legend(fontsize=7, ncol=2)
    fig.suptitle(f"Two-layer nets on digits with label noise {ds.attrs.get('noise'):g}, n = {ds.attrs.get('n')}",
                 fontsize=10)
    return {"width_double_descent": fig}
