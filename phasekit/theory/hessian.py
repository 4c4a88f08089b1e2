r"""Hessian of the training loss at a parameter point: dense, products, spectra, counts.

.. math::

    \theta = \operatorname{ravel\_pytree}(\mathrm{params}) \in \mathbb{R}^M, \qquad
    H = \frac{\partial^2 L}{\partial \theta^2} \in \mathbb{R}^{M \times M}

- :func:`hessian`: dense H (small models; ``dtype="float64"`` computes it in float64).
- :func:`hvp`: H v by forward-over-reverse (``jvp`` of ``grad``); H is never materialized.
- :func:`top_eigenvalues` / :func:`bottom_eigenvalues` / :func:`top_eigenpairs`: Lanczos with
  full reorthogonalization inside ``lax`` loops (k >= 1); :func:`power_iteration` for reference.
- :func:`trace`: Hutchinson, tr H = E[z^T H z] for Rademacher z, with its standard error.
- :func:`spectral_density`: stochastic Lanczos quadrature (Ghorbani et al. 2019), probes vmapped;
  :func:`broaden` turns its nodes and weights into a Gaussian-smoothed density on a grid.
- :func:`eigen_counts`: numbers of negative / zero / positive eigenvalues, |lambda| <= tol is zero.
- :func:`gauss_newton`, :func:`gauss_newton_vp`: the generalized Gauss-Newton matrix
  (1/n) sum_i J_i^T H_i J_i of the MSE (H_i = I) or of the softmax cross-entropy
  (H_i = diag p_i - p_i p_i^T); :func:`mse_hessian_parts`: for the MSE the Hessian splits as

  .. math::

      L = \frac{1}{2n} \sum_i \|f(x_i) - y_i\|^2, \qquad H = G + R,

      G = \frac{1}{n} \sum_i J_i^\top J_i, \qquad
      R = \frac{1}{n} \sum_i \sum_k \bigl(f_k(x_i) - y_{ik}\bigr)\, \nabla_\theta^2 f_k(x_i)

  (G: the Gauss-Newton / NTK part, PSD; R: the residual part, 0 at interpolation).

``loss_fn(params, data) -> scalar`` (:class:`phasekit.typing.LossFn`, the convention of
:func:`phasekit.dynamics.train.run`: ``train.mse(apply)`` / ``train.cross_entropy(apply)`` plug in
as they are); ``data=None`` means ``loss_fn(params)``, a loss of the parameters alone. Every function is a pure function of arrays, compiled once per ``loss_fn`` (it is a
static argument: pass the same function object to hit the cache), and ``jax.vmap``-able over a
seed axis (keys, params or data). With ``batch_size`` the leaves of ``data`` must share a leading
sample axis n and ``loss_fn`` must be a mean over samples: H v is then accumulated over
minibatches (memory O(batch_size), same result). Several results come back as NamedTuples
(:class:`Eigenpairs`, :class:`TraceEstimate`, :class:`SpectralDensity`, :class:`EigenCounts`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from phasekit.losses import squared_error
from phasekit.typing import Data, LossFn, Params

__all__ = [
    "EigenCounts",
    "Eigenpairs",
    "LanczosTop",
    "SpectralDensity",
    "TraceEstimate",
    "block_labels",
    "block_matvec",
    "block_names",
    "block_shares",
    "block_spectral_density",
    "block_top_eigenvalues",
    "bottom_eigenvalues",
    "broaden",
    "cast",
    "curvature_gradient",
    "eigen_counts",
    "evaluate",
    "gauss_newton",
    "gauss_newton_vp",
    "hessian",
    "hessian_matvec",
    "hvp",
    "in_precision",
    "lanczos",
    "lanczos_top",
    "mse_hessian_parts",
    "output_hessian",
    "power_iteration",
    "spectral_density",
    "top_eigenpairs",
    "top_eigenvalues",
    "top_eigenvector_shares",
    "trace",
    "tridiagonal",
    "warm_start",
]

MatVec = Callable[[jax.Array], jax.Array]

# Whole computations are compiled once (op-by-op eager dispatch is ~10x slower on small models);
# the loss/apply function is static, so repeated calls with the same function hit the cache.
_jit = functools.partial(jax.jit, static_argnums=0)


class Eigenpairs(NamedTuple):
    """Eigenvalues ``values [k]`` and Ritz vectors ``vectors`` (a pytree like params with a
    leading axis k)."""

    values: jax.Array
    vectors: Params


class TraceEstimate(NamedTuple):
    """Hutchinson's ``estimate`` of tr H and its ``standard_error`` (scalars)."""

    estimate: jax.Array
    standard_error: jax.Array


class SpectralDensity(NamedTuple):
    """Stochastic Lanczos quadrature: Ritz ``nodes [P, m]`` and Gauss ``weights [P, m]`` (each
    row sums to 1) for P probes of m steps; :func:`broaden` turns them into a density."""

    nodes: jax.Array
    weights: jax.Array


class EigenCounts(NamedTuple):
    """Numbers of eigenvalues with lambda < -tol (``negative``), |lambda| <= tol (``zero``) and
    lambda > tol (``positive``)."""

    negative: jax.Array
    zero: jax.Array
    positive: jax.Array


def evaluate(loss_fn: Callable[..., jax.Array], params: Params, data: Data = None):
    """``loss_fn(params, data)``; with ``data=None``, ``loss_fn(params)`` (a loss of the parameters
    alone, e.g. a quadratic or the Rosenbrock function)."""
    return loss_fn(params) if data is None else loss_fn(params, data)


def cast(tree, dtype):
    """Every floating leaf of ``tree`` as ``dtype`` (integer leaves, e.g. labels, unchanged)."""

    def one(a):
        a = jnp.asarray(a)
        return a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a

    return jax.tree_util.tree_map(one, tree)


