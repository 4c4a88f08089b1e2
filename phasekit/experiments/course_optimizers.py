"""Course diagnostics (spec 07): optimizers from optax on quadratics, Rosenbrock and the 1-1-1 net.

    course-optimizer-rates  f(x) = x^T A x / 2, eigenvalues geometric in [1, kappa]: measured
                            contraction rates of GD (step 2 / (L + mu)) and of heavy ball (Polyak's
                            tuning) against (kappa - 1)/(kappa + 1) and (sqrt kappa - 1)/(sqrt kappa + 1);
                            Nesterov (step 1/L, momentum (sqrt kappa - 1)/(sqrt kappa + 1)) measured.
                            Adaptive methods (AdaGrad, RMSProp, AdaDelta, Adam) against GD and momentum on
                            the same spectrum, diagonal and rotated: steps to f <= tol f(x_0), best lr
                            of a grid; GD is rotation invariant, diagonal preconditioners are not.
    course-optimizer-paths  trajectories of sgd / momentum / nesterov / adagrad / rmsprop / adam on
                            Rosenbrock (1 - u)^2 + 100 (v - u^2)^2 and on the 1-1-1 net's MSE.

Recipe: :func:`phasekit.theory.diagnostics.quadratic_spectrum` -> :func:`phasekit.dynamics.train.run`
with ``observe`` = |x_t| (or the position) -> :func:`~phasekit.theory.diagnostics.contraction_rate` ->
claims -> :mod:`phasekit.viz.course`.
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
from phasekit.models import toys
from phasekit.theory import diagnostics as dg

__all__ = ["PathsConfig", "RatesConfig", "rosenbrock"]

RATE_METHODS = ("gd", "heavy_ball", "nesterov")
ADAPTIVE = ("gd", "momentum", "adagrad", "rmsprop", "adadelta", "adam")
GEOMETRIES = ("diagonal", "rotated")
GD_TOL, HB_TOL = 1e-3, 3e-3  # |measured - closed form| of the rates
DECADES = 20  # the rate runs go down 20 decades of |x_t| (float32 reaches ~1e-38)


def _store(store, name):
    return None if store is None else f"{store}/{name}"


def _rate_optimizer(method, kappa):
    if method == "gd":
        return optax.sgd(dg.gd_optimal_lr(1.0, kappa))
    if method == "heavy_ball":
        lr, beta = dg.heavy_ball_tuning(1.0, kappa)
        return optax.sgd(lr, momentum=beta)
    return optax.sgd(
        1.0 / kappa, momentum=(np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1), nesterov=True
    )


def _adaptive_optimizer(method, lr):
    return {
        "gd": lambda: optax.sgd(lr),
        "momentum": lambda: optax.sgd(lr, momentum=0.9),
        "adagrad": lambda: optax.adagrad(lr),
        "rmsprop": lambda: optax.rmsprop(lr),
        "adadelta": lambda: optax.adadelta(lr),
        "adam": lambda: optax.adam(lr),
    }[method]()


@dataclass(frozen=True)
class RatesConfig(Config):
    """Quadratics of dimension ``dim`` with eigenvalues geometric in [1, kappa], x_0 = (1, ..., 1)
    in the eigenbasis; the adaptive comparison at ``adaptive_kappa`` with lrs ``lr_grid`` times each
    method's base lr (GD: 1/L, momentum: 0.1/L, adaptive: 0.1)."""

    dim: int = param(16, ge=2)
    kappas: tuple[float, ...] = param((10.0, 100.0, 1000.0), gt=1.0)
    records: int = param(201, ge=10)
    adaptive_kappa: float = param(1000.0, gt=1.0)
    adaptive_tol: float = param(1e-4, gt=0.0, lt=1.0, doc="target f <= tol f(x_0)")
    adaptive_steps: int = param(3000, ge=10)
    lr_grid: tuple[float, ...] = param((0.1, 0.3, 1.0, 1.9), gt=0.0)
    rotation_seed: int = param(7, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap"))

    EXECUTION_FIELDS = ("batching",)


BASE_LR = {
    "gd": 1.0,
    "momentum": 0.1,
    "adagrad": 0.1,
    "rmsprop": 0.1,
    "adadelta": 10.0,
    "adam": 0.1,
}


def _rotation(cfg):
    q, _ = jnp.linalg.qr(jax.random.normal(jax.random.key(cfg.rotation_seed), (cfg.dim, cfg.dim)))
    return q


def run_rates(cfg: RatesConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    none = (jnp.zeros((1, 1)),)

    def rate_point(pt, key):
        kappa = float(cfg.kappas[pt["kappa"]])
        method = RATE_METHODS[pt["algorithm"]]
        s = dg.quadratic_spectrum(kappa, cfg.dim)
        r = (
            (kappa - 1) / (kappa + 1)
            if method == "gd"
            else (np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1)
        )
        steps = int(np.ceil(DECADES * np.log(10) / -np.log(r)))
        rec = train.record_steps(steps, cfg.records, "linear")
        traj = train.run(
            lambda x, d: 0.5 * jnp.sum(s * x**2),
            jnp.ones(cfg.dim),
            none,
            _rate_optimizer(method, kappa),
            steps=steps,
            record_at=rec,
            observe=lambda x: {"dist": jnp.linalg.norm(x)},
            diverge_factor=None,
        )
        dist = traj.observables["dist"]
        return {
            "rate": dg.contraction_rate(rec, dist, jordan=method != "gd"),
            "dist": jnp.interp(jnp.linspace(0, 1, cfg.records), rec / steps, dist),
            "steps": jnp.asarray(steps),
        }

    rates = sweep.run(
        rate_point,
        {"kappa": np.arange(len(cfg.kappas)), "algorithm": np.arange(len(RATE_METHODS))},
        static=("kappa", "algorithm"),
        store=_store(store, "rates"),
        shard=shard,
        key_axes=(),
        config=cfg.to_dict(execution=False),
        dims={"dist": ("fraction",)},
        coords={"fraction": np.linspace(0, 1, cfg.records)},
        batching=cfg.batching,
        progress=progress,
        desc="optimizer rates",
    )
    rates = rates.assign_coords(kappa=np.asarray(cfg.kappas), algorithm=list(RATE_METHODS))
    rates["gd_rate"] = ("kappa", np.asarray(dg.gd_rate(np.asarray(cfg.kappas))))
    rates["heavy_ball_rate"] = ("kappa", np.asarray(dg.heavy_ball_rate(np.asarray(cfg.kappas))))

    s = dg.quadratic_spectrum(cfg.adaptive_kappa, cfg.dim)
    q = _rotation(cfg)

    def adaptive_point(pt, key):
        method = ADAPTIVE[pt["optimizer"]]
        a = jnp.where(pt["geometry"] == 0, jnp.diag(s), q @ jnp.diag(s) @ q.T)
        x0 = jnp.where(pt["geometry"] == 0, jnp.ones(cfg.dim), q @ jnp.ones(cfg.dim))
        lr = (
            jnp.asarray(cfg.lr_grid)[pt["lr"]]
            * BASE_LR[method]
            / (cfg.adaptive_kappa if method in ("gd", "momentum") else 1.0)
        )
        # a resumable run (early stop at the tolerance): sweep.run can batch it continuously
        return train.resumable(
            lambda x, d: 0.5 * x @ a @ x,
            x0,
            none,
            _adaptive_optimizer(method, lr),
            steps=cfg.adaptive_steps,
            n_records=2,
            stop_rel_loss=cfg.adaptive_tol,
        ).then(
            lambda traj: {
                "steps_to_tol": jnp.where(traj.converged, traj.n_steps, jnp.nan).astype(
                    jnp.float32
                ),
                "final_rel_loss": traj.loss[-1] / traj.loss0,
            }
        )

    adaptive = sweep.run(
        adaptive_point,
        {
            "optimizer": np.arange(len(ADAPTIVE)),
            "geometry": np.arange(2),
            "lr": np.arange(len(cfg.lr_grid)),
        },
        static=("optimizer",),
        store=_store(store, "adaptive"),
        shard=shard,
        key_axes=(),
        config=cfg.to_dict(execution=False),
        batching=cfg.batching,
        progress=progress,
        desc="adaptive optimizers",
    )
    adaptive = adaptive.assign_coords(
        optimizer=list(ADAPTIVE), geometry=list(GEOMETRIES), lr=np.asarray(cfg.lr_grid)
    )
    ds = xr.merge([rates, adaptive], combine_attrs="drop_conflicts")
    ds["best_steps"] = ds["steps_to_tol"].min("lr", skipna=True)
    ds.attrs.update(
        dim=cfg.dim,
        adaptive_kappa=cfg.adaptive_kappa,
        adaptive_tol=cfg.adaptive_tol,
        adaptive_steps=cfg.adaptive_steps,
    )
    return describe(ds, RATES_VARIABLES)


RATES_VARIABLES = {
    "rate": (
        "measured contraction rate of |x_t| per step (geometric fit over the run's second half)",
        "1",
    ),
    "dist": ("|x_t| / |x_0|, x_0 = 1, at fractions of the run", "1"),
    "steps": ("steps of the rate run (20 decades at the closed-form rate)", "steps"),
    "gd_rate": ("(kappa - 1) / (kappa + 1)", "1"),
    "heavy_ball_rate": ("(sqrt kappa - 1) / (sqrt kappa + 1)", "1"),
    "steps_to_tol": ("steps to f <= tol f(x_0) at each lr (NaN: not within the budget)", "steps"),
    "final_rel_loss": ("f(x_T) / f(x_0) at the end of the run", "1"),
    "best_steps": (
        "steps to f <= tol f(x_0) at the best lr of the grid (NaN: none reached it)",
        "steps",
    ),
}


def rates_claims(ds: xr.Dataset) -> list:
    out = []
    gd = ds["rate"].sel(algorithm="gd").values
    err = float(np.max(np.abs(gd - ds["gd_rate"].values)))
    out.append(
        claim(
            ds,
            name="gd-rate",
            figure="course: optimizer rates",
            statement=f"GD with step 2/(L + mu) contracts by (kappa - 1)/(kappa + 1) per step: the measured "
            f"rate is within {GD_TOL:g} at kappa = {', '.join(f'{k:g}' for k in ds['kappa'].values)}",
            book=[round(float(v), 4) for v in ds["gd_rate"].values],
            measured=list(gd),
            held=err < GD_TOL,
            if_not_held="float32 round-off near the floor of the fit",
            detail=f"max |measured - formula| = {err:.2g}",
        )
    )
    hb = ds["rate"].sel(algorithm="heavy_ball").values
    err = float(np.max(np.abs(hb - ds["heavy_ball_rate"].values)))
    out.append(
        claim(
            ds,
            name="heavy-ball-rate",
            figure="course: optimizer rates",
            statement=f"heavy ball with Polyak's step and momentum contracts by (sqrt kappa - 1)/(sqrt kappa + 1): "
            f"measured within {HB_TOL:g} (fit of log|x_t| = a + p log t + t log r)",
            book=[round(float(v), 4) for v in ds["heavy_ball_rate"].values],
            measured=list(hb),
            held=err < HB_TOL,
            if_not_held="the double roots of the optimal tuning: the t r^t factor biases a short fit",
            detail=f"max |measured - formula| = {err:.2g}",
        )
    )
    best = ds["best_steps"]
    budget = float(ds.attrs["adaptive_steps"])

    def ratio(
        m,
    ):  # rotated / diagonal; a rotated run that missed the target counts as the budget (a lower bound)
        diag, rot = (float(best.sel(optimizer=m, geometry=g)) for g in GEOMETRIES)
        return (budget if np.isnan(rot) else rot) / diag

    g, a = ratio("gd"), ratio("adam")
    out.append(
        claim(
            ds,
            name="gd-rotation-invariant",
            figure="course: adaptive optimizers",
            statement="GD's steps to the target are the same on the diagonal and the rotated quadratic "
            "(rotated / diagonal within 1 +- 5%)",
            book=1.0,
            measured=g,
            held=abs(g - 1) < 0.05,
            if_not_held="float32 round-off in the rotated matrix product",
        )
    )
    out.append(
        claim(
            ds,
            name="adam-prefers-the-axes",
            figure="course: adaptive optimizers",
            statement=f"Adam's per-coordinate scaling exploits the axes: on kappa = {ds.attrs['adaptive_kappa']:g} it "
            f"reaches f <= {ds.attrs['adaptive_tol']:g} f(x_0) at least 2x faster on the diagonal than on "
            f"the rotated quadratic (best lr each; a rotated run that misses counts as the budget "
            f"{ds.attrs['adaptive_steps']} steps)",
            book="> 1",
            measured=a,
            held=a >= 2,
            if_not_held="the lr grid misses Adam's good step on one of the two problems",
        )
    )
    adaptive = [
        m for m in ("adagrad", "rmsprop", "adadelta", "adam") if m in best["optimizer"].values
    ]
    fastest = float(best.sel(optimizer=adaptive, geometry="diagonal").min())
    gd_steps = float(best.sel(optimizer="gd", geometry="diagonal"))
    out.append(
        claim(
            ds,
            name="adaptive-beat-gd-on-the-axes",
            figure="course: adaptive optimizers",
            statement="on the diagonal ill-conditioned quadratic the fastest adaptive method (AdaGrad, RMSProp, "
            "AdaDelta, Adam; best lr each) needs under half of GD's steps (ratio adaptive / GD < 0.5)",
            book="< 1",
            measured=fastest / gd_steps,
            held=fastest / gd_steps < 0.5,
            if_not_held="kappa too small for GD's kappa-proportional step count to matter",
        )
    )
    return out


def rates_figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import course as viz

    return viz.rates_figures(ds)


register(
    Experiment(
        "course-optimizer-rates",
        area="course",
        figure="course: optimizer rates",
        title="optax optimizers on quadratics: measured rates vs (kappa-1)/(kappa+1), (sqrt kappa-1)/(sqrt kappa+1); adaptive methods",
        config=RatesConfig,
        presets={
            "tiny": dict(
                dim=8,
                kappas=(10.0, 100.0),
                records=101,
                adaptive_kappa=100.0,
                adaptive_steps=1000,
                lr_grid=(0.3, 1.0, 1.9),
            ),
            "quick": {},
            "paper": dict(
                dim=64,
                kappas=(10.0, 30.0, 100.0, 300.0, 1000.0),
                records=401,
                lr_grid=(0.03, 0.1, 0.3, 1.0, 1.5, 1.9),
                adaptive_steps=20000,
            ),
        },
        run=run_rates,
        claims=rates_claims,
        figures=rates_figures,
    )
)


# ----------------------------------------------------------------------------- paths

PATH_METHODS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
SURFACES = ("rosenbrock", "one_one_one")


def rosenbrock(p, data=None):
    """(1 - u)^2 + 100 (v - u^2)^2, minimum 0 at (1, 1): ``p`` = (u, v) [2]; ``data`` is ignored
    (a loss of the parameters alone); returns a scalar."""
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


@dataclass(frozen=True)
class PathsConfig(Config):
    """Trajectories from ``start`` on Rosenbrock and from ``start_111`` on the 1-1-1 MSE (x = 1,
    y = ``label``), ``steps`` steps, lr ``lr`` (Rosenbrock; SGD-type) and ``adaptive_lr``."""

    steps: int = param(2000, ge=10)
    records: int = param(200, ge=10)
    lr: float = param(1e-3, gt=0.0)
    adaptive_lr: float = param(2e-2, gt=0.0)
    start: tuple[float, ...] = param((-1.5, 2.0))
    start_111: tuple[float, ...] = param((-3.0, -3.0))
    lr_111: float = param(1.0, gt=0.0)
    label: float = param(0.8, gt=0.0, lt=1.0)
    batching: str = param("auto", choices=("auto", "map", "vmap"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        for f in ("start", "start_111"):
            if len(getattr(self, f)) != 2:
                raise ValueError(f"{f}: need two coordinates, got {getattr(self, f)}")


def _path_optimizer(method, lr, adaptive_lr):
    return {
        "sgd": lambda: optax.sgd(lr),
        "momentum": lambda: optax.sgd(lr, momentum=0.9),
        "nesterov": lambda: optax.sgd(lr, momentum=0.9, nesterov=True),
        "adagrad": lambda: optax.adagrad(10 * adaptive_lr),
        "rmsprop": lambda: optax.rmsprop(adaptive_lr),
        "adam": lambda: optax.adam(adaptive_lr),
    }[method]()


def run_paths(cfg: PathsConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    x1, y1 = jnp.ones(1), jnp.full(1, cfg.label)
    rec = train.record_steps(cfg.steps, cfg.records, "linear")

    def point(pt, key):
        method, surface = PATH_METHODS[pt["optimizer"]], SURFACES[pt["surface"]]
        if surface == "rosenbrock":
            loss, p0, lr = rosenbrock, jnp.asarray(cfg.start), cfg.lr
        else:
            loss, p0, lr = (
                (lambda p, d: toys.one_one_one_mse(p, (x1, y1))),
                jnp.asarray(cfg.start_111),
                cfg.lr_111,
            )
        traj = train.run(
            loss,
            p0,
            (x1,),
            _path_optimizer(method, lr, cfg.adaptive_lr),
            steps=cfg.steps,
            record_at=rec,
            observe=lambda p: {"position": p},
        )
        return {
            "position": traj.observables["position"],
            "loss": traj.loss,
            "diverged": traj.diverged,
        }

    ds = sweep.run(
        point,
        {"surface": np.arange(2), "optimizer": np.arange(len(PATH_METHODS))},
        static=("surface", "optimizer"),
        store=store,
        shard=shard,
        key_axes=(),
        config=cfg.to_dict(execution=False),
        dims={"position": ("record", "coordinate"), "loss": ("record",)},
        coords={"record": rec, "coordinate": ["w1", "w2"]},
        batching=cfg.batching,
        progress=progress,
        desc="optimizer paths",
    )
    ds = ds.assign_coords(surface=list(SURFACES), optimizer=list(PATH_METHODS))
    grid = np.linspace(0.0, 1.0, 81)
    lims = {"rosenbrock": ((-2.0, 2.0), (-1.0, 3.0)), "one_one_one": ((-6.0, 6.0), (-6.0, 6.0))}
    gu = np.stack([lo + (hi - lo) * grid for (lo, hi), _ in lims.values()])
    gv = np.stack([lo + (hi - lo) * grid for _, (lo, hi) in lims.values()])
    U, V = np.meshgrid(gu[0], gv[0], indexing="ij")
    W1, W2 = np.meshgrid(gu[1], gv[1], indexing="ij")
    ros = np.asarray(rosenbrock(jnp.stack([U, V])))
    one = np.asarray(
        jax.vmap(lambda p: toys.one_one_one_mse(p, (x1, y1)))(
            jnp.stack([W1.ravel(), W2.ravel()], 1)
        )
    ).reshape(W1.shape)
    ds["grid_w1"] = (("surface", "grid"), gu)
    ds["grid_w2"] = (("surface", "grid"), gv)
    ds["surface_loss"] = (("surface", "grid", "grid2"), np.stack([ros, one]))
    ds["distance_to_minimum"] = np.hypot(
        ds["position"].sel(surface="rosenbrock", coordinate="w1") - 1,
        ds["position"].sel(surface="rosenbrock", coordinate="w2") - 1,
    )
    ds.attrs.update(steps=cfg.steps, lr=cfg.lr, adaptive_lr=cfg.adaptive_lr, label=cfg.label)
    return describe(ds, PATH_VARIABLES)


PATH_VARIABLES = {
    "position": ("parameters (w1, w2) at the record steps", "1"),
    "loss": ("loss at the record steps", "1"),
    "diverged": ("the run met NaN/inf or a 1e6-fold loss", "1"),
    "grid_w1": ("first coordinate of the loss-surface grid", "1"),
    "grid_w2": ("second coordinate of the loss-surface grid", "1"),
    "surface_loss": ("loss on the grid (grid_w1 x grid_w2)", "1"),
    "distance_to_minimum": ("Rosenbrock: distance of (u, v) to the minimum (1, 1)", "1"),
}


def paths_claims(ds: xr.Dataset) -> list:
    d = ds["distance_to_minimum"].isel(record=-1)
    sgd, mom = float(d.sel(optimizer="sgd")), float(d.sel(optimizer="momentum"))
    out = [
        claim(
            ds,
            name="momentum-crosses-the-valley",
            figure="course: optimizer paths",
            statement=f"on Rosenbrock, heavy ball (momentum 0.9) at the same lr {ds.attrs['lr']:g} ends closer to the "
            f"minimum (1, 1) than plain GD after {ds.attrs['steps']} steps (distance ratio momentum / GD < 0.5)",
            book="< 1",
            measured=mom / sgd,
            held=mom / sgd < 0.5,
            if_not_held="too few steps for GD to lag along the curved valley",
        )
    ]
    l = ds["loss"].sel(surface="one_one_one").isel(record=-1).values
    out.append(
        claim(
            ds,
            name="one-one-one-all-descend",
            figure="course: optimizer paths",
            statement=f"on the 1-1-1 net's MSE (y = {ds.attrs['label']:g}) every optimizer lowers the loss from the "
            f"start (final / initial < 1)",
            book="< 1",
            measured=float(np.max(l / ds["loss"].sel(surface="one_one_one").isel(record=0).values)),
            held=bool(np.all(l < ds["loss"].sel(surface="one_one_one").isel(record=0).values)),
            if_not_held="a start on the plateau where sigma'(w1) ~ 0",
        )
    )
    return out


def paths_figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import course as viz

    return viz.paths_figures(ds)


register(
    Experiment(
        "course-optimizer-paths",
        area="course",
        figure="course: optimizer paths",
        title="sgd, momentum, nesterov, adagrad, rmsprop, adam on Rosenbrock and the 1-1-1 net",
        config=PathsConfig,
        presets={
            "tiny": dict(steps=500, records=50),
            "quick": {},
            "paper": dict(steps=20000, records=400),
        },
        run=run_paths,
        claims=paths_claims,
        figures=paths_figures,
    )
)
