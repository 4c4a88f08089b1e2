"""Figures of book ch. 10 (model rank, optimistic sample size, recovery); no computation here."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

__all__ = [
    "cnn_figures",
    "error_curves",
    "error_heatmap",
    "fnl_figures",
    "init_std_figures",
    "init_std_heatmap",
    "matrix_figures",
    "rank_profile",
    "width_figures",
]

ERROR_CMAP = "viridis"


def error_heatmap(
    ax,
    errors,
    n_values,
    row_labels,
    optimistic=None,
    *,
    vmin=1e-8,
    vmax=None,
    ylabel="target",
    title=None,
    colorbar=True,
    xlabel="number of samples n",
    label="median test error",
):
    """Test error over seeds [rows, K] as a log-colored grid (book Fig 10.1/10.2 style).

    ``optimistic``: [rows] optimistic sample size of each row, drawn as a red bar on the
    left edge of that cell (recovery is possible from there on).

    Args:
      ax: the matplotlib Axes drawn into; errors: [rows, K] (clipped below at ``vmin``); n_values: the K sample sizes;
      row_labels: the rows' tick labels; optimistic: see above (None: none).
      vmin, vmax: the log color range (vmax None: the data's maximum); colorbar: attach one,
        labelled ``label``; xlabel, ylabel, title: the axes' labels and title.
    Returns:
      the ``QuadMesh`` (for a shared colorbar).
    """
    errors = np.clip(np.asarray(errors, float), vmin, None)
    n_values = np.asarray(n_values)
    vmax = vmax or max(float(np.nanmax(errors)), 10 * vmin)
    mesh = ax.pcolormesh(
        np.arange(len(n_values) + 1) - 0.5,
        np.arange(len(row_labels) + 1) - 0.5,
        errors,
        cmap=ERROR_CMAP,
        norm=LogNorm(vmin, vmax),
        shading="flat",
    )
    if colorbar:
        plt.colorbar(mesh, ax=ax, label=label)
    if optimistic is not None:
        for i, R in enumerate(optimistic):
            j = np.searchsorted(n_values, R)
            ax.plot(
                [j - 0.5, j - 0.5],
                [i - 0.5, i + 0.5],
                color="red",
                lw=3,
                solid_capstyle="butt",
                label="optimistic size" if i == 0 else None,
            )
        ax.legend(loc="upper left", bbox_to_anchor=(0, -0.12), fontsize=8, frameon=False)
    ax.set_xticks(np.arange(len(n_values)), [str(n) for n in n_values], fontsize=8)
    ax.set_yticks(np.arange(len(row_labels)), row_labels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.invert_yaxis()
    if title:
        ax.set_title(title, fontsize=10)
    return mesh


def error_curves(
    ax,
    n_values,
    errors,
    labels,
    optimistic=None,
    *,
    colors=None,
    spread=None,
    title=None,
    xlabel="number of samples n",
    ylabel="median test error",
    logx=False,
):
    """Test error vs n, one curve per row of ``errors`` [rows, K]; dashed vertical line at each
    row's optimistic size (same color); ``spread`` [rows, 2, K]: a shaded band (e.g. quartiles).

    Args:
      ax: the matplotlib Axes drawn into; n_values: the K sample sizes; errors: [rows, K]; labels: one legend label per row;
      optimistic: [rows] optimistic sizes (None: no lines); colors: one per row (None: C0, C1...);
      spread: see above (None: no band); title, xlabel, ylabel: the axes' labels; logx: log n axis.
    """
    colors = colors or [f"C{i}" for i in range(len(labels))]
    for i, lab in enumerate(labels):
        ax.plot(n_values, errors[i], "o-", color=colors[i], ms=3.5, lw=1.5, label=lab)
        if spread is not None:
            ax.fill_between(n_values, spread[i][0], spread[i][1], color=colors[i], alpha=0.15, lw=0)
        if optimistic is not None:
            ax.axvline(optimistic[i], color=colors[i], ls="--", lw=1.2, alpha=0.9)
    ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)


def init_std_heatmap(
    ax, errors, n_values, init_stds, optimistic, *, vmin=1e-8, title=None, label="median test error"
):
    """Test error over (init std, n) (book Fig 10.5), optimistic size as a dashed line.

    Args:
      ax: the matplotlib Axes drawn into; errors: [S, K] over (init std, n); n_values: the K sample sizes; init_stds: the S
        init stds (rows); optimistic: the optimistic size (one number); vmin: the color floor;
      title: the title; label: the colorbar's label.
    Returns:
      the ``QuadMesh``.
    """
    errors = np.clip(np.asarray(errors, float), vmin, None)
    mesh = ax.pcolormesh(
        np.arange(len(n_values) + 1) - 0.5,
        np.arange(len(init_stds) + 1) - 0.5,
        errors,
        cmap=ERROR_CMAP,
        norm=LogNorm(vmin, max(float(errors.max()), 10 * vmin)),
        shading="flat",
    )
    plt.colorbar(mesh, ax=ax, label=label)
    j = np.searchsorted(np.asarray(n_values), optimistic) - 0.5
    ax.axvline(j, color="red", ls="--", lw=2, label=f"optimistic size {optimistic}")
    ax.set_xticks(np.arange(len(n_values)), [str(n) for n in n_values], fontsize=8)
    ax.set_yticks(np.arange(len(init_stds)), [f"{s:.0e}" for s in init_stds], fontsize=8)
    ax.set_xlabel("number of samples n")
    ax.set_ylabel("init std")
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.12), fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return mesh


def rank_profile(ax, n_points, ranks, model_ranks=None, labels=None, title=None):
    """Rank of the tangent functions on the first n points vs n (``ranks``: [K] or [P, K], one
    curve per profile); saturation at the model rank (dashed, ``model_ranks``: [P]).

    Args:
      ax: the matplotlib Axes drawn into; n_points: the K evaluation-point counts n; ranks: see above; model_ranks: [P]
        (None: no saturation lines); labels: one per profile (None: unlabelled); title: the title.
    """
    ranks = np.atleast_2d(ranks)
    labels = labels or [None] * len(ranks)
    ax.plot(n_points, n_points, ":", color="gray", lw=1, label="rank = n (not saturated)")
    for i, r in enumerate(ranks):
        ax.plot(n_points, r, "o-", ms=3, color=f"C{i}", label=labels[i])
        if model_ranks is not None:
            ax.axhline(model_ranks[i], color=f"C{i}", ls="--", lw=1)
    ax.set_ylim(0, 1.15 * ranks.max() + 1)
    ax.set_xlabel("number of evaluation points")
    ax.set_ylabel("rank of tangent functions")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)


# ---- figures of the rank experiments, drawn from their Datasets alone ------------------


def _seeds(ds):
    return ds.sizes.get("seed", 0)


def fnl_figures(ds) -> dict:
    """``optimistic-fnl`` (Fig 10.1): median test error over (target, n) for f_L and f_NL,
    optimistic size of each row as a red bar.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    fig, axes = plt.subplots(
        1, ds.sizes["model"], figsize=(10, 1.8 + 0.35 * ds.sizes["target"]), constrained_layout=True
    )
    axes = np.atleast_1d(axes)
    med = ds["median_error"].transpose("model", "target", "n").values
    vmax = max(float(np.nanmax(med)), 1e-9)
    for i, ax in enumerate(axes):
        name = str(ds["model"].values[i])
        error_heatmap(
            ax,
            med[i],
            ds["n"].values,
            list(ds["target"].values),
            ds["optimistic_size"].values[i],
            vmin=1e-10,
            vmax=vmax,
            colorbar=i == len(axes) - 1,
            title=f"{name}: median test error, {_seeds(ds)} seeds",
        )
    fig.suptitle(
        r"Fig 10.1: $f_L = t_0 + t_1x_1 + t_2x_2$ vs $f_{NL} = t_0 + t_1x_1 + t_2t_3x_2$"
        f" (recovered: median <= {ds.attrs['threshold']:g})",
        fontsize=11,
    )
    return {"fnl": fig}


def matrix_figures(ds) -> dict:
    """``optimistic-matrix`` (Fig 10.2): median error over (target, n), and per rank the mean of
    the targets' medians against n with the seeds' quartiles; dashed: 2rd - r^2.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    fig, (a0, a1) = plt.subplots(
        1, 2, figsize=(12, 4.4), constrained_layout=True, gridspec_kw=dict(width_ratios=[1.25, 1])
    )
    n = ds["n"].values
    med = ds["median_error"].transpose("target", "n").values
    error_heatmap(
        a0,
        med,
        n,
        list(ds["target_label"].values),
        ds["optimistic_size"].values,
        vmin=1e-8,
        title=f"median relative test error, {_seeds(ds)} seeds",
    )
    ranks = ds["rank"].values
    rs = sorted(set(ranks.tolist()))
    err = ds["test_error"].transpose("target", "n", "seed").values
    per_rank = np.stack([med[ranks == r].mean(0) for r in rs])
    quart = np.stack([np.percentile(err[ranks == r], [25, 75], axis=(0, 2)) for r in rs])
    R = [int(ds["optimistic_size"].values[ranks == r][0]) for r in rs]
    error_curves(
        a1,
        n,
        np.clip(per_rank, 1e-8, None),
        [f"rank {r}" for r in rs],
        R,
        spread=np.clip(quart, 1e-8, None),
        ylabel="relative test error",
        title="dashed: optimistic size 2rd - r$^2$; band: quartiles over seeds",
    )
    a1.axhline(ds.attrs["threshold"], color="gray", lw=0.8, ls=":")
    d = ds.sizes["row"]
    fig.suptitle(f"Fig 10.2: {d}x{d} matrix completion with f = AB from small init", fontsize=11)
    return {"matrix": fig}


def init_std_figures(ds) -> dict:
    """``optimistic-init-std`` (Fig 10.5): median error over (init std, n) for (a) f_NL on 1 + x1
    and (b) the rank-1 matrix, optimistic size dashed.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    fig, (a0, a1) = plt.subplots(
        1, 2, figsize=(11, 4.2), constrained_layout=True, gridspec_kw=dict(width_ratios=[1, 1.6])
    )
    for ax, p, title in (
        (a0, "fnl", r"(a) $f_{NL}$ fitting $1 + x_1$"),
        (a1, "matrix", "(b) rank-1 matrix completion"),
    ):
        init_std_heatmap(
            ax,
            ds[f"{p}_median_error"].transpose(f"{p}_init_std", f"{p}_n").values,
            ds[f"{p}_n"].values,
            ds[f"{p}_init_std"].values,
            int(ds[f"{p}_optimistic_size"]),
            vmin=1e-10,
            title=title,
        )
    fig.suptitle(
        f"Fig 10.5: samples needed vs init std (median over {_seeds(ds)} seeds)", fontsize=11
    )
    return {"init_std": fig}


def cnn_figures(ds) -> dict:
    """``optimistic-cnn`` (Fig 10.3): median relative error against n per architecture, one curve
    per width (dashed: optimistic size), and the tangent-rank profile at the target.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    archs = [str(a) for a in ds["arch"].values]
    fig, axes = plt.subplots(
        1, len(archs) + 1, figsize=(4.3 * (len(archs) + 1), 4), constrained_layout=True
    )
    n, widths = ds["n"].values, ds["width"].values
    med = ds["median_error"].transpose("arch", "width", "n").values
    R = ds["optimistic_size"].values
    colors = [plt.cm.viridis(t) for t in np.linspace(0, 0.85, len(widths))]
    for i, (ax, name) in enumerate(zip(axes, archs)):
        error_curves(
            ax,
            n,
            np.clip(med[i], 1e-14, None),
            [f"x{w} ({int(ds['n_params'].values[i, j])} params)" for j, w in enumerate(widths)],
            [R[i]] * len(widths),
            colors=colors,
            ylabel="median relative test error",
            title=f"{name}: optimistic size {R[i]} (dashed)",
        )
        ax.axhline(ds.attrs["threshold"], color="gray", lw=0.8, ls=":")
        ax.set_ylim(1e-14, 10)
    rank_profile(
        axes[-1],
        ds["rank_point"].values,
        ds["rank_profile"].values,
        R,
        archs,
        title=f"tangent rank at the target (x{widths[-1]}); dashed: closed form",
    )
    fig.suptitle(
        f"Fig 10.3: teacher kernel [0.6, 0.8, 1] on x in R^5, median over {_seeds(ds)} seeds",
        fontsize=11,
    )
    return {"cnn": fig}


def width_figures(ds) -> dict:
    """``optimistic-width`` (the authors' width runs behind Fig 10.3): median relative error of
    tanh(x + 1) against n, one curve per student width (shaded: quartiles over trials; dashed:
    the optimistic size 3; dotted: the recovery threshold).

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    n, widths = ds["n"].values, ds["width"].values
    err = np.clip(ds["test_error"].transpose("width", "n", "seed").values, 1e-14, None)
    med = np.clip(ds["median_error"].transpose("width", "n").values, 1e-14, None)
    q = np.nanquantile(err, [0.25, 0.75], axis=-1).transpose(1, 0, 2)  # [width, 2, n]
    R = int(ds["optimistic_size"])
    error_curves(
        ax,
        n,
        med,
        [f"width {int(w)} ({int(p)} params)" for w, p in zip(widths, ds["n_params"].values)],
        [R] * len(widths),
        spread=q,
        ylabel="median relative test error",
        title=f"tanh(x + 1), {ds.attrs.get('optimizer', '')}, {_seeds(ds)} trials; "
        f"optimistic size {R} (dashed)",
    )
    ax.axhline(ds.attrs["threshold"], color="gray", lw=0.8, ls=":")
    ax.set_ylim(1e-14, 10)
    return {"width": fig}