def in_precision(fn: Callable, dtype, *trees):
    """``fn(*trees)`` with the trees' floating leaves cast to ``dtype`` (None: as they are);
    float64 switches ``jax.enable_x64`` on for the call, so the caller need not."""
    if dtype is None:
        return fn(*trees)
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"dtype: must be a floating dtype (e.g. 'float64'), got {dtype}")
    with jax.enable_x64(dtype == jnp.float64 or jax.config.read("jax_enable_x64")):
        return fn(*(cast(t, dtype) for t in trees))


def hessian(loss_fn: LossFn, params: Params, data: Data = None, *, dtype=None) -> jax.Array:
    """Dense Hessian [M, M] of ``loss_fn(params, data)`` w.r.t. the raveled params.

    ``dtype``: compute in this precision, casting params and data (e.g. ``"float64"`` from
    float32 parameters; x64 is switched on for the call); the result's dtype is the precision
    used. None: the inputs' own precision.
    """
    return in_precision(lambda p, d: _hessian(loss_fn, p, d), dtype, params, data)


@_jit
def _hessian(loss_fn, params, data):
    theta, unravel = ravel_pytree(params)
    return jax.hessian(lambda t: evaluate(loss_fn, unravel(t), data))(theta)


@_jit
def hvp(loss_fn: LossFn, params: Params, v: Params, data: Data = None) -> Params:
    """Hessian-vector product H v (a pytree like params), forward-over-reverse: d/de grad L(p + e v).

    ``loss_fn(params, data) -> scalar`` (``data`` None: ``loss_fn(params)``); ``v`` a tangent
    pytree like ``params``.
    """
    return jax.jvp(lambda p: jax.grad(lambda q: evaluate(loss_fn, q, data))(p), (params,), (v,))[1]


def _sample_count(data) -> int:
    sizes = {np.shape(a)[0] if np.ndim(a) else None for a in jax.tree_util.tree_leaves(data)}
    if not sizes or None in sizes or len(sizes) != 1:
        raise ValueError(
            f"batch_size: needs data whose leaves share a leading sample axis, got sizes {sizes}"
        )
    (size,) = sizes
    assert size is not None  # None in sizes raised above
    return size


def hessian_matvec(
    loss_fn: LossFn, params: Params, data: Data = None, *, batch_size: int | None = None
) -> MatVec:
    """The linear map v [M] -> H v [M] on raveled parameters.

    Without ``batch_size`` the gradient is linearized once (``jax.linearize``), so each product
    costs one forward-mode pass through the backward graph. With ``batch_size`` (``loss_fn`` a
    mean over samples): H v = sum_b (n_b / n) H_b v over minibatches b, each by ``jvp`` of ``grad``.
    """
    theta, unravel = ravel_pytree(params)

    def flat_grad(t, d):
        return jax.grad(lambda t: evaluate(loss_fn, unravel(t), d))(t)

    if batch_size is None:
        return jax.linearize(lambda t: flat_grad(t, data), theta)[1]
    n = _sample_count(data)
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or not 0 < batch_size <= n
    ):
        raise ValueError(f"batch_size: must be an integer in [1, {n}], got {batch_size!r}")
    n_full, rest = divmod(n, batch_size)
    full = jax.tree_util.tree_map(
        lambda a: a[: n_full * batch_size].reshape(n_full, batch_size, *a.shape[1:]), data
    )
    tail = jax.tree_util.tree_map(lambda a: a[n_full * batch_size :], data)

    def one(v, batch):
        return jax.jvp(lambda t: flat_grad(t, batch), (theta,), (v,))[1]

    def matvec(v):
        out = batch_size * jax.lax.map(lambda b: one(v, b), full).sum(0)
        if rest:
            out = out + rest * one(v, tail)
        return out / n

    return matvec


def lanczos(matvec: MatVec, v0: jax.Array, num_steps: int, key=None):
    """Lanczos tridiagonalization V^T A V = T with full reorthogonalization (``lax.fori_loop``).

        A v_j = beta_{j-1} v_{j-1} + alpha_j v_j + beta_j v_{j+1}

    Each new vector is orthogonalized twice against all previous ones (classical Gram-Schmidt,
    "twice is enough"). On breakdown (beta_j ~ 0: an invariant subspace was found) the next vector
    is a random one orthogonal to the previous ones and beta_j = 0, so T stays exact block by block.

    Args:
      matvec: symmetric linear map [M] -> [M].
      v0: [M] start vector (normalized here).
      num_steps: m <= M (static).
      key: PRNG key for the breakdown restarts.
    Returns:
      alpha [m], beta [m - 1] (diagonal and off-diagonal of T), V [m, M] (orthonormal rows).
    """
    M = v0.shape[0]
    if not 1 <= num_steps <= M:
        raise ValueError(f"num_steps: must be in [1, M={M}], got {num_steps}")
    key = jax.random.key(0) if key is None else key
    dtype = v0.dtype
    eps = jnp.finfo(dtype).eps
    V = jnp.zeros((num_steps + 1, M), dtype).at[0].set(v0 / jnp.linalg.norm(v0))

    def orthogonalize(V, w):
        w = w - V.T @ (V @ w)
        return w - V.T @ (V @ w)

    def body(j, carry):
        V, alpha, beta = carry
        v = V[j]
        av = matvec(v)
        a = jnp.vdot(v, av)
        w = orthogonalize(V, av - a * v - jnp.where(j > 0, beta[j - 1], 0.0) * V[j - 1])
        b = jnp.linalg.norm(w)
        ok = b > 100 * eps * jnp.linalg.norm(av)

        def restart():
            r = orthogonalize(V, jax.random.normal(jax.random.fold_in(key, j), (M,), dtype))
            return r / jnp.maximum(jnp.linalg.norm(r), jnp.finfo(dtype).tiny)

        v_next = jax.lax.cond(ok, lambda: w / b, restart)
        return V.at[j + 1].set(v_next), alpha.at[j].set(a), beta.at[j].set(jnp.where(ok, b, 0.0))

    zeros = jnp.zeros((num_steps,), dtype)
    V, alpha, beta = jax.lax.fori_loop(0, num_steps, body, (V, zeros, zeros))
    return alpha, beta[:-1], V[:-1]


