"""Figures for spec 05: edge of stability, flatness, vanishing gradients, 1-1-1 landscape. No computation."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "dropout_flatness",
    "edge_of_stability",
    "edge_of_stability_figures",
    "flatness_batch_figures",
    "flatness_comparison",
    "one_one_one",
    "one_one_one_figures",
    "vanishing_gradients",
]


def _save(fig, path):
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=130)
    return fig


def edge_of_stability(step, sharpness, loss, lrs, path=None, title="Edge of stability"):
    """Loss and lambda_max vs GD step for each lr, with the thresholds 2 / lr dashed.

    step: [R], sharpness: [L, R], loss: [L, R], lrs: [L].

    Args:
      path: also save the figure there (dpi 130; None: do not save); title: the figure's title.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    fig, (ax_l, ax_s) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(lrs)))
    for c, lr, s, l in zip(colors, lrs, sharpness, loss):
        ax_l.plot(step, l, color=c, label=f"lr = {lr:g}")
        ax_s.plot(step, s, color=c, label=f"lr = {lr:g}")
        ax_s.axhline(2 / lr, color=c, ls="--", lw=1)
    ax_l.set(yscale="log", xlabel="GD step", ylabel="training loss", title="Full-batch GD loss")
    ax_s.set(
        yscale="log",
        xlabel="GD step",
        ylabel=r"sharpness $\lambda_{\max}(H)$  (ticks at $2/\mathrm{lr}$)",
        title=r"$\lambda_{\max}$ (solid) rises to $2/\mathrm{lr}$ (dashed)",
    )
    ax_s.set_yticks(2 / np.asarray(lrs), [f"{2 / lr:g}" for lr in lrs])
    ax_s.yaxis.set_minor_formatter("")
    ax_l.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def flatness_comparison(
    ts, curves, slice_alphas, slices, sharpness, path=None, title="Small vs large batch minima"
):
    """Left: interpolation L((1 - t) theta_SB + t theta_LB) (train and test); right: 1-D slices.

    ts: [T]; curves: {label: [T]}; slice_alphas: [A]; slices: {label: [dirs, A]} (mean and
    spread plotted); sharpness: {label: lambda_max} shown in the legend.

    Args:
      path: also save the figure there (dpi 130; None: do not save); title: the figure's title.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    fig, (ax_i, ax_s) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, c in curves.items():
        ax_i.plot(ts, c, label=label)
    for x, name in ((0, "small batch"), (1, "large batch")):
        ax_i.axvline(x, color="gray", lw=0.8, ls=":")
        ax_i.text(
            x + 0.03,
            0.97,
            name,
            transform=ax_i.get_xaxis_transform(),
            va="top",
            fontsize=8,
            rotation=90,
        )
    ax_i.set(
        yscale="log",
        xlabel="t  (0: small-batch solution, 1: large-batch solution)",
        ylabel="cross-entropy loss",
        title="Linear interpolation (Keskar et al.)",
    )
    ax_i.legend(fontsize=8)
    for label, s in slices.items():
        s = np.asarray(s)
        (line,) = ax_s.plot(
            slice_alphas, s.mean(0), label=rf"{label}: $\lambda_{{\max}}$ = {sharpness[label]:.3g}"
        )
        ax_s.fill_between(slice_alphas, s.min(0), s.max(0), color=line.get_color(), alpha=0.2)
    ax_s.set(
        yscale="log",
        xlabel=r"step $a$ along a filter-normalized random direction $d$",
        ylabel=r"training loss $L(\theta + a d)$",
        title="Filter-normalized 1-D slices (range over directions)",
    )
    ax_s.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def vanishing_gradients(norms, path=None, title="Per-layer gradient norms, 10-layer MLP"):
    """|dL/dW_l| vs layer l (log scale), median and range over seeds. norms: {label: [seeds, L]}.

    Args:
      path: also save the figure there (dpi 130; None: do not save); title: the figure's title.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for label, g in norms.items():
        g = np.asarray(g)
        layers = np.arange(1, g.shape[1] + 1)
        (line,) = ax.plot(layers, np.median(g, 0), "o-", label=label)
        ax.fill_between(layers, g.min(0), g.max(0), color=line.get_color(), alpha=0.2)
    ax.set(
        yscale="log",
        xlabel="layer l (1 = input side)",
        ylabel=r"$\|\partial L / \partial W^{(l)}\|_F$",
        title=title,
    )
    ax.set_xticks(layers)
    ax.legend(fontsize=8)
    return _save(fig, path)


