"""Phase diagram of initialization scale for two-layer ReLU nets (book ch. 7, spec 01).

Recipe: data -> sweep (gamma, gamma', width, seed), every network trained to a relative loss
of ``rel_tol`` (:func:`phasekit.dynamics.phase.phase_diagram`) -> S_w = slope of log RD* over
log m -> sign(S_w) against the theoretical regimes -> the three showcase points (linear,
critical, condensed) retrained at the largest width with their neurons kept (Fig 7.3 / 7.6).

    phasekit run phase-diagram --preset quick          # the demo (`make demo`)
    phasekit run phase-diagram-digits --preset quick   # digits stand-in for MNIST
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import xarray as xr

from phasekit import data as datasets
from phasekit.dynamics import condensation, init_scale, phase, sweep
from phasekit.experiments.base import Config, Experiment, claim, describe, param, register
from phasekit.models import activations, two_layer
from phasekit.theory import regimes

__all__ = ["PhaseDiagramConfig", "load_data", "showcase_neurons"]

# (gamma, gamma', label) of the RD*-vs-width panels (Fig 7.4) and neuron scatters (Fig 7.3/7.6)
SHOWCASE = (
    (0.5, 0.0, "linear (NTK-like)"),
    (1.0, 0.0, "critical (mean-field-like)"),
    (1.75, 0.0, "condensed"),
)
# gamma up to 2.5: at gamma' = +1 the theoretical boundary is gamma = 2, so the grid reaches past
# it and every boundary segment has an empirical crossing (quick run: 1.99 at gamma' = 1)
GAMMAS = tuple(float(g) for g in np.round(np.arange(0.0, 2.51, 0.25), 2))


@dataclass(frozen=True)
class PhaseDiagramConfig(Config):
    """A phase-diagram sweep: data, grid, stop rule, learning-rate rule (see
    :mod:`phasekit.dynamics.phase` for the rule lr = eta / (tr G + c) and the loss-rise backoff)."""

    data: str = param(
        "book",
        choices=("book", "four", "digits", "mnist"),
        doc="book: the authors' 3 points; four: Fig 7.1's 4 points; digits/mnist: label as scalar target",
    )
    n: int | None = param(None, ge=1, doc="samples (digits / mnist)")
    mnist_dir: str | None = param(None, doc="folder of the MNIST IDX files (data=mnist)")
    gammas: tuple[float, ...] = param(GAMMAS, ge=-2.0, le=4.0)
    gamma_primes: tuple[float, ...] = param((-1.0, -0.5, 0.0, 0.5, 1.0), ge=-3.0, le=3.0)
    widths: tuple[int, ...] = param((100, 300, 1000, 3000, 10000), ge=2)
    seeds: int = param(4, ge=1)
    activation: str = param("relu", doc=f"one of {', '.join(activations.NAMES)} (ricker:a, sin:a)")
    bias: bool = param(True)
    antisymmetric: bool = param(True, doc="anti-symmetric init: f(theta_0) = 0")
    rel_tol: float = param(1e-4, gt=0.0, lt=1.0, doc="stop when R_S <= rel_tol * R_S(theta_0)")
    max_steps: int = param(20_000, ge=1)
    eta: float = param(0.25, gt=0.0, doc="lr = eta / (tr G + c) at theta_0")
    lr_backoff: float = param(0.5, gt=0.0, le=1.0, doc="step-size factor whenever the loss rises")
    n_records: int = param(40, ge=2)
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap", "continuous"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        activations.get(self.activation)
        if len(self.widths) < 2:
            raise ValueError(f"widths: need at least two widths to fit S_w, got {self.widths}")
        if self.antisymmetric and any(m % 2 for m in self.widths):
            raise ValueError(f"widths: must be even with antisymmetric init, got {self.widths}")
        if self.data == "mnist" and not self.mnist_dir:
            raise ValueError("mnist_dir: required with data=mnist")

    def phase_config(self) -> phase.PhaseConfig:
        keep = {
            k: getattr(self, k)
            for k in (
                "gammas",
                "gamma_primes",
                "widths",
                "seeds",
                "activation",
                "bias",
                "antisymmetric",
                "rel_tol",
                "max_steps",
                "eta",
                "lr_backoff",
                "n_records",
                "base_seed",
                "batching",
            )
        }
        return phase.PhaseConfig(**keep)


def load_data(cfg: PhaseDiagramConfig):
    """(x [n, d], y [n]) float32 of the config's data set (``cfg.data``)."""
    if cfg.data == "book":
        x, y = datasets.authors_three_points()
    elif cfg.data == "four":
        x, y = datasets.four_points()
    elif cfg.data == "digits":
        x, y = datasets.digits(n=cfg.n or 100)
    else:
        x, y = datasets.mnist(cfg.mnist_dir, n=cfg.n or 1000)
    return np.asarray(x, np.float32), np.asarray(y, np.float32)