def tridiagonal(alpha: jax.Array, beta: jax.Array) -> jax.Array:
    """Dense symmetric tridiagonal T [m, m] from its diagonal alpha [m] and off-diagonal beta [m-1]."""
    return jnp.diag(alpha) + jnp.diag(beta, 1) + jnp.diag(beta, -1)


def _steps(M: int, k: int, num_steps: int | None) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k: must be an integer >= 1, got {k!r}")
    m = min(M, max(40, 4 * k) if num_steps is None else num_steps)
    if m < k:
        raise ValueError(f"num_steps: need at least k={k} Lanczos steps (and k <= M={M}), got {m}")
    return m


def _ritz(loss_fn, params, data, k, num_steps, key, batch_size, top: bool):
    theta, unravel = ravel_pytree(params)
    m = _steps(theta.size, k, num_steps)
    key = jax.random.key(0) if key is None else key
    k0, k1 = jax.random.split(key)
    matvec = hessian_matvec(loss_fn, params, data, batch_size=batch_size)
    alpha, beta, V = lanczos(matvec, jax.random.normal(k0, theta.shape, theta.dtype), m, k1)
    evals, S = jnp.linalg.eigh(tridiagonal(alpha, beta))
    idx = jnp.arange(m - 1, m - 1 - k, -1) if top else jnp.arange(k)
    return Eigenpairs(evals[idx], jax.vmap(unravel)(S[:, idx].T @ V))


@functools.partial(_jit, static_argnames=("k", "num_steps", "batch_size"))
def top_eigenpairs(
    loss_fn: LossFn,
    params: Params,
    data: Data = None,
    *,
    k: int = 1,
    num_steps: int | None = None,
    key=None,
    batch_size: int | None = None,
) -> Eigenpairs:
    """Largest k eigenvalues of H (descending, [k]) and their Ritz vectors (pytree, leading axis k).

    Lanczos with ``num_steps`` = min(M, max(40, 4k)) by default (exact when it reaches M).
    Arguments (``loss_fn``, ``params``, ``data``, ``k``, ``num_steps``, ``key``, ``batch_size``)
    as :func:`top_eigenvalues`.

    Returns:
      :class:`Eigenpairs`: ``values [k]`` descending, ``vectors`` a pytree like params with a
      leading axis k (unit norm when raveled).
    """
    return _ritz(loss_fn, params, data, k, num_steps, key, batch_size, top=True)


def top_eigenvalues(
    loss_fn: LossFn,
    params: Params,
    data: Data = None,
    *,
    k: int = 1,
    num_steps: int | None = None,
    key=None,
    batch_size: int | None = None,
) -> jax.Array:
    """Largest k eigenvalues of H, descending, [k]; lambda_max = sharpness is ``[0]``.

    Args:
      loss_fn: ``loss_fn(params, data) -> scalar`` (:mod:`phasekit.typing`); with ``data``
        None, ``loss_fn(params)``.
      params: the parameter pytree (M entries in all) at which H is taken.
      data: the loss's data pytree, e.g. ``(x [n, d], y [n, k])``, or None.
      k: how many eigenvalues (static).
      num_steps: Lanczos steps m (static), default min(M, max(40, 4k)); exact when m = M.
      key: PRNG key of the start vector (default ``jax.random.key(0)``).
      batch_size: form H v over minibatches of this many samples (see :func:`hessian_matvec`).
    Returns:
      The Ritz values [k], descending (the values of :func:`top_eigenpairs`).
    """
    return top_eigenpairs(
        loss_fn, params, data, k=k, num_steps=num_steps, key=key, batch_size=batch_size
    ).values


@functools.partial(_jit, static_argnames=("k", "num_steps", "batch_size"))
def bottom_eigenvalues(
    loss_fn: LossFn,
    params: Params,
    data: Data = None,
    *,
    k: int = 1,
    num_steps: int | None = None,
    key=None,
    batch_size: int | None = None,
) -> jax.Array:
    """Smallest (most negative) k eigenvalues of H, ascending, [k] (arguments ``loss_fn``,
    ``params``, ``data``, ``k``, ``num_steps``, ``key``, ``batch_size`` as :func:`top_eigenvalues`).
    """
    return _ritz(loss_fn, params, data, k, num_steps, key, batch_size, top=False).values


@functools.partial(_jit, static_argnames=("batch_size", "num_iters"))
def power_iteration(
    loss_fn: LossFn,
    params: Params,
    data: Data = None,
    *,
    num_iters: int = 100,
    key=None,
    batch_size: int | None = None,
) -> jax.Array:
    """Rayleigh quotients v_t^T H v_t of power iteration v_{t+1} = H v_t / |H v_t|, [num_iters].

    Converges to the eigenvalue of largest |lambda| at rate |lambda_2 / lambda_1|; one HVP per step.
    Kept as the reference method (PyHessian's); Lanczos needs far fewer products.

    Args:
      loss_fn: ``loss_fn(params, data) -> scalar`` (:mod:`phasekit.typing`); with ``data``
        None, ``loss_fn(params)``.
      params: the parameter pytree (M entries in all) at which H is taken.
      data: the loss's data pytree, e.g. ``(x [n, d], y [n, k])``, or None.
      num_iters: steps;  key: PRNG key of the start vector;  batch_size: as :func:`hessian_matvec`.
    Returns:
      [num_iters] Rayleigh quotients (the last is the estimate).
    """
    theta, _ = ravel_pytree(params)
    matvec = hessian_matvec(loss_fn, params, data, batch_size=batch_size)
    key = jax.random.key(0) if key is None else key
    v = jax.random.normal(key, theta.shape, theta.dtype)

    def step(v, _):
        v = v / jnp.linalg.norm(v)
        hv = matvec(v)
        return hv, jnp.vdot(v, hv)

    return jax.lax.scan(step, v, None, length=num_iters)[1]


