r"""The phase diagram of initialization scale for two-layer nets (spec 01, book ch. 7).

.. math::

    \mathrm{RD}(\theta_w(t)) = \frac{\|\theta_w(t) - \theta_w(0)\|_2}{\|\theta_w(0)\|_2},
    \qquad S_w = \lim_{m \to \infty} \frac{\log \mathrm{RD}^*(m)}{\log m}

(theta_w: the input weights and biases; S_w is fitted as the least-squares slope over widths).

S_w < 0: linear regime; S_w > 0: condensed; S_w ~ 0: critical.

Learning-rate rule (gradient flow at every scale). GD approximates gradient flow when
lr * lambda_max(Hessian) << 1 all along the trajectory. For a two-layer net the Hessian of
R_S = 1/(2n) sum (f - y)^2 has two parts, bounded at initialization by

    Gauss-Newton part   <=  tr G = (1/n) sum_i ||grad_theta f(x_i)||^2
    residual part       <=  c = (1/(n alpha)) sum_i |f(x_i) - y_i| * ||(x_i, 1)||   (|sigma'| <= 1)

(the residual part is the a-w coupling that drives the escape from small initialization;
it stays O(|y|/alpha) while the Gauss-Newton part grows to the same order when weights
condense, and stays near its initial value in the linear regime). phasekit uses

    lr = eta / (tr G(theta_0) + c(theta_0)),     eta = 0.25 by default,

plus the original authors' safeguard: the step size is halved whenever the loss rises.
Training stops when R_S <= rel_tol * R_S(theta_0) (1e-4 by default) or at ``max_steps``
(such runs are flagged ``hit_cap`` and excluded from S_w fits).

The input weights are trained as a displacement from theta_0 (theta = theta_0 + delta), so
RD = ||delta_w|| / ||theta_w0|| is accurate even when RD ~ 1e-6 in float32.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from phasekit.dynamics import init_scale, sweep, train
from phasekit.models import activations, two_layer
from phasekit.theory import regimes

__all__ = [
    "GRID_FIELDS",
    "PhaseConfig",
    "WidthFit",
    "add_scaling_exponent",
    "agreement",
    "empirical_boundary",
    "learning_rate",
    "network_run",
    "phase_diagram",
    "point_run",
    "relative_distance",
    "scaling_exponent",
    "train_network",
    "train_point",
]


def relative_distance(theta_w_t, theta_w_0):
    """RD = ||theta_t - theta_0|| / ||theta_0|| over all leaves of two pytrees (scalar).

    Args:
      theta_w_t: parameters at time t (pytree); theta_w_0: at initialization (same structure).
    Returns:
      RD, a scalar (0-d array).
    """
    diff = jax.tree_util.tree_map(lambda a, b: a - b, theta_w_t, theta_w_0)
    sq = lambda tree: sum(jnp.sum(jnp.square(l)) for l in jax.tree_util.tree_leaves(tree))
    return jnp.sqrt(sq(diff) / sq(theta_w_0))


class WidthFit(NamedTuple):
    """Least-squares fit of log RD against log m (:func:`scaling_exponent`), arrays [...]:
    ``slope`` (S_w), ``stderr`` (its standard error, NaN with 2 points), ``r2``, ``n`` (points
    used), ``poor_fit`` (bool: < 2 points, or residual std in log RD above ``max_residual``)."""

    slope: np.ndarray
    stderr: np.ndarray
    r2: np.ndarray
    n: np.ndarray
    poor_fit: np.ndarray


def scaling_exponent(widths, rd, valid=None, max_residual: float = 0.25) -> WidthFit:
    """S_w as the least-squares slope of log RD* against log m.

    Args:
      widths: [W] widths m.
      rd: [..., W] RD* values (e.g. averaged over seeds); leading axes are fitted separately.
      valid: optional [..., W] mask of usable points (e.g. converged runs); need >= 2 per fit.
      max_residual: fits whose residual standard deviation in log RD exceeds this (RD* is not a
        power law of m over the widths) are flagged ``poor_fit``. (R^2 is reported too, but it
        is meaningless near the critical line where the slope is ~0.)
    Returns:
      :class:`WidthFit` of arrays [...].
    """
    logm = np.log(np.asarray(widths, float))
    logr = np.log(np.asarray(rd, float))
    if logr.shape[-1] != logm.size:
        raise ValueError(f"rd: last axis must match widths ({logm.size}), got {logr.shape}")
    ok = np.isfinite(logr) & (
        np.ones_like(logr, bool) if valid is None else np.asarray(valid, bool)
    )
    k = ok.sum(-1)
    w = ok.astype(float)
    xm = (w * logm).sum(-1) / np.maximum(k, 1)
    ym = (w * np.where(ok, logr, 0)).sum(-1) / np.maximum(k, 1)
    dx, dy = w * (logm - xm[..., None]), w * (np.where(ok, logr, 0) - ym[..., None])
    sxx, sxy, syy = (dx * dx).sum(-1), (dx * dy).sum(-1), (dy * dy).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(k >= 2, sxy / sxx, np.nan)
        resid = np.maximum(syy - slope * sxy, 0.0)
        resid_std = np.sqrt(resid / np.maximum(k - 2, 1))
        stderr = np.where(k >= 3, resid_std / np.sqrt(sxx), np.nan)
        r2 = np.where(syy > 0, 1.0 - resid / syy, 1.0)
    return WidthFit(slope, stderr, r2, k, (k < 2) | ((k >= 3) & ~(resid_std <= max_residual)))


GRID_FIELDS = ("gammas", "gamma_primes", "widths", "seeds")


@dataclass(frozen=True)
class PhaseConfig:
    """Everything that determines a phase-diagram sweep besides the data.

    gammas, gamma_primes: the (gamma, gamma') grid; widths: at least two, spanning decades;
    seeds: number of seeds per point; rel_tol: stop when R_S <= rel_tol * R_S(theta_0);
    max_steps: step cap (runs reaching it are flagged); eta: lr = eta / curvature bound;
    lr_backoff: step-size factor applied whenever the loss rises; antisymmetric: the authors'
    anti-symmetric init (f(theta_0) = 0, so the init scale does not add an output offset);
    chunk_size, batching: how runs are grouped on a device (:func:`phasekit.dynamics.sweep.run`;
    batching "auto", "map", "vmap" or "continuous").
    """

    gammas: tuple = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
    gamma_primes: tuple = (-0.5, 0.0, 0.5)
    widths: tuple = (100, 400, 1600)
    seeds: int = 2
    activation: str = "relu"
    bias: bool = True
    antisymmetric: bool = True
    rel_tol: float = 1e-4
    max_steps: int = 20_000
    eta: float = 0.25
    lr_backoff: float = 0.5
    n_records: int = 40
    base_seed: int = 0
    chunk_size: int | str = "auto"
    batching: str = "auto"

    def __post_init__(self):
        for name in ("gammas", "gamma_primes", "widths"):
            vals = tuple(getattr(self, name))
            if not vals:
                raise ValueError(f"{name}: need at least one value")
            if name != "widths":
                if any(isinstance(v, (bool, np.bool_)) for v in vals) or not np.all(
                    np.isfinite(np.asarray(vals, float))
                ):
                    raise ValueError(f"{name}: need finite numbers, got {vals}")
                vals = tuple(float(v) for v in vals)
            object.__setattr__(self, name, vals)
        if len(self.widths) < 2:
            raise ValueError(f"widths: need at least two widths to fit S_w, got {self.widths}")
        for m in self.widths:
            if not (
                isinstance(m, (int, np.integer))
                and not isinstance(m, (bool, np.bool_))
                and m > 0
                and (m % 2 == 0 or not self.antisymmetric)
            ):
                raise ValueError(
                    f"widths: positive integers (even with antisymmetric init), got {m!r}"
                )
        object.__setattr__(self, "widths", tuple(int(m) for m in self.widths))
        if isinstance(self.seeds, (bool, np.bool_)) or not (
            isinstance(self.seeds, (int, np.integer)) and self.seeds > 0
        ):
            raise ValueError(f"seeds: must be a positive integer, got {self.seeds!r}")
        activations.get(self.activation)
        checks = {
            "rel_tol": 0 < self.rel_tol < 1,
            "eta": self.eta > 0,
            "lr_backoff": 0 < self.lr_backoff <= 1,
            "max_steps": isinstance(self.max_steps, int) and self.max_steps > 0,
            "n_records": isinstance(self.n_records, int) and self.n_records >= 2,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name}: invalid value {getattr(self, name)!r}")

    def to_dict(self, execution: bool = True, grid: bool = True):
        """JSON-able fields; ``execution=False`` leaves out chunk_size and batching (how runs
        are scheduled, not what they compute); ``grid=False`` leaves out the grid values
        (gammas, gamma_primes, widths, seeds: which points exist, not what one point computes),
        so a store's fingerprint lets the grid grow."""
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}
        drop = (() if execution else ("chunk_size", "batching")) + (() if grid else GRID_FIELDS)
        return {k: v for k, v in d.items() if k not in drop}