def one_one_one(
    w1, w2, losses, indefinite, path=None, title="1-1-1 network: loss and indefinite Hessian"
):
    """Loss contours over (w1, w2) with the region where the Hessian is indefinite shaded.

    w1: [A], w2: [B]; losses / indefinite: {label: [A, B]} (indefinite: bool).

    Args:
      path: also save the figure there (dpi 130; None: do not save); title: the figure's title.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    fig, axes = plt.subplots(1, len(losses), figsize=(5.2 * len(losses), 4.6), squeeze=False)
    W1, W2 = np.meshgrid(w1, w2, indexing="ij")
    for ax, (label, L) in zip(axes[0], losses.items()):
        ax.contourf(
            W1,
            W2,
            np.asarray(indefinite[label], float),
            levels=[0.5, 1.5],
            colors=["#f4a582"],
            alpha=0.6,
        )
        cs = ax.contour(
            W1, W2, np.log10(np.asarray(L) + 1e-12), levels=14, cmap="viridis", linewidths=1
        )
        ax.clabel(cs, fontsize=7, fmt="%.1f")
        ax.plot([], [], color="#f4a582", lw=8, label="Hessian indefinite (one negative eigenvalue)")
        ax.plot([], [], color="tab:green", label=r"contours of $\log_{10} L$")
        ax.set(xlabel=r"$w_1$ (hidden)", ylabel=r"$w_2$ (output)", title=label)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(title)
    return _save(fig, path)


def dropout_flatness(
    slice_alphas,
    slices,
    ps,
    sharpness,
    trace,
    flatness,
    control=None,
    control_label="control",
    path=None,
    title="Minima with and without dropout",
):
    """Top: 1-D slices, one panel per keep probability p (thin: each seed, mean over directions;
    thick: mean over seeds; dashed gray: the p = ps[0] mean for reference). Bottom: lambda_max,
    tr H and mean direction flatness F vs p (dots: seeds, bar: mean; open diamonds: ``control``).

    slice_alphas: [A]; slices: [P, S, dirs, A]; ps: [P]; sharpness, trace: [P, S]; flatness: [P, S, dirs];
    control: optional {"sharpness": [P, S], "trace": [P, S], "flatness": [P, S, dirs]} of a second
    training method, drawn beside each bar with ``control_label`` in the legend.

    Args:
      path: also save the figure there (dpi 130; None: do not save); title: the figure's title.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    slices, ps = np.asarray(slices), list(ps)
    n_p = len(ps)
    fig = plt.figure(figsize=(max(11, 3.7 * n_p), 7.8))
    grid = fig.add_gridspec(2, 3 * n_p)
    colors = plt.cm.viridis(np.linspace(0, 0.8, n_p))
    reference = slices[0].mean((0, 1))
    top = [fig.add_subplot(grid[0, 3 * i : 3 * i + 3]) for i in range(n_p)]
    for i, (ax, p, c) in enumerate(zip(top, ps, colors)):
        for k, s in enumerate(slices[i].mean(1)):
            ax.plot(
                slice_alphas,
                s,
                color=c,
                lw=0.7,
                alpha=0.6,
                label=f"each seed (mean over {slices.shape[2]} directions)" if k == 0 else None,
            )
        ax.plot(slice_alphas, slices[i].mean((0, 1)), color=c, lw=2.2, label="mean over seeds")
        if i > 0:
            ax.plot(
                slice_alphas, reference, color="gray", ls="--", lw=1.2, label=f"p = {ps[0]:g} mean"
            )
        ax.set(
            yscale="log",
            xlabel=r"step $a$ along a filter-normalized direction $d$",
            title=f"p = {p:g}" + (" (no dropout)" if p == 1 else ""),
        )
        ax.legend(fontsize=7, loc="upper center")
    top[0].set_ylabel(r"clean training loss $L(\theta + a d)$")
    lo = min(ax.get_ylim()[0] for ax in top)
    hi = max(ax.get_ylim()[1] for ax in top)
    for ax in top:
        ax.set_ylim(lo, hi)
    names = ("sharpness", "trace", "flatness")
    labels = (
        (r"$\lambda_{\max}(H)$", "Sharpness (lower = flatter)"),
        (r"tr $H$ (Hutchinson)", "Hessian trace (lower = flatter)"),
        (r"$F$ (mean over directions)", "Feng & Tu flatness (higher = flatter)"),
    )
    width = n_p
    xs = np.arange(n_p)
    for j, (name, values, (ylabel, panel_title)) in enumerate(
        zip(names, (sharpness, trace, flatness), labels)
    ):
        ax = fig.add_subplot(grid[1, j * width : (j + 1) * width])
        values = np.asarray(values)
        values = values.mean(-1) if name == "flatness" else values
        ax.bar(
            xs,
            values.mean(1),
            color=colors,
            alpha=0.45,
            width=0.5,
            label="dropout: mean, seeds (dots)",
        )
        for k, v in enumerate(values):
            ax.plot(k + np.linspace(-0.12, 0.12, v.size), v, "o", color=colors[k], ms=4)
        if control is not None:
            cv = np.asarray(control[name])
            cv = cv.mean(-1) if name == "flatness" else cv
            for k, v in enumerate(cv):
                ax.plot(
                    k + 0.33 + np.linspace(-0.06, 0.06, v.size),
                    v,
                    "D",
                    mfc="none",
                    mec="k",
                    ms=4,
                    label=control_label if k == 0 else None,
                )
        ax.set_xticks(xs, [f"{p:g}" for p in ps])
        ax.set(xlabel="keep probability p", ylabel=ylabel, title=panel_title)
        if j == 0:
            ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(title)
    return _save(fig, path)


