"""Measures of a parameterization across widths (TP5): the coordinate check, learning-rate
transfer and the relative feature change per layer.

    coordinate check   per layer k and step t = 0..T: mean |h_k(t)| and mean |h_k(t) - h_k(0)|,
                       then their log-log slope in the width n (muP: every slope ~ 0)
    lr transfer        the lr minimizing the seed-mean loss, per width (muP: flat in n)
    feature change     ||h_k(T) - h_k(0)|| / ||h_k(0)||, ~ n^{-r} (TP4's r; the deep analogue
                       of the book's relative distance of the input weights)

``features(params) -> [h_1, ..., h_K]``: the model's own hooks at a fixed input batch (e.g.
:func:`phasekit.models.mlp.preactivations` plus the output, or :func:`flax_intermediates`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from numpy.typing import ArrayLike

__all__ = [
    "CoordinateCheck",
    "LrOptimum",
    "coordinate_check",
    "feature_observer",
    "flax_intermediates",
    "measured_regime",
    "optimal_lr",
    "relative_feature_change",
    "width_slopes",
]


def relative_feature_change(h_t, h_0) -> jax.Array:
    """||h_t - h_0||_F / ||h_0||_F of one layer's features (any shape)."""
    return jnp.linalg.norm((h_t - h_0).ravel()) / jnp.linalg.norm(h_0.ravel())


def feature_observer(features: Callable, params0) -> Callable:
    """``observe(params) -> {"size": [K], "change": [K], "relative": [K]}`` for
    :func:`phasekit.dynamics.train.run`: mean |h_k|, mean |h_k - h_k(0)| and the relative change
    of each of the K feature arrays ``features(params)``, against their values at ``params0``."""
    f0 = features(params0)

    def observe(params):
        f = features(params)
        return {
            "size": jnp.stack([jnp.mean(jnp.abs(h)) for h in f]),
            "change": jnp.stack([jnp.mean(jnp.abs(h - g)) for h, g in zip(f, f0)]),
            "relative": jnp.stack([relative_feature_change(h, g) for h, g in zip(f, f0)]),
        }

    return observe


class CoordinateCheck(NamedTuple):
    """Result of :func:`coordinate_check` (vmapped runs stack along leading axes).

    size:     [T + 1, K] mean |h_k(t)|
    change:   [T + 1, K] mean |h_k(t) - h_k(0)|
    relative: [T + 1, K] ||h_k(t) - h_k(0)|| / ||h_k(0)||
    loss:     [T + 1]    training loss
    diverged: []         NaN / inf met
    """

    size: jax.Array
    change: jax.Array
    relative: jax.Array
    loss: jax.Array
    diverged: jax.Array


def coordinate_check(
    loss_fn: Callable, features: Callable, params, data, optimizer, steps: int = 5
) -> CoordinateCheck:
    """TP5's coordinate check of one run: ``steps`` full-batch optimizer steps, features recorded
    at every step t = 0..steps. Pure and jittable; vmap it over seeds (and lrs), loop over widths.

    Every step is a record and there is no stop rule, so this is a plain ``lax.scan`` of optax
    steps (:func:`phasekit.dynamics.train.run` gives the same numbers at twice the compile time).

    Args:
      loss_fn: ``loss(params, data) -> scalar``.
      features: ``features(params) -> list of K arrays`` (e.g. :func:`flax_intermediates`).
      params: theta_0; data: the full batch; optimizer: an optax GradientTransformation.
      steps: optimizer steps.
    Returns:
      :class:`CoordinateCheck` with records t = 0..steps.
    """
    observe = feature_observer(features, params)
    grad = jax.value_and_grad(loss_fn)

    def step(carry, _):
        p, s = carry
        loss, g = grad(p, data)
        u, s = optimizer.update(g, s, p)
        p = optax.apply_updates(p, u)
        return (p, s), (observe(p), loss)

    (p, _), (obs, losses) = jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)
    first = observe(params)
    stack = {k: jnp.concatenate([first[k][None], obs[k]]) for k in first}
    loss = jnp.concatenate([losses, loss_fn(p, data)[None]])
    return CoordinateCheck(
        stack["size"], stack["change"], stack["relative"], loss, ~jnp.isfinite(loss).all()
    )