def learning_rate(params, x, y, activation="relu", alpha=1.0, eta: float = 0.25):
    """lr = eta / (tr G + c) at ``params`` (see the module docstring). Traceable, O(n m) memory.

    tr G = (1/n) sum_i ||grad_theta f(x_i)||^2 with, for the two-layer net,
    ||grad f(x_i)||^2 = alpha^-2 sum_k [sigma(z_ik)^2 + a_k^2 sigma'(z_ik)^2 (||x_i||^2 + 1)].

    Args:
      params: two-layer parameters ``{"a": [m], "w": [m, d], "b": [m]}`` (``b`` optional).
      x: inputs [n, d]; y: targets [n].
      activation: the hidden activation's name; alpha: the output normalization
        f = (1/alpha) sum_k a_k sigma(w_k . x + b_k); eta: the numerator.
    Returns:
      the learning rate, a scalar.
    """
    z = two_layer.preactivation(params, x)
    dh = jax.jvp(activations.get(activation), (z,), (jnp.ones_like(z),))[1]  # sigma'(z)
    h = two_layer.hidden(params, x, activation)
    xx = jnp.sum(x**2, axis=1) + (1.0 if "b" in params else 0.0)
    trace_gn = jnp.mean(jnp.sum(h**2 + params["a"] ** 2 * dh**2 * xx[:, None], axis=1)) / alpha**2
    resid = jnp.abs(
        two_layer.apply(params, x, activation, alpha) - y
    )  # the model's own forward pass
    c = jnp.mean(resid * jnp.sqrt(xx)) / alpha
    return eta / (trace_gn + c)


