"""Figures of the parameterization experiments (:mod:`phasekit.experiments.parameterization`),
drawn from the Dataset alone."""

from __future__ import annotations

import numpy as np

__all__ = [
    "coord_figures",
    "lr_figures",
    "phase_figures",
]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def coord_figures(ds) -> dict:
    """{"coord_check": seed-mean |h_l(t) - h_l(0)| against width, one panel per (optimizer,
    scheme), one line per (layer, t >= 1)}.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    plt = _plt()
    opts, schemes = list(ds["optimizer_name"].values), list(ds["scheme_name"].values)
    fig, axes = plt.subplots(
        len(opts), len(schemes), figsize=(3.6 * len(schemes), 3.2 * len(opts)), squeeze=False
    )
    widths = ds["width"].values
    change = ds["change"].mean("seed")
    for i, o in enumerate(opts):
        for j, s in enumerate(schemes):
            ax = axes[i, j]
            c = change.isel(optimizer=i, scheme=j).transpose("width", "t", "layer").values
            for k, lay in enumerate(ds["layer_name"].values):
                for t in range(1, c.shape[1]):
                    ax.plot(
                        widths,
                        c[:, t, k],
                        "o-",
                        ms=2,
                        lw=0.8,
                        color=f"C{k}",
                        alpha=0.3 + 0.7 * t / (c.shape[1] - 1),
                        label=str(lay) if t == c.shape[1] - 1 else None,
                    )
            ax.set(xscale="log", yscale="log", xlabel="width n", title=f"{s}, {o}")
            if j == 0:
                ax.set_ylabel(r"mean $|h_l(t) - h_l(0)|$")
            ax.legend(fontsize=6)
    fig.suptitle(
        f"Coordinate check ({ds.attrs.get('model', 'mlp')}); lighter: earlier steps", fontsize=9
    )
    fig.tight_layout()
    return {"coord_check": fig}


def lr_figures(ds) -> dict:
    """{"lr_transfer": seed-mean final loss against lr, one line per width, a panel per scheme;
    the optimal lr against width}.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    plt = _plt()
    schemes = list(ds["scheme_name"].values)
    fig, axes = plt.subplots(1, len(schemes) + 1, figsize=(4 * (len(schemes) + 1), 3.4))
    lrs, widths = ds["lr"].values, ds["width"].values
    loss = ds["loss"].mean("seed")
    for j, s in enumerate(schemes):
        for k, w in enumerate(widths):
            axes[j].plot(
                lrs, loss.isel(scheme=j, width=k).values, "o-", ms=2, color=f"C{k}", label=f"n={w}"
            )
        axes[j].set(xscale="log", yscale="log", xlabel="lr", ylabel="train loss", title=s)
        axes[j].legend(fontsize=6)
        axes[-1].plot(widths, ds["lr_opt"].isel(scheme=j).values, "o-", label=s)
    axes[-1].set(
        xscale="log", yscale="log", xlabel="width n", ylabel="optimal lr", title="lr transfer"
    )
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    return {"lr_transfer": fig}


def phase_figures(ds) -> dict:
    """{"deep_phase_diagram": measured width exponent of the relative feature change over
    (output init exponent, c), with TP4's predicted regime as markers}.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    s = ds["feature_slope"].values
    bo, c = ds["beta_out"].values, ds["c"].values
    im = ax.pcolormesh(bo, c, s.T, cmap="coolwarm", vmin=-1, vmax=1, shading="nearest")
    fig.colorbar(im, ax=ax, label="width exponent of the relative feature change")
    marks = {"feature learning": "o", "kernel": "s", "trivial": "v", "unstable": "x"}
    pred = ds["predicted_regime"].values
    for reg, mk in marks.items():
        ii, jj = np.nonzero(pred == reg)
        if ii.size:
            ax.scatter(bo[ii], c[jj], marker=mk, color="k", s=18, label=f"TP4: {reg}")
    ax.set(
        xlabel=r"output init exponent $a_{L+1} + b_{L+1}$",
        ylabel="lr exponent c",
        title="Deep-net phase diagram (muP multipliers)",
    )
    ax.legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    return {"deep_phase_diagram": fig}
