"""Continuous-time models of full-batch GD: gradient flow, the central flow at the edge of
stability (Cohen, Damian, Talwalkar, Kolter, Lee, ICLR 2025, arXiv 2410.24206) and a three-ODE
edge flow in the form of Marion's Edge Flow (arXiv 2606.18080), see :func:`edge_flow`.

GD w_{t+1} = w_t - eta grad L(w_t); time t is counted in GD steps. Gradient flow is
dw/dt = -eta grad L. At the edge of stability GD oscillates along the top eigenvectors u_i of
H = grad^2 L around a time-averaged iterate w; by a third-order Taylor expansion the oscillation
x u adds (1/2) x^2 grad S to the mean gradient (it steps down the sharpness). The central flow is

    dw/dt = -eta [ grad L(w) + (1/2) grad <Sigma, H(w)> ],   Sigma = sum_ij X_ij u_i u_j^T,  X >= 0 (PSD)

with ``grad <Sigma, H>`` = sum_ij X_ij grad_w (u_i^T H(w) u_j) at fixed u (Hellmann-Feynman,
:func:`phasekit.theory.hessian.curvature_gradient`), and X the solution of the semidefinite
complementarity problem that keeps the top eigenvalues at 2/eta:

    X >= 0,   D := -(1/eta) d/dt (U^T H U) >= 0,   <X, D> = 0

(D linear in X: D = G(grad L) + (1/2) G(G^* X), G_ij = grad(u_i^T H u_j)). It is the optimality
condition of min_{X >= 0} |grad L + (1/2) sum X_ij G_ij|^2, solved here by projected (FISTA)
gradient steps on the PSD cone. One eigenvalue (k = 1): X = sigma^2 = max(0, -2 <grad S, grad L> /
|grad S|^2), i.e. dw/dt is -eta grad L projected off grad S; below the edge sigma^2 = 0 and the
central flow is gradient flow. Predictions to compare with GD: the time-averaged loss
L(w) + (1/2) <Sigma, H> (= L + tr X / eta at the edge), S(w) = 2/eta, and GD's squared
oscillation along u_i, sigma_i^2.

Discretization: explicit Euler with ``substeps`` steps of dt = 1/substeps per GD step (the stiff
directions have rate eta S <= 2 per step, so substeps >= 4 is stable). The edge condition is
imposed on the step itself: the next step may not lift U^T H U above 2/eta,
eta D >= (U^T H U - 2/eta I) / dt, so an iterate that overshoots the edge by rounding is pulled back
to it and an eigenvalue far below the edge never gets a multiplier. The top k eigenpairs are
tracked at every substep by adaptive Lanczos started from the previous ones
(:func:`phasekit.theory.hessian.lanczos_top`), whose products are counted.

:func:`central_flow` and :func:`gradient_flow` are pure functions of arrays (jit / vmap over
learning rates), returning records at :func:`phasekit.dynamics.train.record_steps`, the schedule
of :func:`phasekit.dynamics.train.run`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from phasekit.dynamics import train
from phasekit.theory import hessian
from phasekit.typing import Data, Params

__all__ = [
    "FlowTrajectory",
    "central_flow",
    "edge_covariance",
    "edge_flow",
    "gradient_flow",
    "moving_average",
]


class FlowTrajectory(NamedTuple):
    """Result of :func:`central_flow` / :func:`gradient_flow` (a pytree; vmapped runs stack).

    step:           [R] record times t (in GD steps)
    loss:           [R] L(w(t))
    predicted_loss: [R] the predicted time average of GD's loss, L + (1/2) <Sigma, H>
    sharpness:      [R, k] top k eigenvalues of H(w(t)) (``[:, 0]`` is S)
    sigma2:         [R, k] eigenvalues of X (descending): squared oscillation of GD along the edge
                    directions (k = 1: sigma^2); zeros for gradient flow; rho^2 for
                    :func:`edge_flow` (k = 1)
    oscillation2:   [R, k] (u_i^T (w_ref(t) - w(t)))^2 for a ``reference`` trajectory (e.g. GD's
                    iterates), NaN without one
    distance:       [R] |w_ref(t) - w(t)| (NaN without a reference)
    num_hvp:        [R] Hessian-vector products spent by Lanczos since the previous record
    observables:    dict name -> [R, ...] of ``observe(w(t))``
    params:         w at the last record
    """

    step: jax.Array
    loss: jax.Array
    predicted_loss: jax.Array
    sharpness: jax.Array
    sigma2: jax.Array
    oscillation2: jax.Array
    distance: jax.Array
    num_hvp: jax.Array
    observables: dict
    params: Params


def edge_covariance(c: jax.Array, K: jax.Array, C: jax.Array, *, iters: int = 200) -> jax.Array:
    """The PSD solution X [k, k] of min_{X >= 0} (1/2) sum X_ij c_ij + (1/8) sum X_ij K_ijlm X_lm - (1/2) <X, C>.

    With c_ij = G_ij . grad L, K_ijlm = G_ij . G_lm, its optimality conditions are the central flow's
    complementarity problem X >= 0, G(grad L + (1/2) G^* X) >= C, <X, G(...) - C> = 0. k = 1 in
    closed form, max(0, 2 (C - c) / K); otherwise FISTA with projection onto the PSD cone
    (eigenvalues clipped at 0), step 4 / lambda_max(K).

    Args:
      c: [k, k]; K: [k, k, k, k]; C: [k, k] (see above); iters: FISTA iterations (k > 1).
    """
    k = c.shape[0]
    if k == 1:
        K11 = K.reshape(())
        safe = jnp.where(K11 > 0, K11, 1.0)
        return jnp.where(K11 > 0, jnp.maximum(0.0, 2 * (C - c) / safe), 0.0).reshape(1, 1)
    Km = K.reshape(k * k, k * k)
    step = 4.0 / jnp.maximum(jnp.linalg.eigvalsh(0.5 * (Km + Km.T))[-1], jnp.finfo(c.dtype).tiny)

    def grad(X):
        return 0.5 * c + 0.25 * (Km @ X.reshape(-1)).reshape(k, k) - 0.5 * C

    def proj(X):
        w, V = jnp.linalg.eigh(0.5 * (X + X.T))
        return (V * jnp.maximum(w, 0.0)) @ V.T

    def body(_, carry):
        X, Y, t = carry
        Xn = proj(Y - step * grad(Y))
        tn = 0.5 * (1 + jnp.sqrt(1 + 4 * t**2))
        return Xn, Xn + ((t - 1) / tn) * (Xn - X), tn

    zero = jnp.zeros((k, k), c.dtype)
    return jax.lax.fori_loop(0, iters, body, (zero, zero, jnp.ones((), c.dtype)))[0]


class _Point(NamedTuple):
    """Everything the flow needs at one w: loss, gradient, eigenpairs, X and the velocity."""

    loss: jax.Array
    velocity: jax.Array  # dw/dt [M]
    values: jax.Array  # [k]
    vectors: jax.Array  # [k, M]
    X: jax.Array  # [k, k]
    num_hvp: jax.Array


def _point(flat_loss, theta, U, key, lr, tau, k, max_lanczos, tol, edge: bool) -> _Point:
    loss, g = jax.value_and_grad(flat_loss)(theta)
    grad = jax.grad(flat_loss)
    matvec = jax.linearize(grad, theta)[1]
    top = hessian.lanczos_top(matvec, hessian.warm_start(U, key), k, max_lanczos, tol=tol)
    X = jnp.zeros((k, k), theta.dtype)
    velocity = -lr * g
    if edge:
        ii, jj = np.triu_indices(k)
        upper = jax.vmap(lambda u, v: hessian.curvature_gradient(flat_loss, theta, u, v))(
            top.vectors[ii], top.vectors[jj]
        )  # [k(k+1)/2, M], Hellmann-Feynman
        Gt = (
            jnp.zeros((k, k) + theta.shape, theta.dtype).at[ii, jj].set(upper).at[jj, ii].set(upper)
        )
        c = Gt @ g
        K = jnp.einsum("ijm,lnm->ijln", Gt, Gt)
        C = jnp.diag((top.values - 2.0 / lr) / (lr * tau))
        X = edge_covariance(c, K, C)
        velocity = -lr * (g + 0.5 * jnp.einsum("ij,ijm->m", X, Gt))
    return _Point(loss, velocity, top.values, top.vectors, X, top.num_matvecs)


class _State(NamedTuple):
    theta: jax.Array
    n: jax.Array  # substeps taken
    hvps: jax.Array  # Lanczos products since the last record
    point: _Point  # the flow at theta (central flow), or at the last record (gradient flow)
    started: jax.Array  # the point has been evaluated once


def _record_steps(steps, n_records, schedule, record_at) -> np.ndarray:
    """The flows' record times: :func:`train.record_steps` or ``record_at``, checked."""
    rec = np.asarray(
        train.record_steps(steps, n_records, schedule) if record_at is None else record_at
    )
    if rec.ndim != 1 or rec.size == 0 or rec.min() < 0 or np.any(np.diff(rec) <= 0):
        raise ValueError(f"record_at: need increasing non-negative steps, got {rec}")
    return rec


