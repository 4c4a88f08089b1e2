"""Figures of book ch. 10 (model rank, optimistic sample size, recovery); no computation here."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

ERROR_CMAP = "viridis"


def error_heatmap(ax, errors, n_values, row_labels, optimistic=None, *, vmin=1e-8, vmax=None,
                  ylabel="target", title=None, colorbar=True, xlabel="number of samples n",
                  label="median test error"):
    """Test error over seeds [rows, K] as a log-colored grid (book Fig 10.1/10.2 style).

    ``optimistic``: [rows] optimistic sample size of each row, drawn as a red bar on the
    left edge of that cell (recovery is possible from there on).
    """
    errors = np.clip(np.asarray(errors, float), vmin, None)
    n_values = np.asarray(n_values)
    vmax = vmax or max(float(np.nanmax(errors)), 10 * vmin)
    mesh = ax.pcolormesh(np.arange(len(n_values) + 1) - 0.5, np.arange(len(row_labels) + 1) - 0.5, errors,
                         cmap=ERROR_CMAP, norm=LogNorm(vmin, vmax), shading="flat")
    if colorbar:
        plt.colorbar(mesh, ax=ax, label=label)
    if optimistic is not None:
        for i, R in enumerate(optimistic):
            j = np.searchsorted(n_values, R)
            ax.plot([j - 0.5, j - 0.5], [i - 0.5, i + 0.5], color="red", lw=3, solid_capstyle="butt",
                    label="optimistic size" if i == 0 else None)
        ax.legend(loc="upper left", bbox_to_anchor=(0, -0.12), fontsize=8, frameon=False)
    ax.set_xticks(np.arange(len(n_values)), [str(n) for n in n_values], fontsize=8)
    ax.set_yticks(np.arange(len(row_labels)), row_labels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.invert_yaxis()
    if title:
        ax.set_title(title, fontsize=10)
    return mesh


def error_curves(ax, n_values, errors, labels, optimistic=None, *, colors=None, spread=None,
                 title=None, xlabel="number of samples n", ylabel="median test error", logx=False):
    """Test error vs n, one curve per row of ``errors`` [rows, K]; dashed vertical line at each
    row's optimistic size (same color); ``spread`` [rows, 2, K]: a shaded band (e.g. quartiles)."""
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


def init_std_heatmap(ax, errors, n_values, init_stds, optimistic, *, vmin=1e-8, title=None,
                     label="median test error"):
    """Test error over (init std, n) (book Fig 10.5), optimistic size as a dashed line."""
    errors = np.clip(np.asarray(errors, float), vmin, None)
    mesh = ax.pcolormesh(np.arange(len(n_values) + 1) - 0.5, np.arange(len(init_stds) + 1) - 0.5, errors,
                         cmap=ERROR_CMAP, norm=LogNorm(vmin, max(float(errors.max()), 10 * vmin)),
                         shading="flat")
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
    curve per profile); saturation at the model rank (dashed, ``model_ranks``: [P])."""
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
