"""Scaling-law fits at small scale (book ch. 14.1; Kaplan et al. 2020; Hoffmann et al. 2022).

    L(N) = E + A N^{-alpha}

fitted by nonlinear least squares on log scale, min_{E >= 0, A > 0, alpha > 0}
sum_i (log(E + A N_i^{-alpha}) - log L_i)^2 (``scipy.optimize.least_squares``), with
percentile bootstrap intervals over seeds: resample the seeds with replacement, average the
loss curves of the resample, refit. The compute-optimal frontier of an (N, D) grid is the
lower envelope of the loss over the compute C = c N D (c = 6 for a Transformer's forward and
backward pass; for full-batch training a fixed number of steps, C is proportional to N D).

These are host-only numpy/scipy functions (not jittable), meant for Datasets after a sweep.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import least_squares

__all__ = [
    "Frontier",
    "PowerLawFit",
    "compute_frontier",
    "fit_power_law",
    "loglog_slope",
    "power_law",
]


def power_law(n, E, A, alpha):
    """E + A n^{-alpha} (numpy, broadcasting)."""
    return E + A * np.asarray(n, float) ** (-alpha)


class PowerLawFit(NamedTuple):
    """E, A, alpha: the fit of the mean curve; r2_log: R^2 of log L against the fit's log;
    interval: dict name -> (low, high) percentile bootstrap interval (NaN without seeds)."""

    E: float
    A: float
    alpha: float
    r2_log: float
    interval: dict


def _check(n, loss):
    n = np.asarray(n, float)
    loss = np.asarray(loss, float)
    if n.ndim != 1 or n.size < 3 or loss.shape[-1] != n.size:
        raise ValueError(
            f"loss: last axis must match n (>= 3 sizes), got n {n.shape}, loss {loss.shape}"
        )
    if np.any(n <= 0) or not np.all(np.isfinite(loss)) or np.any(loss <= 0):
        raise ValueError("loss: need n > 0 and finite losses > 0 for a fit on log scale")
    return n, loss


def _fit(n, loss, offset: bool, x0=None):
    logl = np.log(loss)
    # start: a pure power law through the end points, offset a fraction of the smallest loss
    a0 = max((logl[0] - logl[-1]) / (np.log(n[-1]) - np.log(n[0])), 1e-3)
    e0 = 0.5 * loss.min() if offset else 0.0
    la0 = np.log(max(loss[0] - e0, 1e-12)) + a0 * np.log(n[0])

    def model(theta):
        e = np.exp(theta[2]) if offset else 0.0
        return np.log(e + np.exp(theta[0] - theta[1] * np.log(n)))

    if x0 is None:
        x0 = [la0, a0] + ([np.log(max(e0, 1e-12))] if offset else [])
    sol = least_squares(lambda t: model(t) - logl, x0, method="lm" if not offset else "trf")
    la, alpha = sol.x[0], sol.x[1]
    E = float(np.exp(sol.x[2])) if offset else 0.0
    resid = model(sol.x) - logl
    r2 = 1.0 - np.sum(resid**2) / max(np.sum((logl - logl.mean()) ** 2), 1e-300)
    return E, float(np.exp(la)), float(alpha), float(r2), sol.x


def fit_power_law(
    n, loss, *, offset: bool = True, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> PowerLawFit:
    """Fit L = E + A n^{-alpha} (``offset=False``: E = 0) on log scale; see the module docstring.

    Args:
      n: [K] sizes (widths, parameter counts, samples); loss: [K] or [S, K] (S seeds).
      n_boot, level, seed: bootstrap over the S seeds (``numpy.random.default_rng(seed)``);
        intervals are NaN when S = 1.
    Returns:
      :class:`PowerLawFit` of the seed-mean curve with its intervals.
    """
    n, loss = _check(n, loss)
    if not 0 < level < 1:
        raise ValueError(f"level: must be in (0, 1), got {level!r}")
    curves = loss.reshape(-1, n.size)
    E, A, alpha, r2, x0 = _fit(n, curves.mean(0), offset)
    names = ("E", "A", "alpha")
    interval = {k: (float("nan"), float("nan")) for k in names}
    if curves.shape[0] > 1 and n_boot > 0:
        rng = np.random.default_rng(seed)
        draws = np.array(
            [
                _fit(n, curves[rng.integers(0, len(curves), len(curves))].mean(0), offset, x0)[:3]
                for _ in range(n_boot)
            ]
        )
        lo, hi = np.percentile(draws, [50 * (1 - level), 50 * (1 + level)], axis=0)
        interval = {k: (float(l), float(h)) for k, l, h in zip(names, lo, hi)}
    return PowerLawFit(E, A, alpha, r2, interval)


class Frontier(NamedTuple):
    """The compute-optimal frontier: the grid points whose loss is below every point of
    smaller or equal compute, sorted by compute. Arrays [F]: ``compute`` C = c N D, ``loss``,
    ``n_params`` N and ``n_samples`` D of each frontier point; ``slope``: d log L / d log C and
    ``n_slope``: d log N_opt / d log C, least-squares lines through the frontier (NaN if F < 2)."""

    compute: np.ndarray
    loss: np.ndarray
    n_params: np.ndarray
    n_samples: np.ndarray
    slope: float
    n_slope: float


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x (NaN for fewer than 2 distinct x)."""
    x, y = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    if x.size < 2 or np.ptp(x) == 0:
        return float("nan")
    return float(np.polyfit(x, y, 1)[0])


def compute_frontier(n_params, n_samples, loss, flops_per_param_sample: float = 6.0) -> Frontier:
    """Compute-optimal frontier of a grid: n_params [P], n_samples [D], loss [P, D]
    (e.g. seed-mean test loss); compute C = c N D with c = ``flops_per_param_sample``.
    A point is on the frontier when its loss is strictly below that of every point with
    smaller or equal compute (computes equal to 1e-9 relative count as equal)."""
    N = np.asarray(n_params, float)
    D = np.asarray(n_samples, float)
    loss = np.asarray(loss, float)
    if loss.shape != (N.size, D.size):
        raise ValueError(
            f"loss: need shape [{N.size}, {D.size}] (n_params x n_samples), got {loss.shape}"
        )
    NN, DD = np.meshgrid(N, D, indexing="ij")
    C, L, NN, DD = (a.ravel() for a in (flops_per_param_sample * NN * DD, loss, NN, DD))
    ok = np.isfinite(L)
    C, L, NN, DD = C[ok], L[ok], NN[ok], DD[ok]
    # equal compute up to rounding (N D = D N) counts as equal: order by log C to 9 decimals
    order = np.lexsort((L, np.round(np.log(C), 9)))
    keep: list[int] = []
    best = np.inf
    for i in order:
        if L[i] < best:
            keep.append(i)
            best = L[i]
    k = np.array(keep, int)
    return Frontier(
        C[k],
        L[k],
        NN[k],
        DD[k],
        loglog_slope(C[k], L[k]),
        loglog_slope(C[k], NN[k]),
    )