def showcase_neurons(
    x, y, pcfg: phase.PhaseConfig, width: int, store=None, progress=True
) -> xr.Dataset:
    """Retrain the :data:`SHOWCASE` points at ``width`` (key of seed 0) and keep each neuron's
    (orientation or projection, amplitude) at init and after training, and the fitted function
    on [-1, 1] for 1-D data. Returns a Dataset over (showcase, neuron[, grid]).

    Args:
      x: [n, d] inputs;  y: [n] targets (:func:`load_data`).
      pcfg: the training config of the points;  width: m, hidden neurons.
      store: a store path to resume from (None: in memory);  progress: show a progress bar.
    """
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    g_arr = jnp.asarray([s[0] for s in SHOWCASE])
    gp_arr = jnp.asarray([s[1] for s in SHOWCASE])
    grid = jnp.linspace(-1.0, 1.0, 201)[:, None]
    one_d = x.shape[1] == 1

    def point(pt, key):
        g, gp = g_arr[pt["showcase"]], gp_arr[pt["showcase"]]
        out, _ = phase.train_point(g, gp, width, key, xj, yj, pcfg, return_params=True)
        p0, p1 = out["theta0"], out["theta_final"]
        if one_d:
            ang0, amp0 = condensation.orientation_amplitude(p0["a"], p0["w"], p0.get("b"))
            ang1, amp1 = condensation.orientation_amplitude(p1["a"], p1["w"], p1.get("b"))
        else:
            ang0, amp0 = condensation.projection_amplitude(p0["a"], two_layer.input_weights(p0))
            ang1, amp1 = condensation.projection_amplitude(p1["a"], two_layer.input_weights(p1))
        res = {
            "angle0": ang0,
            "amp0": amp0,
            "angle": ang1,
            "amp": amp1,
            "rd_star": out["rd_star"],
            "converged": out["converged"],
        }
        if one_d:
            alpha = regimes.scaling_for(g, gp, width)[0]
            res["fit"] = two_layer.apply(p1, grid, pcfg.activation, alpha)
        return res

    ds = sweep.run(
        point,
        {"showcase": np.arange(len(SHOWCASE))},
        store=store,
        key_axes=(),
        base_seed=pcfg.base_seed,
        config=pcfg.to_dict(execution=False, grid=False)
        | {"width": width, "data_hash": init_scale.data_hash(x, y)},
        dims={k: ("neuron",) for k in ("angle0", "amp0", "angle", "amp")} | {"fit": ("grid",)},
        coords={"grid": np.asarray(grid[:, 0])} if one_d else None,
        batching=pcfg.batching,
        progress=progress,
        desc="showcase neurons",
    )
    ds = ds.rename({k: f"showcase_{k}" for k in ds.data_vars})
    return ds.assign_coords(
        showcase_gamma=("showcase", [s[0] for s in SHOWCASE]),
        showcase_gamma_prime=("showcase", [s[1] for s in SHOWCASE]),
        showcase_label=("showcase", [s[2] for s in SHOWCASE]),
    )


