"""Model rank and the optimistic sample size: small-init GD recovers a target from R(f*) samples
(book ch. 10, spec 03).

Recipe of every experiment: targets -> sweep through :func:`phasekit.dynamics.sweep.run` over
(target or model, n, seed); each point draws its n training samples and a unit-scale init
direction from its seed's key, scales the init by ``init_std``, trains with plain GD at every
lr of a small grid (vmapped inside the point) and keeps the best lr
(:func:`phasekit.dynamics.recovery.recovery_point`) -> median test error over seeds ->
empirical transition (the smallest n from which the median error stays <= ``threshold``,
:func:`~phasekit.dynamics.recovery.transition`) against the closed-form optimistic size
(:mod:`phasekit.theory.optimistic`).

Points share their seed's key across targets, sample sizes and init scales (``key_axes =
("seed",)``): the samples at n are the first n of that seed's draw (common random numbers).

    phasekit run optimistic-fnl --preset quick        # Fig 10.1
    phasekit run optimistic-matrix --preset quick     # Fig 10.2
    phasekit run optimistic-init-std --preset quick   # Fig 10.5
    phasekit run optimistic-cnn --preset quick        # Fig 10.3
    phasekit run optimistic-width --preset quick      # Fig 10.3's width question, authors' setup
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from phasekit.dynamics import recovery as rec
from phasekit.dynamics import sweep
from phasekit.dynamics.train import OPTIMIZERS
from phasekit.experiments.base import Config, Experiment, claim, describe, param, register
from phasekit.theory import optimistic as opt
from phasekit.theory.rank import model_rank, tangent_rank_profile

__all__ = [
    "CnnConfig",
    "FnlConfig",
    "InitStdConfig",
    "MatrixConfig",
    "RecoveryConfig",
    "WidthConfig",
]


@dataclass(frozen=True)
class RecoveryConfig(Config):
    """Fields every recovery experiment shares: seeds, GD budget, lr selection, seeds of the data."""

    seeds: int = param(
        8, ge=1, doc="seeds per (target, n): each its own samples and init direction"
    )
    steps: int = param(20_000, ge=1, doc="GD step budget per run")
    select: str = param(
        "test",
        choices=("test", "train"),
        doc="lr kept per run: lowest test error (the book) or lowest final training loss",
    )
    base_seed: int = param(
        0, ge=0, doc="sweep key: training inputs and init direction of each seed"
    )
    test_seed: int = param(1, ge=0, doc="key of the test inputs and of the target matrices")
    batching: str = param(
        "auto",
        choices=("auto", "map", "vmap", "continuous"),
        doc="how a chunk's points share a device",
    )

    EXECUTION_FIELDS = ("batching",)


def _increasing(name, values):
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"{name}: must be strictly increasing, got {values}")


def _digest(*arrays) -> str:
    return hashlib.blake2b(
        b"".join(np.asarray(a).tobytes() for a in arrays), digest_size=8
    ).hexdigest()


def _sweep(
    point, axes, cfg, store, shard, progress, data, lrs, static=(), desc="recovery"
) -> xr.Dataset:
    """One recovery grid through :func:`sweep.run`; outputs of :func:`rec.recovery_point`
    (``data``: the arrays the points read, hashed into the store's fingerprint)."""
    return sweep.run(
        point,
        axes,
        static=static,
        store=store,
        shard=shard,
        key_axes=("seed",),
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False) | {"data_hash": _digest(*data)},
        dims={k: ("lr",) for k in ("test_error_all", "train_loss_all", "diverged")},
        coords={"lr": np.asarray(lrs, np.float32)},
        batching=cfg.batching,
        progress=progress,
        desc=desc,
    )


def _analyse(ds: xr.Dataset, threshold: float) -> xr.Dataset:
    """median_error (over seeds), recovered_fraction (seeds with error <= threshold) and
    transition (smallest n from which the median stays <= threshold) of a recovery grid."""
    err = ds["test_error"]
    ds["median_error"] = err.median("seed", skipna=False)
    ds["recovered_fraction"] = err.reduce(rec.recovered_fraction, "seed", threshold=threshold)
    med = ds["median_error"].transpose(..., "n")
    ds["transition"] = (med.dims[:-1], rec.transition(ds["n"].values, med.values, threshold))
    ds["diverged_fraction"] = ds["diverged"].astype(float).mean(("seed", "lr"))
    ds.attrs["threshold"] = threshold
    return ds


VARIABLES = {
    "test_error": ("test error at the selected learning rate", "1"),
    "train_loss": ("final training loss at the selected learning rate", "1"),
    "best_lr": ("selected learning rate (NaN: every lr diverged)", "1"),
    "test_error_all": ("test error at each learning rate of the grid", "1"),
    "train_loss_all": ("final training loss at each learning rate", "1"),
    "diverged": ("run diverged (NaN/inf)", "1", "boolean"),
    "median_error": ("median test error over seeds", "1"),
    "recovered_fraction": ("fraction of seeds with test error <= threshold", "1"),
    "transition": (
        "empirical transition: smallest n from which the median error stays <= threshold "
        "(NaN: never)",
        "samples",
    ),
    "diverged_fraction": ("fraction of (seed, lr) runs that diverged", "1"),
    "optimistic_size": ("optimistic sample size R(f*) (closed form)", "samples"),
    "target_coef": ("target coefficients (c0, c1, c2) of f* = c0 + c1 x1 + c2 x2", "1"),
    "target_matrix": ("target matrix M*", "1"),
    "rank": ("rank of the target matrix", "1"),
    "cross_condition": (
        "condition number of the target's leading r x r block (the pivot of the fixed order's "
        "first 2rd - r^2 entries)",
        "1",
    ),
    "n_params": ("number of parameters M", "1"),
    "rank_at_target": ("numerical rank of the tangent functions at the optimistic point", "1"),
    "rank_gap": ("singular-value gap sigma_R / sigma_{R+1} of that rank", "1"),
    "rank_profile": (
        "rank of the tangent functions on the first k points at the optimistic point "
        "of the widest model",
        "1",
    ),
}


