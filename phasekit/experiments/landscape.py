"""Loss landscape and sharpness (book ch. 11, spec 05): 1-1-1 non-convexity, edge of stability,
small- vs large-batch flatness.

    landscape-one-one-one  the 1-1-1 net (x = 1, sigmoid hidden, no biases): MSE (linear output)
                           and cross-entropy (sigmoid output) on a (w1, w2) grid, dense float64
                           Hessian eigenvalues at every point, where the Hessian is indefinite.
    edge-of-stability      full-batch GD on digits at several lrs: lambda_max rises to ~2 / lr.
    flatness-batch-size    SGD with a small and a large batch from one init (Keskar et al. 2017):
                           lambda_max, tr H, interpolation between the solutions, 1-D slices, F.

Recipe of each: config -> data -> :func:`phasekit.dynamics.sweep.run` (resumable, shardable) over
grid rows / learning rates / (batch, seed) -> library measures (:mod:`phasekit.theory.landscape`,
:mod:`phasekit.theory.hessian`, :mod:`phasekit.dynamics.stability`) -> claims -> figures of
:mod:`phasekit.viz.landscape`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from phasekit.dynamics import sweep
from phasekit.experiments.base import Config, Experiment, claim, describe, param, register
from phasekit.models import toys
from phasekit.theory import hessian, landscape

__all__ = ["EdgeOfStabilityConfig", "FlatnessBatchConfig", "OneOneOneConfig"]


def _store(store, name):
    return None if store is None else f"{store}/{name}"


# ----------------------------------------------------------------------------- 1-1-1 net

ONE_LOSSES = {
    "mse": ("MSE, linear output", toys.one_one_one_mse),
    "cross_entropy": ("cross-entropy, sigmoid output", toys.one_one_one_cross_entropy),
}
CE_ORIGIN_BOOK = [[0.0, -0.125], [-0.125, 0.0625]]


@dataclass(frozen=True)
class OneOneOneConfig(Config):
    """Grid [-extent, extent]^2 of (w1, w2) with ``points`` per side; x = 1 and each label."""

    extent: float = param(6.0, gt=0.0)
    points: int = param(121, ge=3, doc="grid points per side (odd: the grid contains w = 0)")
    labels: tuple[float, ...] = param((0.0, 1.0), ge=0.0, le=1.0)
    tol: float = param(1e-10, gt=0.0, doc="eigenvalues within +-tol count as zero")

    def validate(self):
        if self.points % 2 == 0:
            raise ValueError(
                f"points: must be odd so that the grid contains the origin, got {self.points}"
            )


def run_one_one_one(
    cfg: OneOneOneConfig, store=None, shard=None, progress: bool = True
) -> xr.Dataset:
    """Loss, Hessian eigenvalues, det and indefiniteness over (loss_fn, label, w1, w2), float64."""
    names = list(ONE_LOSSES)
    with jax.enable_x64(True):
        w = jnp.linspace(-cfg.extent, cfg.extent, cfg.points, dtype=jnp.float64)
        x = jnp.ones(1, jnp.float64)

        def point(pt, key):
            loss = ONE_LOSSES[names[pt["loss_fn"]]][1]
            y = jnp.full(1, pt["label"], jnp.float64)
            row = jnp.stack([jnp.full_like(w, pt["w1"]), w], -1)  # [w2, 2]
            ev = landscape.eigenvalues_on_grid(loss, row, (x, y))
            neg, _, pos = jax.vmap(lambda e: hessian.eigen_counts(e, cfg.tol))(ev)
            return {
                "loss": jax.vmap(lambda p: loss(p, (x, y)))(row),
                "eigenvalues": ev,
                "det": jnp.prod(ev, -1),
                "indefinite": (neg > 0) & (pos > 0),
                "hessian_origin": hessian.hessian(loss, jnp.zeros(2, jnp.float64), (x, y)),
            }

        ds = sweep.run(
            point,
            {
                "loss_fn": np.arange(len(names)),
                "label": np.asarray(cfg.labels, np.float64),
                "w1": np.asarray(w),
            },
            static=("loss_fn",),
            store=store,
            shard=shard,
            key_axes=(),
            config=cfg.to_dict(execution=False),
            progress=progress,
            desc="1-1-1 Hessians",
            dims={
                "loss": ("w2",),
                "eigenvalues": ("w2", "k"),
                "det": ("w2",),
                "indefinite": ("w2",),
                "hessian_origin": ("i", "j"),
            },
            coords={"w2": np.asarray(w)},
        )
    if not ds.attrs["complete"]:
        return describe(ds, ONE_VARIABLES)
    # the origin Hessian does not depend on w1: keep one copy
    ds["hessian_origin"] = ds["hessian_origin"].isel(w1=0, drop=True)
    ds = ds.assign_coords(loss_label=("loss_fn", [ONE_LOSSES[n][0] for n in names]), loss_fn=names)
    ds["det_closed_form"] = (
        ("label", "w1", "w2"),
        np.stack(
            [
                np.asarray(
                    landscape.one_one_one_mse_hessian_det(
                        ds["w1"].values[:, None], ds["w2"].values[None, :], y
                    )
                )
                for y in cfg.labels
            ]
        ),
    )
    ds["hessian_origin_closed_form"] = (
        ("label", "i", "j"),
        np.stack([np.asarray(landscape.one_one_one_ce_origin_hessian(y)) for y in cfg.labels]),
    )
    ds.attrs.update(model="f = s_out(w2 * sigmoid(w1 * x)), x = 1, no biases", dtype="float64")
    return describe(ds, ONE_VARIABLES)


ONE_VARIABLES = {
    "loss": ("training loss on the one sample (x = 1)", "1"),
    "eigenvalues": ("eigenvalues of the dense Hessian (ascending)", "1"),
    "det": ("det of the Hessian (product of its eigenvalues)", "1"),
    "indefinite": (
        "Hessian has a negative and a positive eigenvalue (beyond +-tol)",
        "1",
        "boolean",
    ),
    "hessian_origin": ("Hessian at w = (0, 0) by autodiff", "1"),
    "det_closed_form": (
        "closed-form det of the MSE Hessian (theory.landscape.one_one_one_mse_hessian_det)",
        "1",
    ),
    "hessian_origin_closed_form": (
        "closed-form cross-entropy Hessian at the origin "
        "(theory.landscape.one_one_one_ce_origin_hessian)",
        "1",
    ),
}


def _mse_det_negative_share(ds, label):
    """Share of the grid points with w2 != 0 where det H_MSE < 0."""
    det = ds["det"].sel(loss_fn="mse", label=label).values
    off_axis = np.abs(ds["w2"].values) > 0
    return float(np.mean(det[:, off_axis] < 0))


def one_one_one_claims(ds: xr.Dataset) -> list:
    out = []
    labels = [float(v) for v in ds["label"].values]
    if 1.0 in labels:
        H = ds["hessian_origin"].sel(loss_fn="cross_entropy", label=1.0).values
        err = float(np.max(np.abs(H - np.asarray(CE_ORIGIN_BOOK))))
        ev = np.linalg.eigvalsh(H)
        out.append(
            claim(
                ds,
                name="ce-origin-hessian",
                figure="course: 1-1-1 landscape",
                book=CE_ORIGIN_BOOK,
                statement="cross-entropy, sigmoid output, label 1: the Hessian at the origin is exactly "
                "[[0, -1/8], [-1/8, 1/16]] (max entry error < 1e-12) and has a negative eigenvalue "
                "(1 - sqrt 17)/32",
                measured=[err, float(ev[0])],
                held=err < 1e-12 and ev[0] < 0,
                detail="measured: max |H - book| entry, smallest eigenvalue",
                if_not_held="float32 Hessian (x64 not enabled) or a changed loss",
            )
        )
    for y in labels:
        share = _mse_det_negative_share(ds, y)
        cf = ds["det_closed_form"].sel(label=y).values
        num = ds["det"].sel(loss_fn="mse", label=y).values
        agree = float(np.max(np.abs(num - cf)) / np.max(np.abs(cf)))
        out.append(
            claim(
                ds,
                name=f"mse-det-negative-label-{y:g}",
                figure="course: 1-1-1 landscape",
                book=1.0,
                statement=f"MSE, linear output, label {y:g}: det H < 0 wherever w2 != 0 (share of the grid points "
                f"with w2 != 0 where det < 0 is 1) on [-{float(ds['w1'].max()):g}, {float(ds['w1'].max()):g}]^2",
                measured=share,
                held=share == 1.0,
                reproduces=y == 0.0,
                detail=f"max |det - closed form| / max |closed form| = {agree:.2g}",
                if_not_held="the spec's statement holds for label 0 only (det = w2^2 s^3 s'(s - 2) < 0); for label "
                f"{y:g} the residual term makes det > 0 on part of the plane (closed form "
                "theory.landscape.one_one_one_mse_hessian_det)"
                if y != 0.0
                else "numerical det of nearly singular Hessians at saturated w1",
            )
        )
    return out


def one_one_one_figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import landscape as viz

    return viz.one_one_one_figures(ds)


register(
    Experiment(
        "landscape-one-one-one",
        area="landscape",
        figure="course: 1-1-1 landscape",
        title="non-convexity of the 1-1-1 network: loss surface and where its Hessian is indefinite",
        config=OneOneOneConfig,
        presets={"tiny": dict(points=21), "quick": {}, "paper": dict(extent=8.0, points=401)},
        run=run_one_one_one,
        claims=one_one_one_claims,
        figures=one_one_one_figures,
    )
)


# ----------------------------------------------------------------------------- edge of stability

EOS_BAND = 0.2  # |late lambda_max / (2/lr) - 1| <= EOS_BAND counts as "at the edge of stability"
EOS_REACHED = 0.95  # per-lr claim: late ratio >= EOS_REACHED, or the sharpness still rises


@dataclass(frozen=True)
class EdgeOfStabilityConfig(Config):
    """Full-batch GD with MSE on centred digits (one-hot targets), tanh MLP with LeCun init,
    the same init at every lr; lambda_max by Lanczos on a fixed subset every ``every`` steps."""

    n_train: int = param(1000, ge=10, le=1797)
    sizes: tuple[int, ...] = param(
        (64, 64, 64, 10), ge=1, doc="layer widths, 64 inputs and 10 outputs"
    )
    lrs: tuple[float, ...] = param((0.05, 0.1, 0.2, 0.4, 0.8), gt=0.0)
    eos_lrs: tuple[float, ...] = param(
        (0.2, 0.4, 0.8),
        gt=0.0,
        doc="lrs whose sharpness is expected to reach 2/lr within the budget",
    )
    steps: int = param(3000, ge=1)
    every: int = param(50, ge=1, doc="sharpness record interval (divides steps)")
    subset: int = param(500, ge=1, doc="samples of the fixed Hessian subset")
    lanczos_steps: int = param(20, ge=2)
    late_fraction: float = param(
        0.25, gt=0.0, le=1.0, doc="last fraction of records averaged for the late sharpness"
    )
    seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap", "continuous"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        if self.sizes[0] != 64 or self.sizes[-1] != 10 or len(self.sizes) < 2:
            raise ValueError(
                f"sizes: must start with 64 (pixels) and end with 10 (classes), got {self.sizes}"
            )
        if self.steps % self.every:
            raise ValueError(f"every: must divide steps={self.steps}, got {self.every}")
        if self.subset > self.n_train:
            raise ValueError(f"subset: at most n_train = {self.n_train}, got {self.subset}")
        if not set(self.eos_lrs) <= set(self.lrs):
            raise ValueError(f"eos_lrs: must be among lrs {self.lrs}, got {self.eos_lrs}")


def _centred_digits(n):
    from phasekit.data import tabular

    x, labels = tabular.digits(n, scale="unit")
    return x - x.mean(0), np.eye(10, dtype=np.float32)[labels]


def run_edge_of_stability(
    cfg: EdgeOfStabilityConfig, store=None, shard=None, progress: bool = True
) -> xr.Dataset:
    """Loss and lambda_max at the record steps for every lr, the threshold 2/lr and the late ratio."""
    import optax

    from phasekit.dynamics import stability, train
    from phasekit.models import mlp

    x, y = _centred_digits(cfg.n_train)
    data = (jnp.asarray(x), jnp.asarray(y))
    key = jax.random.key(cfg.seed)
    params0 = mlp.init(key, list(cfg.sizes), scheme="lecun")
    loss = train.mse(mlp.apply, activation="tanh")
    steps = train.record_steps(cfg.steps, cfg.steps // cfg.every + 1, "linear")

    def point(pt, _):
        traj = stability.track_sharpness(
            loss,
            params0,
            data,
            optax.sgd(pt["lr"]),
            steps=cfg.steps,
            every=cfg.every,
            subset=cfg.subset,
            num_steps=cfg.lanczos_steps,
            key=key,
        )
        return {
            "sharpness": traj.observables["sharpness"],
            "loss": traj.loss,
            "diverged": traj.diverged,
        }

    ds = sweep.run(
        point,
        {"lr": np.asarray(cfg.lrs, np.float32)},
        store=store,
        shard=shard,
        key_axes=(),
        config=cfg.to_dict(execution=False),
        dims={"sharpness": ("step",), "loss": ("step",)},
        coords={"step": steps},
        batching=cfg.batching,
        progress=progress,
        desc="edge of stability",
    )
    if not ds.attrs["complete"]:
        return describe(ds, EOS_VARIABLES)
    lrs = ds["lr"].values
    ds["threshold"] = ("lr", np.asarray(stability.stability_threshold(lrs)))
    ds["late_ratio"] = (
        "lr",
        stability.late_sharpness_ratio(ds["sharpness"].values, lrs, cfg.late_fraction),
    )
    window = steps[int(np.floor((1 - cfg.late_fraction) * len(steps))) :]
    ds["late_rise"] = (
        "lr",
        stability.late_sharpness_slope(ds["sharpness"].values, steps, lrs, cfg.late_fraction)
        * float(window[-1] - window[0]),
    )
    ds.attrs.update(
        sizes=list(cfg.sizes),
        eos_lrs=list(cfg.eos_lrs),
        late_fraction=cfg.late_fraction,
        loss="MSE 1/(2n) sum |f - y|^2, one-hot digits",
        sharpness="Lanczos on a fixed subset",
    )
    return describe(ds, EOS_VARIABLES)


EOS_VARIABLES = {
    "sharpness": ("lambda_max of the training-loss Hessian on the fixed subset", "1"),
    "loss": ("full-batch training loss", "1"),
    "diverged": ("the run diverged (NaN/inf or loss > 1e6 L_0)", "1", "boolean"),
    "threshold": ("GD stability threshold 2 / lr", "1"),
    "late_ratio": ("mean lambda_max over the last late_fraction of records / (2 / lr)", "1"),
    "late_rise": (
        "rise of lambda_max / (2 / lr) over the last late_fraction of records (least-squares line)",
        "1",
    ),
}


def eos_claims(ds: xr.Dataset) -> list:
    lrs = [float(v) for v in ds["lr"].values]
    ratio = ds["late_ratio"].values
    idx = [
        i
        for i, lr in enumerate(lrs)
        if np.any(np.isclose(lr, np.atleast_1d(ds.attrs["eos_lrs"]), rtol=1e-6))
    ]
    eos = [round(lrs[i], 6) for i in idx]
    r_eos = [float(ratio[i]) for i in idx] or [float("nan")]
    s0 = ds["sharpness"].values[:, 0]
    late = ratio * ds["threshold"].values
    below = s0 < ds["threshold"].values
    rise = ds["late_rise"].values
    steps = int(ds["step"].values[-1])
    per_lr = [
        claim(
            ds,
            name=f"reaches-threshold-lr{lr:g}",
            figure="Fig 11 (Cohen et al. 2021)",
            book=f">= {EOS_REACHED:g} or rising",
            measured=[float(ratio[i]), float(rise[i])],
            statement=f"full-batch GD at lr {lr:g}: within {steps} steps lambda_max reaches 2/lr "
            f"(late ratio >= {EOS_REACHED:g}) or is still sharpening at the end (rise of the ratio over "
            f"the last {ds.attrs['late_fraction']:g} of the records > 0)",
            held=bool(ratio[i] >= EOS_REACHED or rise[i] > 0),
            min_preset="quick",
            detail="late ratio, rise over the window; "
            + ("at 2/lr" if ratio[i] >= EOS_REACHED else "below 2/lr")
            + (", still rising" if rise[i] > 0 else ", not rising"),
            if_not_held="sharpening stopped below 2/lr: the loss converged (or flattened) before "
            "lambda_max reached the threshold",
        )
        for i, lr in enumerate(lrs)
    ]
    return per_lr + [
        claim(
            ds,
            name="edge-of-stability",
            figure="Fig 11 (Cohen et al. 2021)",
            book=1.0,
            measured=r_eos,
            statement=f"full-batch GD at lr in {eos}: the late sharpness hovers at 2/lr, "
            f"|late lambda_max / (2/lr) - 1| <= {EOS_BAND:g} at each",
            held=bool(r_eos) and all(abs(r - 1) <= EOS_BAND for r in r_eos),
            min_preset="quick",
            detail="late ratio per lr; earlier runs measured 0.98, 1.06, 1.12 for lr 0.2, 0.4, 0.8",
            if_not_held="too few steps for progressive sharpening to reach 2/lr (or a catapult at the largest lr)",
        ),
        claim(
            ds,
            name="stable-below-threshold",
            figure="Fig 11 (Cohen et al. 2021)",
            book=f"<= 1 + {EOS_BAND:g}",
            measured=float(np.max(ratio)),
            held=bool(np.all(ratio <= 1 + EOS_BAND)) and not ds["diverged"].any(),
            statement=f"at no lr does GD settle at a sharpness above 2/lr: late ratio <= {1 + EOS_BAND:g} "
            "at every lr and no run diverges",
            detail="largest late ratio over lrs",
            if_not_held="a run still in its catapult phase at the end of the budget, or diverged",
        ),
        claim(
            ds,
            name="progressive-sharpening",
            figure="Fig 11 (Cohen et al. 2021)",
            book="lambda_max rises",
            measured=[float(v) for v in (late / s0)[below]] or [float("nan")],
            held=bool(below.any() and np.all(late[below] > s0[below])),
            min_preset="quick",
            statement="progressive sharpening: at every lr whose threshold 2/lr lies above the initial "
            "lambda_max, the late lambda_max exceeds the initial one",
            detail=f"late / initial lambda_max at lr {[round(lr, 6) for lr, b in zip(lrs, below) if b]}; "
            f"initial lambda_max {float(s0[0]):.3g}; at lrs with 2/lr below it GD first flattens "
            f"(late / initial {[round(float(v), 3) for v in (late / s0)[~below]]})",
            if_not_held="too few steps for the sharpness to rise",
        ),
    ]


def eos_figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import landscape as viz

    return viz.edge_of_stability_figures(ds)


register(
    Experiment(
        "edge-of-stability",
        area="landscape",
        figure="Fig 11 (Cohen et al. 2021)",
        title="edge of stability on digits: full-batch GD at several lrs, lambda_max -> 2 / lr",
        config=EdgeOfStabilityConfig,
        presets={
            "tiny": dict(
                n_train=200,
                sizes=(64, 32, 10),
                lrs=(0.2, 0.4, 0.8),
                steps=200,
                every=50,
                subset=100,
                lanczos_steps=10,
            ),
            "quick": {},
            "paper": dict(
                n_train=1797,
                sizes=(64, 200, 200, 10),
                lrs=(0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6),
                eos_lrs=(0.1, 0.2, 0.4, 0.8, 1.6),
                steps=20000,
                every=100,
                subset=1797,
                lanczos_steps=30,
            ),
            # the quick setup trained 6x longer at lr 0.1, whose lambda_max is still below 2/lr
            # after 3000 steps (ratio 0.43, rising): in gradient-flow time lr * steps its sharpness
            # tracks that of lr 0.2 (ratio 0.45 at t = 300 for both), rising ~0.01 per unit t.
            # Measured: late ratio 0.67 at 18000 steps, still rising but slowing (+0.036 over the
            # last quarter vs +0.039 over the last quarter of the 3000-step quick run)
            "long": dict(lrs=(0.1,), eos_lrs=(0.1,), steps=18000, every=300),
        },
        run=run_edge_of_stability,
        claims=eos_claims,
        figures=eos_figures,
    )
)


# ----------------------------------------------------------------------------- small vs large batch

BARRIER = 2.0  # interpolation "nearly flat": max_{t in [0, 1]} L <= BARRIER * max(L(0), L(1))


@dataclass(frozen=True)
class FlatnessBatchConfig(Config):
    """Digits (80/20 train/test split), ReLU MLP with He init, cross-entropy; the same optimizer
    and lr from the same init (per seed), only the batch size differs. ``epochs = 0``: both runs
    take ``steps`` updates; ``epochs > 0``: each takes ceil(epochs n_train / batch) updates, the
    same number of passes over the data as in Keskar et al.'s code (Adam, 20 epochs, batch 256 vs
    5000 from one saved init, keskarnitish/large-batch-training plot_parametric_plot.py)."""

    sizes: tuple[int, ...] = param(
        (64, 128, 128, 10), ge=1, doc="layer widths, 64 inputs and 10 outputs"
    )
    lr: float = param(0.1, gt=0.0)
    optimizer: str = param("sgd", choices=("sgd", "adam"))
    steps: int = param(3000, ge=1, doc="updates of each run when epochs = 0")
    epochs: int = param(0, ge=0, doc="> 0: each run takes ceil(epochs n_train / batch) updates")
    same_init: bool = param(True, doc="False: the two batch sizes start from independent inits")
    small_batch: int = param(16, ge=1)
    large_batch: int = param(1024, ge=1, le=1437)
    seeds: int = param(1, ge=1, doc="inits (the train/test split is fixed by split_seed)")
    n_directions: int = param(4, ge=1, doc="filter-normalized directions of the slices and of F")
    lanczos_steps: int = param(30, ge=2)
    trace_probes: int = param(20, ge=1)
    n_alpha: int = param(41, ge=3, doc="slice points on [-1, 1]")
    n_t: int = param(61, ge=3, doc="interpolation points on [-1, 2]")
    split_seed: int = param(0, ge=0)
    base_seed: int = param(0, ge=0)

    def validate(self):
        if self.sizes[0] != 64 or self.sizes[-1] != 10 or len(self.sizes) < 2:
            raise ValueError(
                f"sizes: must start with 64 (pixels) and end with 10 (classes), got {self.sizes}"
            )
        if self.small_batch >= self.large_batch:
            raise ValueError(
                f"small_batch: must be below large_batch = {self.large_batch}, got {self.small_batch}"
            )


def _digits_split(seed):
    from sklearn.model_selection import train_test_split

    from phasekit.data import tabular

    x, labels = tabular.digits(scale="unit")
    x_tr, x_te, l_tr, l_te = train_test_split(x, labels, test_size=0.2, random_state=seed)
    return (jnp.asarray(x_tr), jnp.asarray(l_tr)), (jnp.asarray(x_te), jnp.asarray(l_te))


def run_flatness_batch(
    cfg: FlatnessBatchConfig, store=None, shard=None, progress: bool = True
) -> xr.Dataset:
    """Per (batch, seed): the solution theta, lambda_max, tr H, slices, F, train loss, test accuracy;
    per seed: the loss along the line through the small- and the large-batch solution."""
    import optax
    from jax.flatten_util import ravel_pytree

    from phasekit.dynamics import train
    from phasekit.models import mlp

    data_tr, data_te = _digits_split(cfg.split_seed)
    loss = train.cross_entropy(mlp.apply)
    acc = train.accuracy(mlp.apply, *data_te)
    alphas = np.linspace(-1.0, 1.0, cfg.n_alpha, dtype=np.float32)
    ts = np.linspace(-1.0, 2.0, cfg.n_t, dtype=np.float32)
    batches = (cfg.small_batch, cfg.large_batch)
    n_tr = int(data_tr[0].shape[0])
    n_steps = {b: -(-cfg.epochs * n_tr // b) if cfg.epochs else cfg.steps for b in batches}  # ceil
    opt = {"sgd": optax.sgd, "adam": optax.adam}[cfg.optimizer]
    unravel = ravel_pytree(mlp.init(jax.random.key(0), list(cfg.sizes), scheme="he"))[1]

    def point(pt, key):
        batch = batches[pt["batch"]]
        k_init, k_sgd, k_dir, k_hess = jax.random.split(key, 4)
        if not cfg.same_init:
            k_init = jax.random.fold_in(k_init, batch)
        params0 = mlp.init(k_init, list(cfg.sizes), scheme="he")
        p = train.run(
            loss,
            params0,
            data_tr,
            opt(cfg.lr),
            steps=n_steps[batch],
            n_records=20,
            batch_size=batch,
            key=jax.random.fold_in(k_sgd, batch),
        ).params
        theta = ravel_pytree(p)[0]
        dirs = jax.vmap(lambda k: landscape.random_direction(k, p))(
            jax.random.split(k_dir, cfg.n_directions)
        )
        tr, tr_se = hessian.trace(
            loss, p, data_tr, num_probes=cfg.trace_probes, probe_batch=5, key=k_hess
        )
        return {
            "theta": theta,
            "sharpness": hessian.top_eigenvalues(
                loss, p, data_tr, num_steps=cfg.lanczos_steps, key=k_hess
            )[0],
            "trace": tr,
            "trace_se": tr_se,
            "slice": jax.vmap(
                lambda d: landscape.slice_1d(loss, p, d, jnp.asarray(alphas), data_tr)
            )(dirs),
            "flatness": jax.vmap(
                lambda d: landscape.direction_flatness(
                    loss, p, d, data_tr, max_step=jnp.linalg.norm(theta)
                )
            )(dirs),
            "train_loss": loss(p, data_tr),
            "test_acc": acc(p)["accuracy"],
        }

    ds = sweep.run(
        point,
        {"batch": np.arange(2), "seed": np.arange(cfg.seeds)},
        static=("batch",),
        store=_store(store, "solutions"),
        shard=shard,
        key_axes=("seed",),
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        progress=progress,
        desc="small vs large batch",
        dims={"theta": ("param",), "slice": ("direction", "alpha"), "flatness": ("direction",)},
        coords={"alpha": alphas},
    )
    if not ds.attrs["complete"]:
        return describe(ds, FLAT_VARIABLES)
    theta = ds["theta"].values  # [2, seeds, P]

    line = jax.jit(
        jax.vmap(
            lambda a, b, data: landscape.interpolate(
                loss, unravel(a), unravel(b), jnp.asarray(ts), data
            ),
            in_axes=(0, 0, None),
        )
    )

    def interp(data):
        return np.asarray(line(jnp.asarray(theta[0]), jnp.asarray(theta[1]), data))

    ds["interp_train"] = (("seed", "t"), interp(data_tr))
    ds["interp_test"] = (("seed", "t"), interp(data_te))
    # d^2 L / dt^2 of the interpolation plot at each end (d = theta_large - theta_small)
    curv = jax.jit(
        jax.vmap(
            jax.vmap(
                lambda th, d: landscape.directional_curvature(
                    loss, unravel(th), unravel(d), data_tr
                ),
                in_axes=(0, 0),
            ),
            in_axes=(0, None),
        )
    )
    d = jnp.asarray(theta[1] - theta[0])
    ds["line_curvature"] = (("batch", "seed"), np.asarray(curv(jnp.asarray(theta), d)))
    ds["distance"] = ("seed", np.linalg.norm(theta[1] - theta[0], axis=-1))
    ds = ds.drop_vars("theta").assign_coords(
        t=ts,
        batch_size=("batch", list(batches)),
        solution=("batch", ["small batch", "large batch"]),
    )
    ds.attrs.update(
        sizes=list(cfg.sizes),
        lr=cfg.lr,
        optimizer=cfg.optimizer,
        steps=[n_steps[b] for b in batches],
        same_init=int(cfg.same_init),
        directions="filter-normalized Gaussian (Li et al. 2018), biases ignored",
    )
    return describe(ds, FLAT_VARIABLES)


FLAT_VARIABLES = {
    "theta": ("flattened trained parameters", "1"),
    "sharpness": ("lambda_max of the training-loss Hessian (Lanczos)", "1"),
    "trace": ("tr H of the training loss (Hutchinson)", "1"),
    "trace_se": ("standard error of the Hutchinson trace", "1"),
    "slice": ("training loss L(theta + a d) along filter-normalized directions d", "1"),
    "flatness": ("Feng & Tu direction flatness F = s_r + s_l (loss reaches e L(theta))", "1"),
    "train_loss": ("training cross-entropy of the solution", "1"),
    "test_acc": ("test accuracy of the solution", "1"),
    "interp_train": ("training loss along (1 - t) theta_small + t theta_large", "1"),
    "interp_test": ("test loss along (1 - t) theta_small + t theta_large", "1"),
    "line_curvature": (
        "d^2/dt^2 of the training loss along the interpolation at each solution, d^T H d",
        "1",
    ),
    "distance": ("|theta_large - theta_small|", "1"),
}


def flatness_claims(ds: xr.Dataset) -> list:
    s_small, s_large = ds["sharpness"].values
    f_small, f_large = ds["flatness"].values.mean(-1)
    barrier = landscape.interpolation_barrier(ds["t"].values, ds["interp_train"].values)
    acc = ds["test_acc"].values
    k_small, k_large = ds["line_curvature"].values
    t, line = ds["t"].values, ds["interp_train"].values
    i0, i1 = int(np.argmin(np.abs(t))), int(np.argmin(np.abs(t - 1)))
    rise_small = line[:, : i0 + 1].max(-1) - line[:, i0]  # extrapolating past the small-batch end
    rise_large = line[:, i1:].max(-1) - line[:, i1]  # past the large-batch end
    setup = (
        f"{ds.attrs.get('optimizer', 'sgd')} lr {float(ds.attrs['lr']):g}, steps "
        f"{[int(v) for v in np.atleast_1d(ds.attrs['steps'])]} (small, large batch), "
        + ("one init" if ds.attrs.get("same_init", 1) else "independent inits")
    )
    return [
        claim(
            ds,
            name="interpolation-sharper-at-large-batch",
            figure="Keskar et al. 2017, Fig 3",
            book="sharp at the large-batch end",
            statement="Keskar's parametric plot L((1 - t) theta_small + t theta_large): its curvature "
            "d^2L/dt^2 = d^T H d (d = theta_large - theta_small) is larger at the large-batch "
            "solution (t = 1) than at the small-batch one (t = 0), for every seed",
            measured=[float(np.mean(k_small)), float(np.mean(k_large))],
            held=bool(np.all(k_large > k_small)),
            min_preset="quick",
            detail=f"d^T H d at t = 0, t = 1 (mean over seeds), ratio "
            f"{float(np.mean(k_large / k_small)):.3g}; |d| {float(ds['distance'].mean()):.3g}; loss rise "
            f"beyond each end on [-1, 0] / [1, 2]: {float(rise_small.mean()):.3g} vs "
            f"{float(rise_large.mean()):.3g}; {setup}",
            if_not_held="the two solutions are too close (the line probes one basin) or the large-batch "
            "run took as many steps as the small-batch one and flattened too",
        ),
        claim(
            ds,
            name="large-batch-sharper",
            figure="Keskar et al. 2017, Fig 11",
            book="large batch -> sharper",
            statement="the same optimizer and lr, only the batch size differs: the large-batch solution has "
            "the larger lambda_max, for every seed",
            measured=[float(np.mean(s_small)), float(np.mean(s_large))],
            held=bool(np.all(s_large > s_small)),
            min_preset="quick",
            detail=f"lambda_max small, large (mean over seeds; earlier runs: 1.35 vs 2.77); test accuracy "
            f"{float(acc[0].mean()):.3f} vs {float(acc[1].mean()):.3f}; {setup}",
            if_not_held="too few steps: the small-batch run has not left the sharp region of the init",
        ),
        claim(
            ds,
            name="no-interpolation-barrier",
            figure="Keskar et al. 2017, Fig 11",
            book="nearly flat",
            statement=f"the training loss along the segment between the two solutions stays below {BARRIER:g} "
            "times the worse endpoint (no barrier between them), for every seed",
            measured=float(np.max(barrier)),
            held=bool(np.all(barrier <= BARRIER)),
            detail="max over t in [0, 1] of L(t) / max(L(0), L(1)), worst seed",
            if_not_held="the two runs ended in different basins",
        ),
        claim(
            ds,
            name="small-batch-flatter-F",
            figure="Feng & Tu 2021",
            book="small batch -> larger F",
            statement="Feng & Tu's direction flatness F (mean over filter-normalized directions) is larger "
            "for the small-batch solution, for every seed",
            measured=[float(np.mean(f_small)), float(np.mean(f_large))],
            held=bool(np.all(f_small > f_large)),
            min_preset="quick",
            detail="F small, large (mean over seeds)",
            if_not_held="F measures the distance to e L(theta); the small-batch loss is lower, so its level is "
            "reached sooner along a direction",
        ),
    ]


def flatness_figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import landscape as viz

    return viz.flatness_batch_figures(ds)


register(
    Experiment(
        "flatness-batch-size",
        area="landscape",
        figure="Keskar et al. 2017, Fig 11",
        title="small- vs large-batch minima on digits: sharpness, interpolation, filter-normalized slices",
        config=FlatnessBatchConfig,
        presets={
            "tiny": dict(
                sizes=(64, 16, 10),
                steps=100,
                large_batch=512,
                seeds=2,
                n_directions=2,
                lanczos_steps=10,
                trace_probes=5,
                n_alpha=11,
                n_t=16,
            ),
            "quick": {},
            "paper": dict(
                sizes=(64, 512, 512, 10), steps=20000, large_batch=1437, seeds=4, n_directions=10
            ),
            # Keskar et al.'s code: Adam (lr 1e-3) from one saved init, the same epochs for both
            # runs (so the large batch takes ~batch-ratio fewer steps), large batch = 10% of the
            # data, small / large ~ 1 / 20 (their 256 vs 5000 on 50000)
            "keskar": dict(
                optimizer="adam", lr=1e-3, epochs=100, small_batch=8, large_batch=144, seeds=2
            ),
            "keskar-independent": dict(
                optimizer="adam",
                lr=1e-3,
                epochs=100,
                small_batch=8,
                large_batch=144,
                seeds=2,
                same_init=False,
            ),
        },
        run=run_flatness_batch,
        claims=flatness_claims,
        figures=flatness_figures,
    )
)
