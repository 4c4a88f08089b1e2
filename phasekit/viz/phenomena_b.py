"""Figures of book ch. 14's double descent, neural collapse and mode connectivity
(:mod:`phasekit.experiments.double_descent`, :mod:`~phasekit.experiments.collapse`,
:mod:`~phasekit.experiments.connectivity`), drawn from their Datasets alone."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "collapse_figures",
    "connectivity_figures",
    "random_features_figures",
    "spawn_figures",
    "width_figures",
]


def _band(ax, x, values, label, color=None, **kw):
    """Median over the last axis (seeds) with the min-max range shaded."""
    med = np.nanmedian(values, -1)
    (line,) = ax.plot(x, med, marker="o", ms=3, label=label, color=color, **kw)
    if values.shape[-1] > 1:
        ax.fill_between(
            x, np.nanmin(values, -1), np.nanmax(values, -1), color=line.get_color(), alpha=0.2
        )
    return line


# ----------------------------------------------------------------------------- double descent


def random_features_figures(ds) -> dict:
    """``double-descent``: test MSE (log) and |a| against N / n, one line per (noise, lambda).

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    r = ds["ratio"].values
    for nz in ds["noise"].values:
        for lam in ds["ridge"].values:
            sel = dict(noise=nz, ridge=lam)
            label = f"noise {nz:g}, " + ("min-norm" if lam == 0 else f"ridge {lam:g}")
            style = "-" if lam == 0 else "--"
            _band(
                ax,
                r,
                ds["test_error"].sel(**sel).transpose("ratio", "seed").values,
                label,
                ls=style,
            )
            _band(
                ax2,
                r,
                ds["coef_norm"].sel(**sel).transpose("ratio", "seed").values,
                label,
                ls=style,
            )
    for a, name in ((ax, "test MSE"), (ax2, "coefficient norm |a|")):
        a.axvline(1.0, color="k", lw=0.8, ls=":")
        a.set(xscale="log", yscale="log", xlabel="N / n (features / samples)", ylabel=name)
    ax.legend(fontsize=7)
    fig.suptitle(
        f"Double descent of random ReLU features, digits, n = {ds.attrs.get('n')} "
        f"(median and range over {ds.sizes['seed']} seeds)",
        fontsize=10,
    )
    return {"random_features": fig}


def width_figures(ds) -> dict:
    """``double-descent-width``: final train / test MSE against parameters per target P / (n C),
    and the test MSE against training step per width.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    ppt = ds["params_per_target"].values
    for var in ("train_error", "test_error"):
        _band(
            ax, ppt, ds[var].isel(step=-1).transpose("width", "seed").values, var.replace("_", " ")
        )
    ax.axvline(1.0, color="k", lw=0.8, ls=":")
    ax.set(xscale="log", yscale="log", xlabel="P / (n C)", ylabel="MSE (final)")
    ax.legend(fontsize=8)
    steps = ds["step"].values
    cmap = plt.get_cmap("viridis")
    for i, m in enumerate(ds["width"].values):
        ax2.plot(
            np.maximum(steps, 1),
            ds["test_error"].sel(width=m).median("seed").values,
            color=cmap(i / max(ds.sizes["width"] - 1, 1)),
            label=f"m = {m}",
        )
    ax2.set(xscale="log", yscale="log", xlabel="step", ylabel="test MSE (median)")
    ax2.legend(fontsize=7, ncol=2)
    fig.suptitle(
        f"Two-layer nets on digits with label noise {ds.attrs.get('noise'):g}, n = {ds.attrs.get('n')}",
        fontsize=10,
    )
    return {"width_double_descent": fig}


# ----------------------------------------------------------------------------- neural collapse


def collapse_figures(ds) -> dict:
    """``neural-collapse``: NC1, NC2 (equinorm, equiangularity), NC3, 1 - NC4 and the training
    error against step (log-log), the terminal phase shaded from the first record at 100 %.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    steps = np.maximum(ds["step"].values, 1)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), constrained_layout=True)
    panels = [
        ("nc1", "NC1 = tr(Σ_W Σ_B⁺)/C"),
        ("equinorm", "NC2 equinorm"),
        ("equiangularity", "NC2 |cos + 1/(C-1)|"),
        ("nc3", "NC3 |W/|W| - M/|M||"),
    ]
    acc = ds["train_accuracy"].median("seed").values
    hit = np.flatnonzero(acc >= 1.0)
    for ax, (var, name) in zip(axes, panels):
        _band(ax, steps, ds[var].transpose("step", "seed").values, name)
        if var == "nc1":
            _band(ax, steps, 1 - ds["nc4"].transpose("step", "seed").values, "1 - NC4")
            _band(
                ax, steps, 1 - ds["train_accuracy"].transpose("step", "seed").values, "train error"
            )
            ax.legend(fontsize=7)
        if hit.size:
            ax.axvspan(steps[hit[0]], steps[-1], color="0.85", zorder=0)
        ax.set(xscale="log", yscale="log", xlabel="step", title=name)
    fig.suptitle(
        f"Neural collapse of an MLP (depth {ds.attrs.get('depth')}, width {ds.attrs.get('width')}) "
        f"on {ds.attrs.get('n')} {ds.attrs.get('dataset', 'digits')}, weight decay {ds.attrs.get('weight_decay'):g}; "
        "grey: terminal phase",
        fontsize=10,
    )
    return {"neural_collapse": fig}


# ----------------------------------------------------------------------------- mode connectivity


def connectivity_figures(ds) -> dict:
    """``mode-connectivity``: training loss against t along the line, the aligned line and the
    Bezier curve (median and range over pairs).

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    fig, ax = plt.subplots(figsize=(5.5, 3.8), constrained_layout=True)
    t = ds["t"].values
    for var, label in (
        ("linear_loss", "straight line"),
        ("aligned_loss", "line after weight matching"),
        ("bezier_loss", "trained Bezier curve"),
    ):
        _band(ax, t, ds[var].transpose("t", "seed").values, label)
    ax.set(xlabel="t", ylabel="training cross-entropy", yscale="log")
    ax.legend(fontsize=8)
    ax.set_title(
        f"Paths between two MLPs (width {ds.attrs.get('width')}), {ds.sizes['seed']} pairs",
        fontsize=10,
    )
    return {"mode_connectivity": fig}


def spawn_figures(ds) -> dict:
    """``spawn-connectivity``: the children's barrier against the spawn step k, and the loss
    along the line per k.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    k = ds["spawn"].values
    order = np.argsort(k)
    kk = np.maximum(k[order], 0.5)  # k = 0 drawn at 0.5 on the log axis
    _band(ax, kk, ds["barrier"].transpose("spawn", "seed").values[order], "barrier")
    ax.set(xscale="log", xlabel="spawn step k (0 drawn at 0.5)", ylabel="linear barrier (nats)")
    cmap = plt.get_cmap("viridis")
    for j, i in enumerate(order):
        ax2.plot(
            ds["t"].values,
            ds["path_loss"].isel(spawn=i).median("seed").values,
            color=cmap(j / max(len(order) - 1, 1)),
            label=f"k = {int(k[i])}",
        )
    ax2.set(xlabel="t", ylabel="training cross-entropy (median)")
    ax2.legend(fontsize=7)
    fig.suptitle(
        f"Linear mode connectivity of SGD children spawned at step k "
        f"(child steps {ds.attrs.get('child_steps')})",
        fontsize=10,
    )
    return {"spawn_connectivity": fig}
