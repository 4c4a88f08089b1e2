"""Course diagnostics (spec 07): batch normalization and the smoothness of the loss (Santurkar et al. 2018).

    course-batchnorm  a deep MLP with and without BatchNorm (Flax; batch statistics in training,
                      running averages at test) trained by minibatch SGD over a lr grid: along the
                      gradient direction at steps eta = lr x etas, the loss variation
                      max - min L(w - eta g), the gradient predictiveness max |g(w) - g(w - eta g)|,
                      and lambda_max of the Hessian (Lanczos), recorded through training; the
                      learning rates at which each net trains or diverges.

Recipe: teacher data -> :class:`phasekit.models.normalized_mlp.MLP` -> :func:`phasekit.dynamics.
stateful.run` (running statistics carried beside the parameters) with an observer of
:func:`phasekit.theory.diagnostics.gradient_direction` and :func:`phasekit.theory.hessian.
top_eigenvalues` on the training-mode loss -> claims -> :mod:`phasekit.viz.course`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr

from phasekit.dynamics import stateful, sweep
from phasekit.experiments.base import Config, Experiment, claim, describe, param, register
from phasekit.models import mlp
from phasekit.models import normalized_mlp as nmlp
from phasekit.theory import diagnostics as dg
from phasekit.theory import hessian

__all__ = ["BatchNormConfig"]

VARIANTS = ("plain", "batchnorm")
TRAINED = 0.5  # a run "trains" when its final training loss is below this fraction of L_0


@dataclass(frozen=True)
class BatchNormConfig(Config):
    """Inputs [n, input_dim] Gaussian (and ``n`` test inputs), target a random tanh teacher
    (unit variance); student MLP with ``depth`` hidden ReLU layers of ``width``, with or without BN;
    SGD with ``batch_size`` for ``steps`` at each lr of ``lrs``, measures every ``every`` steps."""

    n: int = param(256, ge=4)
    input_dim: int = param(8, ge=1)
    width: int = param(32, ge=1)
    depth: int = param(8, ge=1, doc="hidden layers")
    batch_size: int = param(64, ge=2)
    lrs: tuple[float, ...] = param((0.01, 0.03, 0.1, 0.3, 1.0, 3.0), gt=0.0)
    steps: int = param(600, ge=1)
    every: int = param(50, ge=1)
    etas: tuple[float, ...] = param(
        (0.25, 0.5, 1.0, 2.0), gt=0.0, doc="steps along -g, in units of the lr"
    )
    lanczos_steps: int = param(12, ge=2)
    seeds: int = param(2, ge=1)
    data_seed: int = param(100, ge=0)
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        if self.steps % self.every:
            raise ValueError(f"every: must divide steps = {self.steps}, got {self.every}")
        if self.batch_size > self.n:
            raise ValueError(f"batch_size: at most n = {self.n}, got {self.batch_size}")


def _data(cfg):
    kx, kt, kv = jax.random.split(jax.random.key(cfg.data_seed), 3)
    teacher = mlp.init(kt, [cfg.input_dim, 4, 1], scheme="he")
    x = jax.random.normal(kx, (2 * cfg.n, cfg.input_dim))
    y = mlp.apply(teacher, x, activation="tanh")
    y = y / jnp.std(y)
    return (x[: cfg.n], y[: cfg.n]), (x[cfg.n :], y[cfg.n :])


def run(cfg: BatchNormConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    data, test = _data(cfg)
    factors = jnp.asarray(cfg.etas)

    def point(pt, key):
        module = nmlp.MLP((cfg.width,) * cfg.depth, batch_norm=bool(pt["variant"]))
        params, stats = nmlp.init(key, module, cfg.input_dim)
        lr = jnp.asarray(cfg.lrs)[pt["lr"]]
        loss = stateful.flax_loss(module)

        def observe(p, s):
            train_loss = lambda q, d: loss(q, s, d)[
                0
            ]  # batch statistics: s only feeds the running averages
            direction = dg.gradient_direction(train_loss, p, data, lr * factors)
            return {
                "loss_variation": dg.loss_variation(direction),
                "grad_predictiveness": dg.gradient_predictiveness(direction),
                "smoothness": dg.effective_smoothness(direction, lr * factors),
                "sharpness": hessian.top_eigenvalues(
                    train_loss, p, data, k=1, num_steps=cfg.lanczos_steps, key=jax.random.key(1)
                )[0],
            }

        traj = stateful.run(
            loss,
            params,
            stats,
            data,
            optax.sgd(lr),
            steps=cfg.steps,
            every=cfg.every,
            observe=observe,
            batch_size=cfg.batch_size,
            key=key,
        )
        variables = {"params": traj.params, **({"batch_stats": traj.state} if traj.state else {})}
        test_loss = 0.5 * jnp.mean((module.apply(variables, test[0], train=False) - test[1]) ** 2)
        return {
            "loss": traj.loss,
            **traj.observables,
            "diverged": traj.diverged,
            "test_loss": jnp.where(traj.diverged, jnp.nan, test_loss),
        }

    rec = np.arange(0, cfg.steps + 1, cfg.every)
    ds = sweep.run(
        point,
        {"variant": np.arange(2), "lr": np.arange(len(cfg.lrs)), "seed": np.arange(cfg.seeds)},
        static=("variant",),
        store=store,
        shard=shard,
        key_axes=("seed",),
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        dims={
            k: ("step",)
            for k in ("loss", "loss_variation", "grad_predictiveness", "smoothness", "sharpness")
        },
        coords={"step": rec},
        batching=cfg.batching,
        progress=progress,
        desc="batch norm",
    )
    ds = ds.assign_coords(variant=list(VARIANTS), lr=np.asarray(cfg.lrs))
    final = ds["loss"].isel(step=-1)
    ds["trained"] = (~ds["diverged"].astype(bool)) & (final < TRAINED * ds["loss"].isel(step=0))
    ds.attrs.update(depth=cfg.depth, width=cfg.width, batch_size=cfg.batch_size)
    return describe(ds, VARIABLES)


VARIABLES = {
    "loss": ("training-mode loss of the step's minibatch (record 0: full-data L_0)", "1"),
    "loss_variation": ("max - min over eta of L(w - eta g), eta = lr x etas, full data", "1"),
    "grad_predictiveness": ("max over eta of |g(w) - g(w - eta g)|", "1"),
    "smoothness": (
        "max over eta of |g(w) - g(w - eta g)| / (eta |g|): effective beta-smoothness",
        "1",
    ),
    "sharpness": ("lambda_max of the Hessian of the training-mode loss (Lanczos)", "1"),
    "diverged": ("the run met NaN/inf or a 1e6-fold loss", "1"),
    "test_loss": ("test MSE in eval mode (running statistics) at the end (NaN: diverged)", "1"),
    "trained": (f"not diverged and final loss < {TRAINED} L_0", "1"),
}


def _common_lr(ds):
    """The largest lr at which every seed of both variants trained (None if there is none)."""
    both = ds["trained"].all("seed").all("variant").values
    return float(ds["lr"].values[both].max()) if both.any() else None


def _median_after_start(ds, var, lr):
    v = ds[var].sel(lr=lr).isel(step=slice(1, None))
    return {k: float(np.nanmedian(v.sel(variant=k).values)) for k in VARIANTS}


def claims(ds: xr.Dataset) -> list:
    out = []
    lr = _common_lr(ds)
    for var, label in (
        ("loss_variation", "loss variation"),
        ("grad_predictiveness", "gradient predictiveness |g(w) - g(w - eta g)|"),
        ("sharpness", "lambda_max"),
    ):
        if lr is None:
            m = {k: float("nan") for k in VARIANTS}
        else:
            m = _median_after_start(ds, var, lr)
        ratio = m["batchnorm"] / m["plain"] if m["plain"] > 0 else float("nan")
        out.append(
            claim(
                ds,
                name=f"bn-smaller-{var.replace('_', '-')}",
                figure="course: batch normalization",
                statement=f"with BN the {label} through training is smaller than without (median over records "
                f"and seeds at the largest lr where both train, {lr}): ratio BN / plain < 1",
                book="Santurkar et al. 2018, Fig 4",
                measured=ratio,
                held=ratio < 1,
                min_preset="quick",
                if_not_held="a shallow or short run: the plain net is still smooth at this lr",
            )
        )
    max_lr = {
        k: float(ds["lr"].values[ds["trained"].sel(variant=k).all("seed").values].max(initial=0.0))
        for k in VARIANTS
    }
    out.append(
        claim(
            ds,
            name="bn-trains-at-larger-lr",
            figure="course: batch normalization",
            statement="BN trains at learning rates where the plain net diverges or stalls: the largest lr of "
            "the grid at which every seed trains is higher with BN",
            book="Ioffe & Szegedy 2015; Santurkar et al. 2018",
            measured=[max_lr["plain"], max_lr["batchnorm"]],
            held=max_lr["batchnorm"] > max_lr["plain"],
            min_preset="quick",
            if_not_held="the lr grid stops below the plain net's divergence",
            detail="measured: [largest trained lr without BN, with BN]",
        )
    )
    return out


def figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import course as viz

    return viz.batchnorm_figures(ds)


register(
    Experiment(
        "course-batchnorm",
        area="course",
        figure="course: batch normalization",
        title="deep MLP with / without BatchNorm: loss variation, gradient predictiveness, lambda_max, trainable lrs",
        config=BatchNormConfig,
        presets={
            "tiny": dict(
                n=64,
                width=16,
                depth=4,
                batch_size=16,
                lrs=(0.1, 1.0),
                steps=60,
                every=20,
                etas=(0.5, 1.0),
                lanczos_steps=4,
                seeds=1,
            ),
            "quick": {},
            "paper": dict(
                n=1024,
                width=128,
                depth=16,
                batch_size=128,
                steps=5000,
                every=250,
                seeds=4,
                lrs=(0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0),
            ),
        },
        run=run,
        claims=claims,
        figures=figures,
    )
)