def _probes(key, num_probes: int, M: int, dtype) -> jax.Array:
    if (
        isinstance(num_probes, bool)
        or not isinstance(num_probes, (int, np.integer))
        or num_probes < 2
    ):
        raise ValueError(f"num_probes: must be an integer >= 2, got {num_probes!r}")
    key = jax.random.key(0) if key is None else key
    return jax.random.rademacher(key, (num_probes, M), dtype)


def _map(f, xs, probe_batch):
    return jax.vmap(f)(xs) if probe_batch is None else jax.lax.map(f, xs, batch_size=probe_batch)


@functools.partial(_jit, static_argnames=("batch_size", "num_probes", "probe_batch"))
def trace(
    loss_fn: LossFn,
    params: Params,
    data: Data = None,
    *,
    num_probes: int = 100,
    key=None,
    batch_size: int | None = None,
    probe_batch: int | None = None,
) -> TraceEstimate:
    """Hutchinson estimate of tr H with its standard error.

        tr H ~ (1/P) sum_p z_p^T H z_p,  z_p Rademacher;  se = std_p(z_p^T H z_p) / sqrt(P)

    Probes are vmapped (``probe_batch``: at most that many at once, via ``lax.map``).

    Args:
      loss_fn: ``loss_fn(params, data) -> scalar`` (:mod:`phasekit.typing`); with ``data``
        None, ``loss_fn(params)``.
      params: the parameter pytree (M entries in all) at which H is taken.
      data: the loss's data pytree, e.g. ``(x [n, d], y [n, k])``, or None.
      num_probes: P;  key: PRNG key of the probes (default ``jax.random.key(0)``).
      batch_size: form H v over minibatches of this many samples (:func:`hessian_matvec`).
      probe_batch: at most this many probes at once.
    Returns:
      :class:`TraceEstimate` (estimate, standard_error), scalars.
    """
    theta, _ = ravel_pytree(params)
    z = _probes(key, num_probes, theta.size, theta.dtype)
    matvec = hessian_matvec(loss_fn, params, data, batch_size=batch_size)
    samples = _map(lambda z: jnp.vdot(z, matvec(z)), z, probe_batch)
    return TraceEstimate(samples.mean(), samples.std(ddof=1) / jnp.sqrt(num_probes))


@functools.partial(_jit, static_argnames=("num_steps", "batch_size", "num_probes", "probe_batch"))
def spectral_density(
    loss_fn: LossFn,
    params: Params,
    data: Data = None,
    *,
    num_probes: int = 10,
    num_steps: int | None = None,
    key=None,
    batch_size: int | None = None,
    probe_batch: int | None = None,
) -> SpectralDensity:
    """Stochastic Lanczos quadrature of the eigenvalue density rho(t) = (1/M) sum_i delta(t - lambda_i).

    For a unit probe v, v^T g(H) v = sum_j w_j g(lambda_j) with Ritz nodes lambda_j of the m-step
    Lanczos matrix T and weights w_j = (e_1^T s_j)^2 (Gauss quadrature); averaging over
    Rademacher probes v = z / sqrt(M) gives rho. Hence sum_j w_j = 1 and the density's mean
    (1/P) sum_p sum_j w_pj lambda_pj equals the Hutchinson trace estimate / M with the same probes.

    Args:
      loss_fn: ``loss_fn(params, data) -> scalar`` (:mod:`phasekit.typing`); with ``data``
        None, ``loss_fn(params)``.
      params: the parameter pytree (M entries in all) at which H is taken.
      data: the loss's data pytree, e.g. ``(x [n, d], y [n, k])``, or None.
      num_probes: P Rademacher probes;  key: their PRNG key (default ``jax.random.key(0)``).
      num_steps: Lanczos steps per probe, default min(M, 80).
      batch_size, probe_batch: as :func:`trace`.
    Returns:
      :class:`SpectralDensity`: nodes [P, m], weights [P, m] (each row sums to 1); see :func:`broaden`.
    """
    theta, _ = ravel_pytree(params)
    M = theta.size
    m = min(M, 80 if num_steps is None else num_steps)
    key = jax.random.key(0) if key is None else key
    z = _probes(key, num_probes, M, theta.dtype)  # the same probes as trace(..., key=key)
    matvec = hessian_matvec(loss_fn, params, data, batch_size=batch_size)

    def one(zk):
        z, k = zk
        alpha, beta, _ = lanczos(matvec, z, m, k)
        nodes, S = jnp.linalg.eigh(tridiagonal(alpha, beta))
        return nodes, S[0] ** 2

    return SpectralDensity(
        *_map(one, (z, jax.random.split(jax.random.fold_in(key, 1), num_probes)), probe_batch)
    )


def broaden(nodes: jax.Array, weights: jax.Array, grid: jax.Array, sigma: float) -> jax.Array:
    """Gaussian-smoothed SLQ density on ``grid`` [G]: (1/P) sum_pj w_pj N(t; lambda_pj, sigma^2).

    Integrates to 1 and keeps the mean of the quadrature (when the grid covers the nodes).

    Args:
      nodes, weights: [P, m] from :func:`spectral_density` (lambda_pj, w_pj).
      grid: [G] the points t;  sigma: the Gaussian's width.
    Returns:
      [G].
    """
    d = (grid[:, None] - nodes.reshape(-1)[None, :]) / sigma
    kernel = jnp.exp(-0.5 * d**2) / (sigma * jnp.sqrt(2 * jnp.pi))
    return kernel @ weights.reshape(-1) / nodes.shape[0]


def eigen_counts(eigenvalues: jax.Array, tol) -> EigenCounts:
    """(negative, zero, positive) counts: lambda < -tol, |lambda| <= tol, lambda > tol.

    Args:
      eigenvalues: [..., M] (counted over the last axis).
      tol: the zero band's half-width.
    Returns:
      :class:`EigenCounts` of integer arrays [...].
    """
    if not isinstance(tol, jax.core.Tracer) and not np.all(np.asarray(tol) >= 0):
        raise ValueError(f"tol: must be >= 0, got {tol!r}")
    ev = jnp.asarray(eigenvalues)
    return EigenCounts(jnp.sum(ev < -tol), jnp.sum(jnp.abs(ev) <= tol), jnp.sum(ev > tol))


