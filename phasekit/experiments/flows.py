"""The central flow of GD at the edge of stability (spec 08 part B; Cohen et al., ICLR 2025).

    central-flow   full-batch GD vs its central flow vs gradient flow on a tanh MLP with MSE on
                   centred digits, at three learning rates in one vmapped program: loss curves (GD
                   smoothed over its oscillation vs the flow's predicted time-averaged loss
                   L + (1/2) <Sigma, H>), sharpness (the flow holds S = 2/eta), sigma^2 vs GD's
                   measured squared oscillation along u, the edge flow beside them, and HVPs per
                   record of warm- vs cold-started Lanczos. Which layers carry the curvature:
                   ``layer-curvature`` (:mod:`phasekit.experiments.curvature`).

Recipe: digits -> MLP (LeCun init, one init for every lr) -> :func:`phasekit.dynamics.sweep.run`
over lr (vmapped): :func:`phasekit.dynamics.train.run` (GD loss at every step),
:func:`phasekit.dynamics.stability.track_top_eigenpairs` warm and cold (sharpness and GD's iterates
at the records),
:func:`phasekit.dynamics.flows.central_flow` with GD's iterates as reference,
:func:`phasekit.dynamics.flows.gradient_flow`, :func:`phasekit.dynamics.flows.edge_flow` -> claims ->
:mod:`phasekit.viz.flows`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import xarray as xr

from phasekit.dynamics import flows as cflows
from phasekit.dynamics import stability, sweep, train
from phasekit.experiments.base import Config, Experiment, claim, describe, param, register
from phasekit.models import mlp

__all__ = ["CentralFlowConfig", "agreement", "onset_overshoot", "smoothed_at_records"]

LOSS_TOL = 0.10  # predicted time-averaged loss within 10% of GD's smoothed loss (issue 24)
EDGE_TOL = 0.05  # the flow's S within 5% of 2/eta
OSC_FACTOR = 2.0  # sigma^2 within this factor of GD's measured mean squared oscillation along u


@dataclass(frozen=True)
class CentralFlowConfig(Config):
    """A tanh MLP 64 -> width x hidden -> 10 (LeCun init) trained by full-batch GD on the MSE to
    one-hot labels of ``n_train`` centred digits, at each lr in ``lrs``; the central flow and gradient
    flow from the same init with ``substeps`` Euler steps per GD step; records every ``every`` steps."""

    n_train: int = param(256, ge=10, le=1797)
    width: int = param(128, ge=2)
    hidden: int = param(2, ge=1, doc="hidden layers")
    lrs: tuple[float, ...] = param((0.3, 0.4, 0.5), gt=0.0)
    steps: int = param(800, ge=2)
    every: int = param(10, ge=1, doc="record interval (divides steps)")
    substeps: int = param(4, ge=2, doc="Euler steps of the flows per GD step")
    k: int = param(1, ge=1, doc="eigenvalues the central flow tracks")
    relaxation: float = param(2.0, gt=0.0, doc="GD steps over which the flow pulls S back to 2/eta")
    tol: float = param(1e-3, gt=0.0, lt=1.0, doc="Lanczos relative residual")
    max_lanczos: int = param(30, ge=2)
    track_lanczos: int = param(90, ge=2, doc="Lanczos cap of the warm / cold trackers along GD")
    window: int = param(
        50, ge=1, doc="GD steps of the moving average of GD's loss (one oscillation period)"
    )
    seed: int = param(0, ge=0)
    batching: str = param("vmap", choices=("auto", "map", "vmap"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        if self.steps % self.every:
            raise ValueError(f"every: must divide steps={self.steps}, got {self.every}")
        if self.window >= self.steps:
            raise ValueError(f"window: must be below steps={self.steps}, got {self.window}")
        if self.relaxation < 1.0 / self.substeps:
            raise ValueError(
                f"relaxation: must be >= 1/substeps = {1 / self.substeps:g}, got {self.relaxation}"
            )
        if len(set(self.lrs)) != len(self.lrs):
            raise ValueError(f"lrs: duplicates in {self.lrs}")


def digits_centred(n):
    """``n`` digits (unit scale), inputs centred, with one-hot targets: ``(x [n, 64], y [n, 10])``."""
    from phasekit.data import tabular

    x, labels = tabular.digits(n, scale="unit")
    return jnp.asarray(x - x.mean(0)), jnp.asarray(np.eye(10, dtype=np.float32)[labels])


def run(cfg: CentralFlowConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    import optax

    data = digits_centred(cfg.n_train)
    sizes = [64] + [cfg.width] * cfg.hidden + [10]
    key = jax.random.key(cfg.seed)
    p0 = mlp.init(key, sizes, scheme="lecun")
    loss = train.mse(mlp.apply, activation="tanh")
    n_params = int(jax.flatten_util.ravel_pytree(p0)[0].size)
    rec = train.record_steps(cfg.steps, cfg.steps // cfg.every + 1, "linear")
    every_step = train.record_steps(cfg.steps, cfg.steps + 1, "linear")
    flow_kw = dict(
        record_at=rec,
        substeps=cfg.substeps,
        k=cfg.k,
        max_lanczos=cfg.max_lanczos,
        tol=cfg.tol,
        relaxation=cfg.relaxation,
        key=key,
    )

    def observe(p, pairs):  # GD's iterates at every record of the warm-started tracker
        return {"params": p}

    def point(pt, _):
        lr = pt["lr"]
        opt = optax.sgd(lr)
        gd_all = train.run(loss, p0, data, opt, steps=cfg.steps, record_at=every_step)
        # the tracker's cap is above the flow's so that cold starts, too, reach the residual tol (equal accuracy)
        track = dict(
            steps=cfg.steps,
            every=cfg.every,
            k=1,
            tol=cfg.tol,
            max_steps=min(n_params, cfg.track_lanczos),
            key=key,
            observe=observe,
        )
        both = jax.vmap(
            lambda w: stability.track_top_eigenpairs(loss, p0, data, opt, warm=w, **track)
        )(jnp.array([True, False]))  # warm and cold starts: one program
        warm, cold = (jax.tree_util.tree_map(lambda a: a[i], both) for i in (0, 1))
        gd = warm.observables
        cf = cflows.central_flow(
            loss, p0, data, lr, steps=cfg.steps, reference=gd["params"], **flow_kw
        )
        gf = cflows.gradient_flow(
            loss, p0, data, lr, steps=cfg.steps, reference=gd["params"], **flow_kw
        )
        ef = cflows.edge_flow(
            loss,
            p0,
            data,
            lr,
            steps=cfg.steps,
            record_at=rec,
            substeps=cfg.substeps,
            max_lanczos=cfg.max_lanczos,
            tol=cfg.tol,
            reference=gd["params"],
            key=key,
        )
        return {
            "gd_loss": gd_all.loss,
            "gd_record_loss": warm.loss,
            "gd_sharpness": warm.values[:, 0],
            "cf_loss": cf.loss,
            "cf_predicted_loss": cf.predicted_loss,
            "cf_sharpness": cf.sharpness[:, 0],
            "cf_sigma2": cf.sigma2[:, 0],
            "cf_oscillation2": cf.oscillation2[:, 0],
            "cf_distance": cf.distance,
            "cf_hvp": cf.num_hvp,
            "gf_loss": gf.loss,
            "gf_sharpness": gf.sharpness[:, 0],
            "gf_distance": gf.distance,
            "ef_loss": ef.loss,
            "ef_predicted_loss": ef.predicted_loss,
            "ef_sharpness": ef.sharpness[:, 0],
            "ef_rho2": ef.sigma2[:, 0],
            "ef_distance": ef.distance,
            "ef_hvp": ef.num_hvp,
            "warm_hvp": warm.num_hvp,
            "cold_hvp": cold.num_hvp,
            "warm_sharpness": warm.values[:, 0],
            "cold_sharpness": cold.values[:, 0],
            "warm_residual": warm.residuals[:, 0] / jnp.abs(warm.values[:, 0]),
            "cold_residual": cold.residuals[:, 0] / jnp.abs(cold.values[:, 0]),
            "diverged": gd_all.diverged,
        }

    step_dims = ("step",)
    dims: dict[str, tuple[str, ...]] = {
        name: step_dims
        for name in (
            "gd_record_loss",
            "gd_sharpness",
            "cf_loss",
            "cf_predicted_loss",
            "cf_sharpness",
            "cf_sigma2",
            "cf_oscillation2",
            "cf_distance",
            "cf_hvp",
            "gf_loss",
            "gf_sharpness",
            "gf_distance",
            "ef_loss",
            "ef_predicted_loss",
            "ef_sharpness",
            "ef_rho2",
            "ef_distance",
            "ef_hvp",
            "warm_hvp",
            "cold_hvp",
            "warm_sharpness",
            "cold_sharpness",
            "warm_residual",
            "cold_residual",
        )
    }
    dims.update(gd_loss=("t",))
    ds = sweep.run(
        point,
        {"lr": np.asarray(cfg.lrs, np.float32)},
        store=store,
        shard=shard,
        key_axes=(),
        config=cfg.to_dict(execution=False),
        dims=dims,
        coords={
            "step": rec,
            "t": every_step,
        },
        batching=cfg.batching,
        progress=progress,
        desc="central flow",
    )
    if not ds.attrs["complete"]:
        return describe(ds, VARIABLES)
    lrs = ds["lr"].values.astype(float)
    ds["threshold"] = ("lr", 2.0 / lrs)
    ds["gd_smoothed"] = (("lr", "step"), smoothed_at_records(ds["gd_loss"].values, rec, cfg.window))
    ds.attrs.update(
        sizes=sizes,
        window=cfg.window,
        substeps=cfg.substeps,
        loss="MSE 1/(2n) sum |f - y|^2, one-hot centred digits",
        precision="float32",
    )
    return describe(ds, VARIABLES)


def smoothed_at_records(loss_every_step, rec, window: int) -> np.ndarray:
    """GD's loss [L, steps + 1] averaged over ``window`` steps centred on each record step [R]
    (NaN where the window leaves the run): ``loss_every_step`` [..., steps + 1], ``rec`` [R]
    record steps; returns [..., R]."""
    sm = cflows.moving_average(
        loss_every_step, window
    )  # sm[..., i] = mean over steps i .. i + window - 1
    start = np.asarray(rec) - window // 2
    ok = (start >= 0) & (start < sm.shape[-1])
    out = np.full(np.shape(loss_every_step)[:-1] + (len(rec),), np.nan)
    out[..., ok] = sm[..., start[ok]]
    return out


VARIABLES = {
    "gd_loss": ("full-batch GD training loss at every step", "1"),
    "gd_record_loss": ("GD loss at the records", "1"),
    "gd_sharpness": ("GD's lambda_max at the records (warm-started Lanczos to residual tol)", "1"),
    "cf_loss": ("central flow's L(w(t))", "1"),
    "cf_predicted_loss": (
        "central flow's predicted time-averaged GD loss L + (1/2) <Sigma, H>",
        "1",
    ),
    "cf_sharpness": ("central flow's lambda_max", "1"),
    "cf_sigma2": ("central flow's sigma^2: predicted squared oscillation of GD along u", "1"),
    "cf_oscillation2": (
        "GD's measured squared oscillation (u^T (w_GD - w_CF))^2 at the records",
        "1",
    ),
    "cf_distance": ("|w_GD(t) - w_CF(t)|", "1"),
    "cf_hvp": (
        "central flow's Lanczos HVPs since the previous record (warm-started every substep)",
        "1",
    ),
    "gf_loss": ("gradient flow's L(w(t))", "1"),
    "gf_sharpness": ("gradient flow's lambda_max", "1"),
    "gf_distance": ("|w_GD(t) - w_GF(t)|", "1"),
    "ef_loss": ("edge flow's L at its center w(t)", "1"),
    "ef_predicted_loss": (
        "edge flow's predicted time-averaged loss (1/2)[L(w + rho u) + L(w - rho u)]",
        "1",
    ),
    "ef_sharpness": ("edge flow's S = u^T H(w) u", "1"),
    "ef_rho2": ("edge flow's rho^2: predicted squared oscillation of GD along u", "1"),
    "ef_distance": ("|w_GD(t) - w_EF(t)|", "1"),
    "ef_hvp": ("edge flow's Hessian-vector products since the previous record", "1"),
    "warm_hvp": ("HVPs per record of warm-started Lanczos along GD (relative residual tol)", "1"),
    "cold_hvp": ("HVPs per record of cold-started Lanczos along GD (same tol)", "1"),
    "warm_sharpness": ("lambda_max along GD from the warm-started tracker", "1"),
    "warm_residual": (
        "relative residual |H v - theta v| / theta of the warm tracker's top pair",
        "1",
    ),
    "cold_residual": ("relative residual of the cold tracker's top pair", "1"),
    "cold_sharpness": ("lambda_max along GD from the cold-started tracker", "1"),
    "diverged": ("GD diverged", "1", "boolean"),
    "threshold": ("2 / lr", "1"),
    "gd_smoothed": ("GD's loss averaged over `window` steps centred on each record", "1"),
}


def _onset(ds, i):
    """Index of the first record at which GD's sharpness reaches 2/lr (None if never)."""
    hit = np.nonzero(ds["gd_sharpness"].values[i] >= ds["threshold"].values[i])[0]
    return int(hit[0]) if hit.size else None


