"""Figures of the frequency principle (spec 04, book ch. 4-6): fits over training, Delta_F heat
maps and curves, spectra, filtering errors. Plotting only: every number comes from the caller."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

__all__ = [
    "convergence_bars",
    "degree_power",
    "delta_f_curves",
    "delta_f_heatmap",
    "draw_fits",
    "early_stop_figures",
    "eigen_vs_convergence",
    "filtering_curves",
    "filtering_figures",
    "init_scale_figures",
    "lgrad_figures",
    "loss_curve",
    "ntk_figures",
    "outputs_at_steps",
    "parity_figures",
    "parity_scan_figures",
    "ricker_figures",
    "scan_figures",
    "sin135_figures",
    "sin15_figures",
    "spectra",
]

TARGET = dict(color="black", lw=1.2, ls="--", label="target")
POINTS = dict(color="black", s=10, zorder=3, label="training points")


def _step_colors(n):
    return plt.cm.viridis(np.linspace(0.0, 0.9, max(n, 1)))


def outputs_at_steps(ax, x_grid, y_grid, outputs, steps, x_train=None, y_train=None):
    """Target (dashed) and network outputs [S, n_grid] at the given steps (colored early -> late).

    Args:
      ax: the matplotlib Axes drawn into; x_grid: [G]; y_grid: the target on it [G].
      outputs: [S, G] the network's outputs; steps: their S steps (legend).
      x_train, y_train: training points drawn as dots (None: none).
    """
    ax.plot(x_grid, y_grid, **TARGET)
    for out, s, c in zip(outputs, steps, _step_colors(len(steps))):
        ax.plot(x_grid, out, color=c, lw=1.5, label=f"step {int(s)}")
    if x_train is not None:
        ax.scatter(x_train, y_train, **POINTS)
    ax.set_xlabel("x")
    ax.set_ylabel("output")
    ax.legend(fontsize=7, loc="best")


def loss_curve(ax, steps, loss, marks=(), label=None, **kw):
    """Training loss vs step on log axes; ``marks``: steps to highlight (e.g. snapshots).

    Args:
      ax: the matplotlib Axes drawn into; steps: [R]; loss: [R]; marks: steps to highlight; label: the line's label;
      **kw: passed to ``ax.plot``.
    """
    steps, loss = np.asarray(steps), np.asarray(loss)
    ax.plot(np.maximum(steps, 1), loss, label=label, **kw)
    for s, c in zip(marks, _step_colors(len(marks))):
        i = int(np.argmin(np.abs(steps - s)))
        ax.plot(max(steps[i], 1), loss[i], "o", color=c, ms=6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training step (log)")
    ax.set_ylabel("loss")


def delta_f_curves(
    ax, steps, delta_f, peak_freqs, threshold=None, ls="-", label_prefix="", colors=None
):
    """Delta_F [R, P] vs step, one line per peak; dotted line at ``threshold``.

    Args:
      ax: the matplotlib Axes drawn into; steps: [R]; delta_f: [R, P]; peak_freqs: [P] (legend).
      threshold: the dotted level (None: none); ls: line style; label_prefix: prepended to each
        label; colors: P colors (None: plasma).
    """
    colors = plt.cm.plasma(np.linspace(0.0, 0.8, len(peak_freqs))) if colors is None else colors
    for j, (k, c) in enumerate(zip(peak_freqs, colors)):
        ax.plot(
            np.maximum(np.asarray(steps), 1),
            np.asarray(delta_f)[:, j],
            ls=ls,
            color=c,
            label=f"{label_prefix}k = {k:g}",
        )
    if threshold is not None:
        ax.axhline(threshold, color="gray", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training step (log)")
    ax.set_ylabel(r"$\Delta_F(k)$")
    ax.legend(fontsize=7)


def delta_f_heatmap(ax, steps, delta_f, peak_freqs, vmin=1e-3, vmax=1.0):
    """Heat map of Delta_F over (peak, record); records on a log-step axis; colorbar attached.

    Args:
      ax: the matplotlib Axes drawn into; steps: [R] (> 0 after clipping at 1); delta_f: [R, P]; peak_freqs: [P].
      vmin, vmax: the log color range.
    """
    steps = np.maximum(np.asarray(steps), 1).astype(float)
    edges = np.concatenate([[steps[0] / 1.2], np.sqrt(steps[1:] * steps[:-1]), [steps[-1] * 1.2]])
    mesh = ax.pcolormesh(
        edges,
        np.arange(len(peak_freqs) + 1),
        np.asarray(delta_f).T,
        norm=LogNorm(vmin=vmin, vmax=vmax),
        cmap="RdBu_r",
        shading="flat",
    )
    ax.set_xscale("log")
    ax.set_yticks(np.arange(len(peak_freqs)) + 0.5)
    ax.set_yticklabels([f"k = {k:g}" for k in peak_freqs])
    ax.set_xlabel("training step (log)")
    ax.set_ylabel("peak")
    plt.colorbar(mesh, ax=ax, label=r"$\Delta_F$")


def spectra(ax, freqs, target_amp, amps, steps, peaks=(), kmax=None):
    """|f_hat| (black) and |h_hat| at chosen steps (colored) vs frequency; peaks marked.

    Args:
      ax: the matplotlib Axes drawn into; freqs: [K]; target_amp: |f_hat| [K]; amps: |h_hat| [S, K] at the S ``steps``.
      peaks: frequencies marked by dotted lines; kmax: the largest frequency drawn (None: all).
    """
    freqs = np.asarray(freqs)
    keep = slice(None) if kmax is None else freqs <= kmax
    ax.plot(freqs[keep], np.asarray(target_amp)[keep], "k-o", ms=3, lw=1.2, label="target")
    for a, s, c in zip(amps, steps, _step_colors(len(steps))):
        ax.plot(freqs[keep], np.asarray(a)[keep], "-", color=c, lw=1.2, label=f"NN, step {int(s)}")
    for k in peaks:
        ax.axvline(k, color="gray", lw=0.6, ls=":")
    ax.set_xlabel("frequency k")
    ax.set_ylabel("amplitude")
    ax.legend(fontsize=7)


def convergence_bars(ax, peak_freqs, conv: Mapping[str, Sequence[int]], budget: int):
    """Convergence step per peak for several runs; 'never' drawn at the budget, hatched.

    Args:
      ax: the matplotlib Axes drawn into; peak_freqs: [P]; conv: run label -> convergence steps [P] (-1: never);
      budget: the step budget, the height of a 'never' bar.
    """
    width = 0.8 / max(len(conv), 1)
    for i, (label, steps) in enumerate(conv.items()):
        s = np.asarray(steps, float)
        never = s < 0
        pos = np.arange(len(peak_freqs)) + (i - (len(conv) - 1) / 2) * width
        bars = ax.bar(pos, np.where(never, budget, np.maximum(s, 1)), width, label=label)
        for b, n in zip(bars, never):
            if n:
                b.set_hatch("//")
                b.set_alpha(0.5)
    ax.set_xticks(np.arange(len(peak_freqs)))
    ax.set_xticklabels([f"k = {k:g}" for k in peak_freqs])
    ax.set_yscale("log")
    ax.set_ylabel("convergence step\n(hatched: never)")
    ax.legend(fontsize=7)


def draw_fits(axes, x_grid, y_grid, fits: Mapping[str, np.ndarray], x_train, y_train):
    """Into ``axes`` (one per run): target, training points and the trained network on a dense grid.

    Args:
      axes: one matplotlib Axes per entry of ``fits``; x_grid: [G]; y_grid: the target [G].
      fits: run label -> the network's output [G]; x_train, y_train: the training points.
    """
    for ax, (label, out) in zip(axes, fits.items()):
        ax.plot(x_grid, y_grid, **TARGET)
        ax.plot(x_grid, out, color="C0", lw=1.4, label="network")
        ax.scatter(x_train, y_train, **POINTS)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("x")
    axes[0].legend(fontsize=7)


def filtering_curves(ax, steps, e_low, e_high, deltas):
    """e_low (solid) and e_high (dashed) vs step, one color per filter width delta.

    Args:
      ax: the matplotlib Axes drawn into; steps: [R]; e_low, e_high: [R, D]; deltas: the D filter widths.
    """
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(deltas)))
    for j, (d, c) in enumerate(zip(deltas, colors)):
        ax.plot(
            np.maximum(np.asarray(steps), 1),
            np.asarray(e_low)[:, j],
            "-",
            color=c,
            label=rf"$e_{{low}}$, $\delta$={d:.2g}",
        )
        ax.plot(
            np.maximum(np.asarray(steps), 1),
            np.asarray(e_high)[:, j],
            "--",
            color=c,
            label=rf"$e_{{high}}$, $\delta$={d:.2g}",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training step (log)")
    ax.set_ylabel("relative error")
    ax.legend(fontsize=7, ncol=2)


def degree_power(ax, powers: Mapping[str, np.ndarray]):
    """Fourier power per degree |S| on the hypercube, grouped bars per source.

    Args:
      ax: the matplotlib Axes drawn into; powers: source label -> power per degree [d + 1] (:func:`phasekit.dynamics.frequency.boolean_degree_power`).
    """
    width = 0.8 / len(powers)
    for i, (label, p) in enumerate(powers.items()):
        p = np.asarray(p)
        ax.bar(np.arange(p.size) + (i - (len(powers) - 1) / 2) * width, p, width, label=label)
    ax.set_xlabel("degree |S| (frequency on {-1, 1}^d)")
    ax.set_ylabel(r"power $\sum_{|S|=l} c_S^2$")
    ax.set_yscale("log")
    ax.legend(fontsize=7)


def eigen_vs_convergence(freqs, eigenvalues, peak_freqs, predicted, measured, title):
    """Left: NTK Rayleigh quotient lambda(k) on Fourier mode k; right: measured convergence step
    per peak against the linear-regime prediction (y = x dotted).

    Args:
      freqs: [K]; eigenvalues: lambda(k) [K]; peak_freqs: [P]; predicted: linear-regime steps
        [P]; measured: measured convergence steps [P] (<= 0: never, not drawn); title: the title.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.5, 3.8))
    a1.semilogy(freqs, eigenvalues, "o-", ms=3)
    for k in peak_freqs:
        a1.axvline(k, color="gray", ls=":", lw=0.8)
    a1.set_xlabel("frequency k")
    a1.set_ylabel(r"$\lambda(k) = v_k^* \Theta v_k / v_k^* v_k$")
    a1.set_title("empirical NTK at init on Fourier modes", fontsize=9)
    predicted, measured = np.asarray(predicted, float), np.asarray(measured, float)
    ok = measured > 0
    a2.loglog(predicted[ok], measured[ok], "s", ms=7)
    for k, x, y in zip(np.asarray(peak_freqs)[ok], predicted[ok], measured[ok]):
        a2.annotate(
            f"k = {k:g}", (x, y), textcoords="offset points", xytext=(-8, 6), ha="right", fontsize=8
        )
    if ok.any():
        lim = [
            min(predicted[ok].min(), measured[ok].min()) / 2,
            max(predicted[ok].max(), measured[ok].max()) * 2,
        ]
        a2.plot(lim, lim, "k:", lw=1, label="measured = predicted")
        a2.legend(fontsize=7)
    if (~ok).any():
        never = ", ".join(f"k = {k:g}" for k in np.asarray(peak_freqs)[~ok])
        a2.text(
            0.98,
            0.03,
            f"not converged within the budget: {never}",
            transform=a2.transAxes,
            ha="right",
            fontsize=7,
            color="gray",
        )
    a2.set_xlabel(r"linear-regime prediction $n \ln(1/\mathrm{thr}) / (\eta \lambda(k))$")
    a2.set_ylabel("measured convergence step")
    a2.set_title("convergence order follows the NTK spectrum", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- experiment figures
# Each takes the Dataset of a ``frequency-*`` experiment (phasekit.experiments.frequency) and
# draws from it alone; seed 0 stands for the seeds where one run is shown.


def _records_at(steps, wanted) -> list[int]:
    """Record indices nearest to the ``wanted`` steps, sorted and without repeats."""
    steps = np.asarray(steps)
    return sorted({int(np.argmin(np.abs(steps - w))) for w in wanted})


def _never_at(conv, budget):
    conv = np.asarray(conv, float)
    return np.where(conv < 0, budget, conv)


def sin15_figures(ds) -> dict:
    """Fig 4.2: outputs at the lowest peak's convergence, halfway (log) to the highest's, at the
    highest's and at the end; the loss with those steps marked; Delta_F per peak.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    s0 = ds.isel(seed=0)
    step, peaks = s0["step"].values, s0["peak"].values
    budget = int(step[-1])
    c = _never_at(s0["convergence_step"].values, budget)
    idx = _records_at(step, [c[0], np.sqrt(max(c[0], 1) * max(c[-1], 1)), c[-1], budget])
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    outputs_at_steps(
        axes[0],
        ds["x"].values,
        ds["target_plot"].values,
        s0["output"].values[idx],
        step[idx],
        ds["x_train"].values,
        ds["y_train"].values,
    )
    axes[0].set_title("network output during training", fontsize=9)
    loss_curve(axes[1], step, s0["loss"].values, marks=step[idx])
    if ds.attrs.get("plateau_level"):
        axes[1].axhline(
            ds.attrs["plateau_level"],
            color="gray",
            ls=":",
            lw=1,
            label="loss of the unfit high peaks",
        )
        axes[1].legend(fontsize=7)
    axes[1].set_title("loss: plateau after the low peak is fit", fontsize=9)
    delta_f_curves(axes[2], step, s0["delta_f"].values, peaks, ds.attrs.get("threshold"))
    axes[2].set_title(r"relative error per peak $\Delta_F(k)$", fontsize=9)
    target = " + ".join("sin x" if np.isclose(k, 1) else f"sin {k:g}x" for k in peaks)
    fig.suptitle(f"F-Principle: {target}, tanh MLP, small init ({ds.attrs.get('experiment', '')})")
    fig.tight_layout()
    return {"training": fig}


def sin135_figures(ds) -> dict:
    """Fig 4.7: Delta_F heat map (seed 0), spectra when each peak converges, and the convergence
    steps of every seed.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    s0 = ds.isel(seed=0)
    step, peaks = s0["step"].values, s0["peak"].values
    budget = int(step[-1])
    conv = s0["convergence_step"].values
    idx = _records_at(step, [s for s in conv if s > 0]) or [len(step) - 1]
    fig, axes = plt.subplots(1, 3, figsize=(16, 3.8), gridspec_kw=dict(width_ratios=[1.3, 1, 1]))
    delta_f_heatmap(axes[0], step, s0["delta_f"].values, peaks)
    axes[0].set_title(r"$\Delta_F$ per peak (seed 0): low converges first", fontsize=9)
    spectra(
        axes[1],
        ds["freq"].values,
        ds["target_amplitude"].values,
        s0["amplitude"].values[idx],
        step[idx],
        peaks,
        kmax=2 * max(peaks) + 2,
    )
    axes[1].set_title("|DFT| of target and network when each peak converges", fontsize=9)
    convergence_bars(
        axes[2],
        peaks,
        {
            f"seed {int(s)}": ds["convergence_step"].values[i]
            for i, s in enumerate(ds["seed"].values)
        },
        budget,
    )
    axes[2].set_title("convergence step per peak and seed", fontsize=9)
    fig.suptitle("F-Principle: equal-amplitude peaks, tanh MLP, small init, Adam")
    fig.tight_layout()
    return {"delta_f": fig}


def init_scale_figures(ds) -> dict:
    """Fig 6.2: trained fits per init scale; convergence steps per peak; test MSE vs scale.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    scales, budget = ds["scale"].values, int(ds["step"].values[-1])
    fig = plt.figure(figsize=(4 * len(scales), 7))
    grid = fig.add_gridspec(2, max(len(scales), 2))
    top = [fig.add_subplot(grid[0, i]) for i in range(len(scales))]
    fits = {
        f"weights x {s:g}: test MSE {t:.3g}": f
        for s, t, f in zip(scales, ds["test_mse"].values, ds["fit"].values)
    }
    draw_fits(
        top,
        ds["x"].values,
        ds["target_plot"].values,
        fits,
        ds["x_train"].values,
        ds["y_train"].values,
    )
    half = max(len(scales), 2) // 2
    ax = fig.add_subplot(grid[1, :half])
    convergence_bars(
        ax,
        ds["peak"].values,
        {f"x {s:g}": ds["convergence_step"].values[i] for i, s in enumerate(scales)},
        budget,
    )
    ax.set_title("convergence step per peak (training points)", fontsize=9)
    ax = fig.add_subplot(grid[1, half:])
    ax.loglog(scales, ds["test_mse"].values, "o-")
    ax.set_xlabel("init scale s (weights x s)")
    ax.set_ylabel("test MSE on a dense grid")
    ax.set_title("larger init generalizes worse", fontsize=9)
    fig.suptitle(f"Init scale: tanh MLP, {ds.sizes['sample']} training points, {budget} steps")
    fig.tight_layout()
    return {"init_scale": fig}


def ricker_figures(ds) -> dict:
    """Fig 4.9 / 6.3: fits of every (a, ASI) run and their convergence steps per peak.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    budget = int(ds["step"].values[-1])
    runs = [(float(a), int(s)) for a in ds["a"].values for s in ds["asi"].values]
    label = lambda a, s: f"a = {a:g}, {'ASI' if s else 'no ASI'}"
    fig = plt.figure(figsize=(4 * len(runs), 6.6))
    grid = fig.add_gridspec(2, len(runs), height_ratios=[1, 0.9])
    fits = {
        f"{label(a, s)}: test MSE {float(ds['test_mse'].sel(a=a, asi=s)):.3g}": ds["fit"]
        .sel(a=a, asi=s)
        .values
        for a, s in runs
    }
    draw_fits(
        [fig.add_subplot(grid[0, i]) for i in range(len(runs))],
        ds["x"].values,
        ds["target_plot"].values,
        fits,
        ds["x_train"].values,
        ds["y_train"].values,
    )
    ax = fig.add_subplot(grid[1, :])
    convergence_bars(
        ax,
        ds["peak"].values,
        {label(a, s): ds["convergence_step"].sel(a=a, asi=s).values for a, s in runs},
        budget,
    )
    ax.set_title(
        "convergence step per peak: the narrow Ricker fits high frequencies first", fontsize=9
    )
    fig.suptitle(
        f"Ricker activation, two-layer net, {ds.sizes['sample']} training points, {budget} Adam steps"
    )
    fig.tight_layout()
    return {"ricker": fig}


def lgrad_figures(ds) -> dict:
    """Fig 6.4: Delta_F of seed 0 under L (solid) and L_grad (dashed); convergence steps.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    step, peaks, budget = ds["step"].values, ds["peak"].values, int(ds["step"].values[-1])
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    colors = plt.cm.plasma(np.linspace(0, 0.8, len(peaks)))
    names = {
        float(w): ("L (MSE)" if w == 0 else f"L_grad (lambda = {w:g})")
        for w in ds["grad_weight"].values
    }
    for (w, name), ls in zip(names.items(), ["-", "--", "-.", ":"]):
        delta_f_curves(
            axes[0],
            step,
            ds["delta_f"].sel(grad_weight=w).values[0],
            peaks,
            ds.attrs.get("threshold"),
            ls=ls,
            label_prefix=f"{name}: ",
            colors=colors,
        )
    axes[0].set_title(r"$\Delta_F$, seed 0 (solid: L, dashed: L_grad)", fontsize=9)
    convergence_bars(
        axes[1],
        peaks,
        {name: ds["convergence_step"].sel(grad_weight=w).values[0] for w, name in names.items()},
        budget,
    )
    axes[1].set_title("convergence step per peak, seed 0", fontsize=9)
    fig.suptitle("Derivative-augmented loss speeds up high frequencies (two-layer tanh, GD)")
    fig.tight_layout()
    return {"lgrad": fig}


def early_stop_figures(ds) -> dict:
    """Fig 4.12: train loss and test MSE with the best step marked; Delta_F of the low peak;
    the early-stopped and the final fit (seed 0).

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    s0 = ds.isel(seed=0)
    step = s0["step"].values
    best = int(np.argmin(s0["test_mse"].values))
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    loss_curve(axes[0], step, s0["loss"].values, label="train loss (noisy)")
    loss_curve(
        axes[0], step, s0["test_mse"].values, marks=[step[best]], label="test MSE (clean target)"
    )
    axes[0].axvline(max(step[best], 1), color="gray", ls=":")
    axes[0].legend(fontsize=7)
    axes[0].set_title(f"test error is minimal at step {int(step[best])}", fontsize=9)
    delta_f_curves(
        axes[1], step, s0["delta_f"].values, s0["peak"].values, ds.attrs.get("threshold")
    )
    axes[1].axvline(max(step[best], 1), color="gray", ls=":")
    axes[1].set_title(r"$\Delta_F$ of the low peak: converged before the best step", fontsize=9)
    outputs_at_steps(
        axes[2],
        ds["x"].values,
        ds["target_plot"].values,
        s0["output"].values[[best, -1]],
        step[[best, -1]],
        ds["x_train"].values,
        ds["y_train"].values,
    )
    axes[2].set_title("best (early-stopped) and final fits", fontsize=9)
    fig.suptitle("Early stopping on noisy samples: low frequency first, noise last")
    fig.tight_layout()
    return {"early_stop": fig}


def parity_figures(ds) -> dict:
    """Fourier power per degree: parity on the cube, the training data, the trained network.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    fig, ax = plt.subplots(figsize=(8, 3.8))
    degree_power(
        ax,
        {
            "parity on the whole cube": ds["parity_power"].values,
            "training data": ds["data_power"].values,
            "trained network on the whole cube (seed 0)": ds["network_power"].values[0],
        },
    )
    ax.set_ylim(1e-5, 2)
    ax.set_title(
        f"Parity, d = {ds.sizes['degree'] - 1}: train acc {ds['train_accuracy'].values.mean():.0%}, "
        f"test acc {ds['test_accuracy'].values.mean():.0%} (mean of {ds.sizes['seed']} seeds)",
        fontsize=9,
    )
    fig.tight_layout()
    return {"parity": fig}


def filtering_figures(ds) -> dict:
    """e_low and e_high over training for every filter width (seed 0).

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    fig, ax = plt.subplots(figsize=(8, 4))
    s0 = ds.isel(seed=0)
    filtering_curves(
        ax, s0["step"].values, s0["e_low"].values, s0["e_high"].values, ds["delta"].values
    )
    ax.axhline(ds.attrs.get("level", 0.5), color="gray", ls=":", lw=1)
    ax.set_title("Filtering method on digits: the low-frequency part converges first", fontsize=9)
    fig.tight_layout()
    return {"filtering": fig}


def ntk_figures(ds) -> dict:
    """NTK eigenvalue per Fourier mode and measured vs predicted convergence steps (seed 0).

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    s0 = ds.isel(seed=0)
    fig = eigen_vs_convergence(
        ds["freq"].values,
        s0["ntk_mode_eigenvalue"].values,
        ds["peak"].values,
        s0["predicted_step"].values,
        s0["convergence_step"].values,
        "Linear regime: wide two-layer tanh net, GD, ASI",
    )
    return {"ntk": fig}


def parity_scan_figures(ds) -> dict:
    """Parity over training-set sizes: test accuracy of the network and of the Hamming
    nearest-neighbour vote against chance; the network's parity coefficient c_[d] against the
    n mean_T(y h) / 2^d that chance needs (the hold-out identity).

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    ns = ds["n_train"].values
    te = ds["test_accuracy"].transpose("n_train", "seed").values
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for s in range(te.shape[1]):
        a1.plot(ns, te[:, s], "o", color="C0", alpha=0.4, ms=4)
    a1.plot(ns, te.mean(1), "-o", color="C0", label="network (mean over seeds)")
    a1.plot(ns, ds["nn_test_accuracy"].values, "-s", color="C3", label="nearest-neighbour vote")
    a1.axhline(0.5, color="gray", ls=":", lw=1, label="chance")
    a1.set(xlabel="training points n", ylabel="test accuracy", ylim=(0, 1))
    a1.legend(fontsize=8)
    c = ds["parity_coefficient"].transpose("n_train", "seed").values.mean(1)
    c0 = ds["chance_coefficient"].transpose("n_train", "seed").values.mean(1)
    a2.plot(ns, c, "-o", label="network's parity coefficient c_[d]")
    a2.plot(ns, c0, "--", color="gray", label="n mean_T(y h) / 2^d (needed for chance)")
    a2.set(xlabel="training points n", ylabel="coefficient")
    a2.legend(fontsize=8)
    fig.suptitle(f"Parity on {{-1, 1}}^{ds.sizes['degree'] - 1}: test accuracy vs n", fontsize=9)
    fig.tight_layout()
    return {"parity_ntrain": fig}


def scan_figures(ds) -> dict:
    """F-Principle scan: the high peak's convergence step against the scanned k or a (first
    passage and settled, magnitude Delta_F, every seed; never drawn at the budget), and its magnitude
    Delta_F over training for every scanned value (seed 0).

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    along = "k" if ds.sizes["k"] > 1 else "a"
    vals = ds[along].values
    budget = int(ds["step"].values[-1])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for var, label, mk in (
        ("convergence_step", "first passage (magnitude Delta_F)", "o"),
        ("settled_step", "settled (magnitude Delta_F)", "s"),
    ):
        t = ds[var].sel(peak="high").transpose(along, ..., "seed").values.reshape(len(vals), -1)
        t = _never_at(t, budget)
        a1.plot(vals, np.median(t, 1), "-" + mk, label=label)
        for s in range(t.shape[1]):
            a1.plot(vals, t[:, s], mk, color="gray", alpha=0.4, ms=3)
    a1.axhline(budget, color="gray", ls=":", lw=1, label="budget (never)")
    a1.set(xlabel=along, ylabel="high-peak convergence step", yscale="log")
    a1.legend(fontsize=8)
    d = ds["delta_f"].sel(peak="high").isel(seed=0).transpose(along, ..., "step")
    d = d.values.reshape(len(vals), -1)
    steps = np.maximum(ds["step"].values, 1)
    for i, v in enumerate(vals):
        a2.plot(steps, d[i], color=_step_colors(len(vals))[i], label=f"{along} = {v:g}")
    a2.axhline(ds.attrs.get("threshold", 0.05), color="gray", ls=":", lw=1)
    a2.set(xlabel="step", ylabel="Delta_F at the high peak (seed 0)", xscale="log", yscale="log")
    a2.legend(fontsize=8)
    fig.suptitle("F-Principle scan: convergence of the high-frequency peak", fontsize=9)
    fig.tight_layout()
    return {"scan": fig}
