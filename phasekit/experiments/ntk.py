"""Linearization and the neural tangent kernel (spec 05, spec 01; book ch. 7 / 6).

    linearization-gap   a two-layer ReLU net and its first-order Taylor model f_lin trained side
                        by side by the same GD at points (gamma, gamma') of the phase diagram:
                        ||f - f_lin|| stays small in the linear regime, reaches the output
                        scale in the condensed one.
    ntk-spectrum        the empirical NTK of the NTK-preset two-layer ReLU net on a 1-D grid
                        against the analytic infinite-width kernel over widths (error ~ m^-1/2)
                        and the eigen-decomposition: large eigenvalues belong to low-frequency
                        eigenfunctions (the linear-regime F-Principle).

Recipe: config -> data / grid -> sweep (gamma, gamma', seed) or (width, seed) through
:func:`phasekit.dynamics.sweep.run` -> measures of :mod:`phasekit.dynamics.linearization` and
:mod:`phasekit.theory.ntk_analytic` -> claims -> figures of :mod:`phasekit.viz.ntk`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr

from phasekit import data as datasets
from phasekit.dynamics import linearization, phase, sweep, train
from phasekit.experiments.base import Config, Experiment, claim, describe, param, register
from phasekit.models import two_layer as tl
from phasekit.theory import ntk, regimes
from phasekit.theory import ntk_analytic as na

__all__ = ["LinearizationConfig", "SpectrumConfig"]

# ----------------------------------------------------------------------------- linearization gap


@dataclass(frozen=True)
class LinearizationConfig(Config):
    """Two-layer ReLU nets on the authors' 3 points, scales from ``regimes.scaling_for``
    (alpha = 1, beta1 = m^-(gamma+gamma')/2, beta2 = m^(gamma'-gamma)/2), anti-symmetric init
    shared by every (gamma, gamma') of a seed; f and f_lin trained by the same full-batch GD with
    lr = eta / (tr G + c) at init (:func:`phasekit.dynamics.phase.learning_rate`)."""

    gammas: tuple[float, ...] = param(
        (0.5, 1.0, 1.75), ge=-2.0, le=4.0, doc="0.5 linear, 1 critical, 1.75 condensed"
    )
    gamma_primes: tuple[float, ...] = param((0.0,), ge=-3.0, le=3.0)
    width: int = param(1000, ge=2)
    seeds: int = param(1, ge=1)
    steps: int = param(20_000, ge=1)
    eta: float = param(0.25, gt=0.0, doc="lr = eta / (tr G + c) at init")
    n_records: int = param(60, ge=2)
    n_grid: int = param(201, ge=3, doc="points of [-1, 1] where f and f_lin are compared")
    antisymmetric: bool = param(True, doc="anti-symmetric init: f(theta_0) = 0")
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap", "continuous"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        if self.antisymmetric and self.width % 2:
            raise ValueError(f"width: must be even with antisymmetric init, got {self.width}")


def run_linearization(
    cfg: LinearizationConfig, store=None, shard=None, progress: bool = True
) -> xr.Dataset:
    x, y = (jnp.asarray(a) for a in datasets.authors_three_points())
    grid = jnp.linspace(-1.0, 1.0, cfg.n_grid)[:, None]

    def point(pt, key):
        alpha, beta1, beta2 = regimes.scaling_for(pt["gamma"], pt["gamma_prime"], cfg.width)
        params0 = tl.rescale(
            tl.init(key, cfg.width, 1, antisymmetric=cfg.antisymmetric), beta1, beta2
        )
        lr = phase.learning_rate(params0, x, y, alpha=alpha, eta=cfg.eta)
        traj = linearization.train_with_linearization(
            functools.partial(tl.apply, alpha=alpha),
            params0,
            (x, y),
            optax.sgd(lr),
            steps=cfg.steps,
            n_records=cfg.n_records,
            x_eval=grid,
            input_weights=tl.input_weights,
        )
        obs = traj.observables
        return {
            k: obs[k]
            for k in ("gap", "gap_rel", "rd", "rd_lin", "loss_net", "loss_lin", "f", "f_lin")
        } | {"lr": lr, "alpha": alpha, "beta1": beta1, "beta2": beta2}

    steps = train.record_steps(cfg.steps, cfg.n_records)
    per_record = {
        k: ("record",) for k in ("gap", "gap_rel", "rd", "rd_lin", "loss_net", "loss_lin")
    }
    ds = sweep.run(
        point,
        {
            "gamma": np.asarray(cfg.gammas),
            "gamma_prime": np.asarray(cfg.gamma_primes),
            "seed": np.arange(cfg.seeds),
        },
        key_axes=("seed",),
        store=store,
        shard=shard,
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        dims=per_record | {"f": ("record", "x"), "f_lin": ("record", "x")},
        coords={"record": np.arange(len(steps)), "x": np.asarray(grid[:, 0])},
        batching=cfg.batching,
        progress=progress,
        desc="linearization gap",
    )
    if not ds.attrs["complete"]:
        return describe(ds, LINEARIZATION_VARIABLES)  # one shard; the complete run adds the rest
    g, gp = np.meshgrid(ds["gamma"].values, ds["gamma_prime"].values, indexing="ij")
    ds = ds.assign_coords(
        step=("record", steps),
        regime=(("gamma", "gamma_prime"), np.asarray(regimes.regime(g, gp)).reshape(g.shape)),
    )
    ds["gap_rel_max"] = ds["gap_rel"].max("record")
    ds["x_train"] = ("sample", np.asarray(x[:, 0]))
    ds["y_train"] = ("sample", np.asarray(y))
    ds.attrs.update(
        width=cfg.width,
        eta=cfg.eta,
        scaling="alpha = 1, beta1 = m^-(gamma+gamma')/2, beta2 = m^(gamma'-gamma)/2",
    )
    return describe(ds, LINEARIZATION_VARIABLES)


LINEARIZATION_VARIABLES = {
    "gap": ("RMS on the grid of f(theta(t)) - f_lin(theta_lin(t))", "1"),
    "gap_rel": ("linearization gap / RMS of the targets", "1"),
    "gap_rel_max": ("largest linearization gap / RMS(y) along training", "1"),
    "rd": ("relative distance of the network's input weights from init", "1"),
    "rd_lin": ("relative distance of the linear model's input weights from init", "1"),
    "loss_net": ("training loss of the network", "1"),
    "loss_lin": ("training loss of the linearized model", "1"),
    "f": ("network output on the grid", "1"),
    "f_lin": ("linearized model's output on the grid", "1"),
    "lr": ("GD learning rate eta / (tr G + c) at init", "1"),
    "alpha": ("output scale alpha", "1"),
    "beta1": ("output-weight scale beta1", "1"),
    "beta2": ("input-weight scale beta2", "1"),
    "x_train": ("training inputs", "1"),
    "y_train": ("training targets", "1"),
}

LINEAR_GAP, CONDENSED_GAP = 0.05, 0.5


def linearization_claims(ds: xr.Dataset) -> list:
    gap = ds["gap_rel_max"].max("seed")
    regime = ds["regime"]
    out = []
    for kind, held_if, bound, book in (
        ("linear", lambda v: v < LINEAR_GAP, f"< {LINEAR_GAP}", "f ~ f_lin"),
        ("condensed", lambda v: v > CONDENSED_GAP, f"> {CONDENSED_GAP}", "f departs from f_lin"),
    ):
        sel = (regime == kind).values
        if not sel.any():
            continue
        vals = gap.values[sel]
        worst = float(vals.max() if kind == "linear" else vals.min())
        out.append(
            claim(
                ds,
                name=f"gap-{kind}",
                figure="Sec 7.2 / spec 05",
                book=book,
                statement=f"in the {kind} regime the network {'stays close to' if kind == 'linear' else 'leaves'} its "
                f"linearization around init: max over training of ||f - f_lin||_RMS / RMS(y) {bound} at "
                f"every {kind} point (m = {ds.attrs.get('width')})",
                measured=worst,
                held=bool(np.all(held_if(vals))),
                detail=f"{'largest' if kind == 'linear' else 'smallest'} over the {kind} points "
                f"(gamma, gamma') = {_points(ds, sel)} and seeds; final network loss "
                f"{float(ds['loss_net'].isel(record=-1).where(regime == kind).max()):.2g}",
                if_not_held="width too small for the linear regime (the gap falls like m^-1/2)"
                if kind == "linear"
                else "too few steps for the condensed net to leave the kernel regime",
            )
        )
    return out


def _points(ds, sel):
    g, gp = np.meshgrid(ds["gamma"].values, ds["gamma_prime"].values, indexing="ij")
    return [(float(a), float(b)) for a, b in zip(g[sel], gp[sel])]


def linearization_figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import ntk as viz

    return viz.linearization_figures(ds)


# ----------------------------------------------------------------------------- NTK spectrum


@dataclass(frozen=True)
class SpectrumConfig(Config):
    """Two-layer ReLU net in the NTK preset (alpha = sqrt m, beta1 = beta2 = 1) on a uniform grid
    of [-1, 1]: empirical NTK at each (width, seed) against the infinite-width arc-cosine NTK,
    and the eigen-decomposition of both on the grid."""

    n_grid: int = param(200, ge=8)
    widths: tuple[int, ...] = param((256, 1024, 4096), ge=2)
    seeds: int = param(4, ge=1)
    implementation: str = param("structured", choices=ntk.IMPLEMENTATIONS)
    batch_size: int | None = param(100, ge=1, doc="samples per block of the empirical NTK")
    n_functions: int = param(12, ge=1, doc="top eigenfunctions kept")
    n_ranked: int = param(30, ge=3, doc="top eigenfunctions in the frequency rank correlation")
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap", "continuous"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        if len(self.widths) < 2:
            raise ValueError(
                f"widths: need at least two widths to fit the error slope, got {self.widths}"
            )
        if max(self.n_functions, self.n_ranked) > self.n_grid:
            raise ValueError(
                f"n_ranked: n_functions and n_ranked must be <= n_grid = {self.n_grid}"
            )


def run_spectrum(cfg: SpectrumConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    grid = jnp.linspace(-1.0, 1.0, cfg.n_grid)[:, None]
    exact = na.two_layer_relu_ntk(grid)  # NTK preset: the infinite-width kernel
    k = cfg.n_functions

    def point(pt, key):
        m = pt["width"]
        alpha, beta1, beta2 = tl.preset("ntk", m, 1)
        params = tl.rescale(tl.init(key, m, 1), beta1, beta2)
        kernel = ntk.empirical_ntk(
            functools.partial(tl.apply, alpha=alpha),
            params,
            grid,
            implementation=cfg.implementation,
            batch_size=cfg.batch_size,
        )
        spec = na.spectrum_1d(kernel, grid)
        return {
            "kernel_error": na.relative_kernel_error(kernel, exact),
            "eigenvalue": spec.eigenvalues,
            "frequency": spec.frequency,
            "eigenfunction": spec.eigenvectors[:, :k].T,
            "rank_correlation": na.frequency_rank_correlation(spec.frequency, cfg.n_ranked),
        }

    ds = sweep.run(
        point,
        {"width": np.asarray(cfg.widths), "seed": np.arange(cfg.seeds)},
        static=("width",),
        store=store,
        shard=shard,
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        dims={
            "eigenvalue": ("index",),
            "frequency": ("index",),
            "eigenfunction": ("function", "x"),
        },
        coords={
            "index": np.arange(cfg.n_grid),
            "function": np.arange(k),
            "x": np.asarray(grid[:, 0]),
        },
        batching=cfg.batching,
        progress=progress,
        desc="NTK spectrum",
    )
    if not ds.attrs["complete"]:
        return describe(ds, SPECTRUM_VARIABLES)  # one shard; the complete run adds the rest
    spec = na.spectrum_1d(exact, grid)
    ds["analytic_eigenvalue"] = ("index", np.asarray(spec.eigenvalues))
    ds["analytic_frequency"] = ("index", np.asarray(spec.frequency))
    ds["analytic_eigenfunction"] = (("function", "x"), np.asarray(spec.eigenvectors[:, :k].T))
    ds["analytic_rank_correlation"] = float(
        na.frequency_rank_correlation(spec.frequency, cfg.n_ranked)
    )
    ds["kernel_error_rms"] = np.sqrt((ds["kernel_error"] ** 2).mean("seed"))
    fit = phase.scaling_exponent(ds["width"].values, ds["kernel_error_rms"].values)
    ds["error_slope"] = float(fit.slope)
    ds["error_slope_stderr"] = float(fit.stderr)
    ds.attrs.update(parameterization="ntk", n_ranked=cfg.n_ranked)
    return describe(ds, SPECTRUM_VARIABLES)


SPECTRUM_VARIABLES = {
    "kernel_error": ("||Theta_m - Theta_inf||_F / ||Theta_inf||_F on the grid", "1"),
    "kernel_error_rms": ("RMS over seeds of the relative kernel error", "1"),
    "error_slope": ("slope of log kernel error over log width", "1"),
    "error_slope_stderr": ("standard error of the slope", "1"),
    "eigenvalue": ("eigenvalues of the empirical NTK on the grid, descending", "1"),
    "frequency": ("dominant frequency of each eigenfunction", "cycles per unit x"),
    "eigenfunction": ("top eigenfunctions of the empirical NTK on the grid", "1"),
    "rank_correlation": (
        "Spearman correlation of eigenvalue rank and frequency over the top n_ranked",
        "1",
    ),
    "analytic_eigenvalue": ("eigenvalues of the infinite-width NTK on the grid, descending", "1"),
    "analytic_frequency": (
        "dominant frequency of each analytic eigenfunction",
        "cycles per unit x",
    ),
    "analytic_eigenfunction": ("top eigenfunctions of the infinite-width NTK", "1"),
    "analytic_rank_correlation": (
        "Spearman correlation of rank and frequency, infinite-width NTK",
        "1",
    ),
}


def spectrum_claims(ds: xr.Dataset) -> list:
    slope = float(ds["error_slope"])
    widest = ds.sel(width=ds["width"].max())
    k = int(ds.attrs.get("n_ranked", 30))
    rho = [float(ds["analytic_rank_correlation"]), float(widest["rank_correlation"].min())]
    top3 = [float(ds["analytic_frequency"][:3].max()), float(widest["frequency"][:, :3].max())]
    return [
        claim(
            ds,
            name="inverse-sqrt-width",
            figure="spec 05",
            book=-0.5,
            statement="the empirical NTK of the NTK-preset net converges to the analytic infinite-width "
            "kernel like m^-1/2 (a sum of m i.i.d. neuron terms): the slope of log relative error "
            "over log m lies in [-0.7, -0.3]",
            measured=slope,
            held=-0.7 <= slope <= -0.3,
            detail=f"widths {ds['width'].values.tolist()}, RMS error over {ds.sizes['seed']} seeds "
            f"{np.round(ds['kernel_error_rms'].values.astype(float), 4).tolist()}; stderr "
            f"{float(ds['error_slope_stderr']):.2g}",
            if_not_held="too few seeds for the RMS error, or widths spanning too little",
        ),
        claim(
            ds,
            name="frequency-order",
            figure="Sec 6 (linear-regime F-Principle)",
            book="low frequency first",
            statement=f"NTK eigenfunctions are ordered by frequency: Spearman correlation of eigenvalue rank "
            f"and dominant frequency over the top {k} > 0.8, for the analytic kernel and the "
            "empirical one at the largest width (every seed)",
            measured=rho,
            held=min(rho) > 0.8,
            detail="analytic, smallest over seeds at the largest width",
            if_not_held="grid too coarse for the dominant frequency of the higher eigenfunctions",
        ),
        claim(
            ds,
            name="top-lowest-frequency",
            figure="Sec 6 (linear-regime F-Principle)",
            book="<= 1 cycle",
            statement="the top 3 eigenfunctions have the lowest frequencies: at most 1 cycle per unit x, "
            "for the analytic kernel and the empirical one at the largest width (every seed)",
            measured=top3,
            held=max(top3) <= 1.0,
            detail="largest dominant frequency among the top 3: analytic, empirical (all seeds)",
            if_not_held="finite-width fluctuations mix the top eigenfunctions",
        ),
    ]


def spectrum_figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import ntk as viz

    return viz.spectrum_figures(ds)


# ----------------------------------------------------------------------------- registry

register(
    Experiment(
        "linearization-gap",
        area="ntk",
        figure="Sec 7.2",
        title="network vs its linearization at the linear, critical and condensed points (two-layer ReLU)",
        config=LinearizationConfig,
        presets={
            "tiny": dict(width=200, steps=2000, n_records=20, n_grid=51),
            "quick": dict(seeds=3),
            "paper": dict(width=10_000, steps=200_000, n_records=100, n_grid=401, seeds=3),
        },
        run=run_linearization,
        claims=linearization_claims,
        figures=linearization_figures,
    )
)

register(
    Experiment(
        "ntk-spectrum",
        area="ntk",
        figure="Sec 6 / spec 05",
        title="empirical vs analytic NTK of a two-layer ReLU net over widths; eigenfunctions ordered by frequency",
        config=SpectrumConfig,
        presets={
            "tiny": dict(
                n_grid=64, widths=(64, 256, 1024), seeds=2, batch_size=None, n_functions=6
            ),
            "quick": dict(seeds=8),
            "paper": dict(n_grid=1000, widths=(1024, 4096, 16384, 65536), batch_size=250),
        },
        run=run_spectrum,
        claims=spectrum_claims,
        figures=spectrum_figures,
    )
)
