"""Figures of the SGD-noise experiment (spec 05): gradient variance against curvature, weight
variance against flatness (Feng & Tu). No computation beyond drawing the stored fit lines."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["sgd_noise", "sgd_noise_figures"]


def sgd_noise(
    eigenvalue,
    noise_variance,
    random_variance,
    flatness,
    pca_variance,
    psi,
    psi_c,
    path=None,
    title="SGD noise",
):
    """Two log-log panels: gradient variance v_i^T Sigma v_i against lambda_i (random directions
    as a band), and the weight variance sigma_i^2 against the flatness F_i with the fitted line
    sigma^2 = exp(c) F^-psi, one colour per seed.

    Args:
      eigenvalue, noise_variance: [S, k]; random_variance: [S, r];
      flatness, pca_variance: [S, k]; psi, psi_c: [S] the fitted exponent and intercept.
      path: also save the figure there (dpi 130; None: do not save); title: the figure's title.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    fig, (ax_g, ax_w) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.cm.viridis(np.linspace(0, 0.8, len(psi)))
    for s, c in enumerate(colors):
        ax_g.plot(eigenvalue[s], noise_variance[s], "o", color=c, ms=4, label=f"seed {s}")
        ax_g.axhspan(
            np.min(random_variance[s]), np.max(random_variance[s]), color=c, alpha=0.15, lw=0
        )
        f = np.asarray(flatness[s], float)
        ok = np.isfinite(f) & (f > 0)
        ax_w.plot(f[ok], pca_variance[s][ok], "o", color=c, ms=4)
        if ok.sum() >= 2:
            xs = np.geomspace(f[ok].min(), f[ok].max(), 20)
            ax_w.plot(xs, np.exp(psi_c[s]) * xs ** -psi[s], color=c, label=f"psi = {psi[s]:.2f}")
    ax_g.set(
        xscale="log",
        yscale="log",
        xlabel=r"Hessian eigenvalue $\lambda_i$",
        ylabel=r"gradient variance $v_i^T \Sigma v_i$",
        title="gradient noise along eigenvectors (band: random directions)",
    )
    ax_w.set(
        xscale="log",
        yscale="log",
        xlabel=r"flatness $F_i$ along PCA direction $i$",
        ylabel=r"weight variance $\sigma_i^2$",
        title=r"Feng & Tu: $\sigma_i^2 \sim F_i^{-\psi}$",
    )
    ax_g.legend(fontsize=7)
    ax_w.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=130)
    return fig


def sgd_noise_figures(ds) -> dict:
    """{"sgd_noise": :func:`sgd_noise`} from the sgd-noise Dataset.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    return {
        "sgd_noise": sgd_noise(
            ds["eigenvalue"].values,
            ds["noise_variance"].values,
            ds["random_noise_variance"].values,
            ds["pca_flatness"].values,
            ds["pca_variance"].values,
            ds["psi"].values,
            ds["psi_c"].values,
            title=f"SGD noise: digits, ReLU MLP {ds.attrs.get('sizes')}, lr {ds.attrs.get('lr')}, "
            f"batch {ds.attrs.get('batch')}",
        )
    }