def _after_edge(ds, i):
    """Records from one smoothing window after GD reached the edge, where GD's smoothed loss exists."""
    j = _onset(ds, i)
    if j is None:
        return np.zeros(ds.sizes["step"], bool)
    step = ds["step"].values
    return (step >= step[j] + int(ds.attrs["window"])) & np.isfinite(ds["gd_smoothed"].values[i])


def agreement(ds) -> dict:
    """Per lr, over the records after the edge (:func:`_after_edge`): max |pred / GD smoothed - 1|,
    its median, max |S_CF / (2/lr) - 1|, |GF / GD smoothed - 1| and |pred / GD smoothed - 1| at the
    last such record, and mean GD oscillation^2 / mean sigma^2; for the edge flow the same loss
    gaps (``ef_*``), |mean S_EF / (2/lr) - 1| (it orbits the edge) and its distance to GD at the
    last record over the central flow's.

    ``ds``: the central-flow Dataset. Returns ``{"loss_max", "loss_median", "edge_max",
    "gf_end", "cf_end", "osc_ratio", "ef_loss_max", "ef_loss_median", "ef_edge_mean", "ef_end",
    "ef_cf_distance", "n"}``, each a list with one value per lr (NaN where no
    record follows the edge; ``n``: the records used).
    """
    keys = ("loss_max", "loss_median", "edge_max", "gf_end", "cf_end", "osc_ratio")
    ef_keys = ("ef_loss_max", "ef_loss_median", "ef_edge_mean", "ef_end", "ef_cf_distance")
    out: dict[str, list[float]] = {k: [] for k in keys + ef_keys + ("n",)}
    for i in range(ds.sizes["lr"]):
        m = _after_edge(ds, i)
        out["n"].append(int(m.sum()))
        if not m.any():
            for k in keys + ef_keys:
                out[k].append(float("nan"))
            continue
        gd = ds["gd_smoothed"].values[i][m]
        rel = np.abs(ds["cf_predicted_loss"].values[i][m] / gd - 1)
        out["loss_max"].append(float(rel.max()))
        out["loss_median"].append(float(np.median(rel)))
        out["edge_max"].append(
            float(np.max(np.abs(ds["cf_sharpness"].values[i][m] / ds["threshold"].values[i] - 1)))
        )
        out["gf_end"].append(float(abs(ds["gf_loss"].values[i][m][-1] / gd[-1] - 1)))
        out["cf_end"].append(float(rel[-1]))
        s2 = ds["cf_sigma2"].values[i][m].mean()
        out["osc_ratio"].append(
            float(ds["cf_oscillation2"].values[i][m].mean() / s2) if s2 > 0 else float("nan")
        )
        if "ef_predicted_loss" in ds:  # stores written before the edge flow was added lack it
            rel_ef = np.abs(ds["ef_predicted_loss"].values[i][m] / gd - 1)
            out["ef_loss_max"].append(float(rel_ef.max()))
            out["ef_loss_median"].append(float(np.median(rel_ef)))
            out["ef_edge_mean"].append(
                float(abs(ds["ef_sharpness"].values[i][m].mean() / ds["threshold"].values[i] - 1))
            )
            out["ef_end"].append(float(rel_ef[-1]))
            out["ef_cf_distance"].append(
                float(ds["ef_distance"].values[i][m][-1] / ds["cf_distance"].values[i][m][-1])
            )
        else:
            for k in ef_keys:
                out[k].append(float("nan"))
    return out