def train_network(
    alpha, beta1, beta2, width: int, key, x, y, cfg: PhaseConfig, return_params: bool = False
):
    """Train one network with scales (alpha, beta1, beta2) to the loss threshold.

    Traceable and vmappable over (alpha, beta1, beta2, key). Returns (dict, record steps): the
    dict holds rd_star, loss_star, loss0, steps, lr, converged, diverged, hit_cap and the
    log-spaced trajectories rd [R], loss [R] (plus theta0 / theta_final if asked).

    Args:
      alpha: output normalization; beta1: multiplier of the output weights a; beta2: of the input
        weights and biases (w, b) (:func:`phasekit.models.two_layer.rescale`). May be traced.
      width: m (static); key: PRNG key of the unit-scale init.
      x: inputs [n, d]; y: targets [n].
      cfg: :class:`PhaseConfig` (activation, stop rule, lr rule, records).
      return_params: also return theta0 and theta_final.
    """
    r = network_run(alpha, beta1, beta2, width, key, x, y, cfg, return_params)
    return r.finish(r.advance(r.init(), r.steps)), jnp.asarray(
        train.record_steps(cfg.max_steps, cfg.n_records)
    )


def network_run(
    alpha, beta1, beta2, width: int, key, x, y, cfg: PhaseConfig, return_params: bool = False
) -> train.Resumable:
    """:func:`train_network` as a resumable run (:func:`phasekit.dynamics.train.resumable`)
    whose ``finish`` gives the dict of outputs: the form ``sweep.run`` batches continuously.

    Args:
      alpha, beta1, beta2, width, key, x, y, cfg, return_params: as in :func:`train_network`.
    Returns:
      :class:`phasekit.dynamics.train.Resumable` (``cfg.max_steps`` steps) whose ``finish`` gives
      the dict of :func:`train_network`.
    """
    p0 = two_layer.rescale(
        two_layer.init(key, width, x.shape[1], bias=cfg.bias, antisymmetric=cfg.antisymmetric),
        beta1,
        beta2,
    )
    # the init-scale sweep's run for any model (one code path): theta_w = (w, b) is the one group
    run = init_scale.displacement_run(
        lambda p, xx: two_layer.apply(p, xx, cfg.activation, alpha),
        p0,
        (x, y),
        init_scale.group_masks(p0, {"input": ("w", "b")}),
        lr=lambda p, data, scale: learning_rate(p, x, y, cfg.activation, alpha, cfg.eta),
        steps=cfg.max_steps,
        rel_tol=cfg.rel_tol,
        n_records=cfg.n_records,
        lr_backoff=cfg.lr_backoff if cfg.lr_backoff < 1 else None,
    )

    def outputs(out):
        out = dict(out, rd_star=out["rd_star"][0], rd=out["rd"][:, 0])
        theta_final = out.pop("theta_final")
        if return_params:
            out["theta0"], out["theta_final"] = p0, theta_final
        return out

    return run.then(outputs)