def width_slopes(widths: Sequence[float], values, axis: int = 0) -> np.ndarray:
    """Least-squares slope of log(values) against log(width) along ``axis`` (the width axis):
    the exponent s of values ~ n^s. NaN where a value is not finite and positive.

    Args:
      widths: the widths n [W]; values: positive values with a [W] axis at ``axis``.
    Returns:
      the slopes, ``values``' shape without ``axis``.
    """
    x = np.log(np.asarray(widths, float))
    if x.size < 2 or np.ptp(x) == 0:
        raise ValueError(f"widths: need >= 2 distinct widths, got {list(widths)}")
    y = np.moveaxis(np.asarray(values, float), axis, 0)
    if y.shape[0] != x.size:
        raise ValueError(f"values: axis {axis} has {y.shape[0]} entries for {x.size} widths")
    with np.errstate(divide="ignore", invalid="ignore"):
        ly = np.where(y > 0, np.log(np.where(y > 0, y, 1.0)), np.nan)
    xc = (x - x.mean()).reshape((-1,) + (1,) * (ly.ndim - 1))
    return np.sum(xc * (ly - ly.mean(0)), 0) / np.sum(xc**2)


def measured_regime(feature_slope, output_slope, diverged, flat: float = 0.1) -> str:
    """ "unstable" (a run diverged, or features / output change grow with n), "feature learning"
    (relative feature change flat in n) or "kernel" (it falls: frozen features; TP4's trivial
    regime freezes them too).

    Args:
      feature_slope: width exponent of the relative feature change (:func:`width_slopes`);
      output_slope: width exponent of the output change; diverged: whether any run diverged;
      flat: |slope| at most this counts as flat.
    """
    if diverged or not np.isfinite(feature_slope) or feature_slope > flat or output_slope > flat:
        return "unstable"
    return "feature learning" if abs(feature_slope) <= flat else "kernel"


class LrOptimum(NamedTuple):
    """lr: [...] the loss-minimizing lr; loss: [...] the seed-mean loss there; index: [...] its
    grid index; interior: [...] whether the minimum is inside the grid (not at an end)."""

    lr: np.ndarray
    loss: np.ndarray
    # the field shadows tuple.index (a method); callers read .index, so the name stays
    index: np.ndarray  # type: ignore[assignment]
    interior: np.ndarray


def optimal_lr(lrs: ArrayLike, loss: ArrayLike) -> LrOptimum:
    """The lr of least seed-mean loss, ``loss``: [..., lrs, seeds] (non-finite losses count as
    +inf: a diverged run is never optimal), refined by a parabola in log lr through the grid
    minimum and its two neighbours (a log-spaced grid of ``lrs``)."""
    lrs = np.asarray(lrs, float)
    x = np.asarray(loss, float)
    x = np.where(np.isfinite(x), x, np.inf)
    if x.ndim < 2:
        raise ValueError(f"loss: need [..., lrs, seeds], got shape {x.shape}")
    m = x.mean(-1)
    if m.shape[-1] != lrs.size:
        raise ValueError(f"loss: the lr axis has {m.shape[-1]} entries for {lrs.size} lrs")
    i = np.argmin(m, -1)
    best = np.take_along_axis(m, i[..., None], -1)[..., 0]
    interior = (i > 0) & (i < lrs.size - 1) & np.isfinite(best)
    ll = np.log(lrs)
    j = np.clip(i, 1, lrs.size - 2)
    y0, y1, y2 = (np.take_along_axis(m, (j + d)[..., None], -1)[..., 0] for d in (-1, 0, 1))
    x0, x1, x2 = ll[j - 1], ll[j], ll[j + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        # vertex of the parabola through the three points
        num = (x1 - x0) ** 2 * (y1 - y2) - (x1 - x2) ** 2 * (y1 - y0)
        den = (x1 - x0) * (y1 - y2) - (x1 - x2) * (y1 - y0)
        vertex = x1 - 0.5 * num / den
    ok = interior & np.isfinite(vertex) & (den != 0) & np.isfinite(y0 + y2)
    log_opt = np.where(ok, np.clip(vertex, x0, x2), ll[i])
    return LrOptimum(np.exp(log_opt), best, i, interior)


def flax_intermediates(module, x, names: Sequence[str] | None = None) -> Callable:
    """``features(variables) -> [outputs of the submodules ``names`` (default: every direct
    submodule, in call order), then the model's output]`` at input ``x``, through Flax's
    ``capture_intermediates`` (the model's own forward pass).

    Args:
      module: a flax ``nn.Module``; x: the input batch; names: submodule names (None: all
        direct submodules).
    Returns:
      ``features(variables) -> list of arrays`` (one per submodule, then the output).
    """

    def features(variables):
        out, state = module.apply(
            variables, x, capture_intermediates=True, mutable=["intermediates"]
        )
        inter = state["intermediates"]
        keys = [k for k in inter if k != "__call__"] if names is None else list(names)
        return [inter[k]["__call__"][0] for k in keys] + [out]

    return features
