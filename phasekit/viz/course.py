"""Figures of the course diagnostics (:mod:`phasekit.experiments.course`), from the Dataset alone."""

from __future__ import annotations

import numpy as np

from phasekit.viz import landscape


def vanishing_figures(ds) -> dict:
    """{"vanishing_gradients": |dL/dW_l| vs layer, median and range over seeds, per pair}."""
    norms = {str(lab): np.asarray(ds["grad_norm"].values[i]) for i, lab in enumerate(ds["pair_label"].values)}
    fig = landscape.vanishing_gradients(
        norms, title=f"Per-layer gradient norms at init, {ds.attrs.get('depth')}-layer MLP, "
                     f"width {ds.attrs.get('width')}")
    return {"vanishing_gradients": fig}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def init_figures(ds) -> dict:
    """{"init_variance": q_l vs layer (measured median over seeds, recursion dashed) per pair,
    "init_gradients": |dL/dW_l| vs layer}."""
    plt = _plt()
    layers = ds["layer"].values
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for i, lab in enumerate(ds["pair_label"].values):
        q = ds["q"].values[i]
        line, = ax.plot(layers, np.median(q, 0), "o-", ms=3, label=f"{lab} measured")
        ax.fill_between(layers, q.min(0), q.max(0), color=line.get_color(), alpha=0.2)
        ax.plot(layers, np.median(ds["q_recursion"].values[i], 0), "--", color=line.get_color(), lw=1)
    ax.set(yscale="log", xlabel="layer l", ylabel=r"$\mathrm{Var}[z_l]$",
           title=f"Pre-activation variance at init (dashed: mean-field recursion), width {ds.attrs.get('width')}")
    ax.legend(fontsize=7)
    norms = {str(lab): np.asarray(ds["grad_norm"].values[i]) for i, lab in enumerate(ds["pair_label"].values)}
    g = landscape.vanishing_gradients(norms, title=f"Per-layer gradient norms at init, depth {ds.attrs.get('depth')}")
    return {"init_variance": fig, "init_gradients": g}
