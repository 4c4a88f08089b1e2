"""Figures of the course diagnostics (:mod:`phasekit.experiments.course`), from the Dataset alone."""

from __future__ import annotations

import numpy as np

from phasekit.viz import landscape

__all__ = [
    "batch_size_figures",
    "batchnorm_figures",
    "init_figures",
    "paths_figures",
    "rates_figures",
    "regularization_figures",
    "vanishing_figures",
]


def vanishing_figures(ds) -> dict:
    """{"vanishing_gradients": |dL/dW_l| vs layer, median and range over seeds, per pair}.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    norms = {
        str(lab): np.asarray(ds["grad_norm"].values[i])
        for i, lab in enumerate(ds["pair_label"].values)
    }
    fig = landscape.vanishing_gradients(
        norms,
        title=f"Per-layer gradient norms at init, {ds.attrs.get('depth')}-layer MLP, "
        f"width {ds.attrs.get('width')}",
    )
    return {"vanishing_gradients": fig}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def init_figures(ds) -> dict:
    """{"init_variance": q_l vs layer (measured median over seeds, recursion dashed) per pair,
    "init_gradients": |dL/dW_l| vs layer}.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    plt = _plt()
    layers = ds["layer"].values
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for i, lab in enumerate(ds["pair_label"].values):
        q = ds["q"].values[i]
        (line,) = ax.plot(layers, np.median(q, 0), "o-", ms=3, label=f"{lab} measured")
        ax.fill_between(layers, q.min(0), q.max(0), color=line.get_color(), alpha=0.2)
        ax.plot(
            layers, np.median(ds["q_recursion"].values[i], 0), "--", color=line.get_color(), lw=1
        )
    ax.set(
        yscale="log",
        xlabel="layer l",
        ylabel=r"$\mathrm{Var}[z_l]$",
        title=f"Pre-activation variance at init (dashed: mean-field recursion), width {ds.attrs.get('width')}",
    )
    ax.legend(fontsize=7)
    norms = {
        str(lab): np.asarray(ds["grad_norm"].values[i])
        for i, lab in enumerate(ds["pair_label"].values)
    }
    g = landscape.vanishing_gradients(
        norms, title=f"Per-layer gradient norms at init, depth {ds.attrs.get('depth')}"
    )
    return {"init_variance": fig, "init_gradients": g}


def rates_figures(ds) -> dict:
    """{"optimizer_rates": |x_t| / |x_0| vs fraction of the run per (kappa, method), and measured vs
    closed-form rates; "adaptive_optimizers": best steps to the target, diagonal vs rotated}.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    frac = ds["fraction"].values
    for k in ds["kappa"].values:
        for m in ds["algorithm"].values:
            a1.plot(
                frac * float(ds["steps"].sel(kappa=k, algorithm=m)),
                ds["dist"].sel(kappa=k, algorithm=m),
                label=f"{m}, kappa={k:g}",
            )
    a1.set(
        yscale="log",
        xscale="log",
        xlabel="step t",
        ylabel=r"$|x_t| / |x_0|$",
        title="Distance to the minimum",
    )
    a1.legend(fontsize=6)
    kap = ds["kappa"].values
    for m, mk in zip(ds["algorithm"].values, "osd"):
        a2.plot(kap, 1 - ds["rate"].sel(algorithm=m), mk, label=f"{m} measured")
    a2.plot(kap, 1 - ds["gd_rate"], "-", color="C0", label=r"$1 - (\kappa-1)/(\kappa+1)$")
    a2.plot(
        kap,
        1 - ds["heavy_ball_rate"],
        "-",
        color="C1",
        label=r"$1 - (\sqrt{\kappa}-1)/(\sqrt{\kappa}+1)$",
    )
    a2.set(
        xscale="log",
        yscale="log",
        xlabel=r"condition number $\kappa$",
        ylabel="1 - rate per step",
        title="Contraction rates",
    )
    a2.legend(fontsize=7)
    fig.tight_layout()
    fig2, ax = plt.subplots(figsize=(6.5, 4.2))
    opts = list(ds["optimizer"].values)
    xs = np.arange(len(opts))
    for j, g in enumerate(ds["geometry"].values):
        ax.bar(xs + 0.4 * (j - 0.5), ds["best_steps"].sel(geometry=g).values, 0.4, label=str(g))
    ax.set_xticks(xs, opts)
    ax.set(
        yscale="log",
        ylabel=f"steps to f <= {ds.attrs.get('adaptive_tol')} f(x_0) (best lr)",
        title=f"Ill-conditioned quadratic, kappa = {ds.attrs.get('adaptive_kappa'):g} (missing bar: not reached)",
    )
    ax.legend()
    return {"optimizer_rates": fig, "adaptive_optimizers": fig2}


def paths_figures(ds) -> dict:
    """{"optimizer_paths": trajectories over the loss contours of Rosenbrock and the 1-1-1 net}.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax, s in zip(axes, ds["surface"].values):
        gu, gv = ds["grid_w1"].sel(surface=s).values, ds["grid_w2"].sel(surface=s).values
        L = ds["surface_loss"].sel(surface=s).values
        ax.contour(gu, gv, np.log10(L.T + 1e-8), levels=20, cmap="Greys", linewidths=0.6)
        for o in ds["optimizer"].values:
            p = ds["position"].sel(surface=s, optimizer=o).values
            ax.plot(p[:, 0], p[:, 1], ".-", ms=2, lw=1, label=str(o))
        ax.set(xlabel="w1", ylabel="w2", title=f"{s}", xlim=(gu[0], gu[-1]), ylim=(gv[0], gv[-1]))
        ax.legend(fontsize=7)
    if "rosenbrock" in list(ds["surface"].values):
        axes[0].plot([1], [1], "r*", ms=10)
    fig.tight_layout()
    return {"optimizer_paths": fig}


