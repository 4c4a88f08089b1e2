"""Dropout (book ch. 8.4 and 11.4, spec 02): fitted outputs and condensation, sample size, flatness.

    dropout-outputs        Fig 8.12: wide ReLU net at NTK-scale init on 8 points of sin(3x),
                           Adam with and without dropout on the hidden layer: the fits and
                           the neurons' orientations (condensation).
    dropout-outputs-tanh   Fig 8.13: the same with tanh on 12 points of the teacher
                           tanh(x - 6) + tanh(x + 6).
    dropout-sample-size    Fig 8.16: test error of a width-1000 tanh student of that teacher
                           against the number of samples n, for several keep probabilities p.
    dropout-flatness       ch. 11.4: digits MLP minima with and without dropout, each stopped at
                           one clean training loss: lambda_max, tr H, 1-D slices, flatness F;
                           control: GD on the mask average R_S + R_1 (no mask noise).

Recipe of each: config -> data -> sweep over (p, seed[, n][, training]) through
:func:`phasekit.dynamics.sweep.run` (resumable) -> measures of :mod:`phasekit.dynamics.dropout`
-> claims -> figures of :mod:`phasekit.viz.dropout`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr
from jax.flatten_util import ravel_pytree

from phasekit.data import tabular
from phasekit.dynamics import condensation as cond
from phasekit.dynamics import dropout, stability, sweep, train
from phasekit.experiments.base import Config, Experiment, claim, describe, param, register
from phasekit.models import mlp
from phasekit.models import two_layer as tl
from phasekit.theory import hessian, landscape

__all__ = ["FlatnessConfig", "OutputsConfig", "SampleSizeConfig", "flatness_data"]

INITS = ("ntk", "lecun", "he", "xavier", "mean_field")
TARGETS = {"sin3x": lambda x: jnp.sin(3.0 * x), "teacher": dropout.teacher}


def _check_ps(ps):
    if 1.0 not in ps or min(ps) >= 1.0:
        raise ValueError(f"ps: need p = 1 (no dropout) and at least one p < 1, got {ps}")


def _store(store, name):
    return None if store is None else f"{store}/{name}"


# ----------------------------------------------------------------------------- outputs (Fig 8.12 / 8.13)


@dataclass(frozen=True)
class OutputsConfig(Config):
    """Two-layer net on a few 1-D points trained by Adam on the dropout loss (dropout of keep
    probability p on the hidden layer, a fresh mask every step; p = 1: no dropout). Every p of a
    seed starts from the same init."""

    activation: str = param("relu", choices=("relu", "tanh"))
    target: str = param(
        "sin3x", choices=tuple(TARGETS), doc="sin3x: sin(3x); teacher: tanh(x-6)+tanh(x+6)"
    )
    n_points: int = param(8, ge=2, doc="training points, uniform on [-x_max, x_max]")
    x_max: float = param(1.0, gt=0.0)
    width: int = param(1000, ge=2)
    init: str = param(
        "ntk", choices=INITS, doc="init preset of book Table 7.1 (ntk: large init, linear regime)"
    )
    ps: tuple[float, ...] = param(
        (1.0, 0.9, 0.5), gt=0.0, le=1.0, doc="keep probabilities (must include 1)"
    )
    seeds: int = param(2, ge=1)
    lr: float = param(1e-3, gt=0.0, doc="Adam learning rate")
    steps: int = param(10_000, ge=1)
    n_records: int = param(30, ge=2)
    n_grid: int = param(
        400, ge=10, doc="grid points on [-1.2 x_max, 1.2 x_max] where the fit is kept"
    )
    n_show: int = param(100, ge=2, doc="largest-amplitude neurons kept for the cosine maps")
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap", "continuous"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        _check_ps(self.ps)
        if self.n_show > self.width:
            raise ValueError(f"n_show: at most width = {self.width}, got {self.n_show}")


def run_outputs(cfg: OutputsConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    """Fits, neurons and losses over (p, seed); see :data:`OUTPUT_VARIABLES`."""
    x = jnp.linspace(-cfg.x_max, cfg.x_max, cfg.n_points)[:, None]
    y = TARGETS[cfg.target](x[:, 0])
    grid = jnp.linspace(-1.2 * cfg.x_max, 1.2 * cfg.x_max, cfg.n_grid)[:, None]
    alpha, beta1, beta2 = tl.preset(cfg.init, cfg.width, 1)
    act = cfg.activation
    clean = train.mse(tl.apply, activation=act, alpha=alpha)

    def point(pt, key):
        k_init, k_mask = jax.random.split(key)
        params0 = tl.rescale(tl.init(k_init, cfg.width, 1), beta1, beta2)
        loss = dropout.mse(dropout.two_layer_apply, pt["p"], activation=act, alpha=alpha)
        traj = train.run(
            loss,
            params0,
            (x, y),
            train.optimizer("adam", cfg.lr),
            steps=cfg.steps,
            n_records=cfg.n_records,
            key=k_mask,
            loss_takes_key=True,
            observe=lambda q: {"clean_loss": clean(q, (x, y))},
        )
        q = traj.params
        omega, amp = cond.orientation_amplitude(q["a"], q["w"], q["b"])
        omega0, amp0 = cond.orientation_amplitude(params0["a"], params0["w"], params0["b"])
        shown = jnp.argsort(-amp)[: cfg.n_show]
        shown = shown[jnp.argsort(omega[shown])]  # display order: by orientation
        fit = tl.apply(q, grid, act, alpha)
        return {
            "fit": fit,
            "fit0": tl.apply(params0, grid, act, alpha),
            "omega": omega,
            "amplitude": amp,
            "omega0": omega0,
            "amplitude0": amp0,
            "cosine": cond.cosine_similarity_matrix(tl.input_weights(q)[shown]),
            "dropout_loss": traj.loss,
            "clean_loss": traj.observables["clean_loss"],
            "concentration": dropout.orientation_concentration(omega, amp),
            "concentration0": dropout.orientation_concentration(omega0, amp0),
            "excess_variation": dropout.excess_variation(fit, grid, x, y),
        }

    steps = train.record_steps(cfg.steps, cfg.n_records)
    ds = sweep.run(
        point,
        {"p": np.asarray(cfg.ps), "seed": np.arange(cfg.seeds)},
        store=store,
        shard=shard,
        key_axes=("seed",),
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        dims={
            "fit": ("grid",),
            "fit0": ("grid",),
            "omega": ("neuron",),
            "amplitude": ("neuron",),
            "omega0": ("neuron",),
            "amplitude0": ("neuron",),
            "cosine": ("shown", "shown_other"),
            "dropout_loss": ("record",),
            "clean_loss": ("record",),
        },
        coords={"grid": np.asarray(grid[:, 0]), "record": np.arange(len(steps))},
        batching=cfg.batching,
        progress=progress,
        desc=f"dropout outputs ({act})",
    )
    if not ds.attrs["complete"]:
        return describe(ds, OUTPUT_VARIABLES)  # one shard; the complete run adds the rest
    ds = ds.assign_coords(step=("record", steps))
    ds["x_train"] = ("sample", np.asarray(x[:, 0]))
    ds["y_train"] = ("sample", np.asarray(y))
    ds.attrs.update(activation=act, width=cfg.width, init=cfg.init, alpha=float(alpha))
    return describe(ds, OUTPUT_VARIABLES)


OUTPUT_VARIABLES = {
    "fit": ("network output on the grid after training (no dropout at evaluation)", "1"),
    "fit0": ("network output on the grid at initialization", "1"),
    "omega": ("neuron orientation Omega_k = atan2(b_k, w_k) after training", "rad"),
    "amplitude": ("neuron amplitude A_k = |a_k| ||(w_k, b_k)|| after training", "1"),
    "omega0": ("neuron orientation at initialization", "rad"),
    "amplitude0": ("neuron amplitude at initialization", "1"),
    "cosine": (
        "cosine similarity of the input weights (w_k, b_k) of the largest-amplitude neurons, "
        "sorted by orientation",
        "1",
    ),
    "dropout_loss": ("training loss with a dropout mask at the record steps", "1"),
    "clean_loss": ("training loss R_S without dropout at the record steps", "1"),
    "concentration": (
        "share of the total amplitude in the 4 strongest of 36 orientation bins",
        "1",
    ),
    "concentration0": ("orientation concentration at initialization", "1"),
    "excess_variation": (
        "TV(fit on the data range) / TV(data) - 1: oscillation between the data points",
        "1",
    ),
    "x_train": ("training inputs", "1"),
    "y_train": ("training targets", "1"),
}


def _by_p(ds, var):
    """(values at p = 1, values at the smallest p) over seeds."""
    return ds[var].sel(p=1.0).values, ds[var].sel(p=float(ds["p"].min())).values


# smallest preset at which each claim is expected to hold, by activation: the ReLU neurons
# condense within the tiny budget, the tanh fit loses its wiggles within it
_OUTPUT_MIN_PRESET = {
    "relu": {"condensation": "tiny", "no-oscillation": "quick"},
    "tanh": {"condensation": "quick", "no-oscillation": "tiny"},
}
OSCILLATES = 0.2  # excess variation above which a fit counts as oscillating


def outputs_claims(ds: xr.Dataset) -> list:
    act = str(ds.attrs.get("activation", "relu"))
    fig = "Fig 8.12" if act == "relu" else "Fig 8.13"
    p_min = float(ds["p"].min())
    c1, c_drop = _by_p(ds, "concentration")
    v1, v_drop = (float(np.mean(v)) for v in _by_p(ds, "excess_variation"))
    return [
        claim(
            ds,
            name="condensation",
            figure=fig,
            book="condensed input weights with dropout",
            statement=f"with dropout (p = {p_min:g}) the neurons condense: the share of the total amplitude "
            "in the 4 strongest of 36 orientation bins is larger than without dropout, for every seed",
            measured=[float(np.mean(c1)), float(np.mean(c_drop))],
            held=bool(np.all(c_drop > c1)),
            min_preset=_OUTPUT_MIN_PRESET[act]["condensation"],
            detail=f"mean over seeds at p = 1 and p = {p_min:g}; at init "
            f"{float(ds['concentration0'].mean()):.3g}",
            if_not_held="too few training steps for the dropout noise to align the neurons "
            "(the book trains 100k steps)",
        ),
        claim(
            ds,
            name="no-oscillation",
            figure=fig,
            book="oscillating fit without dropout, smooth / few kinks with dropout",
            statement=f"the {act} fit oscillates between the data points without dropout and not with it: "
            f"the excess variation V = TV(fit)/TV(data) - 1 exceeds {OSCILLATES} at p = 1 and "
            f"at p = {p_min:g} is at most half of that (mean over seeds)",
            measured=[v1, v_drop],
            held=v1 > OSCILLATES and v_drop <= 0.5 * v1,
            min_preset=_OUTPUT_MIN_PRESET[act]["no-oscillation"],
            reproduces=act != "relu",
            detail=f"V at p = 1 and at p = {p_min:g}",
            if_not_held=f"the no-dropout interpolant does not oscillate here (V = {v1:.2g} at p = 1): the NTK-regime "
            "fit of these points is already smooth, so there is nothing for dropout to remove"
            if v1 <= OSCILLATES
            else "too few steps for dropout to smooth the fit",
        ),
    ]


def outputs_figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import dropout as viz

    return viz.outputs_figures(ds)


# ----------------------------------------------------------------------------- sample size (Fig 8.16)


@dataclass(frozen=True)
class SampleSizeConfig(Config):
    """Teacher tanh(x - 6) + tanh(x + 6) (6 free parameters), n samples uniform on
    [-x_max, x_max], a wide tanh student at large init trained by Adam on the dropout loss;
    test MSE on a uniform grid of the same interval. Every p of an (n, seed) shares data and init."""

    ns: tuple[int, ...] = param((2, 4, 6, 8, 12, 20, 40), ge=1, doc="sample sizes")
    ps: tuple[float, ...] = param(
        (1.0, 0.9, 0.5), gt=0.0, le=1.0, doc="keep probabilities (must include 1)"
    )
    seeds: int = param(4, ge=1)
    width: int = param(1000, ge=2)
    init: str = param("ntk", choices=INITS)
    output_scale: float = param(
        1.0,
        gt=0.0,
        doc="factor on the output weights a_k at init, so the initial function f_0 scales by it "
        "(with init ntk, sqrt(width) drops the output's 1/sqrt(m): f_0 ~ O(sqrt(m)), a larger init)",
    )
    lr: float = param(1e-3, gt=0.0, doc="Adam learning rate")
    steps: int = param(5_000, ge=1)
    x_max: float = param(10.0, gt=0.0)
    n_test: int = param(500, ge=2)
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap", "continuous"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        _check_ps(self.ps)


def run_sample_size(
    cfg: SampleSizeConfig, store=None, shard=None, progress: bool = True
) -> xr.Dataset:
    alpha, beta1, beta2 = tl.preset(cfg.init, cfg.width, 1)
    x_test = jnp.linspace(-cfg.x_max, cfg.x_max, cfg.n_test)[:, None]
    y_test = dropout.teacher(x_test[:, 0])
    clean = train.mse(tl.apply, activation="tanh", alpha=alpha)

    def point(pt, key):
        kx, kp, kd = jax.random.split(key, 3)
        x = jax.random.uniform(kx, (pt["n"], 1), minval=-cfg.x_max, maxval=cfg.x_max)
        y = dropout.teacher(x[:, 0])
        params = tl.rescale(tl.init(kp, cfg.width, 1), beta1 * cfg.output_scale, beta2)
        loss = dropout.mse(dropout.two_layer_apply, pt["p"], activation="tanh", alpha=alpha)
        q = train.run(
            loss,
            params,
            (x, y),
            train.optimizer("adam", cfg.lr),
            steps=cfg.steps,
            n_records=2,
            key=kd,
            loss_takes_key=True,
        ).params
        return {
            "test_error": jnp.mean((tl.apply(q, x_test, "tanh", alpha) - y_test) ** 2),
            "train_loss": clean(q, (x, y)),
        }

    ds = sweep.run(
        point,
        {"n": np.asarray(cfg.ns), "p": np.asarray(cfg.ps), "seed": np.arange(cfg.seeds)},
        static=("n",),
        key_axes=("n", "seed"),
        store=store,
        shard=shard,
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        batching=cfg.batching,
        progress=progress,
        desc="dropout sample size",
    )
    if not ds.attrs["complete"]:
        return describe(ds, SAMPLE_SIZE_VARIABLES)  # one shard; the complete run adds the rest
    ds["test_error_median"] = ds["test_error"].median("seed")
    ds.attrs.update(
        teacher="tanh(x-6)+tanh(x+6)",
        teacher_parameters=dropout.TEACHER_PARAMETERS,
        width=cfg.width,
        init=cfg.init,
    )
    return describe(ds, SAMPLE_SIZE_VARIABLES)


SAMPLE_SIZE_VARIABLES = {
    "test_error": ("test MSE against the teacher on a uniform grid of [-x_max, x_max]", "1"),
    "train_loss": ("training loss R_S without dropout at the end", "1"),
    "test_error_median": ("median test MSE over seeds", "1"),
}


POOR = 0.1  # test MSE / mean square of the teacher above which a fit counts as poor


def _teacher_mean_square(ds: xr.Dataset) -> float:
    """Mean of teacher(x)^2 on the test grid of the run (from its config attrs)."""
    x_max = float(ds.attrs.get("config_x_max", 10.0))
    n_test = int(ds.attrs.get("config_n_test", 500))
    return float(np.mean(np.asarray(dropout.teacher(np.linspace(-x_max, x_max, n_test))) ** 2))


def sample_size_claims(ds: xr.Dataset) -> list:
    n_par = int(ds.attrs.get("teacher_parameters", dropout.TEACHER_PARAMETERS))
    med = ds["test_error_median"]
    big = ds["n"].values[ds["n"].values > n_par]
    drop_ps = [float(p) for p in ds["p"].values if p < 1.0]
    y2 = _teacher_mean_square(ds)
    if big.size == 0:
        ratios, plain, best = np.array([np.nan]), np.nan, np.nan
        rel_plain = np.array([np.nan])
    else:
        best_p = med.sel(n=big, p=drop_ps).min("p")
        ratios = (best_p / med.sel(n=big, p=1.0)).values
        plain, best = float(med.sel(n=big[-1], p=1.0)), float(best_p.isel(n=-1))
        rel_plain = med.sel(n=big, p=1.0).values / y2
    return [
        claim(
            ds,
            name="recovery",
            figure="Fig 8.16",
            book=f"recovery from n > {n_par}; no dropout stays poor",
            statement=f"for every n > {n_par} (the teacher's parameters) dropout (best p < 1) at least halves the "
            "median test error of no dropout",
            measured=float(np.nanmax(ratios)),
            held=bool(np.all(ratios <= 0.5)),
            min_preset="quick",
            reproduces=False,  # measured not to hold at quick (closing notes of issues 7 and 11)
            detail=f"largest ratio median(best p < 1) / median(p = 1) over n in {big.tolist()}; "
            f"ratios {np.round(ratios.astype(float), 3).tolist()}",
            if_not_held=f"no dropout does not stay poor here: at n = {big[-1] if big.size else '-'} its median "
            f"test MSE is {plain:.2g} (dropout's best {best:.2g}; R_1 biases the dropout fit). The "
            "NTK-init tanh student with Adam interpolates this smooth teacher well; the book's "
            "lr 1e-4, 100k steps, 10 seeds are the paper preset",
        ),
        claim(
            ds,
            name="no-dropout-poor",
            figure="Fig 8.16",
            book="no dropout stays poor",
            statement=f"without dropout (p = 1) the test error stays poor for every n > {n_par}: "
            f"median test MSE above {POOR:g} of the teacher's mean square E[y^2] at every such n "
            "(smallest ratio over n)",
            measured=float(np.nanmin(rel_plain)),
            held=bool(np.all(rel_plain > POOR)),
            min_preset="quick",
            reproduces=False,  # measured far below at quick (the NTK-regime interpolant is good)
            detail=f"median test MSE / E[y^2] (E[y^2] = {y2:.3g}) at p = 1 over n in {big.tolist()}: "
            f"{np.round(rel_plain.astype(float), 4).tolist()}; 'poor' = {POOR:g} is this project's "
            "cut (the book gives no number), set after seeing the quick numbers; the quick value is "
            "far below it, so the verdict does not hang on the cut",
            if_not_held="the no-dropout student is in the linear (NTK) regime: it converges to the "
            "kernel interpolant of the data, which is already accurate for this smooth teacher at a "
            "few tens of points, so there is no poor baseline for dropout to beat; a larger init "
            "(output_scale) makes p = 1 poor at small n but dropout does not fit within the budget",
        ),
    ]


def sample_size_figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import dropout as viz

    return viz.sample_size_figures(ds)


# ----------------------------------------------------------------------------- flatness (ch. 11.4)

TRAININGS = ("dropout", "explicit R_1")


@dataclass(frozen=True)
class FlatnessConfig(Config):
    """Digits (one-hot MSE), ReLU MLP [64, width, 10] with He init; full-batch GD from the same
    init for every p, each run stopped when its *clean* training loss first reaches
    ``target_loss`` (so all minima sit at one loss level). Two trainings per p: dropout (a fresh
    mask every step) and the control GD on R_S + R_1 (dropout's explicit regularizer, no noise).
    lr must keep 2 / lr above every solution's sharpness (the edge of stability would cap it)."""

    n_train: int | None = param(500, ge=10, doc="training samples (None: the whole 80% split)")
    width: int = param(128, ge=2)
    ps: tuple[float, ...] = param(
        (1.0, 0.9, 0.7), gt=0.0, le=1.0, doc="keep probabilities (must include 1)"
    )
    seeds: int = param(4, ge=1)
    lr: float = param(0.2, gt=0.0, doc="full-batch GD learning rate")
    target_loss: float = param(0.03, gt=0.0, doc="stop at this clean training loss")
    max_steps: int = param(8_000, ge=1)
    n_directions: int = param(4, ge=1, doc="filter-normalized random directions (slices, flatness)")
    n_alphas: int = param(41, ge=3, doc="points of each 1-D slice on [-1, 1]")
    lanczos_steps: int = param(30, ge=2)
    trace_probes: int = param(20, ge=2)
    split_seed: int = param(0, ge=0, doc="train/test split")
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap", "continuous"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        _check_ps(self.ps)


def flatness_data(cfg: FlatnessConfig):
    """((x_train, one-hot y_train), x_test, labels_test) of the digits split.

    ``cfg``: its ``split_seed`` (80/20 split) and ``n_train`` (first training samples kept).
    Returns ``((x [n_train, 64], y [n_train, 10]), x_test [n_test, 64], labels_test [n_test])``
    as jax arrays (pixels scaled to [0, 1]).
    """
    from sklearn.model_selection import train_test_split

    x, labels = tabular.digits(scale="unit")
    x_tr, x_te, l_tr, l_te = train_test_split(x, labels, test_size=0.2, random_state=cfg.split_seed)
    x_tr, l_tr = x_tr[: cfg.n_train], l_tr[: cfg.n_train]
    one_hot = np.eye(10, dtype=np.float32)
    return (jnp.asarray(x_tr), jnp.asarray(one_hot[l_tr])), jnp.asarray(x_te), jnp.asarray(l_te)


def run_flatness(cfg: FlatnessConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    data, x_te, l_te = flatness_data(cfg)
    sizes = [data[0].shape[1], cfg.width, 10]
    clean = train.mse(mlp.apply)
    alphas = jnp.linspace(-1.0, 1.0, cfg.n_alphas)
    # the same random directions at every solution (each filter-normalized to its solution)
    dir_keys = jax.random.split(
        jax.random.fold_in(jax.random.key(cfg.base_seed), 1), cfg.n_directions
    )

    def point(pt, key):
        k_init, k_train = jax.random.split(key)
        p = pt["p"]
        noisy, mean = (
            dropout.mse(dropout.mlp_apply, p),
            dropout.mean_mse(mlp.apply, dropout.mlp_regularizer, p),
        )
        trained = lambda q, d, k: jax.lax.cond(pt["training"] == 0, noisy, mean, q, d, k)
        gd = train.resumable(
            dropout.valued_as(trained, clean),
            mlp.init(k_init, sizes, scheme="he"),
            data,
            optax.sgd(cfg.lr),
            steps=cfg.max_steps,
            n_records=2,
            key=k_train,
            loss_takes_key=True,
            stop_loss=cfg.target_loss,
        )
        # a resumable run (early stop at the target loss): sweep.run can batch it continuously
        return gd.then(solution)

    def solution(traj):
        q = traj.params
        dirs = jax.vmap(lambda k: landscape.random_direction(k, q))(dir_keys)
        radius = jnp.linalg.norm(ravel_pytree(q)[0])
        return {
            "sharpness": hessian.top_eigenvalues(clean, q, data, num_steps=cfg.lanczos_steps)[0],
            "trace": hessian.trace(clean, q, data, num_probes=cfg.trace_probes)[0],
            "slice": jax.vmap(lambda d: landscape.slice_1d(clean, q, d, alphas, data))(dirs),
            "flatness": jax.vmap(
                lambda d: landscape.direction_flatness(clean, q, d, data, max_step=radius)
            )(dirs),
            "train_loss": clean(q, data),
            "test_acc": jnp.mean(jnp.argmax(mlp.apply(q, x_te), 1) == l_te),
            "weight_norm": radius,
            "layer_norm": jnp.stack([jnp.linalg.norm(layer["w"]) for layer in q]),
            "steps": traj.n_steps,
            "converged": traj.converged,
        }

    ds = sweep.run(
        point,
        {
            "training": np.arange(len(TRAININGS)),
            "p": np.asarray(cfg.ps),
            "seed": np.arange(cfg.seeds),
        },
        key_axes=("seed",),
        store=store,
        shard=shard,
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        dims={
            "slice": ("direction", "alpha"),
            "flatness": ("direction",),
            "layer_norm": ("layer",),
        },
        coords={"alpha": np.asarray(alphas)},
        batching=cfg.batching,
        progress=progress,
        desc="dropout flatness",
    )
    if not ds.attrs["complete"]:
        return describe(ds, FLATNESS_VARIABLES)  # one shard; the complete run adds the rest
    ds = ds.assign_coords(training_label=("training", list(TRAININGS)))
    ds["flatness_mean"] = ds["flatness"].mean("direction")
    ds.attrs.update(
        model=f"ReLU MLP {sizes}, He init, dropout (keep prob p) on the hidden layer",
        layer_sizes=np.asarray(sizes),
        n_train=int(data[0].shape[0]),
        lr=cfg.lr,
        target_loss=cfg.target_loss,
        stability_threshold=float(stability.stability_threshold(cfg.lr)),
        analysis=f"clean (no-dropout) training MSE; Lanczos {cfg.lanczos_steps} steps; "
        f"Hutchinson {cfg.trace_probes} probes; filter-normalized directions",
    )
    return describe(ds, FLATNESS_VARIABLES)


FLATNESS_VARIABLES = {
    "sharpness": ("lambda_max of the Hessian of the clean training loss at the solution", "1"),
    "trace": ("Hutchinson estimate of tr H of the clean training loss", "1"),
    "slice": ("clean training loss along a filter-normalized random direction", "1"),
    "flatness": ("Feng & Tu direction flatness F (loss reaches e times its value)", "1"),
    "flatness_mean": ("direction flatness F, mean over directions", "1"),
    "train_loss": ("clean training loss at the solution", "1"),
    "test_acc": ("test accuracy", "1"),
    "weight_norm": ("norm of all parameters", "1"),
    "layer_norm": ("Frobenius norm of each layer's weight matrix", "1"),
    "steps": ("GD steps taken", "steps"),
    "converged": ("clean training loss reached target_loss", "1", "boolean"),
}


def _trend(ds, var, training=0):
    """Mean over seeds of ``var`` for ``training``, ordered from p = 1 down to the smallest p."""
    v = ds[var].sel(training=training).mean("seed")
    return v.sortby("p", ascending=False).values


def flatness_claims(ds: xr.Dataset) -> list:
    ps = sorted((float(p) for p in ds["p"].values), reverse=True)
    conv = float(ds["converged"].mean())
    top = float(ds["sharpness"].max()) / float(ds.attrs.get("stability_threshold", np.inf))
    cause = "too few steps / too small a net for dropout's regularizer to reshape the minimum" + (
        "" if conv == 1 else f"; only {conv:.0%} of the runs reached the common loss"
    )
    out = []
    for var, word, sign, book in (
        ("sharpness", "lambda_max decreases", -1, "flatter with dropout"),
        ("trace", "tr H decreases", -1, "flatter with dropout"),
        ("flatness_mean", "the direction flatness F increases", +1, "flatter with dropout"),
    ):
        t = _trend(ds, var)
        out.append(
            claim(
                ds,
                name=f"{var}-vs-p",
                figure="Sec 11.4",
                book=book,
                statement=f"dropout minima are flatter: at one clean training loss, {word} as the keep probability "
                f"p goes down ({', '.join(f'{p:g}' for p in ps)}; mean over seeds)",
                measured=t.tolist(),
                held=bool(np.all(sign * np.diff(t) > 0)) and conv == 1 and top < 1,
                detail=f"mean over seeds for p = {ps}; runs at the target loss: {conv:.0%}; "
                f"max lambda_max / (2 / lr) = {top:.2f}",
                if_not_held=cause
                if top < 1
                else "lambda_max reached 2 / lr: the edge of stability caps the "
                "sharpness; lower lr",
            )
        )
    drop = ds["sharpness"].sel(training=0).mean("seed")
    ctrl = ds["sharpness"].sel(training=1).mean("seed")
    some = [float(p) for p in ds["p"].values if p < 1]
    rel = np.abs(((ctrl.sel(p=some) - drop.sel(p=some)) / drop.sel(p=some)).values)
    out.append(
        claim(
            ds,
            name="explicit-regularizer",
            figure="Sec 11.4",
            book=None,
            statement="the flattening is dropout's explicit regularizer: GD on R_S + R_1 without mask noise reaches "
            "a lambda_max within 20% of dropout's at every p < 1 (mean over seeds)",
            measured=float(np.max(rel)),
            held=bool(np.all(rel <= 0.2)),
            min_preset="quick",
            detail=f"largest |lambda_max(R_S + R_1) - lambda_max(dropout)| / lambda_max(dropout) over p = {some}",
            if_not_held="at this scale dropout's noise (the implicit part) changes the minimum's curvature "
            "beyond its mask average",
        )
    )
    return out


def flatness_figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import dropout as viz

    return viz.flatness_figures(ds)


# ----------------------------------------------------------------------------- registry

_OUT_TINY = dict(width=400, lr=1e-2, steps=1000, seeds=1, n_records=10, n_grid=200, n_show=40)
_OUT_QUICK = dict(steps=20_000, seeds=3)
_TANH = dict(activation="tanh", target="teacher", n_points=12, x_max=10.0)

register(
    Experiment(
        "dropout-outputs",
        area="dropout",
        figure="Fig 8.12",
        title="wide ReLU net at large init on 8 points, with and without dropout: fits and condensation",
        config=OutputsConfig,
        presets={"tiny": _OUT_TINY, "quick": _OUT_QUICK, "paper": dict(steps=100_000, seeds=4)},
        run=run_outputs,
        claims=outputs_claims,
        figures=outputs_figures,
    )
)

register(
    Experiment(
        "dropout-outputs-tanh",
        area="dropout",
        figure="Fig 8.13",
        title="wide tanh net at large init on the teacher tanh(x-6)+tanh(x+6): smooth, condensed with dropout",
        config=OutputsConfig,
        presets={
            "tiny": _TANH | _OUT_TINY,
            "quick": _TANH | _OUT_QUICK,
            "paper": _TANH | dict(steps=100_000, seeds=4),
        },
        run=run_outputs,
        claims=outputs_claims,
        figures=outputs_figures,
    )
)

register(
    Experiment(
        "dropout-sample-size",
        area="dropout",
        figure="Fig 8.16",
        title="test error vs sample size for a tanh student of a 6-parameter teacher, with and without dropout",
        config=SampleSizeConfig,
        presets={
            "tiny": dict(ns=(4, 12), ps=(1.0, 0.5), seeds=2, width=100, steps=500, n_test=100),
            "quick": {},
            "paper": dict(
                ns=(2, 4, 6, 8, 10, 15, 20, 40, 80),
                ps=(1.0, 0.9, 0.7, 0.5),
                seeds=10,
                lr=1e-4,
                steps=100_000,
            ),
            # a larger init (f_0 ~ O(sqrt(m))): is no dropout poor there, and does dropout recover?
            "large-init": dict(ns=(8, 20, 40), seeds=3, output_scale=31.6),
            # the book's Adam lr 1e-4, 4x the quick steps (the paper preset's 100k is too long)
            "book-lr": dict(ns=(8, 20, 40), seeds=3, lr=1e-4, steps=20_000),
        },
        run=run_sample_size,
        claims=sample_size_claims,
        figures=sample_size_figures,
    )
)

register(
    Experiment(
        "dropout-flatness",
        area="dropout",
        figure="Sec 11.4",
        title="digits MLP minima with and without dropout at one clean loss: lambda_max, tr H, slices, flatness",
        config=FlatnessConfig,
        presets={
            "tiny": dict(
                n_train=200,
                width=32,
                ps=(1.0, 0.7),
                seeds=1,
                target_loss=0.05,
                max_steps=3000,
                n_directions=2,
                n_alphas=11,
                lanczos_steps=10,
                trace_probes=4,
            ),
            "quick": {},
            # lr 0.15 keeps 2 / lr above the sharpening no-dropout runs at the lower target
            "paper": dict(
                n_train=None,
                ps=(1.0, 0.9, 0.8, 0.7),
                seeds=10,
                lr=0.15,
                target_loss=0.01,
                max_steps=60_000,
                n_directions=10,
            ),
        },
        run=run_flatness,
        claims=flatness_claims,
        figures=flatness_figures,
    )
)