def _values_text(values) -> str:
    return ", ".join("-" if not np.isfinite(v) else f"{v:g}" for v in np.atleast_1d(values))


# ============================================================================ Fig 10.1


@dataclass(frozen=True)
class FnlConfig(RecoveryConfig):
    """Fig 10.1: f_L = t0 + t1 x1 + t2 x2 against f_NL = t0 + t1 x1 + t2 t3 x2 on targets in and
    out of span{1, x1}; inputs x ~ N(0, I_2)."""

    targets: tuple[str, ...] = param(
        tuple(opt.FNL_TARGETS),
        choices=tuple(opt.FNL_TARGETS),
        doc="f* = c0 + c1 x1 + c2 x2 by name",
    )
    n_values: tuple[int, ...] = param((1, 2, 3, 4), ge=1, doc="sample sizes n")
    seeds: int = param(10, ge=1, doc="seeds per (model, target, n)")
    steps: int = param(10_000, ge=1, doc="GD step budget per run")
    init_std: float = param(1e-4, gt=0.0, doc="init std (the book's variance 1e-8)")
    lrs: tuple[float, ...] = param((0.05, 0.1, 0.3), gt=0.0, doc="GD learning-rate grid")
    threshold: float = param(1e-4, gt=0.0, doc="recovered: median test error <= threshold")
    stop_loss: float = param(1e-16, ge=0.0, doc="stop a run once its training loss is <= this")
    n_test: int = param(1000, ge=1, doc="test inputs")

    def validate(self):
        _increasing("n_values", self.n_values)
        if len(set(self.targets)) != len(self.targets):
            raise ValueError(f"targets: repeated names in {self.targets}")


