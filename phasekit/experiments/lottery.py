"""Lottery tickets (book ch. 14; Frankle & Carbin 2019; Frankle et al. 2020): iterative
magnitude pruning (IMP) with rewinding against its two controls, on scikit-learn's digits.

    lottery-tickets   an MLP [64, hidden..., 10] trained by Adam (full batch, cross-entropy).
                      IMP round r: train theta_rw (.) m_r for ``steps`` steps, prune ``rate`` of
                      the surviving weights of each hidden layer (``output_rate`` of the output
                      layer) by magnitude, rewind the survivors to theta_rw (theta_0, or theta_k
                      of step k = ``rewind_step``). Controls at every round's mask sizes: the
                      same mask with a fresh random init ("reinit") and a random mask with the
                      same per-layer counts on the rewound weights ("random mask"). Test accuracy
                      against the fraction of weights remaining; the rounds are a ``lax.scan``,
                      the three variants a ``vmap``, the seeds a sweep axis.

Recipe: :func:`phasekit.data.digits` -> sweep over seeds through
:func:`phasekit.dynamics.sweep.run` -> per round :func:`phasekit.dynamics.train.run` with
:func:`phasekit.dynamics.lottery.masked` optimizers -> :func:`~phasekit.dynamics.lottery.magnitude_prune`
-> claims -> figures of :mod:`phasekit.viz.phenomena_a`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr

from phasekit import data
from phasekit.dynamics import lottery, sweep, train
from phasekit.experiments.base import Config, Experiment, claim, describe, param, register
from phasekit.models import mlp

__all__ = ["LotteryConfig"]

VARIANTS = ("ticket", "reinit", "random_mask")


@dataclass(frozen=True)
class LotteryConfig(Config):
    """IMP on digits (``n_train`` train images, the rest of the 1797 for test)."""

    hidden: tuple[int, ...] = param((64, 32), ge=1, doc="hidden widths of the MLP")
    n_train: int = param(1200, ge=10, le=1787)
    rounds: int = param(8, ge=1, doc="pruning rounds after the dense run")
    rate: float = param(
        0.2, gt=0, lt=1, doc="fraction of surviving hidden weights pruned per round"
    )
    output_rate: float = param(
        0.1, ge=0, lt=1, doc="fraction of surviving output weights pruned per round"
    )
    scope: str = param("layer", choices=("layer", "global"))
    rewind_step: int = param(0, ge=0, doc="rewind to theta_k of this step (0: to the init)")
    steps: int = param(300, ge=1)
    lr: float = param(3e-3, gt=0)
    n_records: int = param(16, ge=2)
    seeds: int = param(3, ge=1)
    data_seed: int = param(0, ge=0)
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        if self.rewind_step >= self.steps:
            raise ValueError(
                f"rewind_step: must be below steps ({self.steps}), got {self.rewind_step}"
            )


def run(cfg: LotteryConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    x, y = data.digits()
    tr, te = data.train_test_split(len(y), cfg.n_train, seed=cfg.data_seed)
    x_tr, y_tr, x_te, y_te = (jnp.asarray(a) for a in (x[tr], y[tr], x[te], y[te]))
    sizes = [x.shape[1], *cfg.hidden, 10]
    n_layers = len(sizes) - 1
    keeps = lottery.imp_keep_fractions(
        cfg.rounds, cfg.rate, cfg.output_rate, n_layers
    )  # [R + 1, L]
    loss = train.cross_entropy(mlp.apply)
    acc_te = train.accuracy(mlp.apply, x_te, y_te)
    acc_tr = train.accuracy(mlp.apply, x_tr, y_tr)
    rec = train.record_steps(cfg.steps, cfg.n_records)

    def observe(params):
        return {"test_accuracy": acc_te(params)["accuracy"]}

    def fit(params, mask):
        traj = train.run(
            loss,
            lottery.apply_mask(params, mask),
            (x_tr, y_tr),
            lottery.masked(optax.adam(cfg.lr), mask),
            steps=cfg.steps,
            record_at=rec,
            observe=observe,
            diverge_factor=None,
        )
        return traj.params, traj.observables["test_accuracy"], acc_tr(traj.params)["accuracy"]

    def point(pt, key):
        k_init, k_re, k_mask = jax.random.split(key, 3)
        theta0 = mlp.init(k_init, sizes)
        theta_rw = theta0
        if cfg.rewind_step:
            theta_rw = train.run(
                loss,
                theta0,
                (x_tr, y_tr),
                optax.adam(cfg.lr),
                steps=cfg.rewind_step,
                n_records=2,
                diverge_factor=None,
            ).params

        def one_round(mask, inputs):
            r, keep_next = inputs
            kr, km = jax.random.fold_in(k_re, r), jax.random.fold_in(k_mask, r)
            starts = [theta_rw, mlp.init(kr, sizes), theta_rw]
            masks = [mask, mask, lottery.random_mask(km, mask)]
            stack = lambda trees: jax.tree_util.tree_map(lambda *a: jnp.stack(a), *trees)
            final, test_curve, train_acc = jax.vmap(fit)(stack(starts), stack(masks))
            ticket = jax.tree_util.tree_map(lambda a: a[0], final)
            new_mask = (
                lottery.magnitude_prune(ticket, mask, list(keep_next), scope=cfg.scope)
                if cfg.scope == "layer"
                else lottery.magnitude_prune(ticket, mask, keep_next[0], scope="global")
            )
            return new_mask, {
                "test_accuracy": test_curve,
                "train_accuracy": train_acc,
                "remaining": lottery.sparsity(mask),
            }

        keep_next = jnp.asarray(np.concatenate([keeps[1:], keeps[-1:]]), jnp.float32)
        _, out = jax.lax.scan(
            one_round, lottery.dense_mask(theta0), (jnp.arange(cfg.rounds + 1), keep_next)
        )
        return {
            "test_accuracy": out["test_accuracy"],
            "final_test_accuracy": out["test_accuracy"][..., -1],
            "best_test_accuracy": jnp.max(out["test_accuracy"], axis=-1),
            "train_accuracy": out["train_accuracy"],
            "remaining": out["remaining"],
        }

    ds = sweep.run(
        point,
        {"seed": np.arange(cfg.seeds)},
        store=store,
        shard=shard,
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        dims={
            "test_accuracy": ("round", "variant", "step"),
            "final_test_accuracy": ("round", "variant"),
            "best_test_accuracy": ("round", "variant"),
            "train_accuracy": ("round", "variant"),
            "remaining": ("round",),
        },
        coords={"round": np.arange(cfg.rounds + 1), "variant": list(VARIANTS), "step": rec},
        batching=cfg.batching,
        progress=progress,
        desc="lottery tickets",
    )
    ds.attrs.update(
        sizes=list(sizes),
        rate=cfg.rate,
        output_rate=cfg.output_rate,
        scope=cfg.scope,
        rewind_step=cfg.rewind_step,
        steps=cfg.steps,
        n_train=cfg.n_train,
        n_test=int(len(te)),
    )
    return describe(ds, VARIABLES)


VARIABLES = {
    "test_accuracy": ("test accuracy during training of each round's net", "1"),
    "final_test_accuracy": ("test accuracy after the round's training", "1"),
    "best_test_accuracy": ("best test accuracy over the records (early stopping)", "1"),
    "train_accuracy": ("train accuracy after the round's training", "1"),
    "remaining": ("fraction of the weight matrices' entries remaining in the round's mask", "1"),
}

SPARSE, TOLERANCE = 0.2, 0.01


def claims(ds: xr.Dataset) -> list:
    acc = ds["final_test_accuracy"].mean("seed")
    remaining = ds["remaining"].isel(seed=0).values
    dense = float(acc.sel(round=0, variant="ticket"))
    sparse = np.flatnonzero(remaining <= SPARSE + 1e-6)
    if sparse.size == 0:
        r, ticket, reinit = int(ds["round"].values[-1]), np.nan, np.nan
    else:
        r = int(sparse[0])
        ticket, reinit = (
            float(acc.isel(round=r).sel(variant="ticket")),
            float(acc.isel(round=r).sel(variant="reinit")),
        )
    rnd = float(acc.isel(round=r).sel(variant="random_mask"))
    return [
        claim(
            ds,
            name="winning-tickets",
            figure="ch. 14: lottery tickets",
            statement=f"at <= {SPARSE:.0%} of the weights remaining (round {r}, {remaining[r]:.1%}), the rewound "
            f"ticket's test accuracy (mean over seeds) is within {TOLERANCE * 100:g} point of the dense "
            f"net's ({dense:.4f}), and the same mask with a fresh init is worse than the ticket",
            book="tickets at 10-20% match the dense net; random reinit falls off",
            measured=[ticket, reinit, rnd, dense],
            held=bool(np.isfinite(ticket) and ticket >= dense - TOLERANCE and reinit < ticket),
            if_not_held="too few rounds to reach 20% of the weights, too short a training budget for the "
            "sparse nets, or too wide a net for digits (any mask of a wide net trains well, so "
            "the ticket's init does not matter)",
            min_preset="quick",
            detail="measured: [ticket, reinit, random mask, dense] mean final test accuracy",
        )
    ]


def figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import phenomena_a as viz

    return viz.lottery_figures(ds)


register(
    Experiment(
        "lottery-tickets",
        area="phenomena",
        figure="ch. 14: lottery tickets",
        title="IMP with rewinding vs random reinit vs random mask on digits: test accuracy vs weights remaining",
        config=LotteryConfig,
        presets={
            "tiny": dict(
                hidden=(16,), n_train=600, rounds=1, rate=0.5, steps=30, n_records=3, seeds=1
            ),
            "quick": {},
            "paper": dict(hidden=(300, 100), rounds=15, steps=2000, seeds=8, n_records=40),
        },
        run=run,
        claims=claims,
        figures=figures,
    )
)
