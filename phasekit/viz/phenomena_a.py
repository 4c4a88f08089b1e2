"""Figures of the ch. 14 phenomena grokking, lottery tickets and scaling fits
(:mod:`phasekit.experiments.grokking`, ``lottery``, ``scaling``), drawn from their Datasets
alone; no computation beyond medians and means over the seed axis."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "grokking_figures",
    "lottery_figures",
    "scaling_figures",
]


def _ref_alpha(ds):
    a = ds["alpha"].values
    return a[np.argmin(np.abs(np.log(a)))]


def grokking_figures(ds) -> dict:
    """{"accuracy_curves": train (dashed) / test (solid) accuracy against step at the alpha
    closest to 1, one colour per weight decay (seed 0); "delay_grid": the median delay over
    seeds on the alpha x weight-decay grid (hatched text: censored at the budget)}.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    out = {}
    at = ds.sel(alpha=_ref_alpha(ds)).isel(seed=0)
    step = ds["step"].values
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    colors = plt.cm.viridis(np.linspace(0, 0.9, ds.sizes["weight_decay"]))
    for c, wd in zip(colors, ds["weight_decay"].values):
        pt = at.sel(weight_decay=wd)
        ax.plot(step, pt["train_accuracy"].values, "--", color=c, lw=1.2)
        ax.plot(step, pt["test_accuracy"].values, "-", color=c, lw=2, label=f"wd {wd:g}")
    ax.axhline(ds.attrs["threshold"], color="0.6", lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("accuracy (dashed: train, solid: test)")
    ax.set_title(
        f"(a + b) mod {ds.attrs['p']}, train fraction {ds.attrs['train_fraction']:g}, "
        f"alpha = {float(_ref_alpha(ds)):g}",
        fontsize=10,
    )
    ax.legend(fontsize=8)
    out["accuracy_curves"] = fig

    with warnings.catch_warnings():  # a cell whose seeds all failed to fit the train set stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        bound = np.nanmedian(ds["delay_bound"].values, axis=-1)
    never = np.all(np.isnan(ds["step_test"].values), axis=-1)
    fig, ax = plt.subplots(
        figsize=(1.2 * ds.sizes["weight_decay"] + 3, 1.0 * ds.sizes["alpha"] + 2.5),
        constrained_layout=True,
    )
    im = ax.imshow(bound, origin="lower", cmap="magma", aspect="auto")
    for i in range(bound.shape[0]):
        for j in range(bound.shape[1]):
            txt = (
                "n/a"
                if np.isnan(bound[i, j])
                else f"{bound[i, j]:.0f}" + (">" if never[i, j] else "")
            )
            ax.text(
                j,
                i,
                txt,
                ha="center",
                va="center",
                color="w" if not never[i, j] else "c",
                fontsize=8,
            )
    ax.set_xticks(range(ds.sizes["weight_decay"]), [f"{w:g}" for w in ds["weight_decay"].values])
    ax.set_yticks(range(ds.sizes["alpha"]), [f"{a:g}" for a in ds["alpha"].values])
    ax.set_xlabel("weight decay")
    ax.set_ylabel("init scale alpha")
    ax.set_title("grokking delay (steps; '>' never generalized: bound)", fontsize=10)
    fig.colorbar(im, ax=ax, label="delay (steps)")
    out["delay_grid"] = fig
    return out


LOTTERY_STYLE = {
    "ticket": ("tab:red", "o", "winning ticket (IMP, rewound)"),
    "reinit": ("tab:blue", "s", "same mask, random reinit"),
    "random_mask": ("tab:gray", "^", "random mask"),
}


def lottery_figures(ds) -> dict:
    """{"accuracy_vs_remaining": final test accuracy (mean +- std over seeds) against the
    fraction of weights remaining (log axis, dense at the right) per variant, the dense
    accuracy as a line}.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    rem = ds["remaining"].isel(seed=0).values
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    for v in ds["variant"].values:
        color, marker, label = LOTTERY_STYLE[str(v)]
        a = ds["final_test_accuracy"].sel(variant=v)
        ax.errorbar(
            100 * rem,
            a.mean("seed").values,
            yerr=a.std("seed").values,
            color=color,
            marker=marker,
            capsize=2,
            label=label,
        )
    dense = float(ds["final_test_accuracy"].sel(variant="ticket").isel(round=0).mean())
    ax.axhline(dense, color="k", lw=0.8, ls=":", label="dense")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("weights remaining (%)")
    ax.set_ylabel("test accuracy")
    ax.set_title(
        f"digits, MLP {ds.attrs['sizes']}, {ds.attrs['scope']} pruning, rewind to step "
        f"{ds.attrs['rewind_step']}",
        fontsize=10,
    )
    ax.legend(fontsize=8)
    return {"accuracy_vs_remaining": fig}


def _power_curve(x, E, A, alpha):
    return E + A * x ** (-alpha)


def scaling_figures(ds) -> dict:
    """{"scaling_fits": test loss (mean +- std over seeds) against N_params at the largest D and
    against D at the largest width, with the stored fits E + A x^-alpha; "frontier": the
    seed-mean loss of every (N, D) against compute C, the frontier points joined}.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    a = ds.attrs
    loss = ds["test_loss"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for ax, name, x, sel, label in (
        (axes[0], "width", ds["n_params"].values, loss.isel(n_train=-1), "parameters N"),
        (axes[1], "samples", ds["n_train"].values, loss.isel(width=-1), "train samples D"),
    ):
        ax.errorbar(
            x, sel.mean("seed").values, yerr=sel.std("seed").values, fmt="o", color="k", capsize=2
        )
        if np.isfinite(a[f"{name}_alpha"]):
            xs = np.geomspace(x.min(), x.max(), 100)
            ax.plot(
                xs,
                _power_curve(xs, a[f"{name}_E"], a[f"{name}_A"], a[f"{name}_alpha"]),
                color="tab:red",
                label=f"E + A x^-alpha: alpha = {a[f'{name}_alpha']:.2f} "
                f"[{a[f'{name}_alpha_low']:.2f}, {a[f'{name}_alpha_high']:.2f}], "
                f"R^2 = {a[f'{name}_r2_log']:.3f}",
            )
            ax.legend(fontsize=8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("test loss")
    fig.suptitle(f"student MLP learning a width-{a['teacher_width']} teacher", fontsize=10)
    out = {"scaling_fits": fig}

    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    mean = loss.mean("seed").transpose("width", "n_train").values
    C = 6.0 * ds["n_params"].values[:, None] * ds["n_train"].values[None, :] * a["steps"]
    colors = plt.cm.viridis(np.linspace(0, 0.9, ds.sizes["width"]))
    for i, c in enumerate(colors):
        ax.plot(
            C[i], mean[i], "o-", color=c, ms=3, lw=0.8, label=f"N = {int(ds['n_params'].values[i])}"
        )
    ax.plot(
        a["frontier_compute"],
        a["frontier_loss"],
        "k-",
        lw=2,
        label=f"frontier: slope {a['frontier_slope']:.2f}, N_opt ~ C^{a['frontier_n_slope']:.2f}",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("compute C = 6 N D steps")
    ax.set_ylabel("test loss")
    ax.legend(fontsize=7)
    out["frontier"] = fig
    return out
