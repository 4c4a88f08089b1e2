"""Figures of frequency-aware networks and neural PDE solvers (book ch. 5, 15): Delta_F of the
network and of Jacobi, error against cost, test error against steps, convergence per peak.
Plotting only: every number comes from the Dataset."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from phasekit.viz.frequency import convergence_bars, delta_f_curves

__all__ = [
    "high_frequency_figures",
    "hybrid_figures",
    "peaks_figures",
]

COLORS = {"plain": "tab:gray", "mscale": "tab:red", "fourier": "tab:blue"}


def _cost_axis(ax, x, y, label, **kw):
    ax.plot(np.maximum(np.asarray(x, float), 1), y, label=label, **kw)


def hybrid_figures(ds) -> dict:
    """Delta_F per sine mode for the network (vs steps) and Jacobi (vs sweeps), and the relative
    error of network, Jacobi and the hybrids against cost in Jacobi sweeps (seed 0).

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    s0 = ds.isel(seed=0)
    peaks, thr, r = ds["peak"].values, ds.attrs["threshold"], ds.attrs["step_cost"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    delta_f_curves(axes[0], ds["step"].values, s0["delta_f"].values, peaks, thr)
    axes[0].set_title("network (Ritz): low modes first", fontsize=9)
    delta_f_curves(axes[1], ds["sweep"].values, s0["jacobi_delta_f"].values, peaks, thr)
    axes[1].set_xlabel("Jacobi sweep (log)")
    axes[1].set_title("Jacobi: high modes first", fontsize=9)
    ax = axes[2]
    _cost_axis(ax, r * ds["step"].values, s0["error"].values, "network", color="tab:green")
    _cost_axis(ax, ds["sweep"].values, s0["jacobi_error"].values, "Jacobi", color="tab:red")
    for m, err in zip(ds["switch"].values, s0["hybrid_error"].values):
        _cost_axis(ax, r * m + ds["sweep"].values, err, f"hybrid, M = {int(m)}", ls="--")
    ax.axhline(ds.attrs["target_error"], color="gray", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"cost (Jacobi sweeps; 1 step = {r:.3g})")
    ax.set_ylabel("relative L2 error")
    ax.legend(fontsize=7)
    ax.set_title("error against equal cost", fontsize=9)
    fig.suptitle("-u'' = sin x + 4 sin 4x - 8 sin 8x + 16 sin 24x: network vs Jacobi vs hybrid")
    fig.tight_layout()
    return {"hybrid": fig}


def high_frequency_figures(ds) -> dict:
    """Test error against steps per model (median over seeds) and the trained solutions.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for i, name in enumerate(ds["model_name"].values):
        err = np.median(ds["test_error"].values[i], axis=0)
        label = f"{name} ({int(ds['n_params'].values[i])} params)"
        axes[0].plot(np.maximum(ds["step"].values, 1), err, color=COLORS.get(name), label=label)
        axes[1].plot(
            ds["x"].values, ds["solution"].values[i, 0], color=COLORS.get(name), lw=1, label=name
        )
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("training step (log)")
    axes[0].set_ylabel("relative test error")
    axes[0].legend(fontsize=7)
    axes[1].plot(ds["x"].values, ds["exact"].values, "k--", lw=1.2, label="exact")
    axes[1].set_xlabel("x")
    axes[1].set_ylabel("u (seed 0)")
    axes[1].legend(fontsize=7)
    fig.suptitle(
        f"u = sin({ds.attrs['config_frequency']} pi x): plain vs MscaleDNN vs Fourier features"
    )
    fig.tight_layout()
    return {"high_frequency": fig}


def peaks_figures(ds) -> dict:
    """Delta_F per peak for each model (seed 0) and the convergence steps per peak.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    names = list(ds["model_name"].values)
    peaks, thr = ds["peak"].values, ds.attrs["threshold"]
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(4.5 * (len(names) + 1), 3.8))
    for i, name in enumerate(names):
        delta_f_curves(axes[i], ds["step"].values, ds["delta_f"].values[i, 0], peaks, thr)
        axes[i].set_title(f"{name}", fontsize=9)
    convergence_bars(
        axes[-1],
        peaks,
        {n: ds["convergence_step"].values[i, 0] for i, n in enumerate(names)},
        int(ds["step"].values[-1]),
    )
    axes[-1].set_title("convergence step per peak (seed 0)", fontsize=9)
    fig.suptitle("regression of sin x + sin 5x + sin 25x")
    fig.tight_layout()
    return {"peaks": fig}
