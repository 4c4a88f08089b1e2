"""Figures of the central-flow experiment (spec 08 part B). No computation: drawn from the Dataset."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "central_flow_figures",
    "gd_vs_flows",
    "oscillation_and_layers",
]


def _save(fig, path):
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=130)
    return fig


def gd_vs_flows(
    t,
    gd_loss,
    step,
    gd_smoothed,
    cf_predicted,
    cf_loss,
    gf_loss,
    gd_sharpness,
    cf_sharpness,
    gf_sharpness,
    lrs,
    path=None,
    title="GD vs central flow vs gradient flow",
    ef_predicted=None,
    ef_sharpness=None,
):
    """Top row: loss per lr (GD raw, GD smoothed, central flow's L and predicted time average,
    gradient flow); bottom row: sharpness with 2/lr dashed. t: [T]; gd_loss: [L, T]; others [L, R].

    Args:
      t: GD steps [T]; gd_loss: GD's loss [L, T]; step: the flows' record steps [R].
      gd_smoothed: GD's loss averaged over its oscillation [L, R]; cf_predicted: the central
        flow's predicted time average of GD's loss [L, R]; cf_loss, gf_loss: the central and
        gradient flows' losses [L, R].
      gd_sharpness, cf_sharpness, gf_sharpness: lambda_max along each [L, R].
      lrs: the learning rates [L].
      path: also save the figure there (dpi 130; None: do not save); title: the figure's title.
      ef_predicted, ef_sharpness: the edge flow's predicted time-averaged loss and S [L, R]
        (None: not drawn).
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    L = len(lrs)
    fig, axes = plt.subplots(2, L, figsize=(4.2 * L, 7), squeeze=False)
    for i, lr in enumerate(lrs):
        ax = axes[0, i]
        ax.plot(t, gd_loss[i], color="0.75", lw=0.6, label="GD")
        ax.plot(step, gd_smoothed[i], color="k", label="GD, smoothed")
        ax.plot(step, cf_predicted[i], color="C3", label="central flow: predicted avg")
        ax.plot(step, cf_loss[i], color="C3", ls=":", label="central flow: L(w)")
        ax.plot(step, gf_loss[i], color="C0", ls="--", label="gradient flow")
        if ef_predicted is not None:
            ax.plot(step, ef_predicted[i], color="C2", lw=1, label="edge flow: predicted avg")
        ax.set(yscale="log", xlabel="step", ylabel="training loss", title=f"lr = {lr:g}")
        ax = axes[1, i]
        ax.plot(step, gd_sharpness[i], color="k", label="GD")
        ax.plot(step, cf_sharpness[i], color="C3", label="central flow")
        ax.plot(step, gf_sharpness[i], color="C0", ls="--", label="gradient flow")
        if ef_sharpness is not None:
            ax.plot(step, ef_sharpness[i], color="C2", lw=1, label="edge flow")
        ax.axhline(2 / lr, color="0.5", ls="--", lw=1)
        ax.set(xlabel="step", ylabel=r"$\lambda_{\max}$ (dashed: $2/\mathrm{lr}$)")
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7)
    fig.suptitle(title)
    return _save(fig, path)


def oscillation_and_layers(
    step,
    sigma2,
    oscillation2,
    layer_sharpness,
    layer_share,
    layers,
    lrs,
    path=None,
    title="sigma^2 vs GD's oscillation; per-layer curvature",
):
    """Left: the flow's sigma^2 and GD's measured (u^T (w_GD - w_CF))^2 per lr; middle: per-layer
    block lambda_max along GD; right: the layers' shares of the top eigenvector. [L, R] / [L, R, B].

    Args:
      step: record steps [R]; sigma2: the flow's sigma^2 [L, R]; oscillation2: GD's measured
        (u^T (w_GD - w_CF))^2 [L, R].
      layer_sharpness: per-layer block lambda_max [L, R, B]; layer_share: the layers' shares of
        the top eigenvector [L, R, B]; layers: the B layer names; lrs: the learning rates [L].
      path: also save the figure there (dpi 130; None: do not save); title: the figure's title.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(14, 4.2))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(lrs)))
    for col, lr, s2, o2 in zip(colors, lrs, sigma2, oscillation2):
        a.plot(step, o2, color=col, lw=0.6, alpha=0.6)
        a.plot(step, s2, color=col, lw=1.8, label=f"lr = {lr:g}")
    a.set(
        yscale="symlog",
        xlabel="step",
        ylabel="squared oscillation along u",
        title=r"$\sigma^2$ (thick) vs GD (thin)",
    )
    a.legend(fontsize=8)
    styles = ["-", "--", ":", "-."]
    for col, lr, ls_, sh in zip(colors, lrs, layer_sharpness, layer_share):
        for j, name in enumerate(layers):
            b.plot(step, ls_[:, j], color=col, ls=styles[j % 4], label=f"{name}, lr {lr:g}")
            c.plot(step, sh[:, j], color=col, ls=styles[j % 4])
    b.set(
        xlabel="step",
        ylabel=r"block $\lambda_{\max}(H_{BB})$",
        title="per-layer sharpness along GD",
    )
    b.legend(fontsize=6, ncol=2)
    c.set(
        xlabel="step",
        ylabel=r"$|u_B|^2$",
        ylim=(0, 1),
        title="layers' shares of the top eigenvector",
    )
    fig.suptitle(title)
    return _save(fig, path)


def central_flow_figures(ds) -> dict:
    """{"central_flow": :func:`gd_vs_flows`, "oscillation_layers": :func:`oscillation_and_layers`}.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    lrs = ds["lr"].values.astype(float)
    v = lambda n: ds[n].values
    return {
        "central_flow": gd_vs_flows(
            ds["t"].values,
            v("gd_loss"),
            ds["step"].values,
            v("gd_smoothed"),
            v("cf_predicted_loss"),
            v("cf_loss"),
            v("gf_loss"),
            v("gd_sharpness"),
            v("cf_sharpness"),
            v("gf_sharpness"),
            lrs,
            title=f"digits, tanh MLP {ds.attrs.get('sizes')}, MSE: GD vs central flow vs gradient flow"
            + (" vs edge flow" if "ef_sharpness" in ds else ""),
            ef_predicted=v("ef_predicted_loss") if "ef_predicted_loss" in ds else None,
            ef_sharpness=v("ef_sharpness") if "ef_sharpness" in ds else None,
        ),
        "oscillation_layers": oscillation_and_layers(
            ds["step"].values,
            v("cf_sigma2"),
            v("cf_oscillation2"),
            v("layer_sharpness"),
            v("layer_share"),
            [str(n) for n in ds["layer"].values],
            lrs,
        ),
    }