def run(cfg: PhaseDiagramConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    """The phase diagram of ``cfg`` as one Dataset (see :func:`phasekit.dynamics.phase.phase_diagram`
    for its variables) plus the showcase neurons at the largest width."""
    x, y = load_data(cfg)
    pcfg = cfg.phase_config()
    ds = phase.phase_diagram(
        x, y, pcfg, store=None if store is None else f"{store}/grid", shard=shard, progress=progress
    )
    if not ds.attrs["complete"]:
        return ds
    m = max(cfg.widths)
    show = showcase_neurons(
        x, y, pcfg, m, None if store is None else f"{store}/showcase-m{m}", progress
    )
    ds = xr.merge([ds, show], combine_attrs="override")
    ds["x_train"] = (("sample", "input_dim"), x)
    ds["y_train"] = ("sample", y)
    ds.attrs["showcase_width"] = max(cfg.widths)
    return describe(ds, VARIABLES)


VARIABLES = {
    "rd_star": ("relative distance of the input weights at the end of training, RD*", "1"),
    "loss_star": ("training loss R_S at the end of training", "1"),
    "loss0": ("training loss at initialization", "1"),
    "steps": ("GD steps taken", "steps"),
    "lr": ("learning rate eta / (tr G + c) at initialization", "1"),
    "converged": ("loss reached rel_tol * initial loss", "1", "boolean"),
    "diverged": ("loss became NaN/inf", "1", "boolean"),
    "hit_cap": ("stopped at max_steps without converging", "1", "boolean"),
    "rd": ("relative distance RD(theta_w(t)) at the record steps", "1"),
    "loss": ("training loss at the record steps", "1"),
    "rd_star_geomean": ("geometric mean of RD* over converged seeds", "1"),
    "S_w": ("scaling exponent S_w = d log RD* / d log m", "1"),
    "S_w_stderr": ("standard error of S_w", "1"),
    "S_w_r2": ("R^2 of the log-log fit", "1"),
    "S_w_poor_fit": (
        "RD* is not a power law of m (fit residual std > 0.25), or runs are missing",
        "1",
        "boolean",
    ),
    "S_w_missing_runs": ("runs of the fit not computed (yet)", "1"),
    "regime_theory": ("theoretical regime", "1", "linear / critical / condensed"),
    "theory_sign": (
        "sign of S_w predicted by the theory",
        "1",
        "-1 linear, 0 critical, +1 condensed",
    ),
    "boundary_distance": ("distance of (gamma, gamma') to the theoretical boundary", "1"),
    "boundary_gamma": ("empirical boundary: gamma at which S_w crosses 0", "1"),
    "showcase_angle0": (
        "neuron orientation (1-D) or projection on p (high-dim) at init",
        "rad or 1",
    ),
    "showcase_amp0": ("neuron amplitude |a_k| ||w_k|| at init", "1"),
    "showcase_angle": ("neuron orientation or projection after training", "rad or 1"),
    "showcase_amp": ("neuron amplitude after training", "1"),
    "showcase_rd_star": ("RD* of the showcase run", "1"),
    "showcase_converged": ("showcase run converged", "1", "boolean"),
    "showcase_fit": ("learned function on the grid [-1, 1]", "1"),
    "x_train": ("training inputs", "1"),
    "y_train": ("training targets", "1"),
}


def claims(ds: xr.Dataset) -> list:
    agree = phase.agreement(ds, margin=0.1)
    frac = agree["n_agree"] / max(agree["n_compared"], 1)
    out = [
        claim(
            ds,
            name="sign-agreement",
            figure="Fig 7.5",
            statement="sign(S_w) agrees with the theoretical regime (linear S_w < 0, condensed S_w > 0) "
            "at every grid point >= 0.1 from the boundary",
            book=1.0,
            measured=frac,
            held=agree["n_compared"] > 0 and frac == 1.0,
            detail=f"{agree['n_agree']} of {agree['n_compared']} points; disagree at {agree['disagree']}",
            if_not_held="runs that hit the step cap near the boundary (stiff dynamics at kappa' = m) bias the fit",
        )
    ]
    bg = ds["boundary_gamma"].values
    theory = regimes.boundary_curve(ds["gamma_prime"].values)
    inside = (theory > ds["gamma"].values.min()) & (theory < ds["gamma"].values.max())
    err = np.abs(bg - theory)[inside]
    worst = float(np.nanmax(err)) if np.isfinite(err).any() else float("nan")
    out.append(
        claim(
            ds,
            name="boundary",
            figure="Fig 7.5",
            statement="the empirical boundary (zero crossing of S_w) lies on the theoretical line "
            "gamma = 1 (gamma' <= 0), gamma = 1 + gamma' (gamma' > 0)",
            book=0.0,
            measured=worst,
            held=np.isfinite(err).all() and err.size > 0 and worst <= 0.1,
            min_preset="quick",
            detail="largest |empirical - theoretical gamma| over gamma' columns with the line inside the grid "
            f"({int(inside.sum())} of {inside.size} columns; empirical "
            + ", ".join(f"{b:.3g}" for b in bg)
            + " vs theory "
            + ", ".join(f"{t:.3g}" for t in theory)
            + ")",
            if_not_held="coarse gamma grid or widths spanning too few decades for the slope near S_w = 0",
        )
    )
    for g, gp, label in SHOWCASE:
        if g in ds["gamma"].values and gp in ds["gamma_prime"].values:
            s = float(ds["S_w"].sel(gamma=g, gamma_prime=gp))
            kind = regimes.regime(g, gp)
            book = {"linear": "< 0 (RD* ~ m^-1/2 for NTK)", "condensed": "> 0", "critical": "~ 0"}[
                str(kind)
            ]
            held = {"linear": s < 0, "condensed": s > 0, "critical": abs(s) < 0.1}[str(kind)]
            out.append(
                claim(
                    ds,
                    name=f"S_w-{kind}",
                    figure="Fig 7.4",
                    statement=f"RD* over width at the {label} point (gamma={g}, gamma'={gp}) has slope S_w {book}",
                    book=book,
                    measured=s,
                    held=held,
                    min_preset="tiny" if kind != "critical" else "quick",
                    if_not_held="widths too narrow for the asymptotic slope",
                )
            )
    if "showcase_amp" in ds:
        out.append(_condensation_claim(ds))
    return out


def _amplitude_share(angle, amp, high_dim: bool, bins: int = 36, top: int = 4) -> float:
    """Share of the total neuron amplitude in the ``top`` strongest of ``bins`` orientation bins."""
    edges = (
        np.linspace(angle.min() - 1e-9, angle.max() + 1e-9, bins + 1)
        if high_dim
        else np.linspace(-np.pi, np.pi, bins + 1)
    )
    hist, _ = np.histogram(angle, bins=edges, weights=amp)
    return float(np.sort(hist)[-top:].sum() / max(hist.sum(), 1e-30))


def _condensation_claim(ds: xr.Dataset):
    """Fig 7.3: after training, the condensed point's neurons sit at a few orientations, the
    linear point's stay spread as at init. Measured: the share of the total amplitude in the 4
    strongest of 36 orientation bins, [condensed, linear]."""
    high_dim = ds.sizes.get("input_dim", 1) > 1
    g = ds["showcase_gamma"].values
    share = [
        _amplitude_share(ds["showcase_angle"].values[i], ds["showcase_amp"].values[i], high_dim)
        for i in (int(np.argmax(g)), int(np.argmin(g)))
    ]
    return claim(
        ds,
        name="condensed-neurons",
        figure="Fig 7.3" if not high_dim else "Fig 7.6",
        statement="trained neurons' amplitude concentrates at a few orientations in the condensed "
        "regime and stays spread in the linear one (share of the amplitude in the 4 "
        "strongest of 36 bins: > 0.8 condensed, < 0.5 linear)",
        book="a few directions vs spread",
        measured=share,
        held=share[0] > 0.8 and share[1] < 0.5,
        min_preset="tiny" if not high_dim else "quick",
        if_not_held="training stopped before the neurons aligned (loss tolerance reached early); "
        "on high-dim data the projection on one direction p mixes distinct directions",
    )


def figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import phase as viz

    return viz.experiment_figures(ds, [(g, gp, lab) for g, gp, lab in SHOWCASE])


_PAPER = dict(
    gammas=tuple(float(g) for g in np.round(np.arange(0.0, 2.51, 0.125), 3)),
    gamma_primes=tuple(float(g) for g in np.round(np.arange(-1.0, 1.01, 0.25), 2)),
    widths=(1000, 5000, 10000, 20000, 40000),
    seeds=5,
    max_steps=100_000,
)

register(
    Experiment(
        "phase-diagram",
        area="phase",
        figure="Fig 7.3-7.5",
        title="phase diagram of initialization scale, two-layer ReLU net on the authors' 1-D points",
        config=PhaseDiagramConfig,
        presets={
            "tiny": dict(gammas=(0.5, 1.75), gamma_primes=(0.0,), widths=(100, 400), seeds=1),
            "quick": {},
            "paper": _PAPER,
        },
        run=run,
        claims=claims,
        figures=figures,
    )
)

register(
    Experiment(
        "phase-diagram-digits",
        area="phase",
        figure="Fig 7.6",
        title="phase diagram on high-dimensional data (scikit-learn digits standing in for MNIST)",
        config=PhaseDiagramConfig,
        presets={
            "tiny": dict(
                data="digits",
                n=50,
                gammas=(0.5, 1.75),
                gamma_primes=(0.0,),
                widths=(50, 200),
                seeds=1,
                max_steps=5_000,
                rel_tol=1e-2,
            ),
            "quick": dict(
                data="digits",
                gammas=(0.25, 0.75, 1.25, 1.75),
                gamma_primes=(-0.5, 0.0, 0.5),
                widths=(50, 200, 800),
                seeds=2,
                max_steps=20_000,
                rel_tol=1e-2,
            ),
            "paper": dict(
                data="digits",
                n=1000,
                gammas=(0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75),
                gamma_primes=(-0.5, 0.0, 0.5),
                widths=(100, 400, 1600, 6400),
                seeds=4,
                max_steps=100_000,
                rel_tol=1e-2,
            ),
        },
        run=run,
        claims=claims,
        figures=figures,
    )
)
