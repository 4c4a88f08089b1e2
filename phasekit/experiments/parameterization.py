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
            raise ValueError("hidden_layers: the cnn has one hidden (conv) layer; set hidden_layers=1")


def _mlp_model(cfg, width):
    sizes = [64] + [width] * cfg.hidden_layers + [1]
    template = mlp.init(jax.random.key(0), sizes)

    def features(W, x):
        return mlp.preactivations(W, x, "tanh") + [mlp.apply(W, x, "tanh")]

    return template, P.infer_roles(template), lambda W, x: mlp.apply(W, x, "tanh"), features


CNN_ROLES = {"params": {"Conv_0": {"kernel": "input", "bias": "bias"},
                        "Dense_0": {"kernel": "output", "bias": "fixed"}}}


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
        template, roles, apply_fn, features = _mlp_model(cfg, pt["width"]) if cfg.model == "mlp" \
            else _cnn_model(pt["width"])
        p = _abc(jnp.asarray(tables[opt])[pt["scheme"]], opt)
        model = P.parameterize(key, apply_fn, template, p, roles, bias_std=0.0)
        cc = D.coordinate_check(train.mse(model.apply), lambda w: features(P.apply_multipliers(w, model.multipliers), x),
                                model.params, (x, y), model.optimizer(lr[opt]), steps=cfg.steps)
        return {"size": cc.size, "change": cc.change, "loss": cc.loss, "diverged": cc.diverged}

    n_layers = (L if cfg.model == "mlp" else 1) + 1
    opt_idx = np.array([OPTS.index(o) for o in cfg.optimizers])
    ds = sweep.run(point, {"optimizer": opt_idx, "width": np.asarray(cfg.widths), "scheme": np.arange(len(cfg.schemes)),
                           "seed": np.arange(cfg.seeds)},
                   static=("optimizer", "width"), store=store, shard=shard, key_axes=("width", "seed"),
                   base_seed=cfg.base_seed, config=cfg.to_dict(execution=False),
                   dims={"size": ("t", "layer"), "change": ("t", "layer"), "loss": ("t",)},
                   coords={"t": np.arange(cfg.steps + 1), "layer": np.arange(1, n_layers + 1)},
                   batching=cfg.batching, progress=progress, desc=f"coord check {cfg.model}")
    ds = ds.assign_coords(optimizer_name=("optimizer", list(cfg.optimizers)),
                          scheme_name=("scheme", list(cfg.schemes)),
                          layer_name=("layer", [f"h{l}" for l in range(1, n_layers)] + ["output"]))
    mean_change = ds["change"].mean("seed")
    mean_size = ds["size"].mean("seed")
    w_axis = list(mean_change.dims).index("width")
    ds["change_slope"] = (tuple(d for d in mean_change.dims if d != "width"),
                          D.width_slopes(cfg.widths, mean_change.values, axis=w_axis))
    ds["size_slope"] = (tuple(d for d in mean_size.dims if d != "width"),
                        D.width_slopes(cfg.widths, mean_size.values, axis=w_axis))
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
    return ds[var].sel(optimizer=OPTS.index(opt), scheme=list(ds["scheme_name"].values).index(scheme))


def coord_claims(ds: xr.Dataset) -> list:
    out = []
    schemes = [str(s) for s in ds["scheme_name"].values]
    model = ds.attrs.get("model", "mlp")
    for opt in [str(o) for o in ds["optimizer_name"].values]:
        if "mup" in schemes:
            s = _sel(ds, "change_slope", opt, "mup").values[1:]  # [t = 1..T, layer]
            worst = float(np.nanmax(np.abs(s))) if np.isfinite(s).any() else float("nan")
            out.append(claim(
                ds, name=f"{model}-mup-{opt}-flat", figure="TP5 coordinate check",
                statement=f"{model}, muP + {opt}: every layer's change |h_l(t) - h_l(0)| (t = 1..T, output "
                          f"included) is flat in width: |log-log slope| < {FLAT}",
                book=FLAT, measured=worst, held=bool(np.isfinite(s).all()) and worst < FLAT, min_preset="quick",
                if_not_held="finite-width corrections O(n^-1/2) at the smallest widths, or an lr rule "
                            "off the muP table",
                detail=f"max over t and layers of |slope|; per layer at t=T: {np.round(s[-1], 3).tolist()}"))
        if "sp" in schemes:
            s = float(_sel(ds, "change_slope", opt, "sp").values[1, -1])
            out.append(claim(
                ds, name=f"{model}-sp-{opt}-output-grows", figure="TP5 coordinate check",
                statement=f"{model}, SP at a fixed lr + {opt}: the output's change after one step grows with "
                          f"width: log-log slope > 0.5 (TP5: ~1)",
                book=1.0, measured=s, held=s > 0.5, min_preset="quick",
                if_not_held="the lr is so small that the O(1) part of the change dominates at these widths"))
        if "ntp" in schemes and ds.sizes["layer"] > 1:
            s = float(np.max(_sel(ds, "change_slope", opt, "ntp").values[1, :-1]))
            if opt == "sgd":
                out.append(claim(
                    ds, name=f"{model}-ntp-{opt}-features-freeze", figure="TP5 coordinate check",
                    statement=f"{model}, NTP + SGD: the hidden features' change after one step falls with "
                              f"width, ~ n^-1/2: slope < -0.3 in every hidden layer",
                    book=-0.5, measured=s, held=s < -0.3, min_preset="quick",
                    if_not_held="narrow widths: the n^-1/2 law needs n >> 1"))
    return out


def coord_figures(ds):
    from phasekit.viz import parameterization as viz

    return viz.coord_figures(ds)


_COORD_TINY = dict(widths=(32, 128), schemes=("sp", "mup"), optimizers=("sgd",), n=16, seeds=2, steps=2)
register(Experiment(
    "mup-coord-check", area="parameterization", figure="TP5 coordinate check",
    title="coordinate check of SP (fixed lr), NTP and muP: per-layer |h_l(t) - h_l(0)| over widths, SGD and Adam",
    config=CoordConfig,
    presets={"tiny": _COORD_TINY, "quick": {}, "paper": dict(widths=(128, 256, 512, 1024, 2048, 4096, 8192), seeds=16)},
    run=coord_run, claims=coord_claims, figures=coord_figures))

register(Experiment(
    "mup-coord-check-cnn", area="parameterization", figure="TP5 coordinate check",
    title="coordinate check of a Flax CNN (conv -> tanh -> dense, roles as a pytree): SP, NTP, muP",
    config=CoordConfig,
    presets={"tiny": dict(_COORD_TINY, model="cnn", hidden_layers=1, widths=(8, 32)),
             "quick": dict(model="cnn", hidden_layers=1, widths=(16, 32, 64, 128, 256, 512)),
             "paper": dict(model="cnn", hidden_layers=1, widths=(16, 32, 64, 128, 256, 512, 1024), seeds=16)},
    run=coord_run, claims=coord_claims, figures=coord_figures))