# ----------------------------------------------------------------------------- Gauss-Newton

OUTPUT_LOSSES = ("mse", "cross_entropy")


def output_hessian(f: jax.Array, loss: str = "mse") -> jax.Array:
    """Hessian of the per-sample loss w.r.t. the model output f [n, k] -> [n, k, k].

    mse (l = |f - y|^2 / 2): the identity. cross_entropy (l = -log softmax(f)_y): diag(p) - p p^T,
    p = softmax(f), independent of the label y and positive semi-definite.
    """
    if loss not in OUTPUT_LOSSES:
        raise ValueError(f"loss: one of {OUTPUT_LOSSES}, got {loss!r}")
    n, k = f.shape
    if loss == "mse":
        return jnp.broadcast_to(jnp.eye(k, dtype=f.dtype), (n, k, k))
    p = jax.nn.softmax(f, axis=-1)
    return jax.vmap(jnp.diag)(p) - p[:, :, None] * p[:, None, :]


def _static_kwargs(apply_kwargs) -> tuple:
    """``apply`` keyword arguments as a hashable, order-independent static argument of ``jit``
    (a ``functools.partial`` made anew per call would be a new static argument, so a recompile)."""
    try:
        items = tuple(sorted(apply_kwargs.items()))
        hash(items)
    except TypeError as e:
        raise ValueError(
            f"apply_kwargs: must be hashable static values (strings, numbers), got {apply_kwargs}"
        ) from e
    return items


def _outputs_2d(apply_fn, kw, params, x):
    f = apply_fn(params, x, **dict(kw))
    return f.reshape(f.shape[0], -1)


def gauss_newton(
    apply_fn: Callable, params: Params, x: jax.Array, *, loss: str = "mse", **apply_kwargs
) -> jax.Array:
    """Dense generalized Gauss-Newton matrix [M, M] of a mean-over-samples output loss:

        G = (1/n) sum_i J_i^T H_i J_i,    J_i = d f(x_i) / d theta [k, M],

    H_i = I for the MSE 1/(2n) sum_i |f(x_i) - y_i|^2 (G = J^T J / n, whose nonzero eigenvalues
    are those of the empirical NTK Gram matrix J J^T / n) and H_i = diag(p_i) - p_i p_i^T for the
    softmax cross-entropy (:func:`output_hessian`). It equals the Hessian of the loss when f is
    linear in theta, and is its PSD part in general.

    Args:
      apply_fn: ``apply_fn(params, x, **apply_kwargs) -> [n]`` or ``[n, k]``.
      params: the parameter pytree (M entries);  x: [n, d] inputs.
      loss: "mse" or "cross_entropy".
    Returns:
      G [M, M] on the raveled parameters.
    """
    return _gauss_newton(apply_fn, _static_kwargs(apply_kwargs), loss, params, x)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _gauss_newton(apply_fn, kw, loss, params, x):
    theta, unravel = ravel_pytree(params)
    f = _outputs_2d(apply_fn, kw, params, x)
    J = jax.jacrev(lambda t: _outputs_2d(apply_fn, kw, unravel(t), x))(theta)  # [n, k, M]
    HJ = jnp.einsum("nab,nbm->nam", output_hessian(f, loss), J)
    return jnp.einsum("nam,nap->mp", J, HJ) / x.shape[0]


def gauss_newton_vp(
    apply_fn: Callable,
    params: Params,
    v: Params,
    x: jax.Array,
    *,
    loss: str = "mse",
    **apply_kwargs,
) -> Params:
    """G v = (1/n) J^T H (J v) without forming J (one jvp, one vjp); v and the result are pytrees.

    Args:
      apply_fn: ``apply_fn(params, x, **apply_kwargs) -> [n]`` or ``[n, k]``.
      params: the parameter pytree;  v: a tangent pytree like params.
      x: [n, d] inputs.
      loss: "mse" or "cross_entropy" (the output Hessian H of :func:`output_hessian`).
    Returns:
      G v, a pytree like params.
    """
    return _gauss_newton_vp(apply_fn, _static_kwargs(apply_kwargs), loss, params, v, x)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _gauss_newton_vp(apply_fn, kw, loss, params, v, x):
    f = lambda p: _outputs_2d(apply_fn, kw, p, x)
    out, jv = jax.jvp(f, (params,), (v,))
    hjv = jnp.einsum("nab,nb->na", output_hessian(out, loss), jv)
    return jax.tree_util.tree_map(lambda g: g / x.shape[0], jax.vjp(f, params)[1](hjv)[0])


@functools.lru_cache(maxsize=64)
def _mse_cached(apply_fn, kw):
    def loss(p, data):
        x, y = data
        return squared_error(apply_fn(p, x, **dict(kw)), y)

    return loss


def mse_hessian_parts(
    apply_fn: Callable, params: Params, x: jax.Array, y: jax.Array, **apply_kwargs
):
    """(G, R) with H = G + R for L = 1/(2n) sum_i |f(x_i) - y_i|^2: Gauss-Newton and residual parts.

        G = J^T J / n,    R = (1/n) sum_i sum_c (f_c(x_i) - y_ic) d^2 f_c(x_i) / d theta^2

    Args:
      apply_fn: ``apply_fn(params, x, **apply_kwargs) -> [n]`` or ``[n, k]``.
      params: the parameter pytree (M entries).
      x: [n, d] inputs;  y: [n] or [n, k] targets (the shape of the outputs).
    Returns:
      (G [M, M], R [M, M]) dense, on the raveled parameters.
    """
    kw = _static_kwargs(apply_kwargs)
    G = _gauss_newton(apply_fn, kw, "mse", params, x)
    return G, hessian(_mse_cached(apply_fn, kw), params, (x, y)) - G