def _flat_reference(reference, n_rec: int, M: int, dtype) -> jax.Array:
    """A reference trajectory (params pytree with a leading [R] axis) as [R, M]; zeros [R, 1]
    without one."""
    if reference is None:
        return jnp.zeros((n_rec, 1), dtype)
    ref = jax.vmap(lambda p: ravel_pytree(p)[0])(reference)
    if ref.shape != (n_rec, M):
        raise ValueError(
            f"reference: need a leading axis of {n_rec} records like params, got {ref.shape}"
        )
    return ref


def central_flow(
    loss_fn: Callable,
    params: Params,
    data: Data,
    lr,
    *,
    steps: int,
    n_records: int = 100,
    schedule: str = "log",
    record_at=None,
    substeps: int = 4,
    k: int = 1,
    max_lanczos: int = 30,
    tol: float = 1e-3,
    relaxation: float | None = None,
    reference: Params | None = None,
    observe: Callable[[Params], dict] | None = None,
    key=None,
    edge: bool = True,
) -> FlowTrajectory:
    """Integrate the central flow of GD with learning rate ``lr`` from ``params`` for ``steps``
    GD-steps of time; see the module docstring.

    Args:
      loss_fn, params, data: ``loss_fn(params, data)`` as in :func:`train.run` (``data`` None:
        ``loss_fn(params)``).
      lr: GD's learning rate eta (may be traced: vmap over learning rates).
      steps, n_records, schedule, record_at: the record times, as in :func:`train.run`.
      substeps: Euler steps per unit time (dt = 1 / substeps).
      k: eigenvalues tracked (those that can reach the edge: k >= 2 for several at 2/eta).
      max_lanczos, tol: Lanczos cap and relative residual per eigenpair (warm-started).
      relaxation: time tau (in GD steps, >= dt) over which an eigenvalue above 2/eta is brought
        back to it, eta D >= (U^T H U - 2/eta) / tau; None: tau = dt (within one substep). A larger
        tau damps the multiplier's response to rounding and Lanczos error in S.
      reference: a pytree like params with a leading [R] axis, e.g. GD's iterates at the same
        record steps (``train.run(..., observe=lambda p: {"params": p})``): then the distance
        and the oscillation along u_i are recorded.
      observe: ``params -> dict`` recorded like :func:`train.run`'s.
      edge: False gives gradient flow (X = 0; the eigenpairs are still tracked for the records).
      key: PRNG key of the Lanczos start vectors (default ``jax.random.key(0)``).
    Returns:
      :class:`FlowTrajectory`.
    """
    for name, v, lo in (("substeps", substeps, 1), ("k", k, 1), ("max_lanczos", max_lanczos, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name}: must be an integer >= {lo}, got {v!r}")
    if not isinstance(lr, jax.core.Tracer) and not np.all(np.asarray(lr) > 0):
        raise ValueError(f"lr: must be > 0, got {lr!r}")
    rec = _record_steps(steps, n_records, schedule, record_at)
    theta0, unravel = ravel_pytree(params)
    M = theta0.size
    if max_lanczos < k or max_lanczos > M:
        raise ValueError(f"max_lanczos: need k={k} <= max_lanczos <= M={M}, got {max_lanczos}")
    dtype = theta0.dtype
    lr = jnp.asarray(lr, dtype)
    dt = 1.0 / substeps
    tau = dt if relaxation is None else float(relaxation)
    if tau < dt:
        raise ValueError(
            f"relaxation: must be >= dt = 1/substeps = {dt:g} GD steps, got {relaxation!r}"
        )
    key = jax.random.key(0) if key is None else key
    observe = observe or (lambda p: {})
    flat_loss = lambda t: hessian.evaluate(loss_fn, unravel(t), data)
    have_ref = reference is not None
    ref = _flat_reference(reference, rec.size, M, dtype)

    def at(theta, U, n, edge_now: bool) -> _Point:
        return _point(
            flat_loss, theta, U, jax.random.fold_in(key, n), lr, tau, k, max_lanczos, tol, edge_now
        )

    def evaluate_then_move(s: _State) -> _State:
        """Central flow: one Euler step with the velocity at the current point (none on the very
        first call), then the point at the new w, so the carried point is always the current w's
        (the flow's only copy of Lanczos + Hellmann-Feynman in the compiled program)."""
        theta = s.theta + jnp.where(s.started, dt, 0.0).astype(dtype) * s.point.velocity
        n = s.n + s.started.astype(s.n.dtype)
        p = at(theta, s.point.vectors, n, True)
        return _State(theta, n, s.hvps + p.num_hvp, p, jnp.ones((), bool))

    def gradient_step(s: _State) -> _State:
        return s._replace(theta=s.theta - dt * lr * jax.grad(flat_loss)(s.theta), n=s.n + 1)

    def interval(s: _State, xs):
        t, w_ref = xs
        if edge:
            s = jax.lax.while_loop(
                lambda s: (s.n < t * substeps) | ~s.started, evaluate_then_move, s
            )
            p = s.point
        else:
            s = jax.lax.while_loop(lambda s: s.n < t * substeps, gradient_step, s)
            p = at(s.theta, s.point.vectors, s.n, False)
            s = s._replace(point=p, hvps=s.hvps + p.num_hvp)
        diff = w_ref - s.theta
        nan = jnp.full((), jnp.nan, dtype)
        out = dict(
            loss=p.loss,
            predicted_loss=p.loss + 0.5 * jnp.sum(jnp.diag(p.X) * p.values),
            sharpness=p.values,
            sigma2=jnp.linalg.eigvalsh(0.5 * (p.X + p.X.T))[::-1],
            oscillation2=(p.vectors @ diff) ** 2 if have_ref else jnp.full((k,), jnp.nan, dtype),
            distance=jnp.linalg.norm(diff) if have_ref else nan,
            num_hvp=s.hvps,
            observables=observe(unravel(s.theta)),
        )
        return s._replace(hvps=jnp.zeros_like(s.hvps)), out

    U0 = jax.random.normal(jax.random.fold_in(key, 2**31 - 1), (k, M), dtype)
    U0 = U0 / jnp.linalg.norm(U0, axis=1, keepdims=True)
    zero = jnp.zeros((), dtype)
    p0 = _Point(
        zero,
        jnp.zeros_like(theta0),
        jnp.zeros((k,), dtype),
        U0,
        jnp.zeros((k, k), dtype),
        jnp.zeros((), jnp.int32),
    )
    s0 = _State(theta0, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32), p0, jnp.zeros((), bool))
    s, out = jax.lax.scan(interval, s0, (jnp.asarray(rec, jnp.int32), ref))
    return FlowTrajectory(
        jnp.asarray(rec),
        out["loss"],
        out["predicted_loss"],
        out["sharpness"],
        out["sigma2"],
        out["oscillation2"],
        out["distance"],
        out["num_hvp"],
        out["observables"],
        unravel(s.theta),
    )


