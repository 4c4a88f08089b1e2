"""Figures of the embedding-principle experiments (book ch. 9) from their Datasets alone.

The plots themselves live in :mod:`phasekit.viz.condensation` (loss spectrum, Hessian
spectra, reduction); these functions only pick the arrays out of a Dataset.
"""

from __future__ import annotations

import numpy as np

from phasekit.viz import condensation as plots

__all__ = [
    "hessian_figures",
    "loss_spectrum_figures",
    "reduction_figures",
]


def loss_spectrum_figures(ds) -> dict:
    """Book Fig 9.5: the loss spectrum per width, the brightest lines marked.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    widths = ds["width"].values.tolist()
    fig = plots.loss_spectrum(
        widths,
        ds["log10_loss_edges"].values,
        ds["density"].values,
        f"loss spectrum, {ds.sizes['seed']} seeds per width: shared plateaus are bright lines",
    )
    ax = fig.axes[0]
    for i, row in enumerate(ds["lines"].values):
        row = row[np.isfinite(row)]
        ax.scatter(row, np.full(row.size, i + 0.5), marker="|", s=120, color="cyan", zorder=3)
    return {"loss_spectrum": fig}


def hessian_figures(ds, seed: int | None = None) -> dict:
    """Book Fig 9.7: sorted Hessian eigenvalues of the width-2 critical point and its
    embeddings (first seed whose width-2 point is critical), with the counts.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
      seed: index of the seed drawn (default None).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    tol = float(ds.attrs.get("config_tol", 1e-10))
    if seed is None:
        crit = np.flatnonzero(
            ds["grad_l1"].values[:, 0] <= float(ds.attrs.get("config_critical_tol", 1e-10))
        )
        seed = int(crit[0]) if crit.size else 0
    s = ds.isel(seed=seed)
    spectra, counts = {}, {}
    for i, m in enumerate(ds["width"].values):
        eig = s["eigenvalues"].values[i]
        name = f"width {int(m)}"
        spectra[name] = eig[np.isfinite(eig)]
        counts[name] = tuple(int(s[k].values[i]) for k in ("n_negative", "n_zero", "n_positive"))
    data = ds.attrs.get("config_data", "")
    fig = plots.hessian_spectra(
        spectra,
        counts,
        tol,
        f"{data}: width-2 critical point (seed {seed}) embedded by splitting (tanh, float64)",
    )
    return {"hessian": fig}


def reduction_figures(ds, seed: int = 0) -> dict:
    """Book Fig 9.8: the wide net's loss, the merge, the merged net retrained from there and
    the wide net trained on from the same point.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
      seed: index of the seed drawn (default 0).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    s = ds.isel(seed=seed)
    merge = int(s["merge_step"])
    m = int(ds.attrs.get("config_width", 0))
    fig = plots.reduction(
        s["step"].values,
        s["loss"].values,
        s["retrain_step"].values,
        s["loss_retrained"].values,
        merge,
        (m, int(s["width_after"])),
        f"digits: width {m} -> {int(s['width_after'])} at step {merge}; test agreement "
        f"{100 * float(s['agree_test']):.1f}%",
    )
    ax = fig.axes[0]
    ax.loglog(
        s["retrain_step"].values + merge,
        s["loss_wide_continued"].values,
        ":",
        color="tab:blue",
        label=f"width {m}, trained on",
    )
    ax.legend()
    return {"reduction": fig}