def one_one_one_figures(ds) -> dict:
    """{"one_one_one_label_<y>": :func:`one_one_one` panels per loss} from the 1-1-1 Dataset.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    out = {}
    w1, w2 = ds["w1"].values, ds["w2"].values
    labels = [str(v) for v in ds["loss_label"].values]
    for y in ds["label"].values:
        sub = ds.sel(label=y)
        losses = {lab: sub["loss"].values[i] for i, lab in enumerate(labels)}
        indef = {lab: sub["indefinite"].values[i] for i, lab in enumerate(labels)}
        out[f"one_one_one_label_{float(y):g}"] = one_one_one(
            w1,
            w2,
            losses,
            indef,
            title=f"1-1-1 net, x = 1, label {float(y):g}: loss contours, indefinite Hessian shaded",
        )
    return out


def edge_of_stability_figures(ds) -> dict:
    """{"edge_of_stability": :func:`edge_of_stability`} from the edge-of-stability Dataset.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    return {
        "edge_of_stability": edge_of_stability(
            ds["step"].values,
            ds["sharpness"].values,
            ds["loss"].values,
            ds["lr"].values,
            title=f"Edge of stability: digits, tanh MLP {ds.attrs.get('sizes')}, full-batch GD, MSE",
        )
    }


def flatness_batch_figures(ds) -> dict:
    """{"flatness_batch_size": :func:`flatness_comparison`} (seed 0) from the batch-size Dataset.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    names = [str(n) for n in ds["solution"].values]
    sub = ds.isel(seed=0)
    return {
        "flatness_batch_size": flatness_comparison(
            ds["t"].values,
            {"train": sub["interp_train"].values, "test": sub["interp_test"].values},
            ds["alpha"].values,
            {n: sub["slice"].values[i] for i, n in enumerate(names)},
            {n: float(sub["sharpness"].values[i]) for i, n in enumerate(names)},
            title=f"Digits, ReLU MLP {ds.attrs.get('sizes')}, {str(ds.attrs.get('optimizer', 'sgd')).upper()} lr {ds.attrs.get('lr')}, "
            f"{ds.attrs.get('steps')} steps: "
            f"batch {int(ds['batch_size'].values[0])} vs {int(ds['batch_size'].values[1])}",
        )
    }
