"""Figures of the dropout experiments (book Fig 8.12 / 8.13 / 8.16, ch. 11.4) drawn from their
Datasets alone; no computation."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from phasekit.viz import condensation as viz_cond
from phasekit.viz import landscape as viz_land

__all__ = [
    "flatness_figures",
    "outputs",
    "outputs_figures",
    "outputs_loss",
    "sample_size_figures",
]


def _p_label(p) -> str:
    return f"p = {float(p):g}" + (" (no dropout)" if float(p) == 1.0 else "")


def outputs(ds, seed: int = 0):
    """Fig 8.12 / 8.13 from a ``dropout-outputs`` Dataset, one column per keep probability p:
    the fit after training (thin gray: at init) with the data; the neurons as points
    (Omega_k, A_k / max A) in polar form (gray: init); the cosine similarity of the
    largest-amplitude neurons' input weights, sorted by orientation.

    Args:
      ds: a ``dropout-outputs`` Dataset; seed: index of the seed drawn.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    ps = ds["p"].values
    k = len(ps)
    fig = plt.figure(figsize=(3.7 * k, 10.2), constrained_layout=True)
    grid = fig.add_gridspec(3, k)
    x, xs, ys = ds["grid"].values, ds["x_train"].values, ds["y_train"].values
    images = []  # one cosine heat map per p; the last one carries the colorbar
    for j, p in enumerate(ps):
        pt = ds.sel(p=p).isel(seed=seed)
        ax = fig.add_subplot(grid[0, j])
        ax.plot(x, pt["fit0"].values, color="0.7", lw=1, label="init")
        ax.plot(x, pt["fit"].values, color="tab:blue", lw=2, label="trained")
        ax.plot(xs, ys, "ko", ms=5, zorder=3, label="data")
        ax.set_title(
            f"{_p_label(p)}\nclean loss {float(pt['clean_loss'][-1]):.2g}, "
            f"excess variation {float(pt['excess_variation']):.2f}",
            fontsize=9,
        )
        ax.set_xlabel("x")
        if j == 0:
            ax.legend(fontsize=7)
        axp = fig.add_subplot(grid[1, j], projection="polar")
        amp0, amp = pt["amplitude0"].values, pt["amplitude"].values
        axp.scatter(pt["omega0"].values, amp0 / amp0.max(), s=3, color="0.7", alpha=0.5, lw=0)
        axp.scatter(pt["omega"].values, amp / amp.max(), s=5, color="tab:red", alpha=0.7, lw=0)
        axp.set_title(
            r"$\Omega_k$ vs $A_k / \max A$ (gray: init)" + "\n"
            f"4 of 36 bins hold {float(pt['concentration']):.0%} of A",
            fontsize=8,
        )
        axp.tick_params(labelsize=7)
        axc = fig.add_subplot(grid[2, j])
        images.append(
            axc.imshow(pt["cosine"].values, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        )
        axc.set_title(
            f"cosine of $(w_k, b_k)$, top {ds.sizes['shown']} neurons by $A_k$", fontsize=8
        )
        axc.set_xlabel("neuron (by orientation)")
    fig.colorbar(images[-1], ax=fig.axes[-1], shrink=0.8, label="cosine similarity")
    fig.suptitle(
        f"width-{ds.attrs.get('width')} {ds.attrs.get('activation')} net at {ds.attrs.get('init')} "
        "init, Adam, with and without dropout on the hidden layer (seed 0)"
    )
    return fig


def outputs_loss(ds):
    """Clean (no-dropout) training loss over the steps for each p (thin: each seed).

    Args:
      ds: a ``dropout-outputs`` Dataset.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    steps = np.maximum(ds["step"].values, 1)
    colors = plt.cm.viridis(np.linspace(0, 0.85, ds.sizes["p"]))
    for c, p in zip(colors, ds["p"].values):
        curves = ds["clean_loss"].sel(p=p).values
        for s, curve in enumerate(curves):
            ax.loglog(
                steps,
                curve,
                color=c,
                lw=1.8 if s == 0 else 0.7,
                label=_p_label(p) if s == 0 else None,
            )
    ax.set(
        xlabel="Adam step",
        ylabel="clean training loss $R_S$",
        title="training loss without the mask",
    )
    ax.legend(fontsize=8)
    return fig


def outputs_figures(ds) -> dict:
    """The figures of a ``dropout-outputs`` Dataset: ``{"outputs": :func:`outputs`, "loss":
    :func:`outputs_loss`}`` (name -> matplotlib Figure).

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    return {"outputs": outputs(ds), "loss": outputs_loss(ds)}


def sample_size_figures(ds) -> dict:
    """Fig 8.16: median and quartiles over seeds of the test error against n, one curve per p.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    errors = {
        _p_label(p): ds["test_error"].sel(p=p).transpose("n", "seed").values for p in ds["p"].values
    }
    fig = viz_cond.sample_size_curves(
        ds["n"].values,
        errors,
        n_params=int(ds.attrs.get("teacher_parameters", 6)),
        title=f"teacher {ds.attrs.get('teacher', '')}, width-{ds.attrs.get('width')} tanh student, "
        f"{ds.sizes['seed']} seeds",
    )
    return {"sample_size": fig}


def flatness_figures(ds) -> dict:
    """Ch. 11.4: slices of the dropout minima per p, and lambda_max, tr H and F against p with
    the control GD on R_S + R_1 (open diamonds) beside each bar.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    order = lambda v: ds[v].transpose("training", "p", "seed", ...).values
    sharp, tr, flat, slices = order("sharpness"), order("trace"), order("flatness"), order("slice")
    fig = viz_land.dropout_flatness(
        ds["alpha"].values,
        slices[0],
        list(ds["p"].values),
        sharp[0],
        tr[0],
        flat[0],
        control={"sharpness": sharp[1], "trace": tr[1], "flatness": flat[1]},
        control_label=r"GD on $R_S + R_1$ (no noise)",
        title=f"digits (n = {ds.attrs.get('n_train')}), ReLU MLP {list(np.ravel(ds.attrs.get('layer_sizes', [])))}, "
        f"GD lr {ds.attrs.get('lr')}, each run stopped at clean training loss {ds.attrs.get('target_loss')}",
    )
    return {"flatness": fig}