def edge_flow(
    loss_fn: Callable,
    params: Params,
    data: Data,
    lr,
    *,
    steps: int,
    n_records: int = 100,
    schedule: str = "log",
    record_at=None,
    substeps: int = 4,
    rho0=None,
    rho_min=None,
    max_lanczos: int = 30,
    tol: float = 1e-3,
    reference: Params | None = None,
    observe: Callable[[Params], dict] | None = None,
    key=None,
) -> FlowTrajectory:
    """A three-ODE model of GD at the edge of stability: a center w, a unit direction u and a
    magnitude rho, with GD's iterates read as w +- rho u (a period-2 oscillation along u).

    This is the structure Marion's Edge Flow (arXiv 2606.18080) states in its abstract -- "the
    center follows a modified gradient flow on a symmetrized loss; the direction tracks a top
    eigenvector of the Hessian via Rayleigh quotient dynamics; the magnitude grows or decays
    exponentially depending on whether the sharpness exceeds or falls below 2/eta; two gradients
    and one HVP per step". The paper's full text was not available offline, so the equations below
    are derived here from GD itself, not copied; their constants may differ from the paper's.
    With t in GD steps, L_sym(w) = (1/2) [L(w + rho u) + L(w - rho u)] and S = u^T H(w) u:

        dw/dt     = -eta grad_w L_sym = -eta (1/2) [grad L(w + rho u) + grad L(w - rho u)]
                  (= -eta [grad L + (1/2) rho^2 grad S] + O(rho^4): the central flow's drift)
        du/dt     =  eta (H u - S u)              (GD's deviation grows by (1 - eta H) per step;
                                                   linearized at the edge, log|1 - eta lambda| ~
                                                   eta lambda - 2: Rayleigh-quotient ascent)
        dlog rho/dt = eta S - 2                   (the same linearization along u)

    On L(x, y) = (1/2)(s0 + y) x^2 - alpha y the fixed point is S = 2/eta, rho^2 = 2 alpha (the
    central flow's sigma^2), and (s = eta S - 2, r = rho^2) is a Lotka-Volterra pair
    (dr/dt = 2 s r, ds/dt = -eta^2 (r/2 - alpha) at x = 0) that orbits it: the model oscillates in
    S as GD does, with time averages exactly 2/eta and 2 alpha over each orbit. On a quadratic the
    center is gradient flow for any rho (the averaged gradient is exact). The predicted time
    average of GD's loss is L_sym(w).

    Euler steps of dt = 1/substeps, u renormalized after each; log rho is integrated so it never
    underflows and is floored at log rho_min (GD's own floor: rounding seeds the unstable mode).
    Cost per substep: two gradients and one HVP (plus one Lanczos at the start for u(0)).

    Args:
      loss_fn, params, data: ``loss_fn(params, data)`` as in :func:`train.run`.
      lr: eta (may be traced: vmap over learning rates).
      steps, n_records, schedule, record_at: the record times, as in :func:`train.run`.
      substeps: Euler steps per GD step.
      rho0: initial magnitude; None: eta |u^T grad L(w0)| (the first GD step's move along u), at
        least rho_min.
      rho_min: floor of rho; None: machine epsilon x |w0| (GD's rounding level).
      max_lanczos, tol: the Lanczos run that gives u(0), the top eigenvector of H(w0).
      reference, observe, key: as in :func:`central_flow`.
    Returns:
      :class:`FlowTrajectory` with k = 1: ``sharpness`` = S = u^T H u, ``sigma2`` = rho^2,
      ``predicted_loss`` = L_sym, ``num_hvp`` = HVPs since the previous record (Lanczos included).
    """
    if isinstance(substeps, bool) or not isinstance(substeps, (int, np.integer)) or substeps < 1:
        raise ValueError(f"substeps: must be an integer >= 1, got {substeps!r}")
    if not isinstance(lr, jax.core.Tracer) and not np.all(np.asarray(lr) > 0):
        raise ValueError(f"lr: must be > 0, got {lr!r}")
    for name, v in (("rho0", rho0), ("rho_min", rho_min)):
        if v is not None and not isinstance(v, jax.core.Tracer) and not float(v) > 0:
            raise ValueError(f"{name}: must be > 0, got {v!r}")
    rec = _record_steps(steps, n_records, schedule, record_at)
    theta0, unravel = ravel_pytree(params)
    M = theta0.size
    if not 1 <= max_lanczos <= M:
        raise ValueError(f"max_lanczos: need 1 <= max_lanczos <= M={M}, got {max_lanczos}")
    dtype = theta0.dtype
    lr = jnp.asarray(lr, dtype)
    dt = jnp.asarray(1.0 / substeps, dtype)
    key = jax.random.key(0) if key is None else key
    observe = observe or (lambda p: {})
    flat_loss = lambda t: hessian.evaluate(loss_fn, unravel(t), data)
    value_and_grad = jax.value_and_grad(flat_loss)
    have_ref = reference is not None
    ref = _flat_reference(reference, rec.size, M, dtype)

    def hvp(theta, u):
        return jax.jvp(jax.grad(flat_loss), (theta,), (u,))[1]

    start = jax.random.normal(key, (M,), dtype)
    top = hessian.lanczos_top(
        jax.linearize(jax.grad(flat_loss), theta0)[1], start, 1, max_lanczos, tol=tol
    )
    u0 = top.vectors[0]
    floor = (
        jnp.finfo(dtype).eps * jnp.maximum(jnp.linalg.norm(theta0), 1.0)
        if rho_min is None
        else jnp.asarray(rho_min, dtype)
    )
    first = lr * jnp.abs(u0 @ jax.grad(flat_loss)(theta0)) if rho0 is None else rho0
    log_rho0 = jnp.log(jnp.maximum(jnp.asarray(first, dtype), floor))
    log_floor = jnp.log(floor)

    def substep(carry):
        theta, u, log_rho, n = carry
        rho = jnp.exp(log_rho)
        _, g_plus = value_and_grad(theta + rho * u)
        _, g_minus = value_and_grad(theta - rho * u)
        hu = hvp(theta, u)
        S = u @ hu
        theta = theta - dt * lr * 0.5 * (g_plus + g_minus)
        u = u + dt * lr * (hu - S * u)
        u = u / jnp.linalg.norm(u)
        log_rho = jnp.maximum(log_rho + dt * (lr * S - 2.0), log_floor)
        return theta, u, log_rho, n + 1

    def interval(carry, xs):
        t, w_ref = xs
        n_before = carry[3]
        carry = jax.lax.while_loop(lambda c: c[3] < t * substeps, substep, carry)
        theta, u, log_rho, n = carry
        rho = jnp.exp(log_rho)
        loss = flat_loss(theta)
        l_sym = 0.5 * (flat_loss(theta + rho * u) + flat_loss(theta - rho * u))
        S = u @ hvp(theta, u)
        diff = w_ref - theta
        nan = jnp.full((), jnp.nan, dtype)
        out = dict(
            loss=loss,
            predicted_loss=l_sym,
            sharpness=S[None],
            sigma2=(rho**2)[None],
            oscillation2=(u @ diff)[None] ** 2 if have_ref else jnp.full((1,), jnp.nan, dtype),
            distance=jnp.linalg.norm(diff) if have_ref else nan,
            num_hvp=(n - n_before + 1).astype(jnp.int32),  # substeps + this record's
            observables=observe(unravel(theta)),
        )
        return carry, out

    carry0 = (theta0, u0, log_rho0, jnp.zeros((), jnp.int32))
    carry, out = jax.lax.scan(interval, carry0, (jnp.asarray(rec, jnp.int32), ref))
    num_hvp = out["num_hvp"].at[0].add(top.num_matvecs.astype(jnp.int32))
    return FlowTrajectory(
        jnp.asarray(rec),
        out["loss"],
        out["predicted_loss"],
        out["sharpness"],
        out["sigma2"],
        out["oscillation2"],
        out["distance"],
        num_hvp,
        out["observables"],
        unravel(carry[0]),
    )


