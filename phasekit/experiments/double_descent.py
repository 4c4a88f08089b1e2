"""Model-wise double descent (book ch. 14; Belkin et al. 2019; Nakkiran et al. 2020), spec 07.

    double-descent          random ReLU features phi(x) = relu(W x) on digits, min-norm least
                            squares a = Phi^+ Y (and ridge): test error against N / n peaks at the
                            interpolation threshold N = n; label noise raises the peak; ridge
                            removes it
    double-descent-width    two-layer ReLU nets trained by full-batch Adam on noisy digit labels
                            over a width sweep: test error against the parameter count P / (n C)

Recipe (random features): n training digits (one-hot targets minus 1/C; a fraction of the
labels corrupted by :func:`phasekit.data.noise.label_noise`), a held-out test set -> a sweep over
(N / n, noise, lambda, seed) through :func:`phasekit.dynamics.sweep.run` -> the closed forms of
:mod:`phasekit.theory.random_features` (N is traced: a feature mask over N_max = max(N / n) n
random features) -> claims -> figures of :mod:`phasekit.viz.phenomena_b`.

    phasekit run double-descent --preset quick
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr

from phasekit import data as datasets
from phasekit.data import noise as label_noise
from phasekit.dynamics import sweep, train
from phasekit.experiments.base import Config, Experiment, claim, describe, param, register
from phasekit.models import mlp
from phasekit.theory import random_features as rf

__all__ = ["RandomFeaturesConfig", "WidthConfig", "n_params"]

C = 10  # digit classes
PEAK_FACTOR = 1.5  # the claim: the peak sits within this factor of N = n
MONOTONE_TOL = 0.02  # a "monotone" curve never rises by more than 2 % between grid points


def _digit_split(n: int, n_test: int, seed: int):
    """n training and n_test test digits, disjoint, drawn by ``seed``; x in [0, 1]^64."""
    x, y = datasets.digits()
    if n + n_test > len(y):
        raise ValueError(f"n_test: n + n_test must be <= {len(y)} digits, got {n} + {n_test}")
    idx = np.random.default_rng(seed).permutation(len(y))
    tr, te = idx[:n], idx[n : n + n_test]
    return jnp.asarray(x[tr]), jnp.asarray(y[tr]), jnp.asarray(x[te]), jnp.asarray(y[te])


@dataclass(frozen=True)
class RandomFeaturesConfig(Config):
    """Random ReLU features phi(x) = relu(W x), W [N, 64] ~ N(0, 1/64), on n digits; targets
    one-hot minus 1/C; test MSE on n_test held-out digits (clean labels)."""

    n: int = param(100, ge=2, doc="training samples")
    n_test: int = param(500, ge=1, doc="test samples")
    ratios: tuple[float, ...] = param(
        (0.2, 0.5, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 4.0, 10.0),
        gt=0.0,
        doc="N / n: number of features over samples",
    )
    noise: tuple[float, ...] = param(
        (0.0, 0.2), ge=0.0, le=1.0, doc="fractions of corrupted training labels"
    )
    ridge: tuple[float, ...] = param(
        (0.0, 0.1), ge=0.0, doc="lambda of (1/n)|Phi a - Y|^2 + lambda |a|^2; 0: min-norm"
    )
    seeds: int = param(4, ge=1)
    data_seed: int = param(0, ge=0)
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        if len(set(self.ratios)) != len(self.ratios) or list(self.ratios) != sorted(self.ratios):
            raise ValueError(f"ratios: need increasing distinct values, got {self.ratios}")


def run(cfg: RandomFeaturesConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    x, y, xt, yt = _digit_split(cfg.n, cfg.n_test, cfg.data_seed)
    n_max = int(np.ceil(max(cfg.ratios) * cfg.n))
    t_test = label_noise.one_hot(yt, C, centred=True)

    def point(pt, key):
        k_w, k_noise = jax.random.split(key)
        w = jax.random.normal(k_w, (n_max, x.shape[1])) / np.sqrt(x.shape[1])
        noisy, _ = label_noise.label_noise(k_noise, y, pt["noise"], C)
        mask = rf.feature_mask(jnp.round(pt["ratio"] * cfg.n), n_max)
        phi, phi_t = rf.relu_features(x, w, mask), rf.relu_features(xt, w, mask)
        a = rf.fit(phi, label_noise.one_hot(noisy, C, centred=True), pt["ridge"])
        pred = jnp.argmax(phi_t @ a, -1)
        return {
            "test_error": rf.mse(phi_t, a, t_test),
            "train_error": rf.mse(phi, a, label_noise.one_hot(noisy, C, centred=True)),
            "test_misclassified": jnp.mean(pred != yt),
            "coef_norm": jnp.linalg.norm(a),
        }

    ds = sweep.run(
        point,
        {
            "ratio": np.asarray(cfg.ratios),
            "noise": np.asarray(cfg.noise),
            "ridge": np.asarray(cfg.ridge),
            "seed": np.arange(cfg.seeds),
        },
        static=("ridge",),
        store=store,
        shard=shard,
        key_axes=("ratio", "noise", "seed"),
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        batching=cfg.batching,
        progress=progress,
        desc="random-features double descent",
    )
    ds = ds.assign_coords(
        n_features=("ratio", np.round(np.asarray(cfg.ratios) * cfg.n).astype(int))
    )
    ds.attrs.update(n=cfg.n, n_test=cfg.n_test)
    return describe(ds, RF_VARIABLES)


RF_VARIABLES = {
    "test_error": ("test MSE (1/n_test) sum |phi(x) a - t|^2 on clean held-out digits", "1"),
    "train_error": ("training MSE on the (noisy) training targets", "1"),
    "test_misclassified": ("test classification error of argmax phi(x) a", "1"),
    "coef_norm": ("Frobenius norm |a| of the fitted coefficients", "1"),
}


def _curve(ds, noise, ridge):
    """Median over seeds of the test error against ratio, [ratios]."""
    return ds["test_error"].sel(noise=noise, ridge=ridge).median("seed").values


def rf_claims(ds: xr.Dataset) -> list:
    out = []
    ratios = ds["ratio"].values
    noises, ridges = ds["noise"].values, ds["ridge"].values
    if 0.0 in ridges:
        noisy = float(noises.max())
        curve = _curve(ds, noisy, 0.0)
        r_peak = float(ratios[np.nanargmax(curve)])
        out.append(
            claim(
                ds,
                name="rf-peak-at-interpolation",
                figure="ch. 14 double descent",
                book=1.0,
                statement=f"min-norm random features (label noise {noisy:g}): the test error against N / n "
                f"peaks within a factor {PEAK_FACTOR:g} of N = n (argmax of the median over seeds)",
                measured=r_peak,
                held=1 / PEAK_FACTOR <= r_peak <= PEAK_FACTOR,
                min_preset="quick",
                detail=f"peak test MSE {np.nanmax(curve):.3g} at N/n = {r_peak:g}; at N/n = {ratios[-1]:g}: "
                f"{curve[-1]:.3g}; n = {ds.attrs['n']}",
                if_not_held="the N / n grid misses the threshold, or too few seeds to locate the peak",
            )
        )
        if noises.size > 1 and 0.0 in noises:
            clean = _curve(ds, 0.0, 0.0)
            ratio = float(np.nanmax(curve) / np.nanmax(clean))
            out.append(
                claim(
                    ds,
                    name="rf-noise-raises-peak",
                    figure="ch. 14 double descent",
                    book="> 1",
                    statement=f"label noise {noisy:g} raises the interpolation peak: peak test error with noise "
                    f"over the peak without (> 1)",
                    measured=ratio,
                    held=ratio > 1,
                    min_preset="quick",
                    detail=f"peak without noise {np.nanmax(clean):.3g}, with {np.nanmax(curve):.3g}",
                    if_not_held="the corrupted fraction is too small to matter at this n",
                )
            )
    lam = float(ridges.max())
    if lam > 0:
        curves = [_curve(ds, nz, lam) for nz in noises]
        rises = [float(np.nanmax(np.diff(c) / c[:-1])) for c in curves]
        where = [float(ratios[1:][np.nanargmax(np.diff(c) / c[:-1])]) for c in curves]
        peaks = [
            float(np.nanmax(_curve(ds, nz, 0.0)) / np.nanmax(c)) if 0.0 in ridges else np.nan
            for nz, c in zip(noises, curves)
        ]
        out.append(
            claim(
                ds,
                name="rf-ridge-monotone",
                figure="ch. 14 double descent",
                book="monotone",
                statement=f"ridge lambda = {lam:g} removes the peak: the test error never rises by more than "
                f"{MONOTONE_TOL:.0%} from one N / n to the next (largest relative rise, over noise levels)",
                measured=max(rises),
                held=max(rises) <= MONOTONE_TOL,
                min_preset="quick",
                detail="largest relative rise (at N/n) per noise level "
                + ", ".join(f"{nz:g}: {r:.3g} ({w:g})" for nz, r, w in zip(noises, rises, where))
                + "; min-norm peak / ridge peak "
                + ", ".join(f"{nz:g}: {p:.3g}" for nz, p in zip(noises, peaks)),
                if_not_held="this lambda shrinks the peak but leaves a residual bump near N = n: the optimal "
                "ridge grows with the label noise (Nakkiran et al. 2021), so one lambda for all "
                "noise levels is below the optimum at the largest one; measured at quick: a 2 % "
                "bump at N/n = 1.1 (the min-norm peak shrunk 40x)",
                reproduces=False,
            )
        )
    return out


# ----------------------------------------------------------------------------- two-layer nets


@dataclass(frozen=True)
class WidthConfig(Config):
    """Two-layer ReLU nets f(x) = relu(x W1 + b1) W2 + b2 of width m on n digits
    with a fraction ``noise`` of corrupted labels, MSE on one-hot targets minus 1/C, full-batch
    Adam for ``steps`` steps; P = 64 m + m + 10 m + 10 parameters, P / (n C) = 1 the threshold.
    Every width is the LeCun-initialized net of width max(widths) with the hidden units past m
    masked out (their gradients are 0), so the width is a traced axis of one compiled program."""

    n: int = param(100, ge=2)
    n_test: int = param(500, ge=1)
    widths: tuple[int, ...] = param((2, 4, 8, 12, 16, 24, 48, 128), ge=1)
    noise: float = param(0.2, ge=0.0, le=1.0)
    steps: int = param(4000, ge=1)
    lr: float = param(3e-3, gt=0.0)
    n_records: int = param(12, ge=2)
    seeds: int = param(3, ge=1)
    data_seed: int = param(0, ge=0)
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap"))

    EXECUTION_FIELDS = ("batching",)


def n_params(width: int, d: int = 64) -> int:
    """Parameter count of the one-hidden-layer net ``d -> width -> C`` with biases:
    ``(d + 1) width + (width + 1) C`` (``C`` = 10 digit classes)."""
    return (d + 1) * width + (width + 1) * C


def width_run(cfg: WidthConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    x, y, xt, yt = _digit_split(cfg.n, cfg.n_test, cfg.data_seed)
    m_max = max(cfg.widths)
    t_test = label_noise.one_hot(yt, C, centred=True)
    rec = train.record_steps(cfg.steps, cfg.n_records)

    def point(pt, key):
        k_init, k_noise = jax.random.split(key)
        mask = (jnp.arange(m_max) < pt["width"]).astype(
            jnp.float32
        )  # width m of m_max: one program
        hide = lambda p: [
            {"w": p[0]["w"] * mask, "b": p[0]["b"] * mask},
            {"w": p[1]["w"] * mask[:, None], "b": p[1]["b"]},
        ]
        apply = lambda p, xx: mlp.apply(hide(p), xx)
        noisy, _ = label_noise.label_noise(k_noise, y, cfg.noise, C)
        t = label_noise.one_hot(noisy, C, centred=True)
        params = mlp.init(k_init, [x.shape[1], m_max, C])
        test = train.mse(apply)
        traj = train.run(
            train.mse(apply),
            params,
            (x, t),
            optax.adam(cfg.lr),
            steps=cfg.steps,
            record_at=rec,
            observe=lambda p: {"test_error": 2 * test(p, (xt, t_test))},
        )
        return {"train_error": 2 * traj.loss, "test_error": traj.observables["test_error"]}

    ds = sweep.run(
        point,
        {"width": np.asarray(cfg.widths), "seed": np.arange(cfg.seeds)},
        store=store,
        shard=shard,
        key_axes=("width", "seed"),
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        dims={"train_error": ("step",), "test_error": ("step",)},
        coords={"step": rec},
        batching=cfg.batching,
        progress=progress,
        desc="width double descent",
    )
    p = np.array([n_params(m) for m in cfg.widths])
    ds = ds.assign_coords(n_params=("width", p), params_per_target=("width", p / (cfg.n * C)))
    ds.attrs.update(n=cfg.n, noise=cfg.noise)
    return describe(ds, WIDTH_VARIABLES)


WIDTH_VARIABLES = {
    "train_error": ("training MSE (1/n) sum |f(x) - t|^2 on the noisy targets", "1"),
    "test_error": ("test MSE (1/n_test) sum |f(x) - t|^2 on clean held-out digits", "1"),
}


def width_claims(ds: xr.Dataset) -> list:
    final = ds["test_error"].isel(step=-1).median("seed").values
    ppt = ds["params_per_target"].values
    i_peak = int(np.nanargmax(final))
    return [
        claim(
            ds,
            name="width-peak-at-interpolation",
            figure="ch. 14 double descent",
            book=1.0,
            statement="two-layer nets, label noise: the final test error over the width sweep peaks near the "
            "interpolation threshold P = n C (within a factor 2 in P / (n C)), and the widest net "
            "is better than the peak",
            measured=float(ppt[i_peak]),
            held=0.5 <= ppt[i_peak] <= 2 and final[-1] < final[i_peak],
            min_preset="quick",
            detail=f"median final test MSE per width {dict(zip(ds['width'].values.tolist(), np.round(final, 3).tolist()))}",
            if_not_held="too few steps for the threshold-width nets to interpolate the noisy labels (the peak "
            "appears only near zero training error), or the grid misses the threshold",
        )
    ]


def figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import phenomena_b

    return phenomena_b.random_features_figures(ds)


def width_figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import phenomena_b

    return phenomena_b.width_figures(ds)


register(
    Experiment(
        "double-descent",
        area="phenomena",
        figure="ch. 14 double descent",
        title="random ReLU features on digits: min-norm / ridge test error vs N / n, with label noise",
        config=RandomFeaturesConfig,
        presets={
            "tiny": dict(n=40, n_test=200, ratios=(0.25, 0.5, 0.9, 1.0, 1.1, 1.5, 4.0), seeds=2),
            "quick": {},
            "paper": dict(
                n=400,
                n_test=1000,
                seeds=16,
                noise=(0.0, 0.1, 0.2),
                ridge=(0.0, 1e-3, 1e-2, 0.1),
                ratios=(
                    0.1,
                    0.25,
                    0.5,
                    0.75,
                    0.9,
                    0.95,
                    1.0,
                    1.05,
                    1.1,
                    1.25,
                    1.5,
                    2.0,
                    3.0,
                    5.0,
                    10.0,
                ),
            ),
        },
        run=run,
        claims=rf_claims,
        figures=figures,
    )
)

register(
    Experiment(
        "double-descent-width",
        area="phenomena",
        figure="ch. 14 double descent",
        title="two-layer ReLU nets on noisy digits: test error vs width (parameters per target)",
        config=WidthConfig,
        presets={
            "tiny": dict(n=40, n_test=100, widths=(2, 6, 24), steps=300, seeds=1, n_records=4),
            "quick": {},
            "paper": dict(
                n=400,
                n_test=1000,
                widths=(2, 4, 8, 12, 16, 24, 32, 48, 64, 128, 256, 512),
                steps=50000,
                seeds=8,
            ),
        },
        run=width_run,
        claims=width_claims,
        figures=width_figures,
    )
)