def run_fnl(cfg: FnlConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    x_test = jax.random.normal(jax.random.key(cfg.test_seed), (cfg.n_test, 2))
    coefs = np.asarray([opt.FNL_TARGETS[t] for t in cfg.targets], np.float32)

    def point(pt, key):  # model 0: f_L, 1: f_NL (traced: one program for both)
        task = rec.fnl_task(max(cfg.n_values), x_test, nonlinear=pt["model"] == 1)
        cond = {"coef": jnp.asarray(coefs)[pt["target"]], "n": pt["n"]}
        return rec.recovery_point_run(
            task,
            cond,
            cfg.init_std,
            key,
            lrs=cfg.lrs,
            steps=cfg.steps,
            stop_loss=cfg.stop_loss,
            select=cfg.select,
        )

    axes = {
        "model": np.arange(len(opt.FNL_MODELS)),
        "target": np.arange(len(cfg.targets)),
        "n": np.asarray(cfg.n_values),
        "seed": np.arange(cfg.seeds),
    }
    ds = _sweep(point, axes, cfg, store, shard, progress, [x_test, coefs], cfg.lrs, desc="fig10.1")
    if not ds.attrs["complete"]:
        return describe(ds, VARIABLES)
    ds = ds.assign_coords(model=list(opt.FNL_MODELS), target=list(cfg.targets))
    ds["target_coef"] = (("target", "coef"), coefs)
    ds["optimistic_size"] = (
        ("model", "target"),
        np.asarray([[opt.fnl_sample_size(m, c) for c in coefs] for m in opt.FNL_MODELS]),
    )
    return describe(_analyse(ds, cfg.threshold), VARIABLES)


def fnl_claims(ds: xr.Dataset) -> list:
    out = []
    thr = ds.attrs["threshold"]
    for model, book in (("f_NL", "2 in span{1, x1}, 3 otherwise"), ("f_L", "3 for every target")):
        trans = ds["transition"].sel(model=model).values
        R = ds["optimistic_size"].sel(model=model).values
        out.append(
            claim(
                ds,
                name=f"{model}-transition",
                figure="Fig 10.1",
                book=book,
                statement=f"{model} recovers each target (median test error <= {thr:g} from n on) at its "
                "optimistic sample size exactly: " + book,
                measured=trans,
                held=bool(np.all(trans == R)),
                detail="empirical transition per target "
                + ", ".join(
                    f"{t}: {_values_text(v)} (R = {r})"
                    for t, v, r in zip(ds["target"].values, trans, R)
                ),
                if_not_held="too few GD steps for the small-init dynamics to settle, or too few seeds "
                "(one ill-conditioned sample set moves the median)",
            )
        )
    return out


def fnl_figures(ds):
    from phasekit.viz import rank as viz

    return viz.fnl_figures(ds)


# ============================================================================ Fig 10.2


MATRIX_ORDERS = ("random", "fixed")


@dataclass(frozen=True)
class MatrixConfig(RecoveryConfig):
    """Fig 10.2: d x d matrix completion with f = (A B)_ij; targets with equal singular values
    (:func:`phasekit.dynamics.recovery.low_rank_matrices`); observed sets random per seed
    (generic by default) or the first n entries of the authors' fixed order
    (:func:`phasekit.dynamics.recovery.cross_order`, ``order="fixed"``)."""

    d: int = param(4, ge=2, le=8, doc="matrix size")
    ranks: tuple[int, ...] = param((1, 1, 2, 2, 3, 3, 4, 4), ge=1, doc="rank of each target")
    n_values: tuple[int, ...] = param(tuple(range(1, 17)), ge=1, doc="observed entries n")
    base_seed: int = param(1, ge=0, doc="sweep key: observed set and init direction of each seed")
    test_seed: int = param(0, ge=0, doc="key of the target matrices")
    init_std: float = param(1e-6, gt=0.0, doc="init std of A and B")
    lrs: tuple[float, ...] = param((0.5, 1.0, 2.0), gt=0.0, doc="GD learning-rate grid")
    threshold: float = param(
        1e-3, gt=0.0, doc="recovered: median ||AB - M*||^2 / ||M*||^2 <= threshold"
    )
    stop_loss: float = param(1e-14, ge=0.0, doc="stop a run once its training loss is <= this")
    generic: bool = param(
        True, doc="random orders: observed sets with full tangent rank (False: plain uniform draws)"
    )
    order: str = param(
        "random",
        choices=MATRIX_ORDERS,
        doc="observed entries: 'random' (a set per seed) or 'fixed' (the authors' order, "
        "rows and columns crosswise: the first n of recovery.cross_order(d), the same for every seed)",
    )

    def validate(self):
        _increasing("n_values", self.n_values)
        if max(self.ranks) > self.d:
            raise ValueError(f"ranks: must be <= d = {self.d}, got {self.ranks}")
        if max(self.n_values) > self.d**2:
            raise ValueError(f"n_values: at most d^2 = {self.d**2} entries, got {self.n_values}")


def run_matrix(cfg: MatrixConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    targets = rec.low_rank_matrices(jax.random.key(cfg.test_seed), cfg.d, cfg.ranks)
    order = rec.cross_order(cfg.d) if cfg.order == "fixed" else None
    task = rec.matrix_completion_task(cfg.d, cfg.generic, order=order)

    def point(pt, key):
        cond = {"target": targets[pt["target"]], "n": pt["n"]}
        return rec.recovery_point_run(
            task,
            cond,
            cfg.init_std,
            key,
            lrs=cfg.lrs,
            steps=cfg.steps,
            stop_loss=cfg.stop_loss,
            select=cfg.select,
        )

    axes = {
        "target": np.arange(len(cfg.ranks)),
        "n": np.asarray(cfg.n_values),
        "seed": np.arange(cfg.seeds),
    }
    ds = _sweep(point, axes, cfg, store, shard, progress, [targets], cfg.lrs, desc="fig10.2")
    if not ds.attrs["complete"]:
        return describe(ds, VARIABLES)
    count: dict[int, int] = {}
    labels = []
    for r in cfg.ranks:
        labels.append(f"rank {r} ({'abcdefgh'[count.get(r, 0) % 8]})")
        count[r] = count.get(r, 0) + 1
    ds = ds.assign_coords(target_label=("target", labels))
    ds["rank"] = ("target", np.asarray(cfg.ranks))
    ds["optimistic_size"] = (
        "target",
        np.asarray([opt.matrix_factorization(cfg.d, r) for r in cfg.ranks]),
    )
    ds["target_matrix"] = (("target", "row", "col"), np.asarray(targets))
    ds["cross_condition"] = (
        "target",
        np.asarray([opt.cross_condition(t, r) for t, r in zip(np.asarray(targets), cfg.ranks)]),
    )
    ds.attrs["order"] = cfg.order
    return describe(_analyse(ds, cfg.threshold), VARIABLES)


def _frac_at(ds, i, n):
    ns = list(ds["n"].values)
    return (
        float(ds["recovered_fraction"].isel(target=i).values[ns.index(n)])
        if n in ns
        else float("nan")
    )


def matrix_claims(ds: xr.Dataset) -> list:
    d, thr = int(ds.sizes["row"]), ds.attrs["threshold"]
    ranks, R, trans = ds["rank"].values, ds["optimistic_size"].values, ds["transition"].values
    fixed = ds.attrs.get("order", "random") == "fixed"
    cond = ds["cross_condition"].values if "cross_condition" in ds else np.full(len(ranks), np.nan)
    sets = (
        "the authors' fixed order: the first n entries of rows and columns crosswise, the same "
        "set for every seed"
        if fixed
        else "random generic observed sets, one per seed"
    )
    out = []
    for r in sorted(set(ranks)):
        idx = np.flatnonzero(ranks == r)
        Rr = int(R[idx[0]])
        frac = [_frac_at(ds, i, Rr) for i in idx]
        is_late = np.isfinite(trans[idx]) & (trans[idx] > Rr)
        late = trans[idx][is_late]
        if fixed and late.size:
            ok = idx[~is_late]
            cause = (
                f"at n = {Rr} every seed observes the same cross of the first {r} rows and {r} columns, "
                f"which determines a rank-{r} target only through its leading {r}x{r} block; the targets "
                f"recovered late (from n = {_values_text(late)}) have an ill-conditioned block (condition "
                f"number {_values_text(np.round(cond[idx][is_late], 1))}"
                + (
                    f" vs {_values_text(np.round(cond[ok], 1))} for those recovered at {Rr}"
                    if ok.size
                    else ""
                )
                + "), and small-init GD interpolates the cross on another matrix: the optimistic size "
                "assumes generic samples, the fixed cross is generic only for a well-conditioned block"
            )
        elif max(frac) > 0 and late.size:
            cause = (
                f"small-init GD from {Rr} generic entries lands on another rank-{r} interpolant for part of "
                f"the seeds ({', '.join(f'{f:.0%}' for f in frac)} recover at n = {Rr}), so the median "
                f"recovers only from n = {_values_text(late)}: the optimistic size is reached by some seeds, "
                "not by all"
            )
        else:
            cause = "too few GD steps or seeds at this preset"
        # known non-reproductions: random orders, rank 2: 13, 12 on an earlier commit, 12, 12 now
        # (62% of the seeds recover at n = 12: the median sits at the edge); fixed order: rank 2
        # 14, 12 and rank 3 15, 16 (the targets with an ill-conditioned leading block)
        known_bad = (r in (2, 3)) if fixed else (r == 2)
        out.append(
            claim(
                ds,
                name=f"rank-{r}-transition",
                figure="Fig 10.2",
                book=Rr,
                statement=f"{d}x{d} rank-{r} targets are recovered (median relative error <= {thr:g} from n on) "
                f"from exactly n = 2rd - r^2 = {Rr} observed entries ({sets})",
                measured=trans[idx],
                held=bool(np.all(trans[idx] == Rr)),
                min_preset="tiny" if r == 1 else "quick",
                reproduces=not known_bad,
                detail=f"transition of each rank-{r} target; fraction of seeds recovered at n = {Rr}: "
                + ", ".join(f"{f:.0%}" for f in frac)
                + "; condition number of each target's leading block: "
                + _values_text(np.round(cond[idx], 1)),
                if_not_held=cause,
            )
        )
    frac_all = ds["recovered_fraction"].transpose("target", "n").values
    below_mask = ds["n"].values[None, :] < R[:, None]
    masked = np.where(below_mask, frac_all, 0.0)
    worst_t, worst_n = np.unravel_index(np.argmax(masked), masked.shape)
    worst = float(masked[worst_t, worst_n])
    label = str(ds["target_label"].values[worst_t]) if "target_label" in ds.coords else str(worst_t)
    out.append(
        claim(
            ds,
            name="none-below-optimistic",
            figure="Fig 10.2",
            book=0,
            statement=f"no seed recovers a target (relative error <= {thr:g}) from fewer than 2rd - r^2 entries "
            f"({sets})",
            measured=worst,
            held=worst == 0,
            detail="largest fraction of seeds recovered at any n < R, over targets"
            + (f" ({label}, n = {int(ds['n'].values[worst_n])})" if worst > 0 else "")
            + (
                "; with the fixed order the seeds share each observed set, so this asks whether the "
                "first n < R entries of the order pin the target down"
                if fixed
                else ""
            ),
            if_not_held="below R the rank-r interpolants of the observed entries form a family of "
            "dimension R - n that contains the target, and one seed's sample set and init landed on "
            "(or within the threshold of) the target itself"
            + (f" ({label} at n = {int(ds['n'].values[worst_n])})" if worst > 0 else ""),
        )
    )
    return out


def matrix_figures(ds):
    from phasekit.viz import rank as viz

    return viz.matrix_figures(ds)


# ============================================================================ Fig 10.5


@dataclass(frozen=True)
class InitStdConfig(RecoveryConfig):
    """Fig 10.5: samples needed against init std, (a) f_NL fitting 1 + x1 (optimistic 2, f_L 3),
    (b) a rank-1 d x d matrix (optimistic 2d - 1)."""

    fnl_init_stds: tuple[float, ...] = param(
        tuple(float(s) for s in np.logspace(-5, 0, 6)), gt=0.0, doc="(a) init stds"
    )
    fnl_n: tuple[int, ...] = param((1, 2, 3, 4), ge=1, doc="(a) sample sizes")
    fnl_lrs: tuple[float, ...] = param((0.05, 0.1, 0.3), gt=0.0, doc="(a) GD learning-rate grid")
    fnl_stop_loss: float = param(
        1e-16, ge=0.0, doc="(a) stop a run once its training loss is <= this"
    )
    n_test: int = param(1000, ge=1, doc="(a) test inputs")
    d: int = param(4, ge=2, le=8, doc="(b) matrix size")
    matrix_init_stds: tuple[float, ...] = param(
        tuple(float(s) for s in np.logspace(-6, -1, 6)), gt=0.0, doc="(b) init stds"
    )
    matrix_n: tuple[int, ...] = param(tuple(range(4, 17)), ge=1, doc="(b) observed entries")
    matrix_lrs: tuple[float, ...] = param((0.5, 1.0, 2.0), gt=0.0, doc="(b) GD learning-rate grid")
    matrix_stop_loss: float = param(
        1e-14, ge=0.0, doc="(b) stop a run once its training loss is <= this"
    )
    target_seed: int = param(0, ge=0, doc="(b) key of the rank-1 target")
    threshold: float = param(1e-3, gt=0.0, doc="recovered: median test error <= threshold")

    def validate(self):
        for f in ("fnl_init_stds", "fnl_n", "matrix_init_stds", "matrix_n"):
            _increasing(f, getattr(self, f))
        if max(self.matrix_n) > self.d**2:
            raise ValueError(f"matrix_n: at most d^2 = {self.d**2} entries, got {self.matrix_n}")


def run_init_std(cfg: InitStdConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    sub = lambda name: None if store is None else f"{store}/{name}"
    # (a) f_NL on f* = 1 + x1
    x_test = jax.random.normal(jax.random.key(cfg.test_seed), (cfg.n_test, 2))
    coef = jnp.asarray(opt.FNL_TARGETS["1+x1"])
    task_a = rec.fnl_task(max(cfg.fnl_n), x_test, nonlinear=True)

    def point_a(pt, key):
        return rec.recovery_point_run(
            task_a,
            {"coef": coef, "n": pt["n"]},
            pt["init_std"],
            key,
            lrs=cfg.fnl_lrs,
            steps=cfg.steps,
            stop_loss=cfg.fnl_stop_loss,
            select=cfg.select,
        )

    axes_a = {
        "init_std": np.asarray(cfg.fnl_init_stds),
        "n": np.asarray(cfg.fnl_n),
        "seed": np.arange(cfg.seeds),
    }
    a = _sweep(point_a, axes_a, cfg, sub("fnl"), shard, progress, [x_test], cfg.fnl_lrs, desc="fnl")
    # (b) rank-1 matrix
    target = rec.low_rank_matrices(jax.random.key(cfg.target_seed), cfg.d, [1])[0]
    task_b = rec.matrix_completion_task(cfg.d)

    def point_b(pt, key):
        return rec.recovery_point_run(
            task_b,
            {"target": target, "n": pt["n"]},
            pt["init_std"],
            key,
            lrs=cfg.matrix_lrs,
            steps=cfg.steps,
            stop_loss=cfg.matrix_stop_loss,
            select=cfg.select,
        )

    axes_b = {
        "init_std": np.asarray(cfg.matrix_init_stds),
        "n": np.asarray(cfg.matrix_n),
        "seed": np.arange(cfg.seeds),
    }
    b = _sweep(
        point_b,
        axes_b,
        cfg,
        sub("matrix"),
        shard,
        progress,
        [target],
        cfg.matrix_lrs,
        desc="matrix",
    )
    if not (a.attrs["complete"] and b.attrs["complete"]):
        a.attrs["complete"] = 0
        return describe(a, VARIABLES)
    a["optimistic_size"] = opt.fnl_sample_size("f_NL", coef)
    b["optimistic_size"] = opt.matrix_factorization(cfg.d, 1)
    b["target_matrix"] = (("row", "col"), np.asarray(target))
    parts = []
    for name, part in (("fnl", a), ("matrix", b)):
        part = _analyse(part, cfg.threshold)
        parts.append(
            part.rename({k: f"{name}_{k}" for k in list(part.data_vars) + ["n", "init_std", "lr"]})
        )
    ds = xr.merge(parts, combine_attrs="override")
    ds.attrs["threshold"] = cfg.threshold
    return describe(
        ds,
        {
            f"{p}_{k}": (f"({'a' if p == 'fnl' else 'b'}) {v[0]}", *v[1:])
            for p in ("fnl", "matrix")
            for k, v in VARIABLES.items()
        },
    )


def init_std_claims(ds: xr.Dataset) -> list:
    thr = ds.attrs["threshold"]
    sa, ta = ds["fnl_init_std"].values, ds["fnl_transition"].values
    sb, tb = ds["matrix_init_std"].values, ds["matrix_transition"].values
    Ra, Rb = int(ds["fnl_optimistic_size"]), int(ds["matrix_optimistic_size"])
    out = []
    small, large = sa < 1e-3, sa > 1e-2
    if small.any():
        out.append(
            claim(
                ds,
                name="fnl-small-init",
                figure="Fig 10.5a",
                book=2,
                statement=f"f_NL fits 1 + x1 (median test error <= {thr:g} from n on) from 2 samples when "
                "init std < 1e-3",
                measured=ta[small],
                held=bool(np.all(ta[small] == 2)),
                detail="transition at init std " + ", ".join(f"{s:.0e}" for s in sa[small]),
                if_not_held="too few GD steps: from small init the t2 t3 direction grows slowly",
            )
        )
    if large.any():
        out.append(
            claim(
                ds,
                name="fnl-large-init",
                figure="Fig 10.5a",
                book=3,
                statement="f_NL needs 3 samples (as many as f_L) to fit 1 + x1 when init std > 1e-2",
                measured=ta[large],
                held=bool(np.all(ta[large] == 3)),
                min_preset="quick",
                detail="transition at init std " + ", ".join(f"{s:.0e}" for s in sa[large]),
                if_not_held="at this init std the t2 t3 x2 term stays below the threshold at n = 2; at the tiny "
                "preset (few steps, few seeds) large-init runs may not reach the threshold at all (NaN)",
            )
        )
    fin = np.where(np.isfinite(tb), tb, np.inf)
    monotone = bool(np.all(np.diff(fin) >= 0))
    out.append(
        claim(
            ds,
            name="matrix-larger-init-more-samples",
            figure="Fig 10.5b",
            book="fewer samples at smaller init",
            statement=f"the rank-1 {int(ds.sizes['row'])}x{int(ds.sizes['row'])} matrix needs fewer observed entries "
            "at smaller init: the transition never decreases as init std grows, and the largest "
            "init needs more entries than the smallest",
            measured=tb,
            held=monotone and fin[-1] > fin[0],
            min_preset="quick",
            detail="transition per init std "
            + ", ".join(f"{s:.0e}: {_values_text(t)}" for s, t in zip(sb, tb))
            + " (NaN / inf: not recovered at any n of the grid)",
            if_not_held="init std grid too narrow to leave the small-init regime, or too few seeds",
        )
    )
    lo = float(
        np.nanmin(
            np.concatenate([ta, tb]) - np.concatenate([np.full_like(ta, Ra), np.full_like(tb, Rb)])
        )
    )
    out.append(
        claim(
            ds,
            name="never-below-optimistic",
            figure="Fig 10.5",
            book=0,
            statement="no init std recovers with fewer samples than the optimistic size (2 for f_NL, "
            "2d - 1 for the rank-1 matrix): min over init stds of transition - R >= 0",
            measured=lo,
            held=lo >= 0,
            detail=f"optimistic sizes {Ra} and {Rb}",
            if_not_held="a seed with a special sample set",
        )
    )
    return out


def init_std_figures(ds):
    from phasekit.viz import rank as viz

    return viz.init_std_figures(ds)


# ============================================================================ Fig 10.3

NEAR = 1.5  # "near the optimistic size": transition <= 1.5 R (the book's FC x100: ~25 samples for R = 18)


@dataclass(frozen=True)
class CnnConfig(RecoveryConfig):
    """Fig 10.3: the teacher f*(x) = W2 tanh(W1 x) (kernel [0.6, 0.8, 1] sliding over x in R^5:
    the book's text says R^4, its 3 x 5 W1 needs 5) fitted by a 1-kernel CNN, a CNN without weight
    sharing and a width-3 FC net, each ``width`` times wider; relative test error
    mean (f - f*)^2 / mean f*^2 on N(0, I_5) test inputs."""

    archs: tuple[str, ...] = param(
        opt.CONV_ARCHITECTURES, choices=opt.CONV_ARCHITECTURES, doc="cnn, cnn_no_sharing, fc"
    )
    widths: tuple[int, ...] = param(
        (1, 10), ge=1, doc="width multipliers N (N kernels / 3N neurons)"
    )
    n_values: tuple[int, ...] = param(
        (2, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18, 20, 24, 28, 32), ge=1, doc="sample sizes n"
    )
    seeds: int = param(3, ge=1, doc="seeds per (arch, width, n)")
    lrs: tuple[float, ...] = param(
        (0.1, 0.2, 0.5), gt=0.0, doc="GD learning-rate grid (the book: in [0.05, 0.5])"
    )
    init_std: float = param(1e-10, gt=0.0, doc="init std (the book's variance 1e-20)")
    threshold: float = param(1e-4, gt=0.0, doc="recovered: median relative test error <= threshold")
    stop_loss: float = param(1e-14, ge=0.0, doc="stop a run once its training loss is <= this")
    n_test: int = param(1000, ge=1, doc="test inputs")
    rank_points: int = param(60, ge=2, doc="evaluation points of the tangent rank at the target")

    def validate(self):
        _increasing("n_values", self.n_values)
        _increasing("widths", self.widths)
        if len(set(self.archs)) != len(self.archs):
            raise ValueError(f"archs: repeated names in {self.archs}")


def run_cnn(cfg: CnnConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    d = opt.CONV_INPUT_DIM
    x_test = jax.random.normal(jax.random.key(cfg.test_seed), (cfg.n_test, d))
    n_max = max(cfg.n_values)

    def point(pt, key):
        task = rec.conv_task(cfg.archs[pt["arch"]], pt["width"], n_max, x_test)
        return rec.recovery_point_run(
            task,
            {"n": pt["n"]},
            cfg.init_std,
            key,
            lrs=cfg.lrs,
            steps=cfg.steps,
            stop_loss=cfg.stop_loss,
            select=cfg.select,
        )

    axes = {
        "arch": np.arange(len(cfg.archs)),
        "width": np.asarray(cfg.widths),
        "n": np.asarray(cfg.n_values),
        "seed": np.arange(cfg.seeds),
    }
    ds = _sweep(
        point,
        axes,
        cfg,
        store,
        shard,
        progress,
        [x_test],
        cfg.lrs,
        static=("arch", "width"),
        desc="fig10.3",
    )
    if not ds.attrs["complete"]:
        return describe(ds, VARIABLES)
    ds = ds.assign_coords(arch=list(cfg.archs))
    # the tangent rank at each architecture's optimistic point (float64, host side)
    x_rank = np.asarray(
        jax.random.normal(jax.random.key(cfg.test_seed + 1), (cfg.rank_points, d)), np.float64
    )
    n_params, rank, gap, profile = (
        np.zeros((len(cfg.archs), len(cfg.widths)), int),
        np.zeros((len(cfg.archs), len(cfg.widths)), int),
        np.zeros((len(cfg.archs), len(cfg.widths))),
        [],
    )
    for i, arch in enumerate(cfg.archs):
        for j, w in enumerate(cfg.widths):
            init_fn, apply_fn = opt.conv_model(arch, w)
            point_star = opt.conv_teacher_point(arch, w)
            n_params[i, j] = sum(p.size for p in jax.tree_util.tree_leaves(point_star))
            res = model_rank(apply_fn, point_star, x_rank, warn=False)
            rank[i, j], gap[i, j] = res.rank, res.gap
        profile.append(tangent_rank_profile(apply_fn, point_star, x_rank).ranks)
    ds["n_params"] = (("arch", "width"), n_params)
    ds["rank_at_target"] = (("arch", "width"), rank)
    ds["rank_gap"] = (("arch", "width"), gap)
    ds["rank_profile"] = (("arch", "rank_point"), np.stack(profile))
    ds = ds.assign_coords(rank_point=np.arange(1, cfg.rank_points + 1))
    ds["optimistic_size"] = ("arch", np.asarray([opt.conv_sample_size(a) for a in cfg.archs]))
    ds.attrs.update(kernel=np.asarray(opt.CONV_KERNEL), input_dim=d, steps=cfg.steps)
    return describe(_analyse(ds, cfg.threshold), VARIABLES)


def cnn_claims(ds: xr.Dataset) -> list:
    thr, near = ds.attrs["threshold"], NEAR
    R = ds["optimistic_size"].values
    rank = ds["rank_at_target"].values
    trans = ds["transition"].values  # [arch, width]
    archs = [str(a) for a in ds["arch"].values]
    out = [
        claim(
            ds,
            name="rank-at-target",
            figure="Table 10.1",
            book=[int(r) for r in R],
            statement="the tangent rank at each architecture's optimistic point equals the closed form "
            "(CNN s + (d+1-s) = 6, no sharing (s+1)(d+1-s) = 12, FC (d+1)(d+1-s) = 18) at every width",
            measured=rank[:, -1],
            held=bool(np.all(rank == R[:, None]) and np.all(ds["rank_gap"].values > 1e6)),
            detail=f"rank at the widest model (x{int(ds['width'].values[-1])}); all widths: {rank.tolist()}",
            if_not_held="too few evaluation points for the rank to saturate",
        )
    ]
    x1 = trans[:, 0]
    if len(archs) > 1:
        order = [archs.index(a) for a in opt.CONV_ARCHITECTURES if a in archs]
        fin = np.where(np.isfinite(x1[order]), x1[order], np.inf)
        out.append(
            claim(
                ds,
                name="ordering",
                figure="Fig 10.3",
                book="CNN < CNN without sharing < FC",
                statement=f"at width x{int(ds['width'].values[0])} the transition (median relative error <= {thr:g} "
                "from n on) orders as CNN < CNN without sharing < FC",
                measured=x1[order],
                held=bool(np.all(np.diff(fin) > 0) and np.isfinite(fin[:-1]).all()),
                min_preset="quick",
                detail="transitions in the order " + ", ".join(np.asarray(archs)[order]),
                if_not_held="n grid too coarse or too small to separate the architectures",
            )
        )
    ratio = (
        np.where(np.isfinite(trans), trans, np.inf) / R[:, None]
    )  # inf: not recovered on the grid
    worst = ratio.max(axis=1)
    loss = ds["train_loss"].transpose("arch", "width", "n", "seed").values
    past_R = ds["n"].values[None, :] >= R[:, None]  # [arch, n]: runs with n >= R
    loss_narrow, loss_wide = (float(np.nanmedian(loss[:, w][past_R])) for w in (0, -1))
    unrecovered = [a for a, v in zip(archs, worst) if not np.isfinite(v)]
    finite = worst[np.isfinite(worst)]
    at_edge = float(np.mean(ds["best_lr"].isel(width=-1).values == ds["lr"].values.max()))
    steps = int(ds.attrs.get("steps", 0))
    out.append(
        claim(
            ds,
            name="width-independent",
            figure="Fig 10.3",
            book="near R at every width (FC x100: ~25 for R = 18)",
            statement=f"the transition sits near each architecture's optimistic size whatever the width: "
            f"transition <= {near:g} R for every architecture and width (measured: the largest "
            "transition / R over widths, per architecture; inf: not recovered on the n grid)",
            measured=worst,
            held=bool(np.all(worst <= near)) and ds.sizes["width"] > 1,
            min_preset="quick",
            reproduces=False,
            detail="transition / R per (arch, width): "
            + "; ".join(
                f"{a} "
                + ", ".join(
                    f"x{int(w)}: {_values_text(t)}/{int(r)}"
                    for w, t in zip(ds["width"].values, trans[i])
                )
                for i, (a, r) in enumerate(zip(archs, R))
            ),
            if_not_held=f"wider models need up to {finite.max(initial=0):.2g}x R samples"
            + (
                f" or are not recovered on the n grid ({', '.join(unrecovered)})"
                if unrecovered
                else ""
            )
            + " although their tangent rank at the target equals the closed form (claim "
            "rank-at-target): the gap is in the GD dynamics from small init, not in the rank; the "
            f"x{int(ds['width'].values[-1])} runs with n >= R end at median training loss {loss_wide:.0e} (x{int(ds['width'].values[0])}: {loss_narrow:.0e}) after {steps} steps, "
            f"{at_edge:.0%} of them at the largest lr of the grid, so they are still training. "
            "The step budget is not the main cause: measured by hand (preset long, 100k GD "
            "steps, 5x quick), the x10 transitions move from 12, 28, - (quick) to 10, 28, - "
            "(CNN, no sharing, FC) and the x10 median training loss only from 4e-07 to 4e-08; "
            "the authors' Adam is not the cure either (experiment optimistic-width: Adam from "
            "init std 1e-12 recovers tanh(x + 1) at width 2 from n = 5, at width 20 at no n <= 8)"
            if ds.sizes["width"] > 1
            else "one width only: width independence not tested",
        )
    )
    return out


def cnn_figures(ds):
    from phasekit.viz import rank as viz

    return viz.cnn_figures(ds)


# ============================================================================ Fig 10.3, width


@dataclass(frozen=True)
class WidthConfig(RecoveryConfig):
    """The authors' width experiment behind Fig 10.3: one tanh neuron f*(x) = tanh(x + 1) fitted
    by two-layer tanh nets with bias of several widths (:func:`phasekit.dynamics.recovery.neuron_task`),
    init std 1e-12, Adam lr 0.1, 10k steps, 10 trials; x ~ N(0, 1); relative test error. The
    optimistic size k (d + 2) = 3 does not depend on the width."""

    widths: tuple[int, ...] = param((2, 20), ge=1, doc="student widths (neurons)")
    n_values: tuple[int, ...] = param((1, 2, 3, 4, 5, 6, 8), ge=1, doc="sample sizes n")
    seeds: int = param(10, ge=1, doc="trials per (width, n): each its own samples and init")
    steps: int = param(10_000, ge=1, doc="optimizer steps per run")
    optimizer: str = param("adam", choices=OPTIMIZERS, doc="optimizer of every run")
    lrs: tuple[float, ...] = param((0.1,), gt=0.0, doc="learning-rate grid")
    init_std: float = param(1e-12, gt=0.0, doc="init std of every parameter")
    neuron: tuple[float, ...] = param((1.0, 1.0, 1.0), doc="target (a, w, b): a tanh(w x + b)")
    threshold: float = param(1e-4, gt=0.0, doc="recovered: median relative test error <= threshold")
    stop_loss: float = param(1e-14, ge=0.0, doc="stop a run once its training loss is <= this")
    n_test: int = param(1000, ge=1, doc="test inputs")

    def validate(self):
        _increasing("n_values", self.n_values)
        _increasing("widths", self.widths)
        if len(self.neuron) != 3:
            raise ValueError(f"neuron: expected (a, w, b), got {self.neuron}")
        if self.neuron[0] == 0 or self.neuron[1] == 0:
            raise ValueError(f"neuron: a and w must be nonzero (one neuron), got {self.neuron}")


def run_width(cfg: WidthConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    x_test = jax.random.normal(jax.random.key(cfg.test_seed), (cfg.n_test, 1))
    n_max = max(cfg.n_values)

    def point(pt, key):
        task = rec.neuron_task(pt["width"], n_max, x_test, cfg.neuron)
        return rec.recovery_point_run(
            task,
            {"n": pt["n"]},
            cfg.init_std,
            key,
            lrs=cfg.lrs,
            steps=cfg.steps,
            stop_loss=cfg.stop_loss,
            select=cfg.select,
            optimizer=cfg.optimizer,
        )

    axes = {
        "width": np.asarray(cfg.widths),
        "n": np.asarray(cfg.n_values),
        "seed": np.arange(cfg.seeds),
    }
    ds = _sweep(
        point, axes, cfg, store, shard, progress, [x_test], cfg.lrs, static=("width",), desc="width"
    )
    if not ds.attrs["complete"]:
        return describe(ds, VARIABLES)
    ds["n_params"] = ("width", 3 * np.asarray(cfg.widths))
    ds["optimistic_size"] = opt.two_layer(1, 1, bias=True)
    ds.attrs.update(optimizer=cfg.optimizer, steps=cfg.steps)
    return describe(_analyse(ds, cfg.threshold), VARIABLES)


def width_claims(ds: xr.Dataset) -> list:
    thr, R = ds.attrs["threshold"], int(ds["optimistic_size"])
    trans, widths = ds["transition"].values, ds["width"].values
    ns = ds["n"].values
    frac = ds["recovered_fraction"].transpose("width", "n").values
    below = float(frac[:, ns < R].max(initial=0.0))
    at_r = [float(f[list(ns).index(R)]) if R in ns else float("nan") for f in frac]
    loss = ds["train_loss"].transpose("width", "n", "seed").values
    past = [float(np.nanmedian(loss[j][ns >= R])) for j in range(len(widths))]
    at = list(ns).index(R) if R in ns else None
    med = ds["median_error"].transpose("width", "n").values
    at_r_loss = [
        float(np.nanmedian(loss[j][at])) if at is not None else np.nan for j in range(len(widths))
    ]
    at_r_err = [float(med[j, at]) if at is not None else np.nan for j in range(len(widths))]
    setup = f"{ds.attrs['optimizer']}, {int(ds.attrs['steps'])} steps, init std {float(ds.attrs['config_init_std']):.0e}"
    return [
        claim(
            ds,
            name="width-independent",
            figure="Fig 10.3",
            book=R,
            statement=f"tanh(x + 1) is recovered (median relative test error <= {thr:g} from n on) from "
            f"its optimistic size k (d + 2) = {R} samples at every width, as in the authors' runs "
            "(n = 3 at widths 2 and 20)",
            measured=trans,
            held=bool(np.all(trans == R)),
            min_preset="quick",
            reproduces=False,  # quick: 5, - (Adam); gd preset: 8, -
            detail=f"transition per width ({setup}): "
            + ", ".join(f"{int(w)}: {_values_text(t)}" for w, t in zip(widths, trans))
            + f"; fraction of trials recovered at n = {R}: "
            + ", ".join(f"{f:.0%}" for f in at_r),
            if_not_held=f"at n = {R} the runs interpolate (median final training loss per width: "
            + ", ".join(f"{v:.0e}" for v in at_r_loss)
            + ") but on other interpolants than the target (median test error at n = "
            + f"{R} per width: "
            + ", ".join(f"{v:.0e}" for v in at_r_err)
            + "); past R the wide runs are still training (median final training loss at n >= R "
            "per width: "
            + ", ".join(f"{v:.0e}" for v in past)
            + ")"
            + ": the gap is in the small-init dynamics, not in the rank, and not in the optimizer "
            "alone (measured by hand at quick, 10 trials, x ~ N(0, 1): Adam lr 0.1, 10k steps: width "
            "2 from n = 5, width 20 at no n <= 8 (median error 1e-02 at n = 8); preset gd, GD lr "
            "0.3 / 1, 20k steps: width 2 from n = 8, width 20 at no n <= 8 (2e-04 at n = 8)); the "
            "authors' input distribution and recovery criterion are not known here",
        ),
        claim(
            ds,
            name="none-below-optimistic",
            figure="Fig 10.3",
            book=0,
            statement=f"no trial recovers tanh(x + 1) (relative test error <= {thr:g}) from fewer than "
            f"{R} samples",
            measured=below,
            held=below == 0,
            detail=f"largest fraction of trials recovered at any n < {R}, over widths",
            if_not_held="with fewer samples than parameters of one neuron the fit is not unique: "
            "a trial can only land on the target by chance",
        ),
    ]


def width_figures(ds):
    from phasekit.viz import rank as viz

    return viz.width_figures(ds)


# ============================================================================ registry

# the authors' GD for Fig 10.2 (their code): init std 1e-7, lr 0.1, up to 100k steps, stop at
# training loss 1e-8
AUTHORS_MATRIX = dict(init_std=1e-7, lrs=(0.1,), steps=100_000, stop_loss=1e-8)

register(
    Experiment(
        "optimistic-fnl",
        area="rank",
        figure="Fig 10.1",
        title="f_L vs the reparameterized f_NL = t0 + t1 x1 + t2 t3 x2: recovery at the optimistic sample size",
        config=FnlConfig,
        presets={
            "tiny": dict(targets=("1+x1", "x2"), n_values=(1, 2, 3), seeds=3, steps=3000),
            "quick": {},
            "paper": dict(seeds=100, steps=50_000),
        },
        run=run_fnl,
        claims=fnl_claims,
        figures=fnl_figures,
    )
)

register(
    Experiment(
        "optimistic-matrix",
        area="rank",
        figure="Fig 10.2",
        title="4x4 matrix completion with f = AB from small init: recovery from 2rd - r^2 entries",
        config=MatrixConfig,
        presets={
            "tiny": dict(ranks=(1,), n_values=(5, 6, 7, 8, 9), seeds=3, steps=3000),
            "quick": {},
            "paper": dict(seeds=50, steps=50_000),
            # the authors' fixed order at the quick budget
            "fixed": dict(order="fixed"),
            # the authors' setup: fixed order, init std 1e-7, full-batch GD lr 0.1, up to 100k
            # steps, stop at loss 1e-8 (our loss is 1/(2n) sum of squares)
            "authors": AUTHORS_MATRIX | dict(order="fixed"),
            # the same GD from random (generic) observed sets, one per seed
            "authors-random": AUTHORS_MATRIX,
        },
        run=run_matrix,
        claims=matrix_claims,
        figures=matrix_figures,
    )
)

register(
    Experiment(
        "optimistic-init-std",
        area="rank",
        figure="Fig 10.5",
        title="samples needed against init std: the optimistic size is reached only from small init",
        config=InitStdConfig,
        presets={
            "tiny": dict(
                fnl_init_stds=(1e-4, 1.0),
                fnl_n=(1, 2, 3),
                matrix_init_stds=(1e-5, 1e-2),
                matrix_n=(6, 7, 8, 9, 10),
                seeds=2,
                steps=5000,
            ),
            "quick": {},
            "paper": dict(seeds=50, steps=50_000),
        },
        run=run_init_std,
        claims=init_std_claims,
        figures=init_std_figures,
    )
)

register(
    Experiment(
        "optimistic-cnn",
        area="rank",
        figure="Fig 10.3",
        title="CNN vs CNN without sharing vs FC on a conv teacher: optimistic sizes 6 < 12 < 18",
        config=CnnConfig,
        presets={
            "tiny": dict(
                archs=("cnn",),
                widths=(1,),
                n_values=(4, 5, 6, 8),
                seeds=1,
                steps=3000,
                rank_points=30,
            ),
            "quick": {},
            "paper": dict(
                widths=(1, 3, 10, 34, 100),
                n_values=tuple(range(1, 41)),
                seeds=10,
                lrs=(0.05, 0.1, 0.2, 0.3, 0.5),
                steps=100_000,
            ),
            # the step-budget hypothesis for the width gap: quick with the book's 100k GD steps
            "long": dict(steps=100_000),
        },
        run=run_cnn,
        claims=cnn_claims,
        figures=cnn_figures,
    )
)

register(
    Experiment(
        "optimistic-width",
        area="rank",
        figure="Fig 10.3",
        title="the authors' width runs: tanh(x + 1) by tanh nets of width 2 and 20, "
        "optimistic size 3 at both",
        config=WidthConfig,
        presets={
            "tiny": dict(n_values=(2, 3), seeds=2, steps=2000),
            "quick": {},
            "paper": dict(widths=(2, 20, 200), n_values=tuple(range(1, 11)), seeds=50),
            # the optimizer hypothesis: plain full-batch GD (the book's Fig 10.3 optimizer) instead
            # of Adam, same init, a small lr grid and twice the steps
            "gd": dict(optimizer="gd", lrs=(0.3, 1.0), steps=20_000),
        },
        run=run_width,
        claims=width_claims,
        figures=width_figures,
    )
)