def claims(ds: xr.Dataset) -> list:
    lrs = [round(float(v), 6) for v in ds["lr"].values]
    a = agreement(ds)
    reached = [n > 0 for n in a["n"]]
    fig = "central flow (Cohen et al. 2025, Fig. 1-3)"
    detail = f"per lr {lrs}; records compared {a['n']}"
    warm, cold = ds["warm_hvp"].values[:, 1:], ds["cold_hvp"].values[:, 1:]
    sdiff = np.nanmax(np.abs(ds["warm_sharpness"].values / ds["cold_sharpness"].values - 1))
    tol = float(ds.attrs.get("config_tol", 1e-3))
    conv = float(
        np.mean(
            (ds["warm_residual"].values <= tol * 1.001)
            & (ds["cold_residual"].values <= tol * 1.001)
        )
    )
    return [
        claim(
            ds,
            name="predicted-loss-tracks-gd",
            figure=fig,
            book=f"<= {LOSS_TOL:g}",
            measured=a["loss_max"],
            statement=f"after GD reaches the edge (from one {ds.attrs['window']}-step window after its sharpness "
            f"first reaches 2/lr), the central flow's predicted time-averaged loss L + (1/2)<Sigma, H> "
            f"stays within {LOSS_TOL:.0%} of GD's loss averaged over that window, at every record",
            held=all(reached) and all(v <= LOSS_TOL for v in a["loss_max"]),
            min_preset="quick",
            detail=f"max relative gap {detail}; median gaps {[round(v, 4) for v in a['loss_median']]}; "
            "measured at quick (k = 1): max 0.222, 0.229, 0.210, median 0.091, 0.078, 0.041",
            reproduces=False,
            if_not_held="the gap is a record-to-record scatter of +-10-20% around a median of 4-9% (a third "
            "of the records past 10%, of both signs); the largest gaps sit on GD's catapult bursts (lr 0.3: "
            "step 460, whose window takes in the burst at 470-500), which last longer than the 50-step "
            "window. Tracking two eigenvalues narrows it at the largest lr only: k = 2 at quick gives max 0.226, 0.220, 0.160 "
            "and medians 0.092, 0.069, 0.035",
        ),
        claim(
            ds,
            name="flow-holds-the-edge",
            figure=fig,
            book=f"<= {EDGE_TOL:g}",
            measured=a["edge_max"],
            statement=f"after the edge the central flow's sharpness stays within {EDGE_TOL:.0%} of 2/lr",
            held=all(reached) and all(v <= EDGE_TOL for v in a["edge_max"]),
            min_preset="quick",
            detail=f"max |S_CF / (2/lr) - 1| {detail}",
            if_not_held="a second eigenvalue crossed 2/lr untracked (raise k) or the Euler step is too coarse",
        ),
        claim(
            ds,
            name="gradient-flow-departs",
            figure=fig,
            book=f"> {LOSS_TOL:g}",
            measured=a["gf_end"],
            statement=f"gradient flow's loss departs from GD's: at the last compared record |L_GF / GD smoothed - 1| "
            f"> {LOSS_TOL:.0%} and exceeds the central flow's gap",
            held=all(reached)
            and all(g > LOSS_TOL and g > c for g, c in zip(a["gf_end"], a["cf_end"])),
            min_preset="quick",
            detail=f"gradient flow's gap {detail}; central flow's {[round(v, 4) for v in a['cf_end']]}",
            if_not_held="too short a run past the edge for gradient flow to drift away",
        ),
        claim(
            ds,
            name="sigma2-is-gds-oscillation",
            figure=fig,
            book=1.0,
            measured=a["osc_ratio"],
            statement=f"sigma^2 predicts GD's squared oscillation along u: the mean of (u^T (w_GD - w_CF))^2 over the "
            f"records after the edge is within a factor {OSC_FACTOR:g} of the mean sigma^2",
            held=all(reached) and all(1 / OSC_FACTOR <= r <= OSC_FACTOR for r in a["osc_ratio"]),
            min_preset="quick",
            detail=f"ratio measured / predicted {detail}; measured at quick (k = 1): 0.74, 0.54, 0.18",
            reproduces=False,
            if_not_held="with near-degenerate top eigenvalues GD's oscillation spreads over several directions "
            "while sigma^2 is assigned to the flow's single tracked u (k = 1), so GD's squared "
            "displacement along that u falls below sigma^2, most at the largest lr; k = 2 at quick "
            "raises the ratio to 0.80, 0.64, 0.30, still short at lr 0.5",
        ),
        *_edge_flow_claims(ds, a, detail),
        claim(
            ds,
            name="warm-starts-save-hvps",
            figure="spec 08 B: warm-started tracking",
            book="< 1",
            measured=float(warm.sum() / cold.sum()),
            statement=f"tracking lambda_max along GD, Lanczos started from the previous record's eigenvector needs "
            f"fewer HVPs per record than a random start at the same residual tolerance {tol:g}, and the "
            f"two agree to {10 * tol:g} (relative)",
            held=bool(warm.sum() < cold.sum() and sdiff <= 10 * tol and conv == 1.0),
            detail=f"mean HVPs per record warm {warm.mean():.3g}, cold {cold.mean():.3g}; max relative difference "
            f"of lambda_max {sdiff:.2g}; fraction of records where both reached tol {conv:.3g}",
            if_not_held="records too far apart for the eigenvector to carry over, or the Lanczos cap stopped a "
            "start before the tolerance",
        ),
    ]