def gradient_flow(
    loss_fn: Callable, params: Params, data: Data, lr, *, steps: int, **kwargs
) -> FlowTrajectory:
    """Gradient flow dw/dt = -eta grad L (t in GD steps), Euler with ``substeps`` per step; the same
    records as :func:`central_flow` (sharpness tracked at the records, sigma^2 = 0).

    Args:
      loss_fn, params, data: ``loss(params, data)``, the initial parameters and the full batch.
      lr: eta, the GD learning rate the time unit is taken from.
      steps: GD-steps of time; **kwargs: the records and sharpness options of
        :func:`central_flow` (its ``edge`` is off).
    Returns:
      :class:`FlowTrajectory`.
    """
    return central_flow(loss_fn, params, data, lr, steps=steps, edge=False, **kwargs)


def moving_average(x, window: int, axis: int = -1) -> np.ndarray:
    """Centered moving average over ``window`` consecutive records (valid part only: the output is
    ``window - 1`` shorter along ``axis``): GD's loss smoothed over its oscillation period.

    Args:
      x: records along ``axis``; window: records per average (>= 1); axis: the record axis.
    """
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window: must be an integer >= 1, got {window!r}")
    x = np.moveaxis(np.asarray(x, dtype=float), axis, -1)
    c = np.cumsum(np.concatenate([np.zeros(x.shape[:-1] + (1,)), x], -1), -1)
    return np.moveaxis((c[..., window:] - c[..., :-window]) / window, -1, axis)
