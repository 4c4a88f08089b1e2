"""Figures of linearization and NTK spectra (spec 05) from saved Datasets; no computation.

``linearization_figures`` / ``spectrum_figures`` draw the ``linearization-gap`` / ``ntk-spectrum``
experiment Datasets (through the same panels as :func:`linearization_gap` / :func:`ntk_spectrum`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter

__all__ = [
    "kernel_convergence",
    "linearization_figures",
    "linearization_gap",
    "ntk_spectrum",
    "spectrum_figures",
]

REGIME_COLORS = {"linear": "#2166ac", "critical": "#4d4d4d", "condensed": "#b2182b"}


def linearization_gap(ds):
    """Network vs its linearization at points of the phase diagram.

    ``ds``: dims (point, step, x); variables gap_rel, rd, rd_lin, loss_net, loss_lin [point, step],
    f, f_lin [point, step, x]; coords gamma, gamma_prime, regime [point]; attrs x_train, y_train.
    Top row: gap / output scale, RD of both models, losses (log-log over steps). Bottom row: the
    network's and the linear model's outputs at the end (and halfway) for each point.

    Args:
      ds: a (point, step, x) Dataset: gap_rel, rd, rd_lin, loss_net, loss_lin [point, step], f,
        f_lin [point, step, x], coords gamma, gamma_prime, regime per point
        (:func:`linearization_figures` builds it from the experiment's Dataset, one seed).
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    points = list(ds["point"].values)
    fig = plt.figure(figsize=(4.2 * max(3, len(points)), 8), constrained_layout=True)
    grid = fig.add_gridspec(2, max(3, len(points)))
    steps = ds["step"].values
    later = steps > 0  # log time axis: step 0 is not drawn
    colors = [REGIME_COLORS.get(str(r), f"C{i}") for i, r in enumerate(ds["regime"].values)]
    labels = [
        f"{r} ($\\gamma$={g:g}, $\\gamma'$={gp:g})"
        for r, g, gp in zip(ds["regime"].values, ds["gamma"].values, ds["gamma_prime"].values)
    ]

    ax_gap, ax_rd, ax_loss = (fig.add_subplot(grid[0, i]) for i in range(3))
    for i, (c, lab) in enumerate(zip(colors, labels)):
        ax_gap.loglog(steps[later], ds["gap_rel"].values[i, later], color=c, label=lab)
        ax_rd.loglog(steps[later], ds["rd"].values[i, later], color=c, label=f"{lab}: network")
        ax_rd.loglog(
            steps[later], ds["rd_lin"].values[i, later], color=c, ls="--", label="linear model"
        )
        ax_loss.loglog(steps[later], ds["loss_net"].values[i, later], color=c)
        ax_loss.loglog(steps[later], ds["loss_lin"].values[i, later], color=c, ls="--")
    ax_gap.axhline(1.0, color="k", lw=0.8, ls=":")
    ax_gap.set(
        xlabel="GD step",
        ylabel=r"$\|f - f_{lin}\|_{RMS}$ / RMS(y)",
        title="Linearization gap on [-1, 1]",
    )
    ax_gap.legend(fontsize=8)
    ax_rd.set(
        xlabel="GD step",
        ylabel=r"RD = $\|\theta_w(t) - \theta_w(0)\| / \|\theta_w(0)\|$",
        title="Relative distance of input weights\n(solid: network, dashed: linear model)",
    )
    ax_loss.set(
        xlabel="GD step",
        ylabel="training loss $R_S$",
        title="Loss (solid: network, dashed: linear model)",
    )

    x = ds["x"].values
    x_train, y_train = np.asarray(ds.attrs["x_train"]), np.asarray(ds.attrs["y_train"])
    half = len(steps) // 2  # halfway through the log-spaced records
    for i, (c, lab) in enumerate(zip(colors, labels)):
        ax = fig.add_subplot(grid[1, i])
        ax.plot(x, ds["f"].values[i, -1], color=c, lw=2, label=f"network, step {int(steps[-1])}")
        ax.plot(x, ds["f_lin"].values[i, -1], color="k", ls="--", lw=1.5, label="linear model")
        ax.plot(
            x,
            ds["f"].values[i, half],
            color=c,
            lw=1,
            alpha=0.45,
            label=f"network, step {int(steps[half])}",
        )
        ax.plot(
            x, ds["f_lin"].values[i, half], color="k", ls=":", lw=1, alpha=0.6, label="linear model"
        )
        ax.plot(x_train, y_train, "o", color="gold", mec="k", ms=8, zorder=5, label="training data")
        ax.set(xlabel="x", ylabel="output", title=lab)
        ax.legend(fontsize=7)
    fig.suptitle(
        f"Network vs its linearization around init (two-layer ReLU, m = {ds.attrs['width']})"
    )
    return fig


def ntk_spectrum(ds, n_functions: int = 6):
    """NTK eigen-decomposition on a 1-D grid: eigenvalues, their eigenfunctions' frequencies.

    ``ds``: dims (kernel, index, x); variables eigenvalue, frequency [kernel, index],
    eigenfunction [kernel, index, x] (the first ones). Left: eigenvalue vs index, colored by
    frequency; middle: eigenvalue vs dominant frequency; right: the top eigenfunctions.

    Args:
      ds: see above; n_functions: eigenfunctions drawn in the right panel.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), constrained_layout=True)
    kernels = list(ds["kernel"].values)
    markers = ["o", "s", "^", "D"]
    for k, name in enumerate(kernels):
        lam = ds["eigenvalue"].values[k]
        freq = ds["frequency"].values[k]
        idx = np.arange(1, lam.size + 1)
        keep = lam > lam[0] * 1e-7
        sc = axes[0].scatter(
            idx[keep],
            lam[keep],
            c=freq[keep],
            cmap="viridis",
            s=14,
            marker=markers[k % 4],
            label=str(name),
        )
        axes[1].scatter(
            np.maximum(freq[keep], 0.5 / np.ptp(ds["x"].values)),
            lam[keep],
            s=14,
            marker=markers[k % 4],
            alpha=0.7,
            label=str(name),
        )
    plt.colorbar(sc, ax=axes[0], label="dominant frequency (cycles per unit x)")
    axes[0].set(
        xscale="log",
        yscale="log",
        xlabel="eigenvalue index",
        ylabel="eigenvalue",
        title="NTK spectrum on the grid",
    )
    axes[0].legend(fontsize=8)
    axes[1].set(
        xscale="log",
        yscale="log",
        xlabel="dominant frequency of the eigenfunction\n(frequency 0 drawn at 1 / (2 span of x))",
        ylabel="eigenvalue",
        title="Low frequencies have the large eigenvalues",
    )
    axes[1].legend(fontsize=8)
    x = ds["x"].values
    funcs = ds["eigenfunction"].values[0]
    freq0 = ds["frequency"].values[0]
    for j in range(min(n_functions, funcs.shape[0])):
        axes[2].plot(
            x,
            funcs[j],
            color=plt.cm.plasma(j / max(n_functions, 1)),
            label=f"#{j + 1}: freq {freq0[j]:.2g}",
        )
    axes[2].set(xlabel="x", ylabel="eigenfunction", title=f"Top eigenfunctions ({kernels[0]})")
    axes[2].legend(fontsize=7, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    fig.suptitle("F-Principle in the linear regime: NTK eigenfunctions ordered by frequency")
    return fig


def _gap_view(ds, seed: int = 0):
    """A ``linearization-gap`` experiment Dataset (gamma, gamma_prime, seed, record, x) in the
    (point, step, x) layout of :func:`linearization_gap`, for one seed."""
    import xarray as xr

    one = ds.isel(seed=seed).stack(point=("gamma", "gamma_prime"))
    one = one.transpose("point", ...)
    keep = ["gap_rel", "rd", "rd_lin", "loss_net", "loss_lin", "f", "f_lin"]
    view = xr.Dataset(
        {
            k: (tuple("step" if d == "record" else d for d in one[k].dims), one[k].values)
            for k in keep
        },
        coords={
            "point": np.arange(one.sizes["point"]),
            "step": ds["step"].values,
            "x": ds["x"].values,
            "gamma": ("point", one["gamma"].values),
            "gamma_prime": ("point", one["gamma_prime"].values),
            "regime": ("point", np.asarray(one["regime"].values, str)),
        },
    )
    view.attrs.update(
        x_train=ds["x_train"].values, y_train=ds["y_train"].values, width=ds.attrs.get("width")
    )
    return view


def linearization_figures(ds) -> dict:
    """Figures of a ``linearization-gap`` experiment Dataset (seed 0).

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    return {"linearization_gap": linearization_gap(_gap_view(ds))}


def kernel_convergence(ds):
    """Relative error ||Theta_m - Theta_inf|| / ||Theta_inf|| against width (log-log): each seed as
    a dot, the RMS over seeds as a line with its fitted slope, and the m^-1/2 reference.

    Args:
      ds: an ``ntk-spectrum`` experiment Dataset: kernel_error [width, seed], kernel_error_rms
        [width], error_slope.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    fig, ax = plt.subplots(figsize=(5.6, 4.2), constrained_layout=True)
    m = ds["width"].values
    err = ds["kernel_error"].transpose("width", "seed").values
    for s in range(err.shape[1]):
        ax.loglog(
            m, err[:, s], "o", color="C0", alpha=0.4, ms=4, label="each seed" if s == 0 else None
        )
    rms = ds["kernel_error_rms"].values
    ax.loglog(
        m,
        rms,
        "-",
        color="C0",
        lw=2,
        label=f"RMS over seeds: slope {float(ds['error_slope']):+.2f}",
    )
    ax.loglog(m, rms[0] * (m / m[0]) ** -0.5, "k--", lw=1, label=r"$m^{-1/2}$")
    ax.set(
        xlabel="width m",
        ylabel=r"$\|\Theta_m - \Theta_\infty\|_F / \|\Theta_\infty\|_F$",
        title="Empirical NTK -> infinite-width NTK (NTK preset)",
    )
    ax.set_xticks(m, [str(int(w)) for w in m])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _spectrum_view(ds, seed: int = 0):
    """An ``ntk-spectrum`` experiment Dataset in the (kernel, index, x) layout of :func:`ntk_spectrum`:
    the analytic kernel and the empirical one at the largest width (one seed)."""
    import xarray as xr

    widest = ds.sel(width=ds["width"].max()).isel(seed=seed)
    m = int(ds["width"].max())
    stack = lambda a, b: np.stack([ds[a].values, widest[b].values])
    return xr.Dataset(
        {
            "eigenvalue": (("kernel", "index"), stack("analytic_eigenvalue", "eigenvalue")),
            "frequency": (("kernel", "index"), stack("analytic_frequency", "frequency")),
            "eigenfunction": (
                ("kernel", "function", "x"),
                stack("analytic_eigenfunction", "eigenfunction"),
            ),
        },
        coords={
            "kernel": ["analytic (m = inf)", f"empirical (m = {m})"],
            "index": ds["index"].values,
            "function": ds["function"].values,
            "x": ds["x"].values,
        },
    )


def spectrum_figures(ds) -> dict:
    """Figures of an ``ntk-spectrum`` experiment Dataset: the spectra and the convergence in width.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    return {
        "ntk_spectrum": ntk_spectrum(_spectrum_view(ds)),
        "kernel_convergence": kernel_convergence(ds),
    }