def _edge_flow_claims(ds, a, detail) -> list:
    """The edge flow's claims (:func:`phasekit.dynamics.flows.edge_flow`), on the central flow's
    yardsticks; none for stores written before it was added."""
    if "ef_predicted_loss" not in ds:
        return []
    reached = [n > 0 for n in a["n"]]
    over = onset_overshoot(ds)
    fig = "Edge Flow (Marion 2026), three-ODE model derived in dynamics.flows.edge_flow"
    return [
        claim(
            ds,
            name="edge-flow-predicted-loss-tracks-gd",
            figure=fig,
            book=f"<= {LOSS_TOL:g}",
            measured=a["ef_loss_max"],
            statement=f"after GD reaches the edge, the edge flow's predicted time-averaged loss "
            f"(1/2)[L(w + rho u) + L(w - rho u)] stays within {LOSS_TOL:.0%} of GD's smoothed loss at every "
            "record (the central flow's yardstick)",
            held=all(reached) and all(v <= LOSS_TOL for v in a["ef_loss_max"]),
            min_preset="quick",
            detail=f"max relative gap {detail}; median gaps "
            f"{[round(v, 4) for v in a['ef_loss_median']]}; at the last record "
            f"{[round(v, 4) for v in a['ef_end']]}",
            reproduces=False,
            if_not_held="measured at quick: max 1.22, 0.60, 0.97, median 0.11, 0.058, 0.061. The maxima are the "
            "edge flow's loss spikes while its (S, rho) pair orbits the edge after the onset: they mirror GD's "
            "catapult spikes (see the figure) but land at other steps, so single records sit far from GD's "
            "window average; it also follows one direction u, like the central flow at k = 1, while several "
            "eigenvalues sit near 2/lr",
        ),
        claim(
            ds,
            name="edge-flow-orbits-the-edge",
            figure=fig,
            book=f"<= {EDGE_TOL:g}",
            measured=a["ef_edge_mean"],
            statement=f"after the edge the edge flow's sharpness averages to 2/lr: |mean S_EF / (2/lr) - 1| "
            f"<= {EDGE_TOL:.0%} (it oscillates about the edge as GD's sharpness does)",
            held=all(reached) and all(v <= EDGE_TOL for v in a["ef_edge_mean"]),
            min_preset="quick",
            detail=f"{detail}; distance to GD at the last record, edge flow / central flow "
            f"{[round(v, 3) for v in a['ef_cf_distance']]}",
            if_not_held="rho was still growing from its floor (a late onset) or u had not aligned with the "
            "top eigenvector when the run ended",
        ),
        claim(
            ds,
            name="edge-flow-resolves-the-onset",
            figure=fig,
            book=f"EF / GD in [{1 / OSC_FACTOR:g}, {OSC_FACTOR:g}], CF / GD < {ONSET_CF:g}",
            measured=[round(v, 4) for v in over["ef_gd"]] or [float("nan")],
            statement=f"at the onset of the edge (the {ONSET_STEPS} steps after GD's sharpness first reaches 2/lr, "
            "at the lrs where it rises to the edge from below), the edge flow resolves GD's overshoot of the "
            f"sharpness: its peak S / (2/lr) - 1 is within a factor {OSC_FACTOR:g} of GD's, while the central "
            f"flow's is below {ONSET_CF:g} of GD's (it sits on the edge)",
            held=bool(over["ef_gd"])
            and all(1 / OSC_FACTOR <= r <= OSC_FACTOR for r in over["ef_gd"])
            and all(r < ONSET_CF for r in over["cf_gd"]),
            min_preset="quick",
            detail=f"lrs rising to the edge {over['lrs']}; peak overshoot GD {over['gd']}, edge flow "
            f"{over['ef']}, central flow {over['cf']}",
            if_not_held="no lr rises to the edge from below (the init is already past 2/lr), or rho grew from "
            "its floor too slowly to catch the overshoot",
        ),
    ]


