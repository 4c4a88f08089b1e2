"""Figures of the central-flow experiment (spec 08 part B). No computation: drawn from the Dataset."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "central_flow_figures",
    "gd_vs_flows",
    "layer_curvature",
    "layer_curvature_figure",
    "oscillation",
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


def oscillation(step, sigma2, oscillation2, lrs, path=None, title="sigma^2 vs GD's oscillation"):
    """The central flow's sigma^2 (thick) and GD's measured (u^T (w_GD - w_CF))^2 (thin) per lr.

    Args:
      step: record steps [R]; sigma2: the flow's sigma^2 [L, R]; oscillation2: GD's measured
        (u^T (w_GD - w_CF))^2 [L, R]; lrs: the learning rates [L].
      path: also save the figure there (dpi 130; None: do not save); title: the figure's title.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    fig, a = plt.subplots(figsize=(5.5, 4.2))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(lrs)))
    for col, lr, s2, o2 in zip(colors, lrs, sigma2, oscillation2):
        a.plot(step, o2, color=col, lw=0.6, alpha=0.6)
        a.plot(step, s2, color=col, lw=1.8, label=f"lr = {lr:g}")
    a.set(yscale="symlog", xlabel="step", ylabel="squared oscillation along u", title=title)
    a.legend(fontsize=8)
    return _save(fig, path)


def layer_curvature(
    step,
    sharpness,
    gn_sharpness,
    block_sharpness,
    share,
    layers,
    runs,
    thresholds,
    path=None,
    title="per-layer curvature along GD",
):
    """One column per run. Top: lambda_max of H (black) and of G (grey dashed), each layer's own
    block lambda_max(H_BB) (colours) and 2/lr (dotted); bottom: the layers' shares of the top
    eigenvector stacked (they sum to 1).

    Args:
      step: record steps [R]; sharpness, gn_sharpness: full H and G lambda_max [N, R];
      block_sharpness: per-layer lambda_max(H_BB) [N, R, B]; share: the layers' shares of u
        [N, R, B]; layers: the B layer names; runs: the N run labels; thresholds: 2/lr [N].
      path: also save the figure there (dpi 130; None: do not save); title: the figure's title.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    n = len(runs)
    fig, axes = plt.subplots(2, n, figsize=(4.6 * n, 7), squeeze=False, sharex=True)
    colors = plt.cm.tab10(np.arange(len(layers)) % 10)
    for i, run in enumerate(runs):
        a, b = axes[0, i], axes[1, i]
        a.plot(step, sharpness[i], color="k", lw=2, label=r"$\lambda_{\max}(H)$")
        a.plot(step, gn_sharpness[i], color="0.5", ls="--", label=r"$\lambda_{\max}(G)$")
        for j, name in enumerate(layers):
            a.plot(step, block_sharpness[i][:, j], color=colors[j], label=f"{name} block")
        a.axhline(thresholds[i], color="k", ls=":", lw=1, label="2 / lr")
        a.set(yscale="log", ylabel="top eigenvalue", title=run)
        b.stackplot(step, np.asarray(share[i]).T, colors=colors, labels=layers, alpha=0.8)
        b.set(xlabel="step", ylabel=r"share $|u_B|^2$", ylim=(0, 1))
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7, loc="lower left")
    fig.suptitle(title)
    return _save(fig, path)


def layer_curvature_figure(ds):
    """:func:`layer_curvature` of a ``layer-curvature`` Dataset (runs: loss x lr)."""
    runs = [f"{loss}, lr {float(lr):g}" for loss in ds["loss"].values for lr in ds["lr"].values]

    def flat(name):
        a = ds[name].transpose("loss", "lr", ...).values
        return a.reshape(len(runs), *a.shape[2:])

    return layer_curvature(
        ds["step"].values,
        flat("sharpness"),
        flat("gn_sharpness"),
        flat("block_sharpness"),
        flat("share"),
        [str(v) for v in ds["layer"].values],
        runs,
        np.tile(ds["threshold"].values, ds.sizes["loss"]),
        title=f"digits, tanh MLP {ds.attrs.get('sizes')}: which layers carry the curvature",
    )


def central_flow_figures(ds) -> dict:
    """{"central_flow": :func:`gd_vs_flows`, "oscillation": :func:`oscillation`}.

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
        "oscillation": oscillation(ds["step"].values, v("cf_sigma2"), v("cf_oscillation2"), lrs),
    }
