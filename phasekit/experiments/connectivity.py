"""Mode connectivity (book ch. 14; Garipov et al. 2018; Draxler et al. 2018; Frankle et al. 2020;
Ainsworth et al. 2023), spec 07.

    mode-connectivity    two MLPs trained on digits from independent inits: the training loss along
                         the straight line, along the straight line after weight-matching
                         alignment, and along a trained quadratic Bezier curve
    spawn-connectivity   linear mode connectivity from a shared start: train to step k, then two
                         copies with different minibatch orders; the barrier against k

Recipe: n training digits -> a sweep over seeds (and spawn step k) through
:func:`phasekit.dynamics.sweep.run` -> :func:`phasekit.dynamics.train.run` (cross-entropy) ->
:mod:`phasekit.theory.connectivity` (``linear_barrier``, ``align``, ``bezier_objective`` trained
by ``train.run`` with a fresh t ~ U[0, 1] per step, ``bezier_barrier``) -> claims -> figures of
:mod:`phasekit.viz.phenomena_b`.

    phasekit run mode-connectivity --preset quick
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr

from phasekit import data as datasets
from phasekit.dynamics import sweep, train
from phasekit.experiments.base import Config, Experiment, claim, describe, param, register
from phasekit.models import mlp
from phasekit.theory import connectivity as mc

__all__ = ["ConnectivityConfig", "SpawnConfig"]

C = 10
WELL_BELOW = 0.25  # "well below": the Bezier barrier is at most this fraction of the linear one
SHRINK = 0.5  # the barrier at the largest spawn step is at most this fraction of the one at k = 0
REAL_BARRIER = 0.01  # nats: below this at k = 0 the children are already linearly connected


def _train_digits(n: int, seed: int):
    xs, ys = datasets.digits()
    idx = np.random.default_rng(seed).permutation(len(ys))[:n]
    return jnp.asarray(xs[idx]), jnp.asarray(ys[idx])


@dataclass(frozen=True)
class ConnectivityConfig(Config):
    """Two MLPs [64, width x depth, 10] (He init, ReLU) trained by full-batch Adam on n digits
    (cross-entropy, ``steps``); the Bezier control point starts at their midpoint and is trained
    by Adam for ``curve_steps`` on E_t L(phi(t)) with ``t_samples`` draws of t per step.
    Losses on the training set along ``n_points`` equally spaced t."""

    n: int = param(500, ge=C)
    width: int = param(64, ge=2)
    depth: int = param(2, ge=1, doc="hidden layers")
    steps: int = param(1000, ge=1)
    lr: float = param(3e-3, gt=0.0)
    curve_steps: int = param(1000, ge=1)
    t_samples: int = param(4, ge=1)
    n_points: int = param(21, ge=3)
    seeds: int = param(3, ge=1, doc="independent pairs of nets")
    data_seed: int = param(0, ge=0)
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap"))

    EXECUTION_FIELDS = ("batching",)


def run(cfg: ConnectivityConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    x, y = _train_digits(cfg.n, cfg.data_seed)
    data = (x, y)
    sizes = [x.shape[1]] + [cfg.width] * cfg.depth + [C]
    loss = train.cross_entropy(mlp.apply)

    def fit(params, steps):
        return train.run(loss, params, data, optax.adam(cfg.lr), steps=steps, n_records=2).params

    def point(pt, key):
        k_ab, k_t = jax.random.split(key)
        pair = jax.vmap(lambda k: fit(mlp.init(k, sizes, scheme="he"), cfg.steps))(
            jax.random.split(k_ab)
        )
        a, b = (jax.tree_util.tree_map(lambda leaf: leaf[i], pair) for i in (0, 1))
        line = mc.linear_barrier(loss, a, b, data, cfg.n_points)
        aligned = mc.linear_barrier(loss, a, mc.align(a, b), data, cfg.n_points)
        control = train.run(
            mc.bezier_objective(loss, a, b, cfg.t_samples),
            mc.bezier_init(a, b),
            data,
            optax.adam(cfg.lr),
            steps=cfg.curve_steps,
            n_records=2,
            loss_takes_key=True,
            key=k_t,
        ).params
        curve = mc.bezier_barrier(loss, a, control, b, data, cfg.n_points)
        return {
            "linear_loss": line.losses,
            "aligned_loss": aligned.losses,
            "bezier_loss": curve.losses,
            "linear_barrier": line.barrier,
            "aligned_barrier": aligned.barrier,
            "bezier_barrier": curve.barrier,
            "bezier_max_loss": curve.max_loss,
            "endpoint_loss": 0.5 * (line.losses[0] + line.losses[-1]),
        }

    ts = np.linspace(0.0, 1.0, cfg.n_points)
    ds = sweep.run(
        point,
        {"seed": np.arange(cfg.seeds)},
        store=store,
        shard=shard,
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        dims={k: ("t",) for k in ("linear_loss", "aligned_loss", "bezier_loss")},
        coords={"t": ts},
        batching=cfg.batching,
        progress=progress,
        desc="mode connectivity",
    )
    ds.attrs.update(n=cfg.n, width=cfg.width, depth=cfg.depth)
    return describe(ds, VARIABLES)


VARIABLES = {
    "linear_loss": ("training cross-entropy along w(t) = (1 - t) theta_a + t theta_b", "nats"),
    "aligned_loss": (
        "training cross-entropy along the line to theta_b aligned by weight matching",
        "nats",
    ),
    "bezier_loss": ("training cross-entropy along the trained quadratic Bezier curve", "nats"),
    "linear_barrier": ("max_t L(w(t)) - (L(theta_a) + L(theta_b)) / 2 along the line", "nats"),
    "aligned_barrier": ("barrier along the line after weight-matching alignment", "nats"),
    "bezier_barrier": ("barrier along the trained Bezier curve", "nats"),
    "bezier_max_loss": ("max_t L(phi(t)) along the Bezier curve", "nats"),
    "endpoint_loss": ("(L(theta_a) + L(theta_b)) / 2", "nats"),
}


def claims(ds: xr.Dataset) -> list:
    lin = float(ds["linear_barrier"].median())
    bez = float(ds["bezier_barrier"].median())
    ali = float(ds["aligned_barrier"].median())
    ratio = bez / lin if lin > 0 else np.nan
    base = (
        f"median over {ds.sizes['seed']} pairs: linear barrier {lin:.3g}, Bezier barrier {bez:.3g}, "
        f"aligned barrier {ali:.3g}, endpoint loss {float(ds['endpoint_loss'].median()):.3g} nats"
    )
    return [
        claim(
            ds,
            name="bezier-below-linear",
            figure="ch. 14 mode connectivity",
            book="~0 vs a barrier",
            statement=f"the trained Bezier curve's barrier (max loss minus the endpoints') is at most "
            f"{WELL_BELOW:g} of the straight line's barrier (median over pairs)",
            measured=ratio,
            held=lin > 0 and ratio <= WELL_BELOW,
            min_preset="quick",
            detail=base,
            if_not_held="too few curve-training steps, or the nets are so wide that the straight line "
            "has no barrier to remove",
        ),
        claim(
            ds,
            name="alignment-lowers-barrier",
            figure="ch. 14 mode connectivity (Ainsworth et al.)",
            book="lower",
            statement="weight-matching alignment of the hidden units lowers the linear "
            "barrier: aligned / unaligned barrier < 1 (median over pairs)",
            measured=ali / lin if lin > 0 else np.nan,
            held=lin > 0 and ali < lin,
            min_preset="quick",
            detail=base,
            if_not_held="a narrow MLP: weight matching needs width for the permuted "
            "solutions to fall in one basin",
        ),
    ]


# ----------------------------------------------------------------------------- spawn step


@dataclass(frozen=True)
class SpawnConfig(Config):
    """A parent MLP [64, width x depth, 10] trained by minibatch SGD (``batch_size``) for k steps,
    then two children trained ``steps`` more with different minibatch orders; linear barrier of
    the training cross-entropy between the children. k is traced: the parent runs max(k) steps
    with the learning rate set to 0 from step k on."""

    n: int = param(500, ge=C)
    width: int = param(64, ge=2)
    depth: int = param(2, ge=1)
    spawn_steps: tuple[int, ...] = param((0, 10, 50, 200, 800), ge=0, doc="k")
    steps: int = param(1500, ge=1, doc="child training steps")
    lr: float = param(0.05, gt=0.0)
    batch_size: int = param(32, ge=1)
    n_points: int = param(11, ge=3)
    seeds: int = param(2, ge=1)
    data_seed: int = param(0, ge=0)
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        if self.batch_size > self.n:
            raise ValueError(f"batch_size: must be <= n = {self.n}, got {self.batch_size}")
        if len(set(self.spawn_steps)) != len(self.spawn_steps):
            raise ValueError(f"spawn_steps: repeated values in {self.spawn_steps}")


def spawn_run(cfg: SpawnConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    x, y = _train_digits(cfg.n, cfg.data_seed)
    data = (x, y)
    sizes = [x.shape[1]] + [cfg.width] * cfg.depth + [C]
    loss = train.cross_entropy(mlp.apply)
    k_max = max(cfg.spawn_steps)

    def sgd(params, key, steps, lr):
        return train.run(
            loss,
            params,
            data,
            optax.sgd(lr),
            steps=steps,
            n_records=2,
            batch_size=cfg.batch_size,
            key=key,
        ).params

    def point(pt, key):
        k_init, k_parent, k_children = jax.random.split(key, 3)
        parent = mlp.init(k_init, sizes, scheme="he")
        if k_max > 0:
            parent = sgd(
                parent, k_parent, k_max, lambda count: jnp.where(count < pt["spawn"], cfg.lr, 0.0)
            )
        children = jax.vmap(lambda k: sgd(parent, k, cfg.steps, cfg.lr))(
            jax.random.split(k_children)
        )
        c1, c2 = (jax.tree_util.tree_map(lambda leaf: leaf[i], children) for i in (0, 1))
        line = mc.linear_barrier(loss, c1, c2, data, cfg.n_points)
        return {
            "barrier": line.barrier,
            "path_loss": line.losses,
            "endpoint_loss": 0.5 * (line.losses[0] + line.losses[-1]),
        }

    ds = sweep.run(
        point,
        {"spawn": np.asarray(cfg.spawn_steps), "seed": np.arange(cfg.seeds)},
        store=store,
        shard=shard,
        key_axes=("seed",),
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        dims={"path_loss": ("t",)},
        coords={"t": np.linspace(0.0, 1.0, cfg.n_points)},
        batching=cfg.batching,
        progress=progress,
        desc="spawn connectivity",
    )
    ds.attrs.update(n=cfg.n, width=cfg.width, depth=cfg.depth, child_steps=cfg.steps)
    return describe(ds, SPAWN_VARIABLES)


SPAWN_VARIABLES = {
    "barrier": ("linear barrier of the training cross-entropy between the two children", "nats"),
    "path_loss": ("training cross-entropy along the line between the children", "nats"),
    "endpoint_loss": ("mean training cross-entropy of the two children", "nats"),
}


def spawn_claims(ds: xr.Dataset) -> list:
    med = ds["barrier"].median("seed").values
    k = ds["spawn"].values
    order = np.argsort(k)
    first, last = float(med[order[0]]), float(med[order[-1]])
    return [
        claim(
            ds,
            name="barrier-shrinks-with-spawn",
            figure="ch. 14 mode connectivity (Frankle et al. 2020)",
            book="-> 0",
            statement=f"the children's linear barrier at the largest spawn step k = {int(k[order[-1]])} is "
            f"at most {SHRINK:g} of the barrier at k = {int(k[order[0]])}, which is a real "
            f"barrier (>= {REAL_BARRIER:g} nats; median over seeds)",
            measured=last / first if first > 0 else np.nan,
            held=first >= REAL_BARRIER and last <= SHRINK * first,
            min_preset="quick",
            detail="median barrier per k " + ", ".join(f"{int(k[i])}: {med[i]:.3g}" for i in order),
            if_not_held="the k = 0 children already share a basin (no barrier to shrink: a small MLP trained "
            "long from one init by SGD stays linearly connected), or the children diverge from a "
            "late spawn too (large lr / small batch); measured at quick: the k = 0 barrier is "
            "only 2e-4 nats (it does fall 5x by k = 800)",
            reproduces=False,
        )
    ]


def figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import phenomena_b

    return phenomena_b.connectivity_figures(ds)


def spawn_figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import phenomena_b

    return phenomena_b.spawn_figures(ds)


register(
    Experiment(
        "mode-connectivity",
        area="phenomena",
        figure="ch. 14 mode connectivity",
        title="loss along the straight line, the weight-matched line and a trained Bezier curve between two MLPs",
        config=ConnectivityConfig,
        presets={
            "tiny": dict(
                n=100, width=16, steps=150, curve_steps=100, t_samples=2, n_points=7, seeds=1
            ),
            "quick": {},
            "paper": dict(
                n=1797, width=512, depth=3, steps=10000, curve_steps=10000, seeds=8, n_points=41
            ),
        },
        run=run,
        claims=claims,
        figures=figures,
    )
)

register(
    Experiment(
        "spawn-connectivity",
        area="phenomena",
        figure="ch. 14 mode connectivity (Frankle et al. 2020)",
        title="linear barrier between two SGD children of a shared parent against the spawn step k",
        config=SpawnConfig,
        presets={
            "tiny": dict(n=100, width=16, spawn_steps=(0, 50), steps=100, n_points=5, seeds=1),
            "quick": {},
            "paper": dict(
                n=1797,
                width=512,
                depth=3,
                spawn_steps=(0, 10, 30, 100, 300, 1000, 3000),
                steps=20000,
                seeds=8,
                n_points=21,
            ),
        },
        run=spawn_run,
        claims=spawn_claims,
        figures=spawn_figures,
    )
)
