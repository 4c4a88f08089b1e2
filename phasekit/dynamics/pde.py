"""Neural and classical solvers of the Poisson problem (book ch. 15, spec 04 last section).

Problem on the box Omega = [low, high]^d (d = 1: an interval, d = 2: a square):

    -Laplace u = f  in Omega,      u = g  on the boundary

Network losses for a pointwise model u(x) = apply(params, x), x: [n, d] -> [n], with
quadrature points x_i and weights w_i (sum_i w_i = |Omega|; :func:`trapezoid`, :func:`gauss`,
or :func:`uniform` points resampled every step with :func:`resampled`) and boundary points x_b:

    residual (least squares)  L_res(u) = 1/(2|Omega|) sum_i w_i (Laplace u(x_i) + f(x_i))^2 + B(u)
    Ritz (variational)        E(u)     = sum_i w_i (|grad u(x_i)|^2 / 2 - f(x_i) u(x_i))     + B(u)
    boundary penalty          B(u)     = beta/2 mean_b (u(x_b) - g(x_b))^2     (beta: the weight)

L_res = 0 exactly at the solution u*; E is minimized by u* among functions with u = g on the
boundary: E(u* + c phi) - E(u*) = c^2/2 int |grad phi|^2 >= 0 for phi = 0 on the boundary (up to
quadrature error in the linear term). Derivatives are nested forward-mode jvps along the
coordinate axes (exact, and correct for any model whose output i depends on x_i only).

Discretization for Jacobi: N intervals per axis, h = (high - low)/N, grid values u_j (boundary
included), the 2d+1-point Laplacian (A u)_j = (2d u_j - sum of the 2d neighbours) / h^2, and

    weighted Jacobi  u <- u + omega h^2/(2d) (f - A u)     (omega = 1: plain Jacobi)

acting on the error mode-wise in the sine basis phi_k(j) = prod_a sin(k_a pi j_a / N):

    e_k <- rho_k e_k,   rho_k = 1 - omega (1 - mean_a cos(k_a pi / N))   (1-D: cos(k pi / N) at omega = 1)

so high modes (k ~ N/2) decay in a few sweeps and low modes take ~ N^2 sweeps: the reverse of
the network's frequency principle. Both are measured with the same Delta_F (spec 04) on the
sine coefficients c_k = (2/N)^d sum_j u_j phi_k(j) of the grid values (:func:`sine_coefficients`;
the discrete sine transform, whose inverse is u_j = sum_k c_k phi_k(j)).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from phasekit.dynamics import frequency as F

__all__ = [
    "JacobiTrajectory",
    "Poisson",
    "book_problem",
    "boundary_points",
    "derivatives",
    "discrete_solution",
    "gauss",
    "grid",
    "jacobi",
    "jacobi_closed_form",
    "jacobi_factor",
    "jacobi_step",
    "manufactured",
    "mode_error",
    "relative_error",
    "resampled",
    "residual_loss",
    "ritz_loss",
    "sine_coefficients",
    "sine_coefficients_2d",
    "sine_peaks",
    "trapezoid",
    "uniform",
    "xla_flops",
]


class Poisson(NamedTuple):
    """-Laplace u = f on [low, high]^dim, u = g on the boundary.

    f, g, exact: ``x [n, dim] -> [n]`` (``exact``: the solution u*, or None if unknown).
    """

    f: Callable
    g: Callable
    low: float
    high: float
    dim: int
    exact: Callable | None = None

    @property
    def volume(self) -> float:
        return float(self.high - self.low) ** self.dim


def derivatives(u: Callable, x: jax.Array, order: int = 2) -> tuple:
    """Derivatives of a pointwise function u: [n, d] -> [n] along the coordinate axes:
    order 1: (u(x) [n], grad u(x) [n, d]); order 2: (u, grad u, Laplace u(x) [n])."""
    d = x.shape[1]
    vals, first, second = [], [], []
    for a in range(d):
        tangent = jnp.broadcast_to(jnp.eye(d, dtype=x.dtype)[a], x.shape)
        jvp = lambda y: jax.jvp(u, (y,), (tangent,))
        if order == 1:
            v, d1 = jvp(x)
        else:
            (v, d1), (_, d2) = jax.jvp(jvp, (x,), (tangent,))
            second.append(d2)
        vals.append(v)
        first.append(d1)
    grad = jnp.stack(first, axis=1)
    return (vals[0], grad) if order == 1 else (vals[0], grad, sum(second))


def manufactured(exact: Callable, low: float = -1.0, high: float = 1.0, dim: int = 1) -> Poisson:
    """The problem solved by ``exact``: f = -Laplace exact (by autodiff), g = exact.

    Args:
      exact: the solution ``u(x [n, d]) -> [n]``; low, high: the box [low, high]^dim.
    Returns:
      :class:`Poisson`.
    """
    return Poisson(lambda x: -derivatives(exact, x)[2], exact, low, high, dim, exact)


def book_problem() -> Poisson:
    """The book's -u'' = sin x + 4 sin 4x - 8 sin 8x + 16 sin 24x on (-1, 1), u(+-1) = 0:

    u*(x) = u_p(x) - u_p(1) x,   u_p = sin x + sin 4x / 4 - sin 8x / 8 + sin 24x / 36.
    """

    def u_p(s):
        return jnp.sin(s) + jnp.sin(4 * s) / 4 - jnp.sin(8 * s) / 8 + jnp.sin(24 * s) / 36

    def f(x):
        s = x[:, 0]
        return jnp.sin(s) + 4 * jnp.sin(4 * s) - 8 * jnp.sin(8 * s) + 16 * jnp.sin(24 * s)

    def exact(x):
        s = x[:, 0]
        return u_p(s) - u_p(jnp.ones((), s.dtype)) * s

    return Poisson(f, lambda x: jnp.zeros(x.shape[0], x.dtype), -1.0, 1.0, 1, exact)


# ----------------------------------------------------------------------------- points


def _tensor(nodes: np.ndarray, weights: np.ndarray, dim: int) -> dict:
    grids = np.meshgrid(*([nodes] * dim), indexing="ij")
    w = np.prod(np.meshgrid(*([weights] * dim), indexing="ij"), axis=0)
    return {
        "x": jnp.asarray(np.stack([g.ravel() for g in grids], 1), jnp.float32),
        "w": jnp.asarray(w.ravel(), jnp.float32),
    }


def trapezoid(problem: Poisson, n: int) -> dict:
    """Uniform grid of n points per axis (boundary included) with trapezoid weights:
    ``{"x": [n^d, d], "w": [n^d]}``, sum w = |Omega|.

    Args:
      problem: the :class:`Poisson` problem (its box [low, high]^dim).
    """
    if n < 2:
        raise ValueError(f"n: need at least 2 points per axis, got {n}")
    nodes = np.linspace(problem.low, problem.high, n)
    w = np.full(n, (problem.high - problem.low) / (n - 1))
    w[[0, -1]] /= 2
    return _tensor(nodes, w, problem.dim)


def gauss(problem: Poisson, n: int) -> dict:
    """Tensor Gauss-Legendre rule with n nodes per axis: ``{"x": [n^d, d], "w": [n^d]}``.

    Args:
      problem: the :class:`Poisson` problem (its box [low, high]^dim).
    """
    t, w = np.polynomial.legendre.leggauss(n)
    half = (problem.high - problem.low) / 2
    return _tensor(problem.low + half * (t + 1), half * w, problem.dim)


def uniform(key, problem: Poisson, n: int) -> dict:
    """n uniform random points of Omega with Monte Carlo weights |Omega| / n (traceable).

    Args:
      key: PRNG key; problem: the :class:`Poisson` problem; n: the number of points.
    Returns:
      ``{"x": [n, d], "w": [n]}``.
    """
    x = jax.random.uniform(key, (n, problem.dim), jnp.float32, problem.low, problem.high)
    return {"x": x, "w": jnp.full((n,), problem.volume / n, jnp.float32)}


def boundary_points(problem: Poisson, n_per_side: int = 1) -> jax.Array:
    """Boundary points: d = 1: the two end points [2, 1]; d = 2: n_per_side uniform points on
    each of the 4 sides (corners included) [4 n_per_side, 2].

    Args:
      problem: the :class:`Poisson` problem (its box [low, high]^dim).
    """
    lo, hi = problem.low, problem.high
    if problem.dim == 1:
        return jnp.asarray([[lo], [hi]], jnp.float32)
    if problem.dim != 2:
        raise ValueError(f"dim: boundary points for d = 1 or 2, got {problem.dim}")
    if n_per_side < 2:
        raise ValueError(f"n_per_side: need at least 2 points per side, got {n_per_side}")
    t = np.linspace(lo, hi, n_per_side)
    c = np.full_like(t, lo), np.full_like(t, hi)
    pts = np.concatenate(
        [
            np.stack([t, c[0]], 1),
            np.stack([t, c[1]], 1),
            np.stack([c[0], t], 1),
            np.stack([c[1], t], 1),
        ]
    )
    return jnp.asarray(pts, jnp.float32)


# ----------------------------------------------------------------------------- losses


def _boundary_term(u, problem, xb, beta):
    return 0.5 * beta * jnp.mean((u(xb) - problem.g(xb)) ** 2)


def residual_loss(
    apply_fn: Callable, problem: Poisson, beta=100.0, n_boundary: int = 2, **apply_kwargs
) -> Callable:
    """``loss(params, {"x", "w"})`` = 1/(2|Omega|) sum_i w_i (Laplace u + f)^2 + beta/2 mean_b (u - g)^2.

    Args:
      apply_fn: ``apply(params, x [n, d], **apply_kwargs) -> u [n]``; problem: the
        :class:`Poisson` problem; beta: the boundary weight (may be traced); n_boundary: boundary
        points per side in 2-D (:func:`boundary_points`).
    """
    xb = boundary_points(problem, n_boundary)

    def loss(params, data):
        u = lambda x: apply_fn(params, x, **apply_kwargs)
        _, _, lap = derivatives(u, data["x"])
        interior = 0.5 * jnp.sum(data["w"] * (lap + problem.f(data["x"])) ** 2) / problem.volume
        return interior + _boundary_term(u, problem, xb, beta)

    return loss


def ritz_loss(
    apply_fn: Callable, problem: Poisson, beta=100.0, n_boundary: int = 2, **apply_kwargs
) -> Callable:
    """``loss(params, {"x", "w"})`` = sum_i w_i (|grad u|^2 / 2 - f u) + beta/2 mean_b (u - g)^2.

    Args:
      apply_fn: ``apply(params, x [n, d], **apply_kwargs) -> u [n]``; problem: the
        :class:`Poisson` problem; beta: the boundary weight (may be traced); n_boundary: boundary
        points per side in 2-D (:func:`boundary_points`).
    """
    xb = boundary_points(problem, n_boundary)

    def loss(params, data):
        u = lambda x: apply_fn(params, x, **apply_kwargs)
        val, grad = derivatives(u, data["x"], order=1)
        energy = jnp.sum(data["w"] * (0.5 * jnp.sum(grad**2, axis=1) - problem.f(data["x"]) * val))
        return energy + _boundary_term(u, problem, xb, beta)

    return loss


def resampled(loss: Callable, problem: Poisson, n: int) -> Callable:
    """``loss(params, data, key)`` on n fresh :func:`uniform` points drawn from ``key`` (for
    ``train.run(..., loss_takes_key=True, key=...)``: new collocation points every step; ``data``
    is not read, it only gives the trainer its sample axis).

    Args:
      loss: ``loss(params, {"x", "w"})`` (:func:`residual_loss`, :func:`ritz_loss`); problem: the
        :class:`Poisson` problem the points are drawn in; n: points per step.
    """

    def loss_k(params, data, key):
        return loss(params, uniform(key, problem, n))

    return loss_k


# ----------------------------------------------------------------------------- grid and Jacobi


def grid(problem: Poisson, n_intervals: int) -> np.ndarray:
    """The finite-difference grid: N + 1 points per axis, [(N+1)^d, d] (C order).

    Args:
      problem: the :class:`Poisson` problem (its box and dim); n_intervals: N.
    """
    nodes = np.linspace(problem.low, problem.high, n_intervals + 1)
    return np.stack([g.ravel() for g in np.meshgrid(*([nodes] * problem.dim), indexing="ij")], 1)


def _interior(dim):
    return (slice(1, -1),) * dim


def jacobi_step(u: jax.Array, f: jax.Array, h, omega=1.0) -> jax.Array:
    """One weighted Jacobi sweep on grid values u [(N+1)] or [(N+1), (N+1)] (boundary kept):
    u_j <- (1 - omega) u_j + omega (sum of neighbours + h^2 f_j) / (2d). f: same shape as u."""
    d = u.ndim
    inner = _interior(d)
    nb: jax.Array | float = 0.0
    for a in range(d):
        lo, hi = list(inner), list(inner)
        lo[a], hi[a] = slice(0, -2), slice(2, None)
        nb = nb + u[tuple(lo)] + u[tuple(hi)]
    new = (1 - omega) * u[inner] + omega * (nb + h**2 * f[inner]) / (2 * d)
    return u.at[inner].set(new)


class JacobiTrajectory(NamedTuple):
    """step: [R] iterations done at each record; observables: dict name -> [R, ...]; u: final grid values."""

    step: jax.Array
    observables: dict
    u: jax.Array


def jacobi(
    u0: jax.Array,
    f: jax.Array,
    h,
    iterations: int,
    omega=1.0,
    record_at=None,
    observe: Callable | None = None,
) -> JacobiTrajectory:
    """Weighted Jacobi from grid values ``u0`` (boundary values = g), records at ``record_at``
    (default: ``train.record_steps(iterations)``). One ``lax.scan`` over records, a
    ``fori_loop`` between them; vmappable over u0, f, omega.

    Args:
      u0: initial grid values [(N+1)] or [(N+1), (N+1)] (boundary = g); f: the source on the
        same grid; h: the grid spacing; iterations: sweeps in all; omega: the weight.
      record_at: the sweeps to record at (concrete).
      observe: ``observe(u) -> dict`` recorded at every record (None: nothing).
    Returns:
      :class:`JacobiTrajectory`.
    """
    from phasekit.dynamics.train import record_steps

    rec = np.asarray(record_steps(iterations) if record_at is None else record_at, np.int32)
    if rec.ndim != 1 or rec.min() < 0 or rec.max() > iterations or np.any(np.diff(rec) <= 0):
        raise ValueError(f"record_at: need increasing iterations in [0, {iterations}], got {rec}")
    observe = observe or (lambda u: {})
    starts = np.concatenate([[0], rec[:-1]]).astype(np.int32)

    def segment(u, bounds):
        u = jax.lax.fori_loop(bounds[0], bounds[1], lambda _, v: jacobi_step(v, f, h, omega), u)
        return u, observe(u)

    u, obs = jax.lax.scan(segment, u0, jnp.asarray(np.stack([starts, rec], 1)))
    return JacobiTrajectory(jnp.asarray(rec), obs, u)


def jacobi_factor(k, n_intervals: int, omega=1.0) -> np.ndarray:
    """Error reduction per sweep of sine mode k = (k_1, ..., k_d):
    rho_k = 1 - omega (1 - mean_a cos(k_a pi / N)).   k: [..., d] (or [...] in 1-D).

    Args:
      k: sine modes, [..., d] (or [...] in 1-D); n_intervals: N; omega: the Jacobi weight.
    Returns:
      rho_k, the shape of ``k`` without its last axis (1-D: of ``k``).
    """
    k = np.atleast_1d(np.asarray(k, np.float64))
    c = np.cos(np.pi * k / n_intervals)
    return 1 - omega * (1 - (c if k.ndim == 1 else c.mean(-1)))


def jacobi_closed_form(
    u0: jax.Array, u_limit: jax.Array, sweeps, n_intervals: int, omega=1.0
) -> jax.Array:
    """1-D Jacobi after T sweeps from ``u0`` in closed form, mode by mode:

        u_T = u_h + sum_{k=1}^{N-1} rho_k^T c_k(u0 - u_h) sin(k pi j / N)

    (u_h = ``u_limit``, the finite-difference solution; equal to :func:`jacobi` up to rounding,
    at any T without iterating). u0, u_limit: [N + 1]; sweeps: [R] concrete; n_intervals: N;
    omega: the Jacobi weight. Returns [R, N + 1]."""
    n = n_intervals
    modes = np.arange(1, n)
    factors = (
        jacobi_factor(modes, n, omega)[None, :] ** np.asarray(sweeps, np.float64)[:, None]
    )  # [R, N-1]
    c = sine_coefficients(u0 - u_limit, modes)
    basis = jnp.asarray(
        np.sin(np.pi * np.outer(np.arange(n + 1), modes) / n), c.dtype
    )  # [N+1, N-1]
    return u_limit + (jnp.asarray(factors, c.dtype) * c) @ basis.T


def xla_flops(fn: Callable, *args) -> float:
    """Floating-point operations of one call of ``fn(*args)`` as counted by XLA's cost analysis
    of the compiled program (the cost unit of solver comparisons)."""
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    if cost is None:
        raise RuntimeError("the backend reports no cost analysis of the compiled program")
    return float(cost["flops"])


def discrete_solution(problem: Poisson, n_intervals: int) -> np.ndarray:
    """Exact solution of the 1-D finite-difference system A u = f, u_0 = g(low), u_N = g(high)
    (a tridiagonal solve), [N + 1]; the limit of Jacobi.

    Args:
      problem: a 1-D :class:`Poisson` problem; n_intervals: N.
    """
    if problem.dim != 1:
        raise ValueError(f"dim: the direct solve is 1-D, got {problem.dim}")
    import scipy.linalg

    x = grid(problem, n_intervals)
    h = (problem.high - problem.low) / n_intervals
    f = np.asarray(problem.f(jnp.asarray(x)), np.float64)
    g = np.asarray(problem.g(jnp.asarray(x)), np.float64)
    rhs = h**2 * f[1:-1]
    rhs[0] += g[0]
    rhs[-1] += g[-1]
    m = n_intervals - 1
    ab = np.stack([np.r_[0, -np.ones(m - 1)], 2 * np.ones(m), np.r_[-np.ones(m - 1), 0]])
    u = g.copy()
    u[1:-1] = scipy.linalg.solve_banded((1, 1), ab, rhs)
    return u


# ----------------------------------------------------------------------------- Delta_F on sine modes


def sine_coefficients(u: jax.Array, modes) -> jax.Array:
    """c_k = (2/N) sum_{j=1}^{N-1} u_j sin(k pi j / N) of grid values u [..., N + 1] (1-D, last
    axis) at the modes k [K]: the discrete sine transform, u_j = sum_{k=1}^{N-1} c_k sin(k pi j / N)
    for u_0 = u_N = 0. Returns [..., K]."""
    n = u.shape[-1] - 1
    j = np.arange(1, n)
    basis = jnp.asarray(np.sin(np.pi * np.outer(np.asarray(modes), j) / n), u.dtype)  # [K, N-1]
    return (2.0 / n) * u[..., 1:-1] @ basis.T


def sine_coefficients_2d(u: jax.Array, modes) -> jax.Array:
    """c_kl = (2/N)^2 sum_{i,j} u_ij sin(k pi i / N) sin(l pi j / N) of u [N+1, N+1] at modes [K, 2]."""
    n = u.shape[-1] - 1
    j = np.arange(1, n)
    modes = np.asarray(modes)
    s = lambda k: jnp.asarray(np.sin(np.pi * np.outer(k, j) / n), u.dtype)
    return (2.0 / n) ** 2 * jnp.einsum("ki,ij,kj->k", s(modes[:, 0]), u[1:-1, 1:-1], s(modes[:, 1]))


def sine_peaks(u_exact, n_peaks: int) -> np.ndarray:
    """The n_peaks sine modes k (increasing) of largest |c_k| that are local peaks of the sine
    spectrum of the grid values ``u_exact`` [N + 1] (:func:`phasekit.dynamics.frequency.find_peaks`)."""
    n = np.shape(u_exact)[-1] - 1
    amp = np.abs(np.asarray(sine_coefficients(jnp.asarray(u_exact), np.arange(n))))
    return F.find_peaks(amp, n_peaks=n_peaks, rel_height=0.0)


def mode_error(
    u: jax.Array, target_coefficients: jax.Array, modes, magnitude: bool = False
) -> jax.Array:
    """Delta_F(k) = |c_k(u) - c_k(u*)| / |c_k(u*)| on sine modes (spec 04's measure,
    :func:`phasekit.dynamics.frequency.relative_spectral_error`).   u: [..., N + 1] -> [..., K].

    Args:
      u: grid values [..., N + 1]; target_coefficients: c_k(u*) [K] (:func:`sine_coefficients`
        of the exact solution); modes: the sine modes k [K]; magnitude: compare |c_k| only.
    """
    return F.relative_spectral_error(sine_coefficients(u, modes), target_coefficients, magnitude)


def relative_error(u: jax.Array, u_exact: jax.Array) -> jax.Array:
    """||u - u*||_2 / ||u*||_2 over the grid (last axis).

    Args:
      u: grid values [..., G]; u_exact: u* [G] (or broadcastable).
    Returns:
      [...].
    """
    return jnp.linalg.norm(u - u_exact, axis=-1) / jnp.linalg.norm(u_exact, axis=-1)