# ----------------------------------------------------------------------------- per-block curvature

CURVATURES = ("hessian", "gauss_newton")


def block_labels(params: Params, labels=None) -> tuple:
    """The block label of every leaf of ``params`` (flattening order): ``labels`` is a pytree like
    ``params`` whose leaves are hashable labels (e.g. ``[{"w": "layer1", "b": "layer1"}, ...]``, a
    grouping), or None: each leaf its own block, named by its path (``"[0]['w']"``)."""
    if labels is None:
        return tuple(
            jax.tree_util.keystr(path)
            for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]
        )
    treedef = jax.tree_util.tree_structure(params)
    try:
        # jaxlib's PyTreeDef has flatten_up_to, but mypy sees the class as unresolved (PyTreeDef?)
        labs = treedef.flatten_up_to(labels)  # type: ignore[attr-defined]
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"labels: must be a pytree like params with one label per leaf ({e})"
        ) from e
    try:
        [hash(lab) for lab in labs]
    except TypeError as e:
        raise ValueError(f"labels: every label must be hashable (a string), got {labs}") from e
    return tuple(labs)


def block_names(params: Params, labels=None) -> tuple:
    """The distinct block labels in order of first appearance: the block axis [B] of the block
    functions below."""
    return tuple(dict.fromkeys(block_labels(params, labels)))


def _curvature_product(curvature, loss_fn, params, data, apply_fn, output_loss, kw) -> Callable:
    """The symmetric map v (pytree) -> A v (pytree) for A = H (Hessian) or G (Gauss-Newton)."""
    if curvature == "hessian":
        return jax.linearize(jax.grad(lambda p: evaluate(loss_fn, p, data)), params)[1]
    if apply_fn is None:
        raise ValueError(
            "apply_fn: the Gauss-Newton curvature needs the model's apply_fn (data = (x, y))"
        )
    x = data[0]
    return lambda v: _gauss_newton_vp(apply_fn, kw, output_loss, params, v, x)


def block_matvec(product: Callable, params: Params, leaf_labels: tuple, name):
    """The diagonal block A_BB of a symmetric operator as a map on the block's raveled coordinates:
    v_B [M_B] -> (A [v_B; 0])_B, one product of A with the tangent zero outside the block (A_BB is
    never formed).

    Args:
      product: the operator on pytrees, ``v -> A v`` (e.g. an HVP at ``params``).
      params: the parameter pytree (its leaves define the coordinates).
      leaf_labels: the block label of every leaf (:func:`block_labels`).
      name: the block's label.
    Returns:
      (matvec [M_B] -> [M_B], M_B).
    """
    leaves, treedef = jax.tree_util.tree_flatten(params)
    sel = [i for i, lab in enumerate(leaf_labels) if lab == name]
    if not sel:
        raise ValueError(f"labels: no leaf carries the label {name!r}")
    _, unravel = ravel_pytree([leaves[i] for i in sel])
    size = sum(int(np.size(leaves[i])) for i in sel)

    def matvec(vb):
        full = [jnp.zeros_like(a) for a in leaves]
        for i, part in zip(sel, unravel(vb)):
            full[i] = part
        out = jax.tree_util.tree_leaves(product(jax.tree_util.tree_unflatten(treedef, full)))
        return ravel_pytree([out[i] for i in sel])[0]

    return matvec, size


def _check_curvature(curvature, output_loss):
    if curvature not in CURVATURES:
        raise ValueError(f"curvature: one of {CURVATURES}, got {curvature!r}")
    if output_loss not in OUTPUT_LOSSES:
        raise ValueError(f"output_loss: one of {OUTPUT_LOSSES}, got {output_loss!r}")


def block_top_eigenvalues(
    loss_fn: LossFn,
    params: Params,
    data: Data = None,
    *,
    labels=None,
    k: int = 1,
    num_steps: int | None = None,
    key=None,
    curvature: str = "hessian",
    apply_fn: Callable | None = None,
    output_loss: str = "mse",
    apply_kwargs: dict | None = None,
) -> jax.Array:
    """Largest k eigenvalues of every diagonal block A_BB, [B, k] (descending; NaN past M_B).

    A = H (``curvature="hessian"``) or the Gauss-Newton matrix G (``"gauss_newton"``, needs
    ``apply_fn`` and ``data = (x, y)``; ``output_loss`` "mse" or "cross_entropy", as in
    :func:`gauss_newton`). Blocks: :func:`block_names` (each leaf, or the grouping ``labels``).
    Lanczos on the block's product (:func:`block_matvec`), ``num_steps`` = min(M_B, max(40, 4k)).
    By Cauchy interlacing lambda_max(A_BB) <= lambda_max(A) for every block.

    Args:
      loss_fn, params, data: as :func:`hessian` (``data = (x, y)`` for Gauss-Newton).
      labels: a pytree like params of block labels, or None (each leaf a block).
      k, num_steps: eigenvalues per block and Lanczos steps (static).
      key: PRNG key of the start vectors (default ``jax.random.key(0)``).
      curvature, apply_fn, output_loss: the operator A, as above.
      apply_kwargs: static keyword arguments of ``apply_fn``.
    Returns:
      [B, k] in the order of :func:`block_names`.
    """
    _check_curvature(curvature, output_loss)
    labs = block_labels(params, labels)
    return _block_top(
        loss_fn,
        labs,
        k,
        num_steps,
        curvature,
        apply_fn,
        output_loss,
        _static_kwargs(apply_kwargs or {}),
        params,
        data,
        key,
    )


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5, 6, 7))
def _block_top(
    loss_fn, labs, k, num_steps, curvature, apply_fn, output_loss, kw, params, data, key
):
    product = _curvature_product(curvature, loss_fn, params, data, apply_fn, output_loss, kw)
    key = jax.random.key(0) if key is None else key
    dtype = ravel_pytree(params)[0].dtype
    rows = []
    for b, name in enumerate(dict.fromkeys(labs)):
        matvec, size = block_matvec(product, params, labs, name)
        kb = min(k, size)
        m = _steps(size, kb, None if num_steps is None else min(num_steps, size))
        k0, k1 = jax.random.split(jax.random.fold_in(key, b))
        top = lanczos_top(matvec, jax.random.normal(k0, (size,), dtype), kb, m, key=k1).values
        rows.append(jnp.concatenate([top, jnp.full((k - kb,), jnp.nan, dtype)]))
    return jnp.stack(rows)


