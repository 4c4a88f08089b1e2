"""Parameterizations across widths (spec 08 A; TP4, TP5): where the book's phase diagram meets muP.

    mup-coord-check       TP5's coordinate check of SP (fixed lr), NTP and muP for an MLP with two
                          hidden layers (SGD and Adam): mean |h_l(t) - h_l(0)| for t = 0..5 over
                          widths, and its log-log slope in n
    mup-coord-check-cnn   the same for a Flax model that is not an MLP (conv -> tanh -> dense), roles
                          given as a pytree
    mup-lr-transfer       TP5 Fig. 1 on digits: train loss over a log lr grid x seeds (one compiled
                          program per width and scheme group), optimal lr against width, SP vs muP
    mup-phase-diagram     the deep-net phase diagram over (output init exponent, lr exponent c): width
                          exponent of the relative feature change against TP4's r-classification;
                          and its two-layer slice against the book's (gamma, gamma') regimes

Recipe: digits (or its images) -> :mod:`phasekit.models.parameterization` (roles, scaled init,
multipliers, optax lr rules; a scheme's exponents are traced, so schemes, lrs and seeds vmap) ->
:mod:`phasekit.dynamics.parameterization` (coordinate check, slopes, optimal lr) through
:func:`phasekit.dynamics.sweep.run` -> claims -> :mod:`phasekit.viz.parameterization`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from phasekit.data import tabular
from phasekit.dynamics import parameterization as D
from phasekit.dynamics import sweep, train
from phasekit.experiments.base import Config, Experiment, claim, describe, param, register
from phasekit.models import cnn, mlp
from phasekit.models import parameterization as P
from phasekit.theory import regimes

__all__ = ["CoordConfig", "PhaseConfig", "TransferConfig", "two_layer_slice"]

FLAT = 0.1  # |slope| below which a curve counts as flat in n (the threshold)
OPTS = ("sgd", "adam")


def _table(schemes, hidden_layers, opt, sp_c) -> np.ndarray:
    """[schemes, L + 1, 3] exponents (a, b, c) of each named scheme."""
    rows = []
    for s in schemes:
        p = P.preset(s, hidden_layers, opt, **({"c": sp_c} if s == "sp" else {}))
        rows.append(np.stack([p.a, p.b, p.c], -1))
    return np.asarray(rows, np.float32)


def _abc(row, opt) -> P.ABC:
    """An ABC whose exponents are (possibly traced) entries of ``row`` [L + 1, 3]."""
    return P.ABC(tuple(row[:, 0]), tuple(row[:, 1]), tuple(row[:, 2]), opt)


def _digits(n, images=False):
    x, labels = tabular.digits(n, scale="unit")
    x = x.reshape(-1, 8, 8, 1) if images else x
    return jnp.asarray(x), jnp.asarray(labels)


# ----------------------------------------------------------------------------- coordinate check


@dataclass(frozen=True)
class CoordConfig(Config):
    """Coordinate check on ``n`` digits (regression of (label - 4.5) / 3): ``model`` "mlp" (tanh,
    ``hidden_layers`` hidden layers of width n) or "cnn" (conv 3x3 with n filters -> tanh ->
    dense); schemes at one base lr per optimizer (SP at c = 0: a fixed lr); ``steps`` updates."""

    model: str = param("mlp", choices=("mlp", "cnn"))
    widths: tuple[int, ...] = param((128, 256, 512, 1024, 2048), ge=2)
    hidden_layers: int = param(2, ge=1, le=4)
    schemes: tuple[str, ...] = param(("sp", "ntp", "mup"), choices=("sp", "ntp", "mup"))
    optimizers: tuple[str, ...] = param(OPTS, choices=OPTS)
    n: int = param(64, ge=2, le=1797, doc="digits in the batch")
    seeds: int = param(8, ge=1)
    steps: int = param(5, ge=1)
    lr_sgd: float = param(0.05, gt=0)
    lr_adam: float = param(0.01, gt=0)
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        if len(self.widths) < 2 or len(set(self.widths)) != len(self.widths):
            raise ValueError(f"widths: need >= 2 distinct widths, got {self.widths}")
        if self.model == "cnn" and self.hidden_layers != 1:
            raise ValueError(
                "hidden_layers: the cnn has one hidden (conv) layer; set hidden_layers=1"
            )


def _mlp_model(cfg, width):
    sizes = [64] + [width] * cfg.hidden_layers + [1]
    template = mlp.init(jax.random.key(0), sizes)

    def features(W, x):
        return mlp.preactivations(W, x, "tanh") + [mlp.apply(W, x, "tanh")]

    return template, P.infer_roles(template), lambda W, x: mlp.apply(W, x, "tanh"), features


CNN_ROLES = {
    "params": {
        "Conv_0": {"kernel": "input", "bias": "bias"},
        "Dense_0": {"kernel": "output", "bias": "fixed"},
    }
}


def _cnn_model(width):
    module = cnn.ConvTanhDense(width, (3, 3), 1)
    template = module.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))

    def features(W, x):
        return D.flax_intermediates(module, x, names=("Conv_0",))(W)

    return template, CNN_ROLES, module.apply, features


def coord_run(cfg: CoordConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    x, labels = _digits(cfg.n, images=cfg.model == "cnn")
    y = (labels.astype(jnp.float32) - 4.5) / 3.0
    L = cfg.hidden_layers
    tables = {o: _table(cfg.schemes, L, o, 0.0) for o in OPTS}
    lr = {"sgd": cfg.lr_sgd, "adam": cfg.lr_adam}

    def point(pt, key):
        opt = OPTS[pt["optimizer"]]
        template, roles, apply_fn, features = (
            _mlp_model(cfg, pt["width"]) if cfg.model == "mlp" else _cnn_model(pt["width"])
        )
        p = _abc(jnp.asarray(tables[opt])[pt["scheme"]], opt)
        model = P.parameterize(key, apply_fn, template, p, roles, bias_std=0.0)
        cc = D.coordinate_check(
            train.mse(model.apply),
            lambda w: features(P.apply_multipliers(w, model.multipliers), x),
            model.params,
            (x, y),
            model.optimizer(lr[opt]),
            steps=cfg.steps,
        )
        return {"size": cc.size, "change": cc.change, "loss": cc.loss, "diverged": cc.diverged}

    n_layers = (L if cfg.model == "mlp" else 1) + 1
    opt_idx = np.array([OPTS.index(o) for o in cfg.optimizers])
    ds = sweep.run(
        point,
        {
            "optimizer": opt_idx,
            "width": np.asarray(cfg.widths),
            "scheme": np.arange(len(cfg.schemes)),
            "seed": np.arange(cfg.seeds),
        },
        static=("optimizer", "width"),
        store=store,
        shard=shard,
        key_axes=("width", "seed"),
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        dims={"size": ("t", "layer"), "change": ("t", "layer"), "loss": ("t",)},
        coords={"t": np.arange(cfg.steps + 1), "layer": np.arange(1, n_layers + 1)},
        batching=cfg.batching,
        progress=progress,
        desc=f"coord check {cfg.model}",
    )
    ds = ds.assign_coords(
        optimizer_name=("optimizer", list(cfg.optimizers)),
        scheme_name=("scheme", list(cfg.schemes)),
        layer_name=("layer", [f"h{l}" for l in range(1, n_layers)] + ["output"]),
    )
    mean_change = ds["change"].mean("seed")
    mean_size = ds["size"].mean("seed")
    w_axis = list(mean_change.dims).index("width")
    ds["change_slope"] = (
        tuple(d for d in mean_change.dims if d != "width"),
        D.width_slopes(cfg.widths, mean_change.values, axis=w_axis),
    )
    ds["size_slope"] = (
        tuple(d for d in mean_size.dims if d != "width"),
        D.width_slopes(cfg.widths, mean_size.values, axis=w_axis),
    )
    ds.attrs.update(model=cfg.model)
    return describe(ds, COORD_VARIABLES)


COORD_VARIABLES = {
    "size": ("mean |h_l(t)| over the batch and units (last layer: the output f)", "1"),
    "change": ("mean |h_l(t) - h_l(0)|", "1"),
    "loss": ("training loss (MSE) at step t", "1"),
    "diverged": ("the run met NaN / inf", "1"),
    "change_slope": ("log-log slope in width of the seed-mean |h_l(t) - h_l(0)|", "1"),
    "size_slope": ("log-log slope in width of the seed-mean |h_l(t)|", "1"),
}


def _sel(ds, var, opt, scheme):
    return ds[var].sel(
        optimizer=OPTS.index(opt), scheme=list(ds["scheme_name"].values).index(scheme)
    )


def coord_claims(ds: xr.Dataset) -> list:
    out = []
    schemes = [str(s) for s in ds["scheme_name"].values]
    model = ds.attrs.get("model", "mlp")
    for opt in [str(o) for o in ds["optimizer_name"].values]:
        if "mup" in schemes:
            s = _sel(ds, "change_slope", opt, "mup").values[1:]  # [t = 1..T, layer]
            worst = float(np.nanmax(np.abs(s))) if np.isfinite(s).any() else float("nan")
            out.append(
                claim(
                    ds,
                    name=f"{model}-mup-{opt}-flat",
                    figure="TP5 coordinate check",
                    statement=f"{model}, muP + {opt}: every layer's change |h_l(t) - h_l(0)| (t = 1..T, output "
                    f"included) is flat in width: |log-log slope| < {FLAT}",
                    book=FLAT,
                    measured=worst,
                    held=bool(np.isfinite(s).all()) and worst < FLAT,
                    min_preset="quick",
                    if_not_held="finite-width corrections O(n^-1/2) at the smallest widths, or an lr rule "
                    "off the muP table",
                    detail=f"max over t and layers of |slope|; per layer at t=T: {np.round(s[-1], 3).tolist()}",
                )
            )
        if "sp" in schemes:
            s = float(_sel(ds, "change_slope", opt, "sp").values[1, -1])
            out.append(
                claim(
                    ds,
                    name=f"{model}-sp-{opt}-output-grows",
                    figure="TP5 coordinate check",
                    statement=f"{model}, SP at a fixed lr + {opt}: the output's change after one step grows with "
                    f"width: log-log slope > 0.5 (TP5: ~1)",
                    book=1.0,
                    measured=s,
                    held=s > 0.5,
                    min_preset="quick",
                    if_not_held="the lr is so small that the O(1) part of the change dominates at these widths",
                )
            )
        if "ntp" in schemes and ds.sizes["layer"] > 1:
            s = float(np.max(_sel(ds, "change_slope", opt, "ntp").values[1, :-1]))
            if opt == "sgd":
                out.append(
                    claim(
                        ds,
                        name=f"{model}-ntp-{opt}-features-freeze",
                        figure="TP5 coordinate check",
                        statement=f"{model}, NTP + SGD: the hidden features' change after one step falls with "
                        f"width, ~ n^-1/2: slope < -0.3 in every hidden layer",
                        book=-0.5,
                        measured=s,
                        held=s < -0.3,
                        min_preset="quick",
                        if_not_held="narrow widths: the n^-1/2 law needs n >> 1",
                    )
                )
    return out


def coord_figures(ds):
    from phasekit.viz import parameterization as viz

    return viz.coord_figures(ds)


_COORD_TINY = dict(
    widths=(32, 128),
    hidden_layers=1,
    schemes=("sp", "mup"),
    optimizers=("sgd",),
    n=16,
    seeds=2,
    steps=2,
)
register(
    Experiment(
        "mup-coord-check",
        area="parameterization",
        figure="TP5 coordinate check",
        title="coordinate check of SP (fixed lr), NTP and muP: per-layer |h_l(t) - h_l(0)| over widths, SGD and Adam",
        config=CoordConfig,
        presets={
            "tiny": _COORD_TINY,
            "quick": {},
            "paper": dict(widths=(128, 256, 512, 1024, 2048, 4096, 8192), seeds=16),
        },
        run=coord_run,
        claims=coord_claims,
        figures=coord_figures,
    )
)

register(
    Experiment(
        "mup-coord-check-cnn",
        area="parameterization",
        figure="TP5 coordinate check",
        title="coordinate check of a Flax CNN (conv -> tanh -> dense, roles as a pytree): SP, NTP, muP",
        config=CoordConfig,
        presets={
            "tiny": dict(_COORD_TINY, model="cnn", widths=(8, 32)),
            "quick": dict(model="cnn", hidden_layers=1, widths=(16, 32, 64, 128, 256, 512)),
            "paper": dict(
                model="cnn", hidden_layers=1, widths=(16, 32, 64, 128, 256, 512, 1024), seeds=16
            ),
        },
        run=coord_run,
        claims=coord_claims,
        figures=coord_figures,
    )
)


# ----------------------------------------------------------------------------- learning-rate transfer


@dataclass(frozen=True)
class TransferConfig(Config):
    """Learning-rate transfer (TP5 Fig. 1) on ``n_train`` digits, ``loss`` "mse" (to one-hot
    targets: SP's largest stable lr ~ 1/n shows sharply) or "cross_entropy" (10-way), a tanh MLP
    with ``hidden_layers`` hidden layers of width n, full-batch SGD for ``steps`` steps at every
    lr of a log grid (``lr_min`` .. ``lr_max``, ``n_lrs`` values) x ``seeds``; SP at a fixed lr
    (c = 0: the optimum must move) and muP."""

    widths: tuple[int, ...] = param((128, 256, 512, 1024, 2048), ge=2)
    hidden_layers: int = param(2, ge=1, le=4)
    schemes: tuple[str, ...] = param(("sp", "mup"), choices=("sp", "ntp", "mup"))
    n_train: int = param(128, ge=10, le=1797)
    loss: str = param("mse", choices=("mse", "cross_entropy"))
    optimizer: str = param(
        "sgd", choices=OPTS, doc="sgd (full batch) or adam (the schemes' Adam lr rules)"
    )
    steps: int = param(40, ge=1)
    lr_min: float = param(2.0**-9, gt=0)
    lr_max: float = param(2.0**3, gt=0)
    n_lrs: int = param(13, ge=3)
    seeds: int = param(2, ge=1)
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        if len(self.widths) < 2 or len(set(self.widths)) != len(self.widths):
            raise ValueError(f"widths: need >= 2 distinct widths, got {self.widths}")
        if not self.lr_max > self.lr_min:
            raise ValueError(f"lr_max: must be > lr_min = {self.lr_min}, got {self.lr_max}")

    def lrs(self) -> np.ndarray:
        return np.geomspace(self.lr_min, self.lr_max, self.n_lrs)


def transfer_point(cfg: TransferConfig, x, labels, table):
    """``point({"width", "scheme", "lr"}, key) -> {"loss": final train loss (NaN if diverged)}``."""

    def point(pt, key):
        sizes = [x.shape[1]] + [pt["width"]] * cfg.hidden_layers + [10]
        template = mlp.init(jax.random.key(0), sizes)
        p = _abc(jnp.asarray(table)[pt["scheme"]], cfg.optimizer)
        model = P.parameterize(key, lambda W, z: mlp.apply(W, z, "tanh"), template, p, bias_std=0.0)
        loss = train.mse(model.apply) if cfg.loss == "mse" else train.cross_entropy(model.apply)
        target = jax.nn.one_hot(labels, 10) if cfg.loss == "mse" else labels
        traj = train.run(
            loss, model.params, (x, target), model.optimizer(pt["lr"]), steps=cfg.steps, n_records=2
        )
        return {"loss": jnp.where(traj.diverged, jnp.nan, traj.loss[-1])}

    return point


def transfer_run(cfg: TransferConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    x, labels = _digits(cfg.n_train)
    table = _table(cfg.schemes, cfg.hidden_layers, cfg.optimizer, 0.0)
    ds = sweep.run(
        transfer_point(cfg, x, labels, table),
        {
            "width": np.asarray(cfg.widths),
            "scheme": np.arange(len(cfg.schemes)),
            "lr": cfg.lrs(),
            "seed": np.arange(cfg.seeds),
        },
        static=("width",),
        store=store,
        shard=shard,
        key_axes=("width", "seed"),
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        batching=cfg.batching,
        progress=progress,
        desc="lr transfer",
    )
    ds = ds.assign_coords(scheme_name=("scheme", list(cfg.schemes)))
    opt = D.optimal_lr(cfg.lrs(), ds["loss"].transpose("width", "scheme", "lr", "seed").values)
    for k in ("lr", "loss", "interior"):
        ds[f"{k}_opt"] = (("width", "scheme"), np.asarray(getattr(opt, k), float))
    ds.attrs.update(optimizer=cfg.optimizer)
    return describe(ds, TRANSFER_VARIABLES)


TRANSFER_VARIABLES = {
    "loss": ("train loss (config: loss) after the last step (NaN: diverged)", "1"),
    "lr_opt": ("lr of least seed-mean loss (parabola in log lr through the grid minimum)", "1"),
    "loss_opt": ("seed-mean loss at the grid minimum", "1"),
    "interior_opt": ("the minimum lies inside the lr grid (1) or at an end (0)", "1"),
}


def _drift(ds, scheme):
    j = list(ds["scheme_name"].values).index(scheme)
    lr = ds["lr_opt"].values[:, j]
    return float(lr.max() / lr.min()), lr, bool(ds["interior_opt"].values[:, j].all())


def transfer_claims(ds: xr.Dataset) -> list:
    out = []
    schemes = [str(s) for s in ds["scheme_name"].values]
    w = ds["width"].values
    span = f"width {w.min()}..{w.max()}"
    opt = str(ds.attrs.get("optimizer", "sgd"))
    if "mup" in schemes:
        r, lr, inside = _drift(ds, "mup")
        out.append(
            claim(
                ds,
                name="mup-lr-transfers",
                figure="TP5 Fig. 1",
                statement=f"muP + {opt}: the optimal lr stays within a factor 2 over {span} (max / min)",
                book=2.0,
                measured=r,
                held=r < 2 and inside,
                min_preset="quick",
                if_not_held="the optimum at the grid's edge or finite-width drift at the smallest widths",
                detail=f"optimal lr per width {np.round(lr, 4).tolist()}; interior {inside}",
            )
        )
        j = schemes.index("mup")
        lo = ds["loss_opt"].values[:, j]
        out.append(
            claim(
                ds,
                name="mup-wider-is-better",
                figure="TP5 Fig. 1",
                statement="muP: the train loss at the optimal lr is no worse at the largest width than at the smallest",
                book="wider is better",
                measured=[float(lo[0]), float(lo[-1])],
                held=lo[-1] <= lo[0],
                min_preset="quick",
                if_not_held="too few steps for the width advantage to show",
            )
        )
    if "sp" in schemes:
        r, lr, inside = _drift(ds, "sp")
        out.append(
            claim(
                ds,
                name="sp-lr-drifts",
                figure="TP5 Fig. 1",
                statement=f"SP (fixed lr) + {opt}: the optimal lr moves by more than 4x over {span} (TP5: ~ 1/n)",
                book=float(w.max() / w.min()),
                measured=r,
                held=r > 4,
                min_preset="quick",
                if_not_held="the optimum pinned at the grid's lower edge, or too few widths",
                detail=f"optimal lr per width {np.round(lr, 5).tolist()}; interior {inside}",
            )
        )
    return out


def transfer_figures(ds):
    from phasekit.viz import parameterization as viz

    return viz.lr_figures(ds)


register(
    Experiment(
        "mup-lr-transfer",
        area="parameterization",
        figure="TP5 Fig. 1",
        title="learning-rate transfer across widths on digits: optimal SGD lr vs width, SP vs muP",
        config=TransferConfig,
        presets={
            "tiny": dict(
                widths=(32, 64),
                hidden_layers=1,
                n_train=32,
                steps=3,
                n_lrs=4,
                lr_min=0.01,
                lr_max=1.0,
                seeds=1,
            ),
            "quick": {},
            "paper": dict(
                widths=(128, 256, 512, 1024, 2048, 4096), n_train=1797, steps=400, n_lrs=21, seeds=4
            ),
        },
        run=transfer_run,
        claims=transfer_claims,
        figures=transfer_figures,
    )
)


# ----------------------------------------------------------------------------- the deep-net phase diagram


@dataclass(frozen=True)
class PhaseConfig(Config):
    """Deep-net phase diagram over (output init exponent ``beta_outs``, lr exponent ``cs``) of
    :func:`phasekit.models.parameterization.phase_slice` at ``widths``: a tanh MLP with
    ``hidden_layers`` hidden layers, full-batch SGD at lr ``lr`` n^{-c} for ``steps`` steps on
    ``n`` digits (regression of (label - 4.5) / 3);
    the width exponent of ||h_l(T) - h_l(0)|| / ||h_l(0)|| (max over hidden layers) and of the
    output's change, against TP4's r."""

    beta_outs: tuple[float, ...] = param((0.5, 0.75, 1.0, 1.25, 1.5), ge=0.0, le=3.0)
    cs: tuple[float, ...] = param((-0.5, -0.25, 0.0, 0.25, 0.5, 1.0), ge=-2.0, le=3.0)
    widths: tuple[int, ...] = param((128, 512, 2048), ge=2)
    hidden_layers: int = param(2, ge=2, le=4)
    n: int = param(64, ge=2, le=1797)
    steps: int = param(10, ge=1)
    lr: float = param(0.2, gt=0)
    seeds: int = param(4, ge=1)
    slice_schemes: tuple[str, ...] = param(
        ("ntp", "sp", "mf", "mup"),
        choices=P.PRESETS,
        doc="two-layer slice: abc presets (SP at its stable c = 1)",
    )
    slice_steps: int = param(20, ge=1, doc="two-layer slice: SGD steps")
    two_layer: bool = param(
        True, doc="also run the two-layer slice (the book's RD exponent per abc preset)"
    )
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        if len(self.widths) < 2 or len(set(self.widths)) != len(self.widths):
            raise ValueError(f"widths: need >= 2 distinct widths, got {self.widths}")


def _store(store, name):
    return None if store is None else f"{store}/{name}"


def two_layer_slice(
    cfg: PhaseConfig, x, y, store=None, shard=None, progress: bool = True
) -> xr.Dataset:
    """The book's relative distance RD = ||theta_w(T) - theta_w(0)|| / ||theta_w(0)|| of the input
    weights (bias included) of two-layer abc-nets after ``slice_steps`` SGD steps, over widths.

    Args:
      cfg: the config (``slice_schemes``, ``widths``, ``slice_steps``).
      x: [n, d] inputs;  y: [n] targets.
      store: a :mod:`phasekit.dynamics.store` path to resume from (None: in memory).
      shard: (i, n) or "i/n": compute one part of the grid.
      progress: show a progress bar.
    Returns:
      The sweep's Dataset over (width, scheme, seed) with ``rd`` (NaN where training diverged).
    """
    table = _table(cfg.slice_schemes, 1, "sgd", 1.0)

    def point(pt, key):
        template = mlp.init(jax.random.key(0), [x.shape[1], pt["width"], 1])
        p = _abc(jnp.asarray(table)[pt["scheme"]], "sgd")
        model = P.parameterize(key, lambda W, z: mlp.apply(W, z, "tanh"), template, p, bias_std=0.0)

        def theta_w(
            w,
        ):  # the effective input weights and bias, as one "feature" for the coordinate check
            W1 = P.apply_multipliers(w, model.multipliers)[0]
            return [jnp.concatenate([W1["w"], W1["b"][None]])]

        cc = D.coordinate_check(
            train.mse(model.apply),
            theta_w,
            model.params,
            (x, y),
            model.optimizer(cfg.lr),
            steps=cfg.slice_steps,
        )
        return {"rd": jnp.where(cc.diverged, jnp.nan, cc.relative[-1, 0])}

    ds = sweep.run(
        point,
        {
            "width": np.asarray(cfg.widths),
            "scheme": np.arange(len(cfg.slice_schemes)),
            "seed": np.arange(cfg.seeds),
        },
        static=("width",),
        store=store,
        shard=shard,
        key_axes=("width", "seed"),
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        batching=cfg.batching,
        progress=progress,
        desc="two-layer slice",
    )
    return ds


def phase_run(cfg: PhaseConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    x, labels = _digits(cfg.n)
    y = (labels.astype(jnp.float32) - 4.5) / 3.0
    L = cfg.hidden_layers

    def point(pt, key):
        sizes = [x.shape[1]] + [pt["width"]] * L + [1]
        template = mlp.init(jax.random.key(0), sizes)
        p = P.phase_slice(pt["beta_out"], pt["c"], L)
        model = P.parameterize(key, lambda W, z: mlp.apply(W, z, "tanh"), template, p, bias_std=0.0)

        def features(w):
            W = P.apply_multipliers(w, model.multipliers)
            return mlp.preactivations(W, x, "tanh") + [mlp.apply(W, x, "tanh")]

        cc = D.coordinate_check(
            train.mse(model.apply),
            features,
            model.params,
            (x, y),
            model.optimizer(cfg.lr),
            steps=cfg.steps,
        )
        return {
            "relative": cc.relative[-1, :-1],
            "output_change": cc.change[-1, -1],
            "diverged": cc.diverged,
        }

    ds = sweep.run(
        point,
        {
            "width": np.asarray(cfg.widths),
            "beta_out": np.asarray(cfg.beta_outs, np.float32),
            "c": np.asarray(cfg.cs, np.float32),
            "seed": np.arange(cfg.seeds),
        },
        static=("width",),
        store=_store(store, "deep"),
        shard=shard,
        key_axes=("width", "seed"),
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        dims={"relative": ("layer",)},
        coords={"layer": np.arange(1, L + 1)},
        batching=cfg.batching,
        progress=progress,
        desc="deep phase diagram",
    )
    rel = (
        ds["relative"]
        .where(~ds["diverged"].astype(bool))
        .mean("seed")
        .transpose("width", "beta_out", "c", "layer")
    )
    ds["feature_slope"] = (("beta_out", "c"), np.max(D.width_slopes(cfg.widths, rel.values), -1))
    out = (
        ds["output_change"]
        .where(~ds["diverged"].astype(bool))
        .mean("seed")
        .transpose("width", "beta_out", "c")
    )
    ds["output_slope"] = (("beta_out", "c"), D.width_slopes(cfg.widths, out.values))
    grid = [(float(b), float(c)) for b in cfg.beta_outs for c in cfg.cs]
    shape = (len(cfg.beta_outs), len(cfg.cs))
    cls = [P.classify(P.phase_slice(b, c, L)) for b, c in grid]
    ds["r"] = (("beta_out", "c"), np.reshape([k.r for k in cls], shape))
    ds["predicted_regime"] = (("beta_out", "c"), np.reshape([k.regime for k in cls], shape))
    ds["clear"] = (
        ("beta_out", "c"),
        np.reshape([P.clear_of_boundaries(b, c, L) for b, c in grid], shape),
    )
    div = ds["diverged"].astype(bool).any(("width", "seed")).values
    ds["measured_regime"] = (
        ("beta_out", "c"),
        np.reshape(
            [
                D.measured_regime(fs, os_, dv)
                for fs, os_, dv in zip(
                    ds["feature_slope"].values.ravel(),
                    ds["output_slope"].values.ravel(),
                    div.ravel(),
                )
            ],
            shape,
        ),
    )
    ds.attrs.update(hidden_layers=L)
    if not cfg.two_layer:
        return describe(ds, PHASE_VARIABLES)
    sl = two_layer_slice(cfg, x, y, _store(store, "two_layer"), shard, progress)
    ds["slice_rd"] = (
        ("width", "slice_scheme", "seed"),
        sl["rd"].transpose("width", "scheme", "seed").values,
    )
    ds = ds.assign_coords(
        slice_scheme=np.arange(len(cfg.slice_schemes)),
        slice_scheme_name=("slice_scheme", list(cfg.slice_schemes)),
    )
    ds["slice_s_w"] = (
        ("slice_scheme",),
        D.width_slopes(cfg.widths, ds["slice_rd"].mean("seed").values),
    )
    book = [P.book_exponents(P.preset(s, 1, "sgd")) for s in cfg.slice_schemes]
    ds["slice_gamma"] = (("slice_scheme",), np.array([g for g, _ in book]))
    ds["slice_gamma_prime"] = (("slice_scheme",), np.array([gp for _, gp in book]))
    ds.attrs.update(hidden_layers=L)
    return describe(ds, PHASE_VARIABLES)


PHASE_VARIABLES = {
    "relative": ("||h_l(T) - h_l(0)|| / ||h_l(0)|| of each hidden layer's pre-activations", "1"),
    "output_change": ("mean |f(T) - f(0)|", "1"),
    "diverged": ("the run met NaN / inf", "1"),
    "feature_slope": (
        "width exponent of the relative feature change (max over hidden layers)",
        "1",
    ),
    "output_slope": ("width exponent of the output's change", "1"),
    "r": ("TP4's feature exponent r (relative feature change ~ n^-r)", "1"),
    "predicted_regime": (
        "TP4's regime of the grid point",
        "",
        "unstable / trivial / kernel / feature learning",
    ),
    "clear": ("the regime is unchanged 0.1 away from the point (see clear_of_boundaries)", "1"),
    "measured_regime": (
        "regime read off the width exponents",
        "",
        "unstable / kernel / feature learning",
    ),
    "slice_rd": (
        "two-layer slice: the book's RD of the input weights after slice_steps steps",
        "1",
    ),
    "slice_s_w": ("two-layer slice: width exponent S_w of the seed-mean RD", "1"),
    "slice_gamma": ("two-layer slice: the book's gamma of the preset (from the abc map)", "1"),
    "slice_gamma_prime": (
        "two-layer slice: the book's gamma' of the preset (from the abc map)",
        "1",
    ),
}


def _as_measurable(regime: str) -> str:
    return "kernel" if regime == "trivial" else regime  # both freeze the features


_FINITE_TIME = (
    "finite time: with the output initialized below muP's n^-1 (beta_out > 1) the features first move "
    "through the tiny W_L+1(0), a first-step term ~ n^(1 - beta_out), and reach TP4's n -> inf scaling only "
    "once W_L+1 has grown by training; at 10 steps of lr 0.2 over widths 128..2048 that term still "
    "dominates (measured with 40 steps: beta_out = 1.25 at c = 0 comes to slope -0.02, 1.5 stays at -0.21)"
)


def phase_claims(ds: xr.Dataset) -> list:
    pred = np.vectorize(_as_measurable)(ds["predicted_regime"].values)
    meas, clear = ds["measured_regime"].values, ds["clear"].values.astype(bool)
    agree = (pred == meas)[clear]
    bad = [
        (float(b), float(c), str(pred[i, j]), str(meas[i, j]))
        for (i, b) in enumerate(ds["beta_out"].values)
        for (j, c) in enumerate(ds["c"].values)
        if clear[i, j] and pred[i, j] != meas[i, j]
    ]
    out = [
        claim(
            ds,
            name="deep-phase-diagram-matches-r",
            figure="TP4 Thm 3.3",
            statement="deep net: the regime read off the width exponents (feature change ~ 0: feature learning, < 0: "
            "kernel, growth or divergence: unstable) equals TP4's r-classification at every grid point "
            "0.1 or more from a boundary",
            book=1.0,
            measured=float(agree.mean()) if agree.size else float("nan"),
            held=bool(agree.size and agree.all()),
            min_preset="quick",
            if_not_held=_FINITE_TIME,
            reproduces=False,
            detail=f"fraction of {agree.size} clear points that agree; disagreeing (beta_out, c, TP4, measured): {bad}",
        )
    ]
    stable = clear & (pred != "unstable")
    if stable.any():
        full = np.abs(ds["feature_slope"].values + ds["r"].values)
        err = full[stable]
        wi, wj = np.unravel_index(np.argmax(np.where(stable, full, -1.0)), full.shape)
        worst = (float(ds["beta_out"].values[wi]), float(ds["c"].values[wj]))
        out.append(
            claim(
                ds,
                name="deep-feature-change-is-n-to-minus-r",
                figure="TP4 section 3",
                statement="deep net, stable points: the width exponent of the relative feature change equals -r "
                "within 0.15",
                book=0.0,
                measured=float(err.max()),
                held=bool(err.max() < 0.15),
                min_preset="quick",
                if_not_held=_FINITE_TIME,
                reproduces=False,
                detail=f"|slope + r| at {stable.sum()} points; mean {err.mean():.3g}; worst at (beta_out, c) = {worst}",
            )
        )
    # the two-layer slice: each abc preset's place on the book's (gamma, gamma') plane (from the map)
    # and the measured width exponent S_w of the book's RD: < 0 linear, ~ 0 critical
    names: np.ndarray | list[str] = (
        ds["slice_scheme_name"].values if "slice_scheme_name" in ds.coords else []
    )
    for k, name in enumerate(str(v) for v in names):
        g, gp = float(ds["slice_gamma"].values[k]), float(ds["slice_gamma_prime"].values[k])
        want = regimes.regime(g, gp)
        s_w = float(ds["slice_s_w"].values[k])
        ok = (
            s_w < -FLAT
            if want == "linear"
            else abs(s_w) <= FLAT
            if want == "critical"
            else s_w > FLAT
        )
        out.append(
            claim(
                ds,
                name=f"two-layer-{name}-is-{want}",
                figure="Fig 7.5 / Table 7.1",
                statement=f"two-layer {name}: the abc map puts it at the book's (gamma, gamma') = ({g:g}, {gp:g}), "
                f"{want} regime; its measured RD exponent S_w is "
                + {
                    "linear": f"< -{FLAT}",
                    "critical": f"within {FLAT} of 0",
                    "condensed": f"> {FLAT}",
                }[want],
                book={"linear": "S_w < 0", "critical": "S_w = 0", "condensed": "S_w > 0"}[want],
                measured=s_w,
                held=ok,
                min_preset="quick",
                if_not_held="too few steps for the finite-width RD to reach its scaling, or widths too small",
                detail=f"distance of (gamma, gamma') to the critical boundary {float(regimes.boundary_distance(g, gp)):.3g}",
            )
        )
    return out


def phase_figures(ds):
    from phasekit.viz import parameterization as viz

    return viz.phase_figures(ds)


register(
    Experiment(
        "mup-phase-diagram",
        area="parameterization",
        figure="TP4 Thm 3.3",
        title="deep-net phase diagram over (output init exponent, lr exponent) vs TP4's r; the two-layer slice vs the book",
        config=PhaseConfig,
        presets={
            "tiny": dict(
                beta_outs=(0.5, 1.0, 1.5),
                cs=(-0.5, 0.0, 0.5),
                widths=(32, 128),
                n=16,
                steps=2,
                seeds=1,
                two_layer=False,
            ),
            "quick": {},
            "paper": dict(
                widths=(256, 1024, 4096),
                seeds=16,
                beta_outs=tuple(np.arange(0.5, 1.76, 0.125).tolist()),
                cs=tuple(np.arange(-0.5, 1.01, 0.125).tolist()),
            ),
        },
        run=phase_run,
        claims=phase_claims,
        figures=phase_figures,
    )
)