def train_point(
    gamma, gamma_prime, width: int, key, x, y, cfg: PhaseConfig, return_params: bool = False
):
    """:func:`train_network` at the phase-diagram point (gamma, gamma'), scales from
    :func:`phasekit.theory.regimes.scaling_for`.

    Args:
      gamma, gamma_prime: the phase-diagram coordinates; width, key, x, y, cfg, return_params: as
        in :func:`train_network`.
    Returns:
      what :func:`train_network` returns: (dict of outputs, record steps [R]).
    """
    alpha, beta1, beta2 = regimes.scaling_for(gamma, gamma_prime, width)
    return train_network(alpha, beta1, beta2, width, key, x, y, cfg, return_params)


def point_run(gamma, gamma_prime, width: int, key, x, y, cfg: PhaseConfig) -> train.Resumable:
    """:func:`network_run` at the phase-diagram point (gamma, gamma').

    Args:
      gamma, gamma_prime: the phase-diagram coordinates; width, key, x, y, cfg: as in
        :func:`train_network`.
    Returns:
      :class:`phasekit.dynamics.train.Resumable` (see :func:`network_run`).
    """
    alpha, beta1, beta2 = regimes.scaling_for(gamma, gamma_prime, width)
    return network_run(alpha, beta1, beta2, width, key, x, y, cfg)


def phase_diagram(
    x, y, cfg: PhaseConfig = PhaseConfig(), *, store=None, shard=None, progress: bool = True
) -> xr.Dataset:
    """Sweep (gamma, gamma', width, seed), train every network to the loss threshold, fit S_w.

    Args:
      x: [n, d] inputs; y: [n] targets.
      cfg: :class:`PhaseConfig`.
      store: directory for the resumable sweep store (None: in memory).
      shard: (i, n) or "i/n" to compute a part of the grid (see :mod:`phasekit.dynamics.sweep`).
      progress: show a progress bar.
    Returns:
      Dataset with dims (gamma, gamma_prime, width, seed, record):
        rd_star, loss_star, loss0, steps, lr, converged, diverged, hit_cap, rd, loss  (per run)
        S_w, S_w_stderr, S_w_r2, S_w_poor_fit  over (gamma, gamma_prime): slope of the seed-mean
          of log RD* over widths, converged runs only
        regime_theory, theory_sign, boundary_distance  over (gamma, gamma_prime)
        boundary_gamma  over gamma_prime: zero crossing of S_w along gamma (NaN if none)
      attrs: config, version, wall time.
    """
    x, y = train.check_xy(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32))
    if x.ndim != 2 or y.ndim != 1:
        raise ValueError(f"x: expected x [n, d] and y [n], got {x.shape} and {y.shape}")
    steps = train.record_steps(cfg.max_steps, cfg.n_records)

    def point(pt, key):  # a resumable run: sweep.run can batch it continuously
        return point_run(pt["gamma"], pt["gamma_prime"], pt["width"], key, x, y, cfg)

    t0 = time.perf_counter()
    axes = {
        "gamma": np.asarray(cfg.gammas, float),
        "gamma_prime": np.asarray(cfg.gamma_primes, float),
        "width": np.asarray(cfg.widths, int),
        "seed": np.arange(cfg.seeds),
    }
    ds = sweep.run(
        point,
        axes,
        static=("width",),
        store=store,
        chunk_size=cfg.chunk_size,
        key_axes=("width", "seed"),
        base_seed=cfg.base_seed,
        shard=shard,
        config=cfg.to_dict(execution=False, grid=False) | {"data_hash": init_scale.data_hash(x, y)},
        dims={"rd": ("record",), "loss": ("record",)},
        coords={"record": steps},
        batching=cfg.batching,
        progress=progress,
        desc="phase diagram",
    )
    ds = ds.assign_coords(step=("record", steps))
    ds = add_scaling_exponent(ds)
    ds.attrs["wall_time_s"] = time.perf_counter() - t0
    return ds