def regularization_figures(ds) -> dict:
    """{"l1_vs_l2": near-zero fraction vs training loss per penalty; "early_stopping_filters":
    measured GD filter, 1 - (1 - eta s)^t and the matched ridge filter vs s at a few t}.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for p, mk in zip(ds["penalty"].values, "os"):
        ax.plot(
            ds["train_loss"].sel(penalty=p).mean("seed"),
            ds["sparsity"].sel(penalty=p).mean("seed"),
            mk + "-",
            label=f"{p} (lambda grid)",
        )
    ax.set(
        xscale="log",
        xlabel="training loss",
        ylabel=f"fraction |w| <= {ds.attrs.get('sparsity_tol')}",
        title="L1 (soft thresholding) vs L2",
    )
    ax.legend()
    fig2, ax2 = plt.subplots(figsize=(6.5, 4.4))
    s = ds["eigenvalue"].isel(design=0).values
    order = np.argsort(s)
    ts = ds["t"].values
    for j, i in enumerate(np.unique(np.linspace(0, len(ts) - 1, 4).astype(int))):
        c = f"C{j}"
        ax2.plot(
            s[order],
            ds["filter_gd"].isel(design=0, t=i).values[order],
            "o",
            color=c,
            ms=4,
            label=f"GD measured, t={ts[i]}",
        )
        ax2.plot(s[order], ds["filter_closed"].isel(design=0, t=i).values[order], "-", color=c)
        ax2.plot(s[order], ds["filter_ridge"].isel(design=0, t=i).values[order], "--", color=c)
    ax2.set(
        xscale="log",
        xlabel="eigenvalue s of X^T X / n",
        ylabel="filter phi(s)",
        title=r"GD (solid: $1-(1-\eta s)^t$) vs ridge (dashed: $s/(s+1/(\eta t))$)",
    )
    ax2.legend(fontsize=7)
    return {"l1_vs_l2": fig, "early_stopping_filters": fig2}


def batch_size_figures(ds) -> dict:
    """{"batch_size": S(B) with the fit S_min (1 + B_crit / B), and the S-E trade-off curve}.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    plt = _plt()
    b = ds["batch"].values.astype(float)
    s, e = ds["best_steps"].values, ds["examples"].values
    s_min, e_min, b_crit = (ds.attrs[k] for k in ("s_min", "e_min", "b_crit"))
    bb = np.geomspace(b.min(), b.max(), 100)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    a1.plot(b, s, "o", label="measured (best lr, median over seeds)")
    a1.plot(
        bb, s_min * (1 + b_crit / bb), "-", label=f"S_min (1 + B_crit / B), B_crit = {b_crit:.3g}"
    )
    a1.axvline(b_crit, color="grey", ls=":")
    a1.set(
        xscale="log",
        yscale="log",
        xlabel="batch size B",
        ylabel="steps S to the target",
        title="Steps vs batch size",
    )
    a1.legend(fontsize=7)
    a2.plot(s / s_min, e / e_min, "o", label="measured")
    x = np.geomspace(1.001, max(np.nanmax(s / s_min), 2.0) * 1.2, 200)
    a2.plot(x, 1 + 1 / (x - 1), "-", label=r"$(S/S_{min}-1)(E/E_{min}-1)=1$")
    a2.set(
        xscale="log",
        yscale="log",
        xlabel=r"$S / S_{min}$",
        ylabel=r"$E / E_{min}$",
        title="Steps-examples trade-off",
    )
    a2.legend(fontsize=7)
    fig.tight_layout()
    return {"batch_size": fig}


def batchnorm_figures(ds) -> dict:
    """{"batchnorm_smoothness": loss variation, gradient predictiveness and lambda_max vs step, with
    and without BN, per lr (median over seeds); "batchnorm_lrs": final loss vs lr}.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    plt = _plt()
    names = ("loss_variation", "grad_predictiveness", "sharpness")
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    step = ds["step"].values
    for ax, var in zip(axes, names):
        for j, lr in enumerate(ds["lr"].values):
            for v, ls in zip(ds["variant"].values, ("--", "-")):
                ax.plot(
                    step[1:],
                    ds[var].sel(lr=lr, variant=v).median("seed").values[1:],
                    ls,
                    color=f"C{j}",
                    label=f"{v}, lr={lr:g}",
                )
        ax.set(yscale="log", xlabel="step", title=ds[var].attrs.get("long_name", var)[:60])
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig2, ax = plt.subplots(figsize=(6, 4.2))
    for v, mk in zip(ds["variant"].values, "os"):
        ax.plot(
            ds["lr"].values,
            ds["loss"].sel(variant=v).isel(step=-1).median("seed").values,
            mk + "-",
            label=str(v),
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="learning rate",
        ylabel="final training loss (diverged: frozen)",
        title="Trainable learning rates with / without BN",
    )
    ax.legend()
    return {"batchnorm_smoothness": fig, "batchnorm_lrs": fig2}