ONSET_STEPS = 200  # steps after GD's onset over which the overshoot of S is compared
ONSET_CF = 0.1  # the central flow's overshoot stays below this fraction of GD's


def onset_overshoot(ds) -> dict:
    """Peak S / (2/lr) - 1 over the ``ONSET_STEPS`` steps from GD's onset, of GD, the edge flow
    and the central flow, at the lrs whose sharpness rises to 2/lr from below (onset after the
    first record); ``ef_gd`` and ``cf_gd`` are the flows' overshoots over GD's."""
    out: dict[str, list] = {k: [] for k in ("lrs", "gd", "ef", "cf", "ef_gd", "cf_gd")}
    step = ds["step"].values
    for i in range(ds.sizes["lr"]):
        j = _onset(ds, i)
        if not j:  # never, or already at the first record
            continue
        seg = (step >= step[j]) & (step <= step[j] + ONSET_STEPS)
        thr = ds["threshold"].values[i]
        peak = {
            k: float(np.max(ds[f"{k}_sharpness"].values[i][seg]) / thr - 1)
            for k in ("gd", "ef", "cf")
        }
        out["lrs"].append(round(float(ds["lr"].values[i]), 6))
        for k, v in peak.items():
            out[k].append(round(v, 4))
        out["ef_gd"].append(peak["ef"] / peak["gd"] if peak["gd"] > 0 else float("nan"))
        out["cf_gd"].append(peak["cf"] / peak["gd"] if peak["gd"] > 0 else float("nan"))
    return out


def figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import flows as viz

    return viz.central_flow_figures(ds)


register(
    Experiment(
        "central-flow",
        area="landscape",
        figure="central flow (Cohen et al. 2025, Fig. 1-3)",
        title="GD vs its central flow vs gradient flow at the edge of stability (digits, tanh MLP, 3 lrs vmapped)",
        config=CentralFlowConfig,
        presets={
            "tiny": dict(
                n_train=64,
                width=16,
                hidden=1,
                steps=40,
                every=10,
                window=10,
                max_lanczos=10,
                track_lanczos=10,
            ),
            "quick": {},
            "paper": dict(n_train=1000, width=256, steps=3000, k=2),
        },
        run=run,
        claims=claims,
        figures=figures,
    )
)
