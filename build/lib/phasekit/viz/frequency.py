"""Figures of the frequency principle (spec 04, book ch. 4-6): fits over training, Delta_F heat
maps and curves, spectra, filtering errors. Plotting only: every number comes from the caller."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

TARGET = dict(color="black", lw=1.2, ls="--", label="target")
POINTS = dict(color="black", s=10, zorder=3, label="training points")


def _step_colors(n):
    return plt.cm.viridis(np.linspace(0.0, 0.9, max(n, 1)))


def outputs_at_steps(ax, x_grid, y_grid, outputs, steps, x_train=None, y_train=None):
    """Target (dashed) and network outputs [S, n_grid] at the given steps (colored early -> late)."""
    ax.plot(x_grid, y_grid, **TARGET)
    for out, s, c in zip(outputs, steps, _step_colors(len(steps))):
        ax.plot(x_grid, out, color=c, lw=1.5, label=f"step {int(s)}")
    if x_train is not None:
        ax.scatter(x_train, y_train, **POINTS)
    ax.set_xlabel("x")
    ax.set_ylabel("output")
    ax.legend(fontsize=7, loc="best")


def loss_curve(ax, steps, loss, marks=(), label=None, **kw):
    """Training loss vs step on log axes; ``marks``: steps to highlight (e.g. snapshots)."""
    steps, loss = np.asarray(steps), np.asarray(loss)
    ax.plot(np.maximum(steps, 1), loss, label=label, **kw)
    for s, c in zip(marks, _step_colors(len(marks))):
        i = int(np.argmin(np.abs(steps - s)))
        ax.plot(max(steps[i], 1), loss[i], "o", color=c, ms=6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training step (log)")
    ax.set_ylabel("loss")


def delta_f_curves(ax, steps, delta_f, peak_freqs, threshold=None, ls="-", label_prefix="", colors=None):
    """Delta_F [R, P] vs step, one line per peak; dotted line at ``threshold``."""
    colors = plt.cm.plasma(np.linspace(0.0, 0.8, len(peak_freqs))) if colors is None else colors
    for j, (k, c) in enumerate(zip(peak_freqs, colors)):
        ax.plot(np.maximum(np.asarray(steps), 1), np.asarray(delta_f)[:, j], ls=ls, color=c,
                label=f"{label_prefix}k = {k:g}")
    if threshold is not None:
        ax.axhline(threshold, color="gray", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training step (log)")
    ax.set_ylabel(r"$\Delta_F(k)$")
    ax.legend(fontsize=7)


def delta_f_heatmap(ax, steps, delta_f, peak_freqs, vmin=1e-3, vmax=1.0):
    """Heat map of Delta_F over (peak, record); records on a log-step axis; colorbar attached."""
    steps = np.maximum(np.asarray(steps), 1).astype(float)
    edges = np.concatenate([[steps[0] / 1.2], np.sqrt(steps[1:] * steps[:-1]), [steps[-1] * 1.2]])
    mesh = ax.pcolormesh(edges, np.arange(len(peak_freqs) + 1), np.asarray(delta_f).T,
                         norm=LogNorm(vmin=vmin, vmax=vmax), cmap="RdBu_r", shading="flat")
    ax.set_xscale("log")
    ax.set_yticks(np.arange(len(peak_freqs)) + 0.5)
    ax.set_yticklabels([f"k = {k:g}" for k in peak_freqs])
    ax.set_xlabel("training step (log)")
    ax.set_ylabel("peak")
    plt.colorbar(mesh, ax=ax, label=r"$\Delta_F$")


def spectra(ax, freqs, target_amp, amps, steps, peaks=(), kmax=None):
    """|f_hat| (black) and |h_hat| at chosen steps (colored) vs frequency; peaks marked."""
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
    """Convergence step per peak for several runs; 'never' drawn at the budget, hatched."""
    width = 0.8 / max(len(conv), 1)
    for i, (label, s) in enumerate(conv.items()):
        s = np.asarray(s, float)
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
    """Into ``axes`` (one per run): target, training points and the trained network on a dense grid."""
    for ax, (label, out) in zip(axes, fits.items()):
        ax.plot(x_grid, y_grid, **TARGET)
        ax.plot(x_grid, out, color="C0", lw=1.4, label="network")
        ax.scatter(x_train, y_train, **POINTS)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("x")
    axes[0].legend(fontsize=7)


def filtering_curves(ax, steps, e_low, e_high, deltas):
    """e_low (solid) and e_high (dashed) vs step, one color per filter width delta."""
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(deltas)))
    for j, (d, c) in enumerate(zip(deltas, colors)):
        ax.plot(np.maximum(np.asarray(steps), 1), np.asarray(e_low)[:, j], "-", color=c, label=rf"$e_{{low}}$, $\delta$={d:.2g}")
        ax.plot(np.maximum(np.asarray(steps), 1), np.asarray(e_high)[:, j], "--", color=c, label=rf"$e_{{high}}$, $\delta$={d:.2g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training step (log)")
    ax.set_ylabel("relative error")
    ax.legend(fontsize=7, ncol=2)


def degree_power(ax, powers: Mapping[str, np.ndarray]):
    """Fourier power per degree |S| on the hypercube, grouped bars per source."""
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
    per peak against the linear-regime prediction (y = x dotted)."""
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
        a2.annotate(f"k = {k:g}", (x, y), textcoords="offset points", xytext=(-8, 6), ha="right", fontsize=8)
    if ok.any():
        lim = [min(predicted[ok].min(), measured[ok].min()) / 2, max(predicted[ok].max(), measured[ok].max()) * 2]
        a2.plot(lim, lim, "k:", lw=1, label="measured = predicted")
        a2.legend(fontsize=7)
    if (~ok).any():
        never = ", ".join(f"k = {k:g}" for k in np.asarray(peak_freqs)[~ok])
        a2.text(0.98, 0.03, f"not converged within the budget: {never}", transform=a2.transAxes,
                ha="right", fontsize=7, color="gray")
    a2.set_xlabel(r"linear-regime prediction $n \ln(1/\mathrm{thr}) / (\eta \lambda(k))$")
    a2.set_ylabel("measured convergence step")
    a2.set_title("convergence order follows the NTK spectrum", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
