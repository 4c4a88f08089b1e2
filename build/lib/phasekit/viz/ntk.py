"""Figures of linearization and NTK spectra (spec 05) from saved Datasets; no computation."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

REGIME_COLORS = {"linear": "#2166ac", "critical": "#4d4d4d", "condensed": "#b2182b"}


def linearization_gap(ds):
    """Network vs its linearization at points of the phase diagram.

    ``ds``: dims (point, step, x); variables gap_rel, rd, rd_lin, loss_net, loss_lin [point, step],
    f, f_lin [point, step, x]; coords gamma, gamma_prime, regime [point]; attrs x_train, y_train.
    Top row: gap / output scale, RD of both models, losses (log-log over steps). Bottom row: the
    network's and the linear model's outputs at the end (and halfway) for each point.
    """
    points = list(ds["point"].values)
    fig = plt.figure(figsize=(4.2 * max(3, len(points)), 8), constrained_layout=True)
    grid = fig.add_gridspec(2, max(3, len(points)))
    steps = ds["step"].values
    later = steps > 0                                     # log time axis: step 0 is not drawn
    colors = [REGIME_COLORS.get(str(r), f"C{i}") for i, r in enumerate(ds["regime"].values)]
    labels = [f"{r} ($\\gamma$={g:g}, $\\gamma'$={gp:g})" for r, g, gp in
              zip(ds["regime"].values, ds["gamma"].values, ds["gamma_prime"].values)]

    ax_gap, ax_rd, ax_loss = (fig.add_subplot(grid[0, i]) for i in range(3))
    for i, (c, lab) in enumerate(zip(colors, labels)):
        ax_gap.loglog(steps[later], ds["gap_rel"].values[i, later], color=c, label=lab)
        ax_rd.loglog(steps[later], ds["rd"].values[i, later], color=c, label=f"{lab}: network")
        ax_rd.loglog(steps[later], ds["rd_lin"].values[i, later], color=c, ls="--", label="linear model")
        ax_loss.loglog(steps[later], ds["loss_net"].values[i, later], color=c)
        ax_loss.loglog(steps[later], ds["loss_lin"].values[i, later], color=c, ls="--")
    ax_gap.axhline(1.0, color="k", lw=0.8, ls=":")
    ax_gap.set(xlabel="GD step", ylabel=r"$\|f - f_{lin}\|_{RMS}$ / RMS(y)",
               title="Linearization gap on [-1, 1]")
    ax_gap.legend(fontsize=8)
    ax_rd.set(xlabel="GD step", ylabel=r"RD = $\|\theta_w(t) - \theta_w(0)\| / \|\theta_w(0)\|$",
              title="Relative distance of input weights\n(solid: network, dashed: linear model)")
    ax_loss.set(xlabel="GD step", ylabel="training loss $R_S$",
                title="Loss (solid: network, dashed: linear model)")

    x = ds["x"].values
    x_train, y_train = np.asarray(ds.attrs["x_train"]), np.asarray(ds.attrs["y_train"])
    half = len(steps) // 2                                # halfway through the log-spaced records
    for i, (c, lab) in enumerate(zip(colors, labels)):
        ax = fig.add_subplot(grid[1, i])
        ax.plot(x, ds["f"].values[i, -1], color=c, lw=2, label=f"network, step {int(steps[-1])}")
        ax.plot(x, ds["f_lin"].values[i, -1], color="k", ls="--", lw=1.5, label="linear model")
        ax.plot(x, ds["f"].values[i, half], color=c, lw=1, alpha=0.45, label=f"network, step {int(steps[half])}")
        ax.plot(x, ds["f_lin"].values[i, half], color="k", ls=":", lw=1, alpha=0.6, label="linear model")
        ax.plot(x_train, y_train, "o", color="gold", mec="k", ms=8, zorder=5, label="training data")
        ax.set(xlabel="x", ylabel="output", title=lab)
        ax.legend(fontsize=7)
    fig.suptitle(f"Network vs its linearization around init (two-layer ReLU, m = {ds.attrs['width']})")
    return fig


def ntk_spectrum(ds, n_functions: int = 6):
    """NTK eigen-decomposition on a 1-D grid: eigenvalues, their eigenfunctions' frequencies.

    ``ds``: dims (kernel, index, x); variables eigenvalue, frequency [kernel, index],
    eigenfunction [kernel, index, x] (the first ones). Left: eigenvalue vs index, colored by
    frequency; middle: eigenvalue vs dominant frequency; right: the top eigenfunctions.
    """
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), constrained_layout=True)
    kernels = list(ds["kernel"].values)
    markers = ["o", "s", "^", "D"]
    for k, name in enumerate(kernels):
        lam = ds["eigenvalue"].values[k]
        freq = ds["frequency"].values[k]
        idx = np.arange(1, lam.size + 1)
        keep = lam > lam[0] * 1e-7
        sc = axes[0].scatter(idx[keep], lam[keep], c=freq[keep], cmap="viridis", s=14,
                             marker=markers[k % 4], label=str(name))
        axes[1].scatter(np.maximum(freq[keep], 0.5 / np.ptp(ds["x"].values)), lam[keep], s=14,
                        marker=markers[k % 4], alpha=0.7, label=str(name))
    plt.colorbar(sc, ax=axes[0], label="dominant frequency (cycles per unit x)")
    axes[0].set(xscale="log", yscale="log", xlabel="eigenvalue index", ylabel="eigenvalue",
                title="NTK spectrum on the grid")
    axes[0].legend(fontsize=8)
    axes[1].set(xscale="log", yscale="log", xlabel="dominant frequency of the eigenfunction\n(frequency 0 drawn at 1 / (2 span of x))",
                ylabel="eigenvalue", title="Low frequencies have the large eigenvalues")
    axes[1].legend(fontsize=8)
    x = ds["x"].values
    funcs = ds["eigenfunction"].values[0]
    freq0 = ds["frequency"].values[0]
    for j in range(min(n_functions, funcs.shape[0])):
        axes[2].plot(x, funcs[j], color=plt.cm.plasma(j / max(n_functions, 1)),
                     label=f"#{j + 1}: freq {freq0[j]:.2g}")
    axes[2].set(xlabel="x", ylabel="eigenfunction", title=f"Top eigenfunctions ({kernels[0]})")
    axes[2].legend(fontsize=7, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    fig.suptitle("F-Principle in the linear regime: NTK eigenfunctions ordered by frequency")
    return fig
