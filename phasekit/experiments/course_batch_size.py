"""Course diagnostics (spec 07): mini-batch size and the gradient noise scale (McCandlish et al. 2018).

    course-batch-size  SGD on a teacher task over a batch-size x lr x seed grid (vmapped over lr and
                       seed): steps S(B) to a target full-data loss at the best lr of each batch size,
                       the fit S = S_min (1 + B_crit / B), i.e. (S / S_min - 1)(E / E_min - 1) = 1 with
                       E = B S, and B_crit = E_min / S_min against the measured gradient noise scale
                       B_simple = tr(Sigma) / |G|^2 averaged along the path to the target.

Recipe: teacher data -> :func:`phasekit.dynamics.train.run` (``batch_size``, full-data loss recorded)
-> :func:`phasekit.theory.diagnostics.steps_to_target`, :func:`~phasekit.theory.diagnostics.
gradient_noise_scale` at the end of each run -> :func:`~phasekit.theory.diagnostics.steps_epochs_fit`
-> claims -> :mod:`phasekit.viz.course`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr

from phasekit.dynamics import sweep, train
from phasekit.experiments.base import Config, Experiment, claim, describe, param, register
from phasekit.models import mlp
from phasekit.theory import diagnostics as dg

__all__ = ["BatchSizeConfig"]

FIT_TOL = 0.25  # relative rms error of the fitted S(B)
CRIT_FACTOR = 5.0  # B_crit / B_simple within this factor


@dataclass(frozen=True)
class BatchSizeConfig(Config):
    """Inputs [n, input_dim] Gaussian, target from a random tanh teacher of width ``teacher_width``
    plus label noise ``noise``; student MLP [input_dim, width, 1] tanh, LeCun init, SGD with
    ``batch_sizes`` (drawn without replacement) and ``lrs``, ``steps`` at most; target loss
    ``target`` times the initial loss (full data)."""

    n: int = param(512, ge=2)
    input_dim: int = param(8, ge=1)
    width: int = param(32, ge=1)
    teacher_width: int = param(4, ge=1)
    noise: float = param(0.0, ge=0.0, doc="label noise std (0: a realizable teacher)")
    batch_sizes: tuple[int, ...] = param((1, 2, 4, 8, 16, 32, 64, 128, 256), ge=1)
    lrs: tuple[float, ...] = param(
        (0.05, 0.07, 0.1, 0.14, 0.2, 0.28, 0.4, 0.56, 0.8, 1.1, 1.6), gt=0.0
    )
    seeds: int = param(3, ge=1)
    steps: int = param(4000, ge=10)
    records: int = param(150, ge=10)
    target: float = param(0.1, gt=0.0, lt=1.0, doc="target full-data loss / initial loss")
    noise_lr: float = param(
        0.3, gt=0.0, doc="lr of the full-batch GD run on which B_simple is measured at the target"
    )
    data_seed: int = param(100, ge=0)
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        if max(self.batch_sizes) > self.n:
            raise ValueError(f"batch_sizes: at most n = {self.n}, got {max(self.batch_sizes)}")
        if len(self.batch_sizes) < 3:
            raise ValueError("batch_sizes: the fit needs at least 3 batch sizes")


def _data(cfg):
    kx, kt, kn = jax.random.split(jax.random.key(cfg.data_seed), 3)
    x = jax.random.normal(kx, (cfg.n, cfg.input_dim))
    teacher = mlp.init(kt, [cfg.input_dim, cfg.teacher_width, 1], scheme="he")
    y = mlp.apply(teacher, x, activation="tanh")
    return x, y / jnp.std(y) + cfg.noise * jax.random.normal(kn, (cfg.n,))


def run(cfg: BatchSizeConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    x, y = _data(cfg)
    loss = train.mse(mlp.apply, activation="tanh")
    sizes = [cfg.input_dim, cfg.width, 1]
    rec = train.record_steps(cfg.steps, cfg.records)

    def point(pt, key):
        b = int(cfg.batch_sizes[pt["batch"]])
        k_init, k_run = jax.random.split(key)
        params = mlp.init(k_init, sizes)
        lr = jnp.asarray(cfg.lrs)[pt["lr"]]
        traj = train.run(
            loss,
            params,
            (x, y),
            optax.sgd(lr),
            steps=cfg.steps,
            record_at=rec,
            batch_size=None if b == cfg.n else b,
            key=k_run,
        )
        target = cfg.target * traj.loss0
        s = dg.steps_to_target(rec, jnp.where(traj.diverged, jnp.inf, traj.loss), target)
        return {"steps_to_target": s, "loss": traj.loss}

    def noise_point(pt, key):
        params = mlp.init(jax.random.split(key)[0], sizes)
        l0 = loss(params, (x, y))
        noise = lambda p: {"b_simple": dg.gradient_noise_scale(loss, p, (x, y)).b_simple}

        def outputs(gd):
            # records before the stop (uniform in steps)
            on_path = (gd.step <= gd.n_steps).astype(l0.dtype)
            path = jnp.sum(on_path * gd.observables["b_simple"]) / jnp.sum(on_path)
            return {
                "b_simple_init": noise(params)["b_simple"],
                "b_simple_path": jnp.where(gd.converged, path, jnp.nan),
                "b_simple_target": jnp.where(gd.converged, noise(gd.params)["b_simple"], jnp.nan),
            }

        # a resumable run (early stop at the target): sweep.run can batch it continuously
        return train.resumable(
            loss,
            params,
            (x, y),
            optax.sgd(cfg.noise_lr),
            steps=cfg.steps,
            n_records=cfg.records,
            schedule="linear",
            observe=noise,
            stop_loss=cfg.target * l0,
        ).then(outputs)

    ds = sweep.run(
        point,
        {
            "batch": np.arange(len(cfg.batch_sizes)),
            "lr": np.arange(len(cfg.lrs)),
            "seed": np.arange(cfg.seeds),
        },
        static=("batch",),
        store=None if store is None else f"{store}/runs",
        shard=shard,
        key_axes=("seed",),
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        dims={"loss": ("record",)},
        coords={"record": rec},
        batching=cfg.batching,
        progress=progress,
        desc="batch size",
    )
    noise = sweep.run(
        noise_point,
        {"seed": np.arange(cfg.seeds)},
        store=None if store is None else f"{store}/noise",
        shard=shard,
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        batching=cfg.batching,
        progress=progress,
        desc="noise scale",
    )
    ds = ds.assign({k: noise[k] for k in ("b_simple_init", "b_simple_path", "b_simple_target")})
    ds = ds.assign_coords(batch=np.asarray(cfg.batch_sizes), lr=np.asarray(cfg.lrs))
    med = ds["steps_to_target"].median("seed")  # NaN if any seed missed: that lr does not count
    ds["best_steps"] = med.min("lr", skipna=True)
    best_lr = med.fillna(np.inf).argmin("lr")
    ds["best_lr"] = (
        "batch",
        np.where(np.isfinite(ds["best_steps"].values), np.asarray(cfg.lrs)[best_lr.values], np.nan),
    )
    ds["examples"] = ds["best_steps"] * ds["batch"]
    s_min, e_min, b_crit = dg.steps_epochs_fit(cfg.batch_sizes, ds["best_steps"].values)
    ds.attrs.update(s_min=s_min, e_min=e_min, b_crit=b_crit, target=cfg.target, n=cfg.n)
    return describe(ds, VARIABLES)


VARIABLES = {
    "steps_to_target": (
        "SGD steps until the full-data loss reaches target * L_0 (NaN: not within the budget)",
        "steps",
    ),
    "loss": ("full-data loss at the record steps", "1"),
    "b_simple_init": ("B_simple = tr(Sigma) / |G|^2 at initialization", "samples"),
    "b_simple_path": (
        "B_simple averaged over the steps of full-batch GD (lr noise_lr) from init to the target",
        "samples",
    ),
    "b_simple_target": (
        "B_simple where full-batch GD (lr noise_lr) first reaches the target",
        "samples",
    ),
    "best_steps": ("S(B): steps to the target at the best lr (median over seeds)", "steps"),
    "best_lr": ("the lr of S(B)", "1"),
    "examples": ("E(B) = B S(B): examples processed to the target", "samples"),
}


def claims(ds: xr.Dataset) -> list:
    b = ds["batch"].values.astype(float)
    s = ds["best_steps"].values
    s_min, e_min, b_crit = ds.attrs["s_min"], ds.attrs["e_min"], ds.attrs["b_crit"]
    ok = np.isfinite(s)
    fit = s_min * (1 + b_crit / b[ok])
    rms = float(np.sqrt(np.mean((fit / s[ok] - 1) ** 2))) if ok.sum() >= 3 else float("nan")
    out = [
        claim(
            ds,
            name="steps-examples-tradeoff",
            figure="course: batch size",
            statement=f"steps to the target follow S = S_min (1 + B_crit / B), i.e. (S/S_min - 1)(E/E_min - 1) = 1: "
            f"relative rms error of the fit < {FIT_TOL} (S_min = {s_min:.3g}, E_min = {e_min:.3g})",
            book="McCandlish et al. 2018, Fig 1",
            measured=rms,
            held=rms < FIT_TOL and s_min > 0 and e_min > 0,
            if_not_held="the lr grid is too coarse for the best lr at every batch size",
            min_preset="quick",
            detail=f"{int(ok.sum())} batch sizes reached the target",
        )
    ]
    bs = float(np.nanmedian(ds["b_simple_path"].values))
    ratio = b_crit / bs if bs > 0 else float("nan")
    out.append(
        claim(
            ds,
            name="critical-batch-is-noise-scale",
            figure="course: batch size",
            statement=f"the critical batch B_crit = E_min / S_min = {b_crit:.3g} matches the gradient noise scale "
            f"B_simple = {bs:.3g} (averaged over the steps of the path to the target, full-batch GD) within a factor {CRIT_FACTOR:g}",
            book="B_crit ~ B_simple",
            measured=ratio,
            held=np.isfinite(ratio) and 1 / CRIT_FACTOR < ratio < CRIT_FACTOR,
            min_preset="quick",
            if_not_held="B_simple grows ~50x along the path (init ~10, target ~500 at quick); the path "
            "average is taken on linear records of the whole budget, so a run that stops early "
            "is sampled coarsely; and B_simple assumes a well-conditioned Hessian "
            "(B_crit ~ B_noise = tr(H Sigma) / G^T H G)",
        )
    )
    return out


def figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import course as viz

    return viz.batch_size_figures(ds)


register(
    Experiment(
        "course-batch-size",
        area="course",
        figure="course: batch size",
        title="steps vs examples to a target loss over batch sizes; critical batch vs the gradient noise scale",
        config=BatchSizeConfig,
        presets={
            "tiny": dict(
                n=128,
                width=8,
                batch_sizes=(2, 8, 32, 128),
                lrs=(0.1, 0.3, 1.0),
                seeds=2,
                steps=600,
                records=60,
            ),
            "quick": {},
            "paper": dict(
                n=2048,
                width=64,
                batch_sizes=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048),
                lrs=(0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 2.0),
                seeds=8,
                steps=20000,
                records=300,
            ),
        },
        run=run,
        claims=claims,
        figures=figures,
    )
)