def block_spectral_density(
    loss_fn: LossFn,
    params: Params,
    data: Data = None,
    *,
    labels=None,
    num_probes: int = 10,
    num_steps: int | None = None,
    key=None,
    curvature: str = "hessian",
    apply_fn: Callable | None = None,
    output_loss: str = "mse",
    apply_kwargs: dict | None = None,
) -> SpectralDensity:
    """SLQ density of every diagonal block A_BB (see :func:`spectral_density`): nodes and weights
    [B, P, m], m = min(max_B M_B, ``num_steps`` or 80); a block with M_B < m has its extra nodes at 0
    with weight 0, so each row's weights still sum to 1. Same A and blocks as
    :func:`block_top_eigenvalues`; :func:`broaden` draws block b from ``nodes[b], weights[b]``.

    Args:
      loss_fn, params, data, labels, key, curvature, apply_fn, output_loss, apply_kwargs: as
        :func:`block_top_eigenvalues`.
      num_probes: P Rademacher probes per block.
      num_steps: Lanczos steps per probe (default 80, capped by the largest block).
    Returns:
      :class:`SpectralDensity` with ``nodes``, ``weights`` [B, P, m].
    """
    _check_curvature(curvature, output_loss)
    labs = block_labels(params, labels)
    return _block_density(
        loss_fn,
        labs,
        num_probes,
        num_steps,
        curvature,
        apply_fn,
        output_loss,
        _static_kwargs(apply_kwargs or {}),
        params,
        data,
        key,
    )


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5, 6, 7))
def _block_density(
    loss_fn, labs, num_probes, num_steps, curvature, apply_fn, output_loss, kw, params, data, key
):
    product = _curvature_product(curvature, loss_fn, params, data, apply_fn, output_loss, kw)
    key = jax.random.key(0) if key is None else key
    dtype = ravel_pytree(params)[0].dtype
    blocks = [block_matvec(product, params, labs, name) for name in dict.fromkeys(labs)]
    m_all = min(max(size for _, size in blocks), 80 if num_steps is None else num_steps)
    nodes, weights = [], []
    for b, (matvec, size) in enumerate(blocks):
        m = min(size, m_all)
        kb = jax.random.fold_in(key, b)
        z = _probes(kb, num_probes, size, dtype)

        def one(zk, matvec=matvec, m=m):
            z, k = zk
            alpha, beta, _ = lanczos(matvec, z, m, k)
            t, S = jnp.linalg.eigh(tridiagonal(alpha, beta))
            return t, S[0] ** 2

        t, w = jax.vmap(one)((z, jax.random.split(jax.random.fold_in(kb, 1), num_probes)))
        pad = ((0, 0), (0, m_all - m))
        nodes.append(jnp.pad(t, pad))
        weights.append(jnp.pad(w, pad))
    return SpectralDensity(jnp.stack(nodes), jnp.stack(weights))


def block_shares(vectors: Params, labels=None, *, params: Params | None = None) -> jax.Array:
    """Share of each block in each vector: |v_B|^2 / |v|^2, [k, B] for ``vectors`` a pytree with a
    leading axis k (e.g. :class:`Eigenpairs` ``.vectors``); every row sums to 1. ``labels`` as in
    :func:`block_labels` for a pytree like ``params`` (the vectors' structure when None)."""
    like = params if params is not None else jax.tree_util.tree_map(lambda a: a[0], vectors)
    labs = block_labels(like, labels)
    leaves = jax.tree_util.tree_leaves(vectors)
    sq = [jnp.sum(a.reshape(a.shape[0], -1) ** 2, axis=1) for a in leaves]
    per = jnp.stack(
        [sum(s for s, lab in zip(sq, labs) if lab == name) for name in dict.fromkeys(labs)], axis=1
    )
    return per / per.sum(axis=1, keepdims=True)


def top_eigenvector_shares(
    loss_fn: LossFn,
    params: Params,
    data: Data = None,
    *,
    labels=None,
    k: int = 1,
    num_steps: int | None = None,
    key=None,
) -> jax.Array:
    """Share of the full Hessian's top-k eigenvectors in each block, [k, B] (rows sum to 1): which
    layers carry the sharpest direction (:func:`top_eigenpairs` then :func:`block_shares`).

    Args:
      loss_fn, params, data: as :func:`hessian`.
      labels: block labels as in :func:`block_top_eigenvalues` (None: each leaf a block).
      k, num_steps, key: as :func:`top_eigenvalues`.
    Returns:
      [k, B]: |v_i restricted to block b|^2 for unit eigenvectors v_i, blocks as
      :func:`block_names`.
    """
    pairs = top_eigenpairs(loss_fn, params, data, k=k, num_steps=num_steps, key=key)
    return block_shares(pairs.vectors, labels, params=params)


# ----------------------------------------------------------------------------- warm-started Lanczos


class LanczosTop(NamedTuple):
    """Top-k Ritz pairs of an adaptive Lanczos run: ``values [k]`` (descending), ``vectors [k, M]``
    (unit rows), ``residuals [k]`` = |A v_i - theta_i v_i| and ``num_matvecs`` (products used)."""

    values: jax.Array
    vectors: jax.Array
    residuals: jax.Array
    num_matvecs: jax.Array