def add_scaling_exponent(ds: xr.Dataset) -> xr.Dataset:
    """Add S_w (and its fit diagnostics), the theoretical regime and the empirical boundary.

    Args:
      ds: a :func:`phase_diagram` Dataset with the per-run variables (rd_star, converged, ...).
    Returns:
      ``ds`` with S_w, S_w_stderr, S_w_r2, S_w_poor_fit, regime_theory, theory_sign,
      boundary_distance over (gamma, gamma_prime) and boundary_gamma over gamma_prime added.
    """
    ds = init_scale.add_width_exponent(
        ds
    )  # the fit is the init-scale sweep's, over (gamma, gamma')
    g, gp = xr.broadcast(ds["gamma"], ds["gamma_prime"])
    ds = ds.assign(
        regime_theory=(g.dims, regimes.regime(g.values, gp.values)),
        theory_sign=(g.dims, regimes.theoretical_sign(g.values, gp.values)),
        boundary_distance=(g.dims, regimes.boundary_distance(g.values, gp.values)),
    )
    ds["boundary_gamma"] = (
        "gamma_prime",
        empirical_boundary(ds["gamma"].values, ds["S_w"].transpose("gamma", "gamma_prime").values),
    )
    return ds


def empirical_boundary(gammas, s_w):
    """Zero crossing of S_w along gamma, by linear interpolation, for each gamma' column.

    Args: gammas [G] (increasing); s_w [G, G'] . Returns [G'] (NaN where S_w does not change
    sign from - to +; the first such crossing is taken).
    """
    gammas = np.asarray(gammas, float)
    out = np.full(s_w.shape[1], np.nan)
    for j in range(s_w.shape[1]):
        col = s_w[:, j]
        for i in range(len(gammas) - 1):
            a, b = col[i], col[i + 1]
            if np.isfinite(a) and np.isfinite(b) and a < 0 <= b:
                out[j] = gammas[i] + (gammas[i + 1] - gammas[i]) * (-a) / (b - a)
                break
    return out


def agreement(ds: xr.Dataset, margin: float = 0.1) -> dict:
    """Compare sign(S_w) with the theoretical regime at points >= ``margin`` from the boundary.

    Returns counts and the list of disagreeing (gamma, gamma', S_w) points.

    Args:
      ds: a :func:`phase_diagram` Dataset (with S_w, from :func:`add_scaling_exponent`).
      margin: the least ``boundary_distance`` (:func:`phasekit.theory.regimes.boundary_distance`)
        of a point that is compared.
    """
    far = (ds["boundary_distance"] >= margin) & np.isfinite(ds["S_w"])
    sign = np.sign(ds["S_w"])
    ok = far & (sign == ds["theory_sign"])
    bad = far & ~ok
    g, gp = xr.broadcast(ds["gamma"], ds["gamma_prime"])
    disagree = [
        (float(a), float(b), float(s))
        for a, b, s, m in zip(
            g.values.ravel(), gp.values.ravel(), ds["S_w"].values.ravel(), bad.values.ravel()
        )
        if m
    ]
    return {
        "n_compared": int(far.sum()),
        "n_agree": int(ok.sum()),
        "disagree": disagree,
        "n_hit_cap": int(ds["hit_cap"].sum()),
        "n_diverged": int(ds["diverged"].sum()),
        "n_runs": int(ds["hit_cap"].size),
    }
