"""Scaling parameters and the theoretical phase diagram of two-layer nets (spec 01, book ch. 7).

    kappa  = beta1 * beta2 / alpha     (energy scale)      gamma  = lim -log kappa  / log m
    kappa' = beta1 / beta2             (dynamics scale)    gamma' = lim -log kappa' / log m

Theoretical boundary (Luo, Xu, Ma, Zhang, JMLR 2021):

    linear     gamma < 1  or  gamma' > gamma - 1
    condensed  gamma > 1  and gamma' < gamma - 1
    critical   {gamma = 1, gamma' <= 0}  U  {gamma' = gamma - 1, gamma >= 1}
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from phasekit.models import two_layer
from phasekit.models._checks import positive_int

__all__ = [
    "boundary_curve",
    "boundary_distance",
    "exponents_fit",
    "kappa",
    "kappa_prime",
    "preset_exponents",
    "preset_exponents_fit",
    "regime",
    "scaling_for",
    "theoretical_sign",
]

REGIMES = ("linear", "critical", "condensed")


def kappa(alpha, beta1, beta2):
    """kappa = beta1 beta2 / alpha."""
    return beta1 * beta2 / alpha


def kappa_prime(alpha, beta1, beta2):
    """kappa' = beta1 / beta2 (alpha does not enter)."""
    return beta1 / beta2


def scaling_for(gamma, gamma_prime, width):
    """(alpha, beta1, beta2) with kappa = m^-gamma and kappa' = m^-gamma' (``gamma_prime`` =
    gamma', ``width`` = m).

    The choice used throughout phasekit: alpha = 1, beta1 = m^-(gamma + gamma')/2,
    beta2 = m^(gamma' - gamma)/2. Any other choice with the same (kappa, kappa') gives the
    same dynamics up to a rescaling of time (spec 01). Works on numbers, arrays and traced
    values (jax in, jax out).
    """
    xp = jnp if any(isinstance(v, jax.Array) for v in (gamma, gamma_prime, width)) else np
    if not isinstance(width, jax.core.Tracer):
        w = np.asarray(width)
        if w.dtype == bool or not np.all(np.isfinite(w)) or np.any(w < 1):
            raise ValueError(f"width: must be >= 1, got {width!r}")
    log_m = xp.log(width)
    beta1 = xp.exp(-(gamma + gamma_prime) / 2 * log_m)
    beta2 = xp.exp((gamma_prime - gamma) / 2 * log_m)
    return xp.ones_like(beta1), beta1, beta2


def exponents_fit(widths, alphas, beta1s, beta2s):
    """(gamma, gamma') as log-log slopes: gamma = -d log kappa / d log m over the given widths.

    For a parameterization given numerically at several widths (least squares over all):
    ``widths`` [W] and the scales ``alphas``, ``beta1s``, ``beta2s`` [W] at those widths.
    """
    logm = np.log(np.asarray(widths, float))
    if logm.size < 2:
        raise ValueError("widths: need at least two widths to fit exponents")
    k = np.log(
        kappa(np.asarray(alphas, float), np.asarray(beta1s, float), np.asarray(beta2s, float))
    )
    kp = np.log(
        kappa_prime(np.asarray(alphas, float), np.asarray(beta1s, float), np.asarray(beta2s, float))
    )
    return -float(np.polyfit(logm, k, 1)[0]), -float(np.polyfit(logm, kp, 1)[0])


_PRESET_LIMITS = {
    "lecun": (0.5, 0.5),
    "he": (0.5, 0.5),
    "xavier": (1.0, 0.0),
    "ntk": (0.5, 0.0),
    "mean_field": (1.0, 0.0),
}


def preset_exponents(name: str, beta_exponent: float | None = None) -> tuple[float, float]:
    """Analytic (gamma, gamma') of a Table 7.1 preset as m -> infinity (d fixed).

    ``e_et_al`` with beta = m^-c needs ``beta_exponent = c``: gamma = gamma' = c.
    """
    if name == "e_et_al":
        if beta_exponent is None:
            raise ValueError("beta_exponent: e_et_al needs c where beta = m^-c")
        return float(beta_exponent), float(beta_exponent)
    if name not in _PRESET_LIMITS:
        raise ValueError(f"preset: unknown name {name!r}; known: {', '.join(two_layer.PRESETS)}")
    return _PRESET_LIMITS[name]


def preset_exponents_fit(name: str, input_dim: int = 1, widths=(1e3, 1e4, 1e5, 1e6)):
    """(gamma, gamma') of a preset estimated numerically from Table 7.1 over large widths
    (:func:`exponents_fit` of :func:`phasekit.models.two_layer.preset` ``name`` at ``widths``,
    input dimension ``input_dim``)."""
    positive_int("input_dim", input_dim)
    abb = np.array([two_layer.preset(name, int(m), input_dim) for m in widths])
    return exponents_fit(widths, *abb.T)


def boundary_distance(gamma, gamma_prime):
    """Euclidean distance in the (gamma', gamma) plane from (``gamma_prime``, ``gamma``) to the
    critical boundary (:func:`boundary_curve`); broadcasting over arrays."""
    g, gp = np.asarray(gamma, float), np.asarray(gamma_prime, float)
    # ray 1: gamma = 1, gamma' <= 0
    d1 = np.hypot(g - 1.0, np.maximum(gp, 0.0))
    # ray 2: gamma' = gamma - 1, gamma >= 1; points (1 + s, s), s >= 0
    s = np.maximum((g - 1.0 + gp) / 2.0, 0.0)
    d2 = np.hypot(g - 1.0 - s, gp - s)
    return np.minimum(d1, d2)


def regime(gamma, gamma_prime, tol: float = 1e-9):
    """ "linear" | "critical" | "condensed" at (``gamma``, ``gamma_prime``) from the theoretical
    boundary.

    Points within ``tol`` of the boundary are "critical". Vectorized: arrays give an array
    of strings.
    """
    if not tol >= 0:
        raise ValueError(f"tol: must be >= 0, got {tol!r}")
    g, gp = np.asarray(gamma, float), np.asarray(gamma_prime, float)
    out = np.where((g > 1.0) & (gp < g - 1.0), "condensed", "linear")
    out = np.where(boundary_distance(g, gp) <= tol, "critical", out)
    return out.item() if out.ndim == 0 else out


def theoretical_sign(gamma, gamma_prime, tol: float = 1e-9):
    """Expected sign of S_w at (``gamma``, ``gamma_prime``): -1 linear, 0 critical (within
    ``tol`` of the boundary), +1 condensed."""
    r = np.asarray(regime(gamma, gamma_prime, tol))
    return np.select([r == "linear", r == "condensed"], [-1, 1], 0)


def boundary_curve(gamma_prime):
    """gamma on the critical boundary as a function of gamma': 1 for gamma' <= 0, 1 + gamma' above
    (``gamma_prime``: a number or an array; the result has its shape)."""
    gp = np.asarray(gamma_prime, float)
    return np.where(gp <= 0, 1.0, 1.0 + gp)
