"""Loss landscape around a parameter point: directions, slices, interpolation, flatness.

- Filter-normalized directions (Li et al. 2018): a random Gaussian direction d whose every
  filter / neuron block is rescaled to the norm of the same block of theta,
      d_{l,j} <- d_{l,j} * |theta_{l,j}| / |d_{l,j}|,
  so slices of nets with different weight scales are comparable. 1-D leaves (biases) get
  d = 0 by default (Li et al.'s "ignore biasbn").
- Slices: L(theta + a d1) and L(theta + a d1 + b d2) on grids; linear interpolation
  L((1 - t) theta_A + t theta_B) between two solutions (Keskar et al. 2017).
- Direction flatness (Feng & Tu 2021): along a unit direction p, F = s_r + s_l where
  L(theta + s_r p) and L(theta - s_l p) first reach ``factor * L(theta)`` (factor e by default).
- Course diagnostics: per-layer gradient norms |dL/dW_l| (vanishing gradients) and Hessian
  eigenvalues on a grid of parameter points (where a small net's loss is non-convex).

``loss_fn(params, data) -> scalar`` (:class:`phasekit.typing.LossFn`) as in
:func:`phasekit.dynamics.train.run` and :mod:`phasekit.theory.hessian` (``data=None``:
``loss_fn(params)``); all functions are pure
and vmap over seeds (keys / params).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from phasekit.theory import hessian
from phasekit.typing import Data, LossFn, Params

__all__ = [
    "direction_flatness",
    "directional_curvature",
    "eigenvalues_on_grid",
    "filter_normalize",
    "gradient_norm_ratio",
    "interpolate",
    "interpolation_barrier",
    "layer_gradient_norms",
    "one_one_one_ce_origin_hessian",
    "one_one_one_mse_hessian_det",
    "random_direction",
    "slice_1d",
    "slice_2d",
]

NORMALIZATIONS = ("filter", "layer", None)


def filter_normalize(
    direction: Params, params: Params, axis: int = -1, ignore_1d: bool = True
) -> Params:
    """Rescale each filter block of ``direction`` to the norm of the same block of ``params``.

    Leaves with ndim >= 2: a block is one index along ``axis`` (the output neuron / filter; -1 for
    ``mlp`` / flax kernels [in, out], 0 for ``two_layer``'s w [m, d]); the norm is over the other
    axes. 1-D leaves: zero when ``ignore_1d`` (biases), else rescaled as a whole (layer norm).
    """

    def one(d, t):
        if d.ndim <= 1:
            if ignore_1d:
                return jnp.zeros_like(d)
            return d * jnp.linalg.norm(t) / jnp.maximum(jnp.linalg.norm(d), jnp.finfo(d.dtype).tiny)
        other = tuple(i for i in range(d.ndim) if i != axis % d.ndim)
        dn = jnp.sqrt(jnp.sum(d**2, axis=other, keepdims=True))
        tn = jnp.sqrt(jnp.sum(t**2, axis=other, keepdims=True))
        return d * tn / jnp.maximum(dn, jnp.finfo(d.dtype).tiny)

    return jax.tree_util.tree_map(one, direction, params)


def random_direction(
    key,
    params: Params,
    normalization: str | None = "filter",
    axis: int = -1,
    ignore_1d: bool = True,
) -> Params:
    """A Gaussian direction like ``params``, filter-normalized by default.

    Args:
      key: PRNG key;  params: the point theta (the direction's structure and block norms).
      normalization: "filter" (Li et al.), "layer" (each leaf to the leaf's norm), None (raw N(0, 1)).
      axis, ignore_1d: as :func:`filter_normalize`.
    Returns:
      A pytree like ``params``.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization: one of {NORMALIZATIONS}, got {normalization!r}")
    theta, unravel = ravel_pytree(params)
    d = unravel(jax.random.normal(key, theta.shape, theta.dtype))
    if normalization == "filter":
        return filter_normalize(d, params, axis, ignore_1d)
    if normalization == "layer":
        return jax.tree_util.tree_map(
            lambda d, t: d * jnp.linalg.norm(t) / jnp.linalg.norm(d), d, params
        )
    return d


def _shift(params, direction, a):
    return jax.tree_util.tree_map(lambda p, d: p + a * d, params, direction)


def slice_1d(
    loss_fn: LossFn, params: Params, direction: Params, alphas: jax.Array, data: Data = None
) -> jax.Array:
    """L(theta + a d) for a in ``alphas`` [A] -> [A]: ``loss_fn(params, data) -> scalar`` (``data``
    None: ``loss_fn(params)``), theta = ``params``, d = ``direction`` (a pytree like params, e.g.
    :func:`random_direction`)."""
    return jax.vmap(lambda a: hessian.evaluate(loss_fn, _shift(params, direction, a), data))(alphas)


def slice_2d(
    loss_fn: LossFn,
    params: Params,
    d1: Params,
    d2: Params,
    alphas: jax.Array,
    betas: jax.Array,
    data: Data = None,
) -> jax.Array:
    """L(theta + a d1 + b d2) on the grid ``alphas`` [A] x ``betas`` [B] -> [A, B]:
    ``loss_fn(params, data) -> scalar`` (``data`` None: ``loss_fn(params)``), theta = ``params``,
    ``d1``, ``d2`` pytrees like params."""

    def at(a, b):
        return hessian.evaluate(loss_fn, _shift(_shift(params, d1, a), d2, b), data)

    return jax.vmap(lambda a: jax.vmap(lambda b: at(a, b))(betas))(alphas)


def interpolate(
    loss_fn: LossFn, params_a: Params, params_b: Params, ts: jax.Array, data: Data = None
) -> jax.Array:
    """L((1 - t) theta_A + t theta_B) for t in ``ts`` [T] -> [T] (t outside [0, 1] extrapolates):
    ``loss_fn(params, data) -> scalar`` (``data`` None: ``loss_fn(params)``), theta_A =
    ``params_a``, theta_B = ``params_b``."""
    diff = jax.tree_util.tree_map(lambda b, a: b - a, params_b, params_a)
    return slice_1d(loss_fn, params_a, diff, ts, data)


def direction_flatness(
    loss_fn: LossFn,
    params: Params,
    direction: Params,
    data: Data = None,
    *,
    factor: float = np.e,
    max_step: float = 1.0,
    num: int = 64,
    bisect: int = 30,
) -> jax.Array:
    """Feng & Tu's flatness F = s_r + s_l along the unit vector p = d / |d|.

    s_r (s_l) is the first s > 0 with L(theta + s p) >= factor * L(theta) (resp. theta - s p):
    located on a grid of ``num`` points in (0, max_step], then refined by ``bisect`` bisections.
    A side that stays below the level within ``max_step`` gives F = inf.

    Args:
      loss_fn, params, data: ``loss_fn(params, data) -> scalar`` at theta.
      direction: d, a pytree like params (normalized here).
      factor, max_step, num, bisect: the level, the search range and its resolution.
    Returns:
      F, a scalar (inf when a side never reaches the level).
    """
    theta, unravel = ravel_pytree(params)
    p = ravel_pytree(direction)[0]
    p = p / jnp.linalg.norm(p)
    loss_at = lambda s: hessian.evaluate(loss_fn, unravel(theta + s * p), data)
    level = factor * loss_at(0.0)
    grid = jnp.linspace(0.0, max_step, num + 1, dtype=theta.dtype)[1:]

    def side(sign):
        above = jax.vmap(lambda s: loss_at(sign * s))(grid) >= level
        i = jnp.argmax(above)
        lo, hi = jnp.where(i > 0, grid[i - 1], 0.0), grid[i]

        def halve(_, bounds):
            lo, hi = bounds
            mid = 0.5 * (lo + hi)
            up = loss_at(sign * mid) >= level
            return jnp.where(up, lo, mid), jnp.where(up, mid, hi)

        lo, hi = jax.lax.fori_loop(0, bisect, halve, (lo, hi))
        return jnp.where(jnp.any(above), 0.5 * (lo + hi), jnp.inf)

    return side(1.0) + side(-1.0)


def directional_curvature(
    loss_fn: LossFn, params: Params, direction: Params, data: Data = None
) -> jax.Array:
    """d^T H(theta) d: the second derivative d^2/dt^2 L(theta + t d) at t = 0, by one
    Hessian-vector product (no dense Hessian). With d = theta_B - theta_A it is the curvature of
    the interpolation plot L((1 - t) theta_A + t theta_B) at the end theta (Keskar et al.'s
    "parametric plot": the sharper solution has the larger value, on the same d); divide by |d|^2
    for the Rayleigh quotient (at most lambda_max).

    Args:
      loss_fn, params, data: ``loss_fn(params, data) -> scalar`` at theta = ``params``.
      direction: d, a pytree like params.
    Returns:
      scalar.
    """
    hd = hessian.hvp(loss_fn, params, direction, data)
    return ravel_pytree(direction)[0] @ ravel_pytree(hd)[0]


def layer_gradient_norms(
    loss_fn: LossFn, params: list[dict], data: Data = None, *, weight: str = "w"
) -> jax.Array:
    """|dL/dW_l|_F for each layer of a list-of-layers model (``mlp``), [L].

    Args:
      loss_fn, params, data: the loss at ``params`` = ``[{"w": ..., "b": ...}, ...]``.
      weight: the key of each layer's weight matrix.
    Returns:
      [L].
    """
    grads = jax.grad(lambda p: hessian.evaluate(loss_fn, p, data))(params)
    return jnp.stack([jnp.linalg.norm(g[weight]) for g in grads])


def eigenvalues_on_grid(loss_fn: LossFn, points: jax.Array, data: Data = None) -> jax.Array:
    """Eigenvalues (ascending) of the dense Hessian at each parameter vector: points [..., M] -> [..., M].

    ``loss_fn(theta, data) -> scalar`` of a raveled parameter vector theta [M] (``data`` None:
    ``loss_fn(theta)``).
    """

    def at(theta):
        return jnp.linalg.eigvalsh(hessian.hessian(loss_fn, theta, data))

    flat = points.reshape(-1, points.shape[-1])
    return jax.vmap(at)(flat).reshape(points.shape)


def gradient_norm_ratio(norms, first: int = 0, last: int = -1):
    """|dL/dW_first| / |dL/dW_last| along the layer axis (the last axis) of per-layer gradient
    norms ``norms [..., L]`` (:func:`layer_gradient_norms`): << 1 when gradients vanish towards
    the input (sigmoid + Xavier: ~1e-6 at depth 10), O(0.1-1) when they propagate (ReLU + He).

    Args:
      norms: [..., L];  first, last: the layer indices of the ratio.
    Returns:
      [...].
    """
    norms = jnp.asarray(norms)
    return norms[..., first] / norms[..., last]


def one_one_one_ce_origin_hessian(label):
    """Closed-form Hessian at w = (0, 0) of the 1-1-1 net's cross-entropy (x = 1, sigmoid hidden
    and output, :func:`phasekit.models.toys.one_one_one_cross_entropy`):
    with z = w2 sigma(w1), H = sigma'(z) grad z grad z^T + (sigma(z) - y) hess z, and at the origin
    grad z = (0, 1/2), hess z = [[0, 1/4], [1/4, 0]], sigma(0) = 1/2, sigma'(0) = 1/4:

        H(0, 0) = [[0, (1/2 - y)/4], [(1/2 - y)/4, 1/16]]    (y = 1: [[0, -1/8], [-1/8, 1/16]])

    det = -(1/2 - y)^2 / 16 < 0 for y != 1/2: indefinite at the origin.

    Args:
      label: y in {0, 1} (or a soft label in [0, 1]), a scalar or an array [...].
    Returns:
      H(0, 0) [2, 2] (``[2, 2, ...]`` for labels [...]).
    """
    off = (0.5 - jnp.asarray(label)) / 4
    return jnp.stack(
        [jnp.stack([jnp.zeros_like(off), off]), jnp.stack([off, jnp.full_like(off, 1 / 16)])]
    )


def one_one_one_mse_hessian_det(w1, w2, label):
    """Closed-form det of the Hessian of the 1-1-1 net's MSE (x = 1, sigmoid hidden, linear
    output, :func:`phasekit.models.toys.one_one_one_mse`). With s = sigma(w1), s' = s(1 - s),
    s'' = s'(1 - 2s), residual r = w2 s - y:

        H = [[w2^2 s'^2 + r w2 s'', s'(w2 s + r)], [s'(w2 s + r), s^2]]

    For y = 0 this is det = w2^2 s^3 s' (s - 2) < 0 wherever w2 != 0 (the spec's statement);
    for y != 0 the -s'^2 (w2 s + r)^2 term no longer dominates and det > 0 in part of the plane.

    Args:
      w1, w2: the two weights (arrays of one shape, e.g. a grid);  label: y.
    Returns:
      det H, the shape of ``w1``.
    """
    s = 1 / (1 + jnp.exp(-jnp.asarray(w1)))
    ds = s * (1 - s)
    d2s = ds * (1 - 2 * s)
    r = w2 * s - label
    h11 = w2**2 * ds**2 + r * w2 * d2s
    h12 = ds * (w2 * s + r)
    return h11 * s**2 - h12**2


def interpolation_barrier(ts, curve):
    """Height of the loss barrier on the segment between two solutions, as a ratio:
    max_{0 <= t <= 1} L(t) / max(L(0), L(1)) for ``curve [..., T]`` = :func:`interpolate` on
    ``ts [T]`` (which must contain 0 and 1). 1: no barrier (the loss is highest at an endpoint);
    > 1: the segment climbs above both solutions (different basins)."""
    ts, curve = np.asarray(ts), np.asarray(curve)
    i0, i1 = np.flatnonzero(np.isclose(ts, 0.0)), np.flatnonzero(np.isclose(ts, 1.0))
    if not (i0.size and i1.size):
        raise ValueError("ts: must contain 0 and 1")
    inside = (ts >= ts[i0[0]]) & (ts <= ts[i1[0]])
    return curve[..., inside].max(-1) / np.maximum(curve[..., i0[0]], curve[..., i1[0]])
