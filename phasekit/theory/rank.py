"""Model rank: the number of independent tangent functions at a parameter point (book ch. 10).

    tangent functions     d f(.; theta') / d theta_i,   i = 1..M
    model rank            R(theta') = dim span{ d_i f(.; theta') }
    optimistic size       R(f*) = min over the target set {theta : f(.; theta) = f*} of R(theta)

Numerically R(theta') is the rank of the Jacobian J in R^{N x M}, J_{s,i} = d_i f(x_s; theta'),
on N generic points with N large enough for the rank to saturate. Everything is float64
(switched on inside; the caller's config is left alone). The rank counts the singular values
sigma_j > rtol * sigma_1 (default rtol = max(N, M) * eps, numpy's ``matrix_rank`` rule) and
reports the gap sigma_r / sigma_{r+1}: a large gap means the rank is unambiguous.

Two implementations behind one signature (``method``):

- ``"dense"``: J is assembled from point blocks and all its singular values come from an SVD.
  Memory 8 N M bytes, work O(N M min(N, M)); exact to machine precision. The default
  (``method="auto"``) whenever J fits ``memory_budget`` (1 GiB). The crossover, as measured on
  2 CPU cores: for Jacobians of nearly full rank the sketch must double its width up to
  min(N, M) to certify the rank, so dense is the faster method at every size that fits (a user's
  3000 x 1954 and 640 x 26122 Jacobians took 14 s and 3.7 s dense against 108 s and 30 s
  sketched, issue 26; ``benchmarks/model_rank.py --auto-choice``, min of 3 interleaved warm
  calls: 3000 x 1960 dense 2.1 s, sketch 7.3 s; 640 x 26122 dense 2.7 s, sketch 7.2 s; auto took
  dense at both, 1.00x and 0.97x the faster method's time); the sketch wins only when the rank is far below
  min(N, M) and J would not fit (the benchmark's 20000 x 10000 Jacobian of rank 40, 1.6 GB).
- ``"sketch"``: J is never stored. Randomized range finder with one power iteration
  (Halko, Martinsson, Tropp 2011): Y = J Omega with Omega in R^{M x l} Gaussian, Q = orth(Y),
  then the singular values of Q^T J (each of the optional power iterations replaces Q by
  orth(J orth(J^T Q)), sharpening the estimates when the spectrum decays without a gap). The sketch width l doubles until ten singular values fall
  below the tolerance (the rank is then <= l - 10 and the top singular values are exact up to
  rounding when J is exactly low rank) or l reaches min(N, M) (then Q spans the whole range
  and the result is exact). Each round streams J in point blocks of ``block_size`` rows:
  memory O((N + M) l + block_size M), cost O(N M l). Only the top l singular values exist.

Closed forms of R(f*) and constructors of optimistic points live in
:mod:`phasekit.theory.optimistic` (``optimistic_sample_size`` is re-exported here).

The rank is a discrete, host-side quantity: :func:`model_rank` runs jitted Jacobian blocks
but is not itself traceable (do not call it under ``jax.jit``/``jax.vmap``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from phasekit.theory.hessian import cast
from phasekit.theory.optimistic import optimistic_sample_size

__all__ = [
    "RankProfile",
    "RankResult",
    "model_rank",
    "optimistic_sample_size",
    "tangent_rank_profile",
]

MEMORY_BUDGET = 2**30  # bytes of J below which method="auto" takes the dense SVD


class RankResult(NamedTuple):
    """Result of :func:`model_rank`.

    rank:            numerical rank R of the tangent functions on the points
    singular_values: [K] singular values of J, descending (all min(N, M) for "dense",
                     the top sketch width for "sketch")
    gap:             sigma_r / sigma_{r+1} (inf when no sigma_{r+1} or it is 0)
    rtol:            relative tolerance used; a singular value counts if > rtol * sigma_1
    tol:             the absolute threshold rtol * sigma_1
    n_points:        N, number of rows of J (points x outputs)
    n_params:        M
    method:          "dense" or "sketch"
    dtype:           the precision of J and its SVD ("float64")
    """

    rank: int
    singular_values: np.ndarray
    gap: float
    rtol: float
    tol: float
    n_points: int
    n_params: int
    method: str
    dtype: str = "float64"


class RankProfile(NamedTuple):
    """Result of :func:`tangent_rank_profile`: ``n_points [K]`` (increasing prefix sizes n) and
    ``ranks [K]`` (R(n) = rank J[:n]); ``saturated``: the rank stopped rising before the last
    prefix (R(n_K) == R(n_{K-1}))."""

    n_points: np.ndarray
    ranks: np.ndarray
    saturated: bool


def _n_points(x) -> int:
    sizes = {np.shape(leaf)[0] for leaf in jax.tree_util.tree_leaves(x)}
    if len(sizes) != 1:
        raise ValueError(f"x: all leaves need the same leading point axis, got sizes {sizes}")
    return sizes.pop()


def _to_float64(tree):
    return cast(tree, jnp.float64)


class _Jacobian:
    """J of ``apply_fn(params, x)`` w.r.t. the flat float64 parameter vector, in point blocks.

    Must be used inside ``jax.enable_x64(True)``.
    """

    def __init__(self, apply_fn: Callable, params, x, block_size: int):
        theta, unravel = ravel_pytree(_to_float64(params))
        self.theta, self.x = theta, _to_float64(x)
        self.n, self.n_params = _n_points(x), theta.shape[0]
        self.block = max(1, min(block_size, self.n))
        self.n_blocks = -(-self.n // self.block)
        pad = self.n_blocks * self.block - self.n
        xp = jax.tree_util.tree_map(
            lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], pad, 0)]), self.x
        )
        self._xb = jax.tree_util.tree_map(
            lambda a: a.reshape((self.n_blocks, self.block) + a.shape[1:]), xp
        )

        def one(th, xi):
            return jnp.ravel(apply_fn(unravel(th), jax.tree_util.tree_map(lambda a: a[None], xi)))

        def block_jac(th, xb):  # [b * outputs, M]
            j = jax.vmap(jax.jacrev(one), in_axes=(None, 0))(th, xb)
            return j.reshape(-1, th.shape[0])

        self._jac = jax.jit(block_jac)
        self._right = jax.jit(lambda th, xb, V: block_jac(th, xb) @ V)
        self._left = jax.jit(lambda th, xb, U: block_jac(th, xb).T @ U)
        self.n_out = self._jac(theta, self._block(0)).shape[0] // self.block
        self.n_rows = self.n * self.n_out

    def _block(self, i):
        return jax.tree_util.tree_map(lambda a: a[i], self._xb)

    def _rows(self, blocks):
        return np.concatenate([np.asarray(b) for b in blocks])[: self.n_rows]

    def dense(self) -> np.ndarray:
        """J: [N * outputs, M]."""
        return self._rows(self._jac(self.theta, self._block(i)) for i in range(self.n_blocks))

    def right(self, V: np.ndarray) -> np.ndarray:
        """J V: [N * outputs, l]."""
        Vj = jnp.asarray(V)
        return self._rows(self._right(self.theta, self._block(i), Vj) for i in range(self.n_blocks))

    def left(self, U: np.ndarray) -> np.ndarray:
        """J^T U: [M, l] (rows of U past N * outputs are padding and get zero weight)."""
        rows = self.block * self.n_out
        Up = np.zeros((self.n_blocks * rows, U.shape[1]))
        Up[: self.n_rows] = U
        out = np.zeros((self.n_params, U.shape[1]))
        for i in range(self.n_blocks):
            out += np.asarray(
                self._left(self.theta, self._block(i), jnp.asarray(Up[i * rows : (i + 1) * rows]))
            )
        return out


_OVERSAMPLE = 10  # the sketch is wide enough once >= this many of its values are below tol


def _sketch_singular_values(
    jac: _Jacobian, rtol: float, start: int, power_iterations: int, key
) -> np.ndarray:
    k = min(jac.n_rows, jac.n_params)
    width = min(k, start)
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())
    while True:
        Q, _ = np.linalg.qr(jac.right(rng.standard_normal((jac.n_params, width))))
        for _ in range(power_iterations):
            Z, _ = np.linalg.qr(jac.left(Q))
            Q, _ = np.linalg.qr(jac.right(Z))
        s = np.linalg.svd(jac.left(Q), compute_uv=False)
        if width == k or np.sum(s > rtol * s[0]) <= width - _OVERSAMPLE:
            return s
        width = min(k, 2 * width)


def _summarize(s: np.ndarray, rtol: float, n_rows: int, n_params: int, method: str) -> RankResult:
    tol = float(rtol * s[0]) if s.size else 0.0
    r = int(np.sum(s > tol)) if s.size and s[0] > 0 else 0
    if r == 0:
        gap = 1.0 if s.size else np.inf
    elif r < s.size and s[r] > 0:
        gap = float(s[r - 1] / s[r])
    else:
        gap = np.inf
    return RankResult(r, s, gap, float(rtol), tol, n_rows, n_params, method, str(s.dtype))


def model_rank(
    apply_fn: Callable,
    params,
    x,
    *,
    rtol: float | None = None,
    method: str = "auto",
    block_size: int | None = None,
    memory_budget: float = MEMORY_BUDGET,
    sketch_start: int = 64,
    power_iterations: int = 0,
    key=None,
    warn: bool = True,
) -> RankResult:
    """Numerical rank of the tangent functions {d f / d theta_i} on the points x (float64).

    Args:
      apply_fn: ``apply_fn(params, x) -> [n]`` (or ``[n, k]``: each output is a row of J).
      params: parameter pytree at the point theta' (cast to float64).
      x: evaluation points, array (or pytree of arrays) with leading axis N, e.g. ``[N, d]``;
        integer arrays (matrix entries ``[N, 2]``) are kept as they are.
      rtol: relative singular-value tolerance; default max(N, M) * eps(float64).
      method: "dense", "sketch" or "auto": dense whenever J (8 N M bytes) fits ``memory_budget``
        (default 1 GiB; the measured crossover is in the module docstring), else sketch.
      block_size: points per Jacobian block (default: blocks of about 2^23 entries).
      sketch_start: first sketch width of the "sketch" method.
      power_iterations: q of the "sketch" method (0 is exact for exactly low-rank J).
      key: PRNG key of the sketch (default key(0)).
      warn: warn when rank == N (too few points for the rank to saturate).
    Returns:
      :class:`RankResult`.
    """
    if method not in ("auto", "dense", "sketch"):
        raise ValueError(f"method: 'auto', 'dense' or 'sketch', got {method!r}")
    if rtol is not None and not (0 < rtol < 1):
        raise ValueError(f"rtol: must be in (0, 1), got {rtol!r}")
    with jax.enable_x64(True):
        M = ravel_pytree(params)[0].shape[0]
        if block_size is None:
            block_size = max(1, 2**23 // max(M, 1))
        jac = _Jacobian(apply_fn, params, x, block_size)
        N = jac.n_rows
        rtol = max(N, M) * np.finfo(np.float64).eps if rtol is None else float(rtol)
        if method == "auto":
            method = "dense" if 8.0 * N * M <= memory_budget else "sketch"
        if method == "dense":
            s = np.linalg.svd(jac.dense(), compute_uv=False)
        else:
            s = _sketch_singular_values(
                jac, rtol, sketch_start, power_iterations, jax.random.key(0) if key is None else key
            )
    res = _summarize(s, rtol, N, M, method)
    if warn and res.rank == N:
        warnings.warn(
            f"model_rank: rank {res.rank} == number of evaluation points {N}; the rank "
            "may not have saturated, evaluate on more points",
            stacklevel=2,
        )
    return res


def tangent_rank_profile(
    apply_fn: Callable,
    params,
    x,
    n_points: Sequence[int] | None = None,
    *,
    rtol: float | None = None,
    warn: bool = True,
) -> RankProfile:
    """Rank of the tangent functions on the first n points, for each n in ``n_points``.

    R(n) = rank J[:n] grows like n until it saturates at R(theta'); the plateau shows that
    enough points were used. J is formed once (dense), so keep N M moderate. Host-only (numpy
    SVDs): not for ``jit`` / ``vmap``.

    Args:
      apply_fn, params, x: as :func:`model_rank` (x with leading axis N).
      n_points: increasing point counts (default 1..N).
      rtol: relative tolerance per prefix (default max(n, M) * eps).
      warn: warn when the rank still rises at the last prefix (R(n_K) > R(n_{K-1})): the
        profile has not reached its plateau, so R(theta') may be larger; evaluate on more points.
    Returns:
      :class:`RankProfile` (n_points [K], ranks [K], saturated).
    """
    N = _n_points(x)
    counts = np.arange(1, N + 1) if n_points is None else np.asarray(n_points, dtype=int)
    if counts.ndim != 1 or counts.min() < 1 or counts.max() > N:
        raise ValueError(f"n_points: need counts in [1, {N}], got {counts}")
    with jax.enable_x64(True):
        M = ravel_pytree(params)[0].shape[0]
        jac = _Jacobian(apply_fn, params, x, max(1, 2**23 // max(M, 1)))
        J = jac.dense()
    rank_list: list[int] = []
    for n in counts:
        Jn = J[: n * jac.n_out]
        s = np.linalg.svd(Jn, compute_uv=False)
        r = max(Jn.shape) * np.finfo(np.float64).eps if rtol is None else rtol
        rank_list.append(_summarize(s, r, Jn.shape[0], M, "dense").rank)
    ranks = np.asarray(rank_list)
    saturated = bool(ranks.size >= 2 and ranks[-1] == ranks[-2])
    if warn and ranks.size >= 2 and not saturated:
        warnings.warn(
            f"tangent_rank_profile: the rank still rises at the last prefix ({ranks[-2]} at "
            f"n = {counts[-2]} -> {ranks[-1]} at n = {counts[-1]}); it has not saturated, "
            "evaluate on more points",
            stacklevel=2,
        )
    return RankProfile(counts, ranks, saturated)