def lanczos_top(
    matvec: MatVec,
    v0: jax.Array,
    k: int,
    max_steps: int,
    *,
    tol=None,
    min_steps: int | None = None,
    key=None,
) -> LanczosTop:
    """Top-k eigenpairs by Lanczos (full reorthogonalization), stopped as soon as every Ritz pair
    satisfies |A v_i - theta_i v_i| = |beta_j s_{j,i}| <= tol |theta_i| (``tol`` None: all
    ``max_steps``). Started from ``v0``: a random vector (cold start) or, to track the eigenpairs of
    a slowly changing matrix, the previous eigenvectors' sum plus a little noise (warm start; see
    :func:`warm_start`), which needs far fewer products for the same residual.

    Args:
      matvec: symmetric [M] -> [M];  v0: [M];  k, max_steps: static, k <= max_steps <= M.
      tol: relative residual at which to stop (None: run all ``max_steps``).
      min_steps: at least this many products (default k + 1): the Krylov space of a start vector
        lying in an invariant subspace can look converged after one step.
      key: PRNG key for the breakdown restarts (see :func:`lanczos`).
    Returns:
      :class:`LanczosTop`: ``values [k]`` descending, ``vectors [k, M]``, ``residuals [k]``,
      ``num_matvecs`` (scalar).
    """
    M = v0.shape[0]
    if not 1 <= k <= max_steps <= M:
        raise ValueError(f"max_steps: need k={k} <= max_steps <= M={M}, got {max_steps}")
    m = max_steps
    min_steps = min(m, k + 1 if min_steps is None else max(min_steps, k))
    key = jax.random.key(0) if key is None else key
    dtype = v0.dtype
    eps = jnp.finfo(dtype).eps
    tol = jnp.asarray(-1.0 if tol is None else tol, dtype)
    V = jnp.zeros((m + 1, M), dtype).at[0].set(v0 / jnp.linalg.norm(v0))
    spare = jax.random.normal(key, (M,), dtype)
    idx = jnp.arange(m)

    def ortho(V, w):
        w = w - V.T @ (V @ w)
        return w - V.T @ (V @ w)

    def ritz(alpha, beta, j):
        """Top-k Ritz values / vectors (in the Lanczos basis) of T_j, the leading j x j block
        (rows past j padded below T_j's Gershgorin bound, so they never enter the top k)."""
        live = idx < j
        off = jnp.where(idx[:-1] < j - 1, beta[:-1], 0.0)
        radius = jnp.max(jnp.abs(jnp.where(live, alpha, 0.0))) + 2 * jnp.max(jnp.abs(off)) + 1
        T = tridiagonal(jnp.where(live, alpha, -2 * radius), off)
        theta, S = jnp.linalg.eigh(T)
        return theta[::-1][:k], S[:, ::-1][:, :k]

    def cond(c):
        j, _, _, _, done = c
        return (j < m) & ~done

    def body(c):
        j, V, alpha, beta, _ = c
        v = V[j]
        av = matvec(v)
        a = jnp.vdot(v, av)
        w = ortho(
            V,
            av
            - a * v
            - jnp.where(j > 0, beta[jnp.maximum(j - 1, 0)], 0.0) * V[jnp.maximum(j - 1, 0)],
        )
        b = jnp.linalg.norm(w)
        ok = b > 100 * eps * jnp.linalg.norm(av)
        r = ortho(
            V, jnp.roll(spare, 7919 * j)
        )  # breakdown: a fresh direction (drawn once, outside the loop)
        v_next = jnp.where(
            ok,
            w / jnp.where(ok, b, 1.0),
            r / jnp.maximum(jnp.linalg.norm(r), jnp.finfo(dtype).tiny),
        )
        alpha, beta = alpha.at[j].set(a), beta.at[j].set(jnp.where(ok, b, 0.0))
        theta, S = ritz(alpha, beta, j + 1)
        res = jnp.abs(beta[j] * S[j])
        done = (j + 1 >= min_steps) & jnp.all(res <= tol * jnp.abs(theta))
        return j + 1, V.at[j + 1].set(v_next), alpha, beta, done

    zeros = jnp.zeros((m,), dtype)
    j, V, alpha, beta, _ = jax.lax.while_loop(
        cond, body, (jnp.zeros((), jnp.int32), V, zeros, zeros, False)
    )
    theta, S = ritz(alpha, beta, j)
    vecs = S.T @ V[:-1]
    return LanczosTop(theta, vecs, jnp.abs(beta[j - 1] * S[j - 1]), j)


def warm_start(vectors: jax.Array, key, noise: float = 1e-3) -> jax.Array:
    """Start vector for :func:`lanczos_top` from previous eigenvectors [k, M]: their sum plus
    ``noise`` (relative) Gaussian noise, so the Krylov space holds every tracked direction and is
    never an exact invariant subspace.

    Args:
      vectors: [k, M] the previous eigenvectors (rows).
      key: PRNG key of the noise.
      noise: noise norm relative to the sum's norm.
    Returns:
      v0 [M] (not normalized; :func:`lanczos_top` normalizes it).
    """
    v = vectors.sum(0)
    z = jax.random.normal(key, v.shape, v.dtype)
    return v + noise * jnp.linalg.norm(v) * z / jnp.linalg.norm(z)


def curvature_gradient(
    loss_fn: LossFn, params: Params, u: Params, v: Params | None = None, data: Data = None
) -> Params:
    """grad_w (u^T H(w) v) at fixed u, v (a pytree like params): one reverse pass through an HVP.

    Hellmann-Feynman: for a simple eigenvalue lambda(w) with unit eigenvector u,
    grad lambda = grad_w (u^T H(w) u) (the eigenvector's own change does not enter, since
    u^T du = 0), so ``curvature_gradient(loss_fn, params, u)`` is grad S for S = lambda_max.
    v None: v = u.

    Args:
      loss_fn, params, data: as :func:`hessian`.
      u, v: pytrees like params (held fixed).
    Returns:
      A pytree like params.
    """
    v = u if v is None else v
    grad = jax.grad(lambda p: evaluate(loss_fn, p, data))
    flat = lambda t: ravel_pytree(t)[0]
    return jax.grad(lambda p: jnp.vdot(flat(u), flat(jax.jvp(grad, (p,), (v,))[1])))(params)
