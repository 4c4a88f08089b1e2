"""Course diagnostics (spec 07): L1 vs L2 regularization, early stopping vs ridge.

    course-regularization  (1) an MLP fit to a teacher that reads only a few of its inputs, by GD
                           with an L1 penalty (ISTA: gradient step + soft thresholding) or an L2
                           penalty on the weights, over a grid of penalties: the fraction of weights
                           |w| <= tol at matched training loss. (2) Linear least squares, GD from zero
                           with step eta: the measured spectral filter of w_t against
                           1 - (1 - eta s)^t, and w_t against ridge at lambda = 1 / (eta t).

Recipe: teacher data -> :func:`phasekit.dynamics.train.run` with :func:`phasekit.dynamics.
regularization.proximal_sgd` / :func:`~phasekit.dynamics.regularization.l2_sgd` -> sparsity; least
squares -> :func:`phasekit.theory.diagnostics.least_squares_spectrum`, :func:`~phasekit.theory.
diagnostics.measured_filter`, :func:`~phasekit.theory.diagnostics.early_stopping_filter`,
:func:`~phasekit.theory.diagnostics.ridge_filter` -> claims -> :mod:`phasekit.viz.course`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from phasekit.dynamics import regularization as reg
from phasekit.dynamics import sweep, train
from phasekit.experiments.base import Config, Experiment, claim, describe, param, register
from phasekit.models import mlp
from phasekit.theory import diagnostics as dg

__all__ = ["RegularizationConfig", "matched_sparsity"]

PENALTIES = ("l1", "l2")
SPARSITY_GAP = 0.2  # L1 minus L2 near-zero fraction at matched loss
FILTER_TOL = 1e-3
MATCH_TOL = 0.2  # |w_GD(t) - w_ridge(1/(eta t))| / |w_OLS|


def _store(store, name):
    return None if store is None else f"{store}/{name}"


@dataclass(frozen=True)
class RegularizationConfig(Config):
    """(1) inputs [n, input_dim] Gaussian, target tanh(x_1 + x_2 - x_3) (``relevant`` = 3 inputs
    used), MLP [input_dim, width, 1] tanh, GD ``steps`` at ``lr`` from a LeCun init; penalties
    ``lambdas`` for both L1 and L2 (weights only). (2) least squares with design [ls_n, ls_dim]
    whose columns have scales geometric in [1, 1 / sqrt(ls_kappa)], GD from zero for ``ls_steps``."""

    n: int = param(128, ge=2)
    input_dim: int = param(20, ge=3)
    width: int = param(16, ge=1)
    steps: int = param(2000, ge=1)
    lr: float = param(0.1, gt=0.0)
    lambdas: tuple[float, ...] = param((1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2), gt=0.0)
    sparsity_tol: float = param(1e-3, gt=0.0, doc="|w| <= tol counts as zero")
    seeds: int = param(2, ge=1)
    ls_n: int = param(200, ge=2)
    ls_dim: int = param(20, ge=1)
    ls_kappa: float = param(1e3, ge=1.0)
    ls_steps: int = param(2000, ge=1)
    ls_records: int = param(30, ge=2)
    ls_noise: float = param(0.5, ge=0.0)
    data_seed: int = param(100, ge=0)
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        if self.ls_n < self.ls_dim:
            raise ValueError(f"ls_n: need at least ls_dim = {self.ls_dim} samples, got {self.ls_n}")


def run(cfg: RegularizationConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    x = jax.random.normal(jax.random.key(cfg.data_seed), (cfg.n, cfg.input_dim))
    y = jnp.tanh(x[:, 0] + x[:, 1] - x[:, 2])
    loss = train.mse(mlp.apply, activation="tanh")
    sizes = [cfg.input_dim, cfg.width, 1]

    def sparse_point(pt, key):
        lam = jnp.asarray(cfg.lambdas)[pt["lam"]]
        params = mlp.init(key, sizes)
        opt = (
            reg.proximal_sgd(cfg.lr, lam, reg.weights_only)
            if pt["penalty"] == 0
            else reg.l2_sgd(cfg.lr, lam, reg.weights_only)
        )
        traj = train.run(loss, params, (x, y), opt, steps=cfg.steps, n_records=2)
        w = [layer["w"] for layer in traj.params]
        return {
            "train_loss": traj.loss[-1],
            "sparsity": reg.sparsity(w, cfg.sparsity_tol),
            "first_layer_sparsity": reg.sparsity(w[0], cfg.sparsity_tol),
        }

    sp = sweep.run(
        sparse_point,
        {"penalty": np.arange(2), "lam": np.arange(len(cfg.lambdas)), "seed": np.arange(cfg.seeds)},
        static=("penalty",),
        store=_store(store, "sparsity"),
        shard=shard,
        key_axes=("seed",),
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        batching=cfg.batching,
        progress=progress,
        desc="L1 vs L2",
    )
    sp = sp.assign_coords(penalty=list(PENALTIES), lam=np.asarray(cfg.lambdas))

    def ls_point(pt, key):
        kx, kn, kw = jax.random.split(key, 3)
        scales = cfg.ls_kappa ** (-0.5 * jnp.linspace(0.0, 1.0, cfg.ls_dim))
        xl = jax.random.normal(kx, (cfg.ls_n, cfg.ls_dim)) * scales
        yl = xl @ jax.random.normal(kw, (cfg.ls_dim,)) + cfg.ls_noise * jax.random.normal(
            kn, (cfg.ls_n,)
        )
        ls = dg.least_squares_spectrum(xl, yl)
        lr = 1.0 / ls.s[-1]
        rec = train.record_steps(cfg.ls_steps, cfg.ls_records)
        traj = train.run(
            lambda w, d: 0.5 * jnp.mean((d[0] @ w - d[1]) ** 2),
            jnp.zeros(cfg.ls_dim),
            (xl, yl),
            train.optimizer("gd", lr),
            steps=cfg.ls_steps,
            record_at=rec,
            observe=lambda w: {"w": w},
        )
        ws = traj.observables["w"]  # [R, d]
        t = jnp.asarray(rec[1:], jnp.float32)
        measured = jax.vmap(lambda w: dg.measured_filter(ls, w))(ws[1:])
        closed = jax.vmap(lambda tt: dg.early_stopping_filter(ls.s, lr, tt))(t)
        ridge = jax.vmap(
            lambda tt: dg.spectral_solution(ls, dg.ridge_filter(ls.s, dg.matched_ridge(lr, tt)))
        )(t)
        ols = jnp.linalg.norm(ls.c)
        return {
            "eigenvalue": ls.s,
            "filter_gd": measured,
            "filter_closed": closed,
            "filter_ridge": jax.vmap(lambda tt: dg.ridge_filter(ls.s, dg.matched_ridge(lr, tt)))(t),
            "ridge_distance": jnp.linalg.norm(ws[1:] - ridge, axis=-1) / ols,
            "lr_times_smax": lr * ls.s[-1],
        }

    rec = train.record_steps(cfg.ls_steps, cfg.ls_records)[1:]
    ls = sweep.run(
        ls_point,
        {"design": np.arange(cfg.seeds)},
        store=_store(store, "least_squares"),
        shard=shard,
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        dims={
            "eigenvalue": ("k",),
            "filter_gd": ("t", "k"),
            "filter_closed": ("t", "k"),
            "filter_ridge": ("t", "k"),
            "ridge_distance": ("t",),
        },
        coords={"t": rec, "k": np.arange(cfg.ls_dim)},
        batching=cfg.batching,
        progress=progress,
        desc="early stopping vs ridge",
    )
    ds = xr.merge([sp, ls], combine_attrs="drop_conflicts")
    ds.attrs.update(sparsity_tol=cfg.sparsity_tol, steps=cfg.steps)
    return describe(ds, VARIABLES)


VARIABLES = {
    "train_loss": ("training MSE (without the penalty) after training", "1"),
    "sparsity": ("fraction of weights with |w| <= sparsity_tol", "1"),
    "first_layer_sparsity": ("fraction of first-layer weights with |w| <= sparsity_tol", "1"),
    "eigenvalue": ("eigenvalues s_k of X^T X / n", "1"),
    "filter_gd": ("measured filter (v_k . w_t) / c_k of GD from zero at step t", "1"),
    "filter_closed": ("1 - (1 - eta s_k)^t", "1"),
    "filter_ridge": ("s_k / (s_k + lambda), lambda = 1 / (eta t)", "1"),
    "ridge_distance": ("|w_GD(t) - w_ridge(lambda = 1/(eta t))| / |w_OLS|", "1"),
    "lr_times_smax": ("eta s_max of the GD runs", "1"),
}


def matched_sparsity(ds):
    """(L1 sparsity, L2 sparsity interpolated at the same training loss) for every L1 lambda whose
    (seed-mean) training loss lies inside the L2 runs' range: two arrays [M]. ``ds``: the
    course-regularization Dataset."""
    loss = ds["train_loss"].mean("seed")
    sp = ds["sparsity"].mean("seed")
    l2_loss, l2_sp = loss.sel(penalty="l2").values, sp.sel(penalty="l2").values
    order = np.argsort(l2_loss)
    l1_loss, l1_sp = loss.sel(penalty="l1").values, sp.sel(penalty="l1").values
    inside = (l1_loss >= l2_loss.min()) & (l1_loss <= l2_loss.max())
    return l1_sp[inside], np.interp(np.log(l1_loss[inside]), np.log(l2_loss[order]), l2_sp[order])


def claims(ds: xr.Dataset) -> list:
    out = []
    l1, l2 = matched_sparsity(ds)
    gap = float(np.max(l1 - l2)) if l1.size else float("nan")
    out.append(
        claim(
            ds,
            name="l1-sparser-at-matched-loss",
            figure="course: L1 vs L2",
            statement=f"at matched training loss, L1 (soft thresholding) leaves a larger fraction of weights "
            f"|w| <= {ds.attrs['sparsity_tol']:g} than L2: the largest gap over the penalty grid "
            f"exceeds {SPARSITY_GAP}",
            book="L1 sparse, L2 not",
            measured=gap,
            held=gap > SPARSITY_GAP,
            if_not_held="the penalty grids do not overlap in training loss",
            detail=f"{l1.size} L1 penalties inside the L2 loss range",
        )
    )
    err = float(np.max(np.abs(ds["filter_gd"] - ds["filter_closed"])))
    out.append(
        claim(
            ds,
            name="early-stopping-filter",
            figure="course: early stopping vs ridge",
            statement=f"GD from zero on least squares filters eigenvalue s by 1 - (1 - eta s)^t: measured "
            f"filters within {FILTER_TOL:g} at every recorded t",
            book=0.0,
            measured=err,
            held=err < FILTER_TOL,
            if_not_held="float32 round-off in the small-s coefficients",
        )
    )
    dist = float(ds["ridge_distance"].max())
    out.append(
        claim(
            ds,
            name="early-stopping-is-ridge",
            figure="course: early stopping vs ridge",
            statement=f"GD stopped at t matches ridge at lambda = 1 / (eta t): |w_GD - w_ridge| / |w_OLS| "
            f"< {MATCH_TOL} at every recorded t",
            book="close",
            measured=dist,
            held=dist < MATCH_TOL,
            if_not_held="the filters differ most near s ~ lambda (0.63 vs 0.5 at eta s t = 1)",
        )
    )
    return out


def figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import course as viz

    return viz.regularization_figures(ds)


register(
    Experiment(
        "course-regularization",
        area="course",
        figure="course: L1 vs L2, early stopping vs ridge",
        title="L1 (proximal) vs L2: sparsity at matched loss; early stopping as a ridge filter",
        config=RegularizationConfig,
        presets={
            "tiny": dict(
                n=64,
                width=8,
                steps=500,
                lambdas=(1e-3, 3e-3, 1e-2, 3e-2),
                seeds=1,
                ls_n=60,
                ls_dim=8,
                ls_steps=500,
                ls_records=15,
            ),
            "quick": {},
            "paper": dict(
                n=512,
                width=64,
                steps=10000,
                seeds=8,
                ls_steps=20000,
                lambdas=(1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1),
            ),
        },
        run=run,
        claims=claims,
        figures=figures,
    )
)
