"""Figures of the phase diagram (book Fig 7.3-7.6) from a phase-diagram Dataset."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import TwoSlopeNorm

from phasekit.theory import regimes

__all__ = [
    "experiment_figures",
    "fits",
    "neuron_scatter",
    "rd_vs_width",
    "s_w_heatmap",
]

REGIME_COLORS = {"linear": "#2166ac", "critical": "#4d4d4d", "condensed": "#b2182b"}


def s_w_heatmap(ds, ax=None, annotate: bool = True):
    """Heat map of S_w over (gamma', gamma) with the theoretical boundary (line) and the
    empirical boundary (stars, zero crossings of S_w along gamma), like book Fig 7.5.

    Args:
      ds: a ``phase-diagram`` Dataset (S_w, boundary_gamma; :func:`phasekit.dynamics.phase.phase_diagram`).
      ax: the matplotlib Axes drawn into (None: a new figure); annotate: write S_w in each cell
        (and mark poor power-law fits).
    Returns:
      the Axes.
    """
    ax = ax or plt.subplots(figsize=(6.4, 5.2), constrained_layout=True)[1]
    gp, g = ds["gamma_prime"].values, ds["gamma"].values
    s = ds["S_w"].transpose("gamma", "gamma_prime").values
    lo = min(np.nanmin(s), -1e-3) if np.isfinite(s).any() else -1.0
    hi = max(np.nanmax(s), 1e-3) if np.isfinite(s).any() else 1.0
    mesh = ax.pcolormesh(
        _edges(gp), _edges(g), s, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, lo, hi), shading="flat"
    )
    plt.colorbar(mesh, ax=ax, label=r"$S_w$ = d log RD* / d log m")
    if annotate:
        poor = ds["S_w_poor_fit"].transpose("gamma", "gamma_prime").values
        for i, gi in enumerate(g):
            for j, gpj in enumerate(gp):
                if np.isfinite(s[i, j]):
                    strong = s[i, j] > 0.6 * hi or s[i, j] < 0.6 * lo
                    ax.text(
                        gpj,
                        gi,
                        f"{s[i, j]:+.2f}" + ("?" if poor[i, j] else ""),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="w" if strong else "k",
                    )
    line = np.linspace(_edges(gp)[0], _edges(gp)[-1], 200)
    ax.plot(line, regimes.boundary_curve(line), "k-", lw=2, label="theoretical boundary")
    bg = ds["boundary_gamma"].values
    ax.plot(
        gp, bg, "*", mfc="none", mec="gold", mew=1.8, ms=16, label="empirical boundary ($S_w$ = 0)"
    )
    ax.set_xlim(_edges(gp)[0], _edges(gp)[-1])
    ax.set_ylim(_edges(g)[0], _edges(g)[-1])
    ax.set_xlabel(r"$\gamma'$  ($\kappa' = m^{-\gamma'}$)")
    ax.set_ylabel(r"$\gamma$  ($\kappa = m^{-\gamma}$)")
    widths = ds["width"].values
    ax.set_title(f"Phase diagram: scaling exponent $S_w$ (m = {widths.min()}..{widths.max()})")
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.11),
        ncol=2,
        fontsize=8,
        frameon=False,
        title="red: condensed ($S_w$ > 0)   blue: linear ($S_w$ < 0)"
        + ("   ?: RD* not a power law of m" if annotate else ""),
        title_fontsize=7,
    )
    return ax


def _edges(c):
    c = np.asarray(c, float)
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])


def rd_vs_width(ds, points, axes=None):
    """RD* against width m in log-log for chosen (gamma, gamma', label) points (book Fig 7.4):
    each seed as a dot, the seed geometric mean as a line with the fitted slope S_w.

    Args:
      ds: a ``phase-diagram`` Dataset (rd_star, S_w); points: (gamma, gamma', label) triples on
        its grid; axes: one Axes per point (None: a new figure).
    Returns:
      the Axes, one per point.
    """
    if axes is None:
        fig, axes = plt.subplots(
            1, len(points), figsize=(3.6 * len(points), 3.4), constrained_layout=True
        )
    axes = np.atleast_1d(axes)
    m = ds["width"].values
    for ax, (g, gp, label) in zip(axes, points):
        p = ds.sel(gamma=g, gamma_prime=gp, method="nearest")
        kind = str(p["regime_theory"].values)
        color = REGIME_COLORS[kind]
        rd = p["rd_star"].transpose("width", "seed").values
        ok = p["converged"].transpose("width", "seed").values.astype(bool)
        for s in range(rd.shape[1]):
            ax.loglog(m[ok[:, s]], rd[ok[:, s], s], "o", color=color, alpha=0.35, ms=4)
            if (~ok[:, s]).any():
                ax.loglog(m[~ok[:, s]], rd[~ok[:, s], s], "x", color="k", ms=5)
        gm = p["rd_star_geomean"].values
        ax.loglog(m, gm, "-", color=color, lw=2)
        ax.set_title(
            f"{label}\n$\\gamma$={float(p.gamma):.2f}, $\\gamma'$={float(p.gamma_prime):.2f}: "
            f"$S_w$={float(p.S_w):+.2f}",
            fontsize=9,
        )
        ax.set_xlabel("width m")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("RD* = |θ_w(T) - θ_w(0)| / |θ_w(0)|")
    return axes


def neuron_scatter(panels, axes=None):
    """Orientation/amplitude of every neuron at init (grey) and at the end (colour), book
    Fig 7.3 / 7.6. ``panels``: list of dicts with keys title, regime, angle0, amp0, angle, amp
    and xlabel (angles in [-pi, pi) for 1-D input, projections for high-dim input).

    Args:
      panels: see above; axes: one Axes per panel (None: a new figure).
    Returns:
      the Axes.
    """
    if axes is None:
        fig, axes = plt.subplots(
            1, len(panels), figsize=(3.8 * len(panels), 3.4), constrained_layout=True
        )
    axes = np.atleast_1d(axes)
    for ax, p in zip(axes, panels):
        top = max(np.max(p["amp0"]), np.max(p["amp"]))
        ax.scatter(p["angle0"], p["amp0"] / top, s=6, c="0.6", label="initial", alpha=0.6, lw=0)
        ax.scatter(
            p["angle"],
            p["amp"] / top,
            s=8,
            c=REGIME_COLORS.get(p["regime"], "C3"),
            label="final",
            alpha=0.8,
            lw=0,
        )
        ax.set_title(p["title"], fontsize=9)
        ax.set_xlabel(p.get("xlabel", r"orientation $\Omega_k$"))
        ax.set_ylim(-0.03, 1.05)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(r"amplitude $A_k$ / max $A$")
    axes[0].legend(fontsize=8, loc="upper left")
    return axes


def fits(panels, axes=None):
    """Network outputs on a fine grid after training for 1-D data, one curve per panel
    (``panels``: dicts with title, regime, x, f, x_train, y_train).

    Args:
      panels: see above; axes: one Axes per panel (None: a new figure).
    Returns:
      the Axes.
    """
    if axes is None:
        fig, axes = plt.subplots(
            1, len(panels), figsize=(3.8 * len(panels), 3.0), constrained_layout=True
        )
    axes = np.atleast_1d(axes)
    for ax, p in zip(axes, panels):
        ax.plot(p["x"], p["f"], color=REGIME_COLORS.get(p["regime"], "C0"), lw=2, label="network")
        ax.plot(p["x_train"], p["y_train"], "ko", ms=5, label="data")
        ax.set_title(p["title"], fontsize=9)
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return axes


def experiment_figures(ds, points) -> dict:
    """The figures of a ``phase-diagram`` experiment Dataset: S_w heat map (Fig 7.5), RD* vs m
    (Fig 7.4), showcase neuron scatter (Fig 7.3 / 7.6) and, for 1-D data, the learned functions.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
      points: (gamma, gamma', label) triples for the RD* vs m panel (those off the grid are
        dropped; the first is kept when none is on it).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    figs = {}
    fig, ax = plt.subplots(figsize=(6.6, 5.4), constrained_layout=True)
    s_w_heatmap(ds, ax)
    figs["s_w_heatmap"] = fig
    pts = [
        (g, gp, lab)
        for g, gp, lab in points
        if g in ds["gamma"].values and gp in ds["gamma_prime"].values
    ] or list(points)[:1]
    figs["rd_vs_width"] = rd_vs_width(ds, pts)[0].figure
    if "showcase_amp" not in ds:
        return figs
    one_d = "showcase_fit" in ds
    m = ds.attrs.get("showcase_width", int(ds["width"].max()))
    panels, fit_panels = [], []
    for i in range(ds.sizes["showcase"]):
        g, gp = float(ds["showcase_gamma"][i]), float(ds["showcase_gamma_prime"][i])
        label, kind = str(ds["showcase_label"].values[i]), str(regimes.regime(g, gp))
        conv = bool(ds["showcase_converged"][i])
        panels.append(
            {
                "title": f"{label}: γ={g}, γ'={gp}, m={m}\nRD*={float(ds['showcase_rd_star'][i]):.2g}"
                f"{'' if conv else ' (not converged)'}",
                "regime": kind,
                "angle0": ds["showcase_angle0"].values[i],
                "amp0": ds["showcase_amp0"].values[i],
                "angle": ds["showcase_angle"].values[i],
                "amp": ds["showcase_amp"].values[i],
                "xlabel": r"orientation $\Omega_k$ = atan2($b_k$, $w_k$)"
                if one_d
                else r"projection $\hat w_k \cdot p$, p = 1/$\sqrt{D}$",
            }
        )
        if one_d:
            fit_panels.append(
                {
                    "title": label,
                    "regime": kind,
                    "x": ds["grid"].values,
                    "f": ds["showcase_fit"].values[i],
                    "x_train": ds["x_train"].values[:, 0],
                    "y_train": ds["y_train"].values,
                }
            )
    figs["neurons"] = neuron_scatter(panels)[0].figure
    if fit_panels:
        figs["fits"] = fits(fit_panels)[0].figure
    return figs
