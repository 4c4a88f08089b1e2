"""The embedding principle of the loss landscape (book ch. 9, spec 02).

embedding-loss-spectrum   Fig 9.5: small-init two-layer ReLU nets of several widths, many
                          seeds; histogram of log10(loss) over all records: plateaus shared
                          across widths are bright lines.
embedding-hessian         Fig 9.7: a width-2 tanh net at a critical point (float64, descent +
                          Newton), embedded into widths 3 and 4 by splitting: Hessian
                          eigenvalue counts on 1-D data ...
embedding-hessian-iris    ... and on Iris (one-hot targets).
embedding-reduction       Fig 9.8 with scikit-learn digits (or MNIST-1D, preset mnist1d) in place
                          of MNIST: width-400 ReLU net, condensed neurons merged at a plateau,
                          the narrow net retrained.

phasekit run embedding-hessian --preset quick
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from phasekit import data as datasets
from phasekit.data.mnist_1d import mnist1d
from phasekit.dynamics import condensation as cond
from phasekit.dynamics import sweep, train
from phasekit.experiments.base import Config, Experiment, claim, describe, param, register
from phasekit.models import two_layer as tl
from phasekit.theory import embedding as emb

__all__ = [
    "HessianConfig",
    "LossSpectrumConfig",
    "ReductionConfig",
    "hessian_data",
    "reduction_data",
]

# ----------------------------------------------------------------------------- loss spectrum


@dataclass(frozen=True)
class LossSpectrumConfig(Config):
    """Fig 9.5: two-layer ReLU nets, every weight ~ N(0, (m^-gamma)^2), full-batch GD on the
    4-kink target (n points on [-1, 1]), loss recorded on a linear schedule."""

    widths: tuple[int, ...] = param((5, 10, 20, 50, 100), ge=1)
    seeds: int = param(100, ge=1)
    gamma: float = param(2.0, ge=0.0, le=4.0, doc="init rate: std = m^-gamma")
    lr: float = param(0.1, gt=0.0)
    n: int = param(40, ge=4)
    steps: int = param(20_000, ge=10)
    n_records: int = param(400, ge=10, doc="records on a linear schedule (time spent = records)")
    bins: int = param(200, ge=10)
    log10_range: tuple[float, ...] = param((-5.0, 0.0), ge=-30.0, le=10.0)
    n_lines: int = param(3, ge=1, doc="brightest lines per width compared across widths")
    line_tol: float = param(0.1, gt=0.0, doc="two lines are the same when within this (log10 loss)")
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap", "continuous"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        if len(self.widths) < 2:
            raise ValueError(f"widths: need at least two widths to compare, got {self.widths}")
        if len(self.log10_range) != 2 or self.log10_range[0] >= self.log10_range[1]:
            raise ValueError(
                f"log10_range: need (low, high) with low < high, got {self.log10_range}"
            )


def run_loss_spectrum(
    cfg: LossSpectrumConfig, store=None, shard=None, progress: bool = True
) -> xr.Dataset:
    x = jnp.linspace(-1.0, 1.0, cfg.n)[:, None]
    y = jnp.asarray(datasets.relu_combination(np.asarray(x)))
    full = max(cfg.widths)
    loss_fn = train.mse(tl.apply)

    def point(pt, key):
        m = pt["width"]
        scale = m.astype(jnp.float32) ** -cfg.gamma
        # the width-m net as the null embedding of its neurons into the largest width: one program
        p = tl.rescale(emb.keep_first_neurons(tl.init(key, full, 1), m), scale, scale)
        traj = train.run(
            loss_fn,
            p,
            (x, y),
            train.optimizer("gd", cfg.lr),
            steps=cfg.steps,
            n_records=cfg.n_records,
            schedule="linear",
        )
        return {"loss": traj.loss}

    ds = sweep.run(
        point,
        {"width": np.asarray(cfg.widths), "seed": np.arange(cfg.seeds)},
        store=store,
        shard=shard,
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        dims={"loss": ("step",)},
        coords={"step": train.record_steps(cfg.steps, cfg.n_records, "linear")},
        batching=cfg.batching,
        progress=progress,
        desc="loss spectrum",
    )
    if not ds.attrs["complete"]:
        return ds
    lo, hi = cfg.log10_range  # validate() checked (low, high)
    spectra = [
        cond.loss_spectrum(ds["loss"].sel(width=m).values, cfg.bins, (lo, hi)) for m in cfg.widths
    ]
    edges = spectra[0][0]
    lines = np.full((len(cfg.widths), cfg.n_lines), np.nan)
    for i, (e, p) in enumerate(spectra):
        found = cond.spectrum_lines(e, p, cfg.n_lines, cfg.line_tol)
        lines[i, : found.size] = found
    ds["density"] = (("width", "log10_loss"), np.stack([p for _, p in spectra]))
    ds["lines"] = (("width", "line"), lines)
    ds = ds.assign_coords(log10_loss=0.5 * (edges[1:] + edges[:-1]))
    ds["log10_loss_edges"] = ("log10_loss_edge", edges)
    return describe(ds, SPECTRUM_VARIABLES)


SPECTRUM_VARIABLES = {
    "loss": ("training loss R_S", "1"),
    "density": ("share p_i / sum p of all records (all seeds) in log10-loss bin i", "1"),
    "lines": ("brightest lines of the spectrum (bin centers), ascending", "log10 loss"),
    "log10_loss_edges": ("bin edges of the spectrum", "log10 loss"),
}


def claims_loss_spectrum(ds: xr.Dataset) -> list:
    lines = [row[np.isfinite(row)] for row in ds["lines"].values]
    tol = float(ds.attrs.get("config_line_tol", 0.1))
    shared = cond.shared_lines(lines, tol)
    k = lines[0].size
    return [
        claim(
            ds,
            name="shared-lines",
            figure="Fig 9.5",
            statement=f"plateaus are shared across widths: at least 2 of the {k} brightest loss-spectrum lines "
            f"of the narrowest width appear (within {tol:g} in log10 loss) in every width",
            book="bright lines shared by all widths",
            measured=float(shared.size),
            held=shared.size >= 2,
            detail="shared at log10 loss "
            + ", ".join(f"{v:.2f}" for v in shared)
            + "; per width: "
            + "; ".join(
                f"{int(m)}: {np.round(l, 2).tolist()}" for m, l in zip(ds["width"].values, lines)
            ),
            if_not_held="too few steps for the later plateaus, or too few seeds for a clean histogram",
        )
    ]


def figures_loss_spectrum(ds):
    from phasekit.viz import embedding as viz

    return viz.loss_spectrum_figures(ds)


# ----------------------------------------------------------------------------- Hessian


@dataclass(frozen=True)
class HessianConfig(Config):
    """Fig 9.7: width-2 tanh net, Adam from a moderate init then Newton to a critical point
    (float64), embedded to wider nets by one-step splits (ratio alpha) of neurons 0, 1, ...

    ``start="plateau"``: GD (``lr``, ``descent_steps``) from a small init instead, stopped where
    the descent comes closest to a saddle past the initial plateau, then damped Newton
    (:func:`~phasekit.theory.embedding.find_plateau_saddle`): a saddle to embed, not a minimum.
    """

    data: str = param(
        "1d",
        choices=("1d", "iris"),
        doc="1d: exp(-4x^2) + x/2 on 20 points of [-1, 1]; iris: standardized, one-hot",
    )
    widths: tuple[int, ...] = param((3, 4), ge=3, doc="embedding widths (from width 2)")
    seeds: int = param(4, ge=1)
    start: str = param(
        "descent",
        choices=("descent", "plateau"),
        doc="descent: Adam to the end, then Newton (lands in minima); plateau: GD from a small "
        "init stopped at the later plateau's closest approach, then damped Newton (a saddle)",
    )
    init_scale: float = param(0.5, gt=0.0, doc="every weight ~ N(0, init_scale^2)")
    descent_steps: int = param(
        5000, ge=0, doc="Adam (start=descent) or GD (start=plateau) steps before the Newton polish"
    )
    lr: float = param(0.01, gt=0.0)
    line_search: int = param(
        12, ge=1, doc="start=plateau: step lengths 1, 1/2, ... tried by the damped Newton polish"
    )
    newton_steps: int = param(30, ge=1)
    alpha: float = param(0.3, doc="split ratio: output weights alpha a and (1 - alpha) a")
    tol: float = param(1e-10, gt=0.0, doc="|lambda| <= tol counts as a zero eigenvalue")
    critical_tol: float = param(1e-10, gt=0.0, doc="a point is critical when |grad L|_1 <= this")
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap", "continuous"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        if list(self.widths) != sorted(set(self.widths)):
            raise ValueError(f"widths: must be increasing, got {self.widths}")
        if self.start == "plateau" and self.descent_steps < 2:
            raise ValueError(
                f"descent_steps: start='plateau' needs a descent of >= 2 steps, got "
                f"{self.descent_steps}"
            )


def hessian_data(name: str):
    """(x [n, d], y [n] or [n, 3]) float64 (call under ``jax.enable_x64``): ``name`` "1d" (20
    points on [-1, 1], y = exp(-4 x^2) + x / 2) or "iris" (the Iris features, one-hot labels)."""
    if name == "1d":
        x = jnp.linspace(-1.0, 1.0, 20, dtype=jnp.float64)[:, None]
        return x, jnp.exp(-4 * x[:, 0] ** 2) + 0.5 * x[:, 0]
    x, y = datasets.iris()
    return jnp.asarray(x, jnp.float64), jax.nn.one_hot(y, 3, dtype=jnp.float64)


def run_hessian(cfg: HessianConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    widths = (2,) + tuple(cfg.widths)
    with jax.enable_x64(True):
        x, y = hessian_data(cfg.data)
        outputs = 1 if y.ndim == 1 else y.shape[1]
        n_params = lambda m: m * (x.shape[1] + 1 + outputs)
        size = n_params(widths[-1])
        loss_fn = train.mse(tl.apply, activation="tanh")

        def point(pt, key):
            k_init, k_out = jax.random.split(key)
            p = tl.init(k_init, 2, x.shape[1], dtype=jnp.float64)
            if outputs > 1:
                p["a"] = jax.random.normal(k_out, (2, outputs), jnp.float64)
            p = tl.rescale(p, cfg.init_scale, cfg.init_scale)
            extra = {}
            if cfg.start == "plateau":
                found = emb.find_plateau_saddle(
                    loss_fn,
                    p,
                    (x, y),
                    steps=cfg.descent_steps,
                    lr=cfg.lr,
                    newton_steps=cfg.newton_steps,
                    line_search=cfg.line_search,
                )
                p2 = found.params
                extra = {"plateau_step": found.step, "loss_plateau": found.loss_plateau}
            else:
                p2 = emb.find_critical_point(
                    loss_fn,
                    p,
                    (x, y),
                    descent_steps=cfg.descent_steps,
                    lr=cfg.lr,
                    newton_steps=cfg.newton_steps,
                )
            nets = [p2] + [emb.embed_to_width(p2, m, alphas=cfg.alpha) for m in cfg.widths]
            ms = [emb.embedding_measures(loss_fn, q, (x, y), tol=cfg.tol) for q in nets]
            out = {
                k: jnp.stack([r[k] for r in ms])
                for k in ("loss", "grad_l1", "n_negative", "n_zero", "n_positive")
            }
            out["eigenvalues"] = jnp.stack(
                [
                    jnp.pad(
                        r["eigenvalues"], (0, size - r["eigenvalues"].size), constant_values=jnp.nan
                    )
                    for r in ms
                ]
            )
            return out | extra

        ds = sweep.run(
            point,
            {"seed": np.arange(cfg.seeds)},
            store=store,
            shard=shard,
            base_seed=cfg.base_seed,
            config=cfg.to_dict(execution=False) | {"float64": True},
            dims={k: ("width",) for k in ("loss", "grad_l1", "n_negative", "n_zero", "n_positive")}
            | {"eigenvalues": ("width", "index")},
            coords={"width": np.asarray(widths)},
            batching=cfg.batching,
            progress=progress,
            desc=f"Hessian after embedding ({cfg.data})",
        )
    if not ds.attrs["complete"]:
        return ds
    ds.attrs["dtype"] = "float64"
    return describe(ds, HESSIAN_VARIABLES)


HESSIAN_VARIABLES = {
    "loss": ("training loss at the (embedded) critical point", "1"),
    "grad_l1": ("|grad L|_1 at the (embedded) critical point", "1"),
    "n_negative": ("Hessian eigenvalues < -tol", "1"),
    "n_zero": ("Hessian eigenvalues with |lambda| <= tol", "1"),
    "n_positive": ("Hessian eigenvalues > tol", "1"),
    "eigenvalues": ("Hessian eigenvalues, ascending (NaN-padded to the largest width)", "1"),
    "plateau_step": ("start=plateau: the GD step the Newton polish started from", "steps"),
    "loss_plateau": ("start=plateau: training loss at that step", "1"),
}

BOOK_NEGATIVES = {"1d": [0, 1, 2], "iris": [3, 5, 7]}


def claims_hessian(ds: xr.Dataset) -> list:
    ctol = float(ds.attrs.get("config_critical_tol", 1e-10))
    data = str(ds.attrs.get("config_data", "1d"))
    g = ds["grad_l1"].values  # [seed, width]
    crit = g[:, 0] <= ctol
    counts = {k: ds[k].values[crit].astype(int) for k in ("n_negative", "n_zero", "n_positive")}
    widths = ds["width"].values.tolist()
    out = [
        claim(
            ds,
            name="critical-found",
            figure="Fig 9.7",
            statement=f"descent + Newton reaches a width-2 critical point (|grad L|_1 <= {ctol:g}): fraction of seeds",
            book="|grad|_1 ~ 1e-13..1e-15",
            measured=float(crit.mean()),
            held=bool(crit.all()),
            detail=f"|grad|_1 per seed: {np.asarray(g[:, 0]).tolist()}",
            if_not_held="Newton from the end of the descent did not converge (descent ended far from a critical point)",
        )
    ]
    if not crit.any():
        return out
    worst = float(np.max(g[crit][:, 1:]))
    out.append(
        claim(
            ds,
            name="embedding-is-critical",
            figure="Fig 9.7",
            statement=f"splitting embeds a critical point to a critical point: largest |grad L|_1 at widths "
            f"{widths[1:]} over the critical seeds <= {ctol:g}",
            book="critical",
            measured=worst,
            held=worst <= ctol,
            if_not_held="rounding of the split: the copies' gradients are alpha g and (1 - alpha) g",
        )
    )
    mono = np.all([np.all(np.diff(c, axis=1) >= 0, axis=1) for c in counts.values()], axis=0)
    out.append(
        claim(
            ds,
            name="counts-do-not-decrease",
            figure="Fig 9.7",
            statement="the numbers of negative, zero and positive Hessian eigenvalues do not decrease "
            "under embedding (Zhang et al. 2021b): fraction of critical seeds",
            book=1.0,
            measured=float(mono.mean()),
            held=bool(mono.all()),
            detail="negatives per critical seed: "
            + "; ".join(str(r) for r in counts["n_negative"].tolist()),
            if_not_held="zero threshold tol too close to the smallest non-zero eigenvalues",
        )
    )
    # compare like with like: embeddings of width-2 points of the book's index (a minimum on 1-D
    # data, a saddle with 3 negative directions on Iris) when the descent found any
    book = BOOK_NEGATIVES[data]
    seqs = [tuple(r) for r in counts["n_negative"].tolist()]
    same_index = [q for q in seqs if q[0] == book[0]]
    mode, freq = Counter(same_index or seqs).most_common(1)[0]
    plateau = str(ds.attrs.get("config_start", "descent")) == "plateau"
    loss2 = ds["loss"].values[crit, 0]
    if plateau:
        # the book's width-2 point is a saddle on Iris (3 negatives), a minimum on 1-D data
        saddle = counts["n_negative"][:, 0] >= 1
        out.append(
            claim(
                ds,
                name="plateau-point-is-saddle",
                figure="Fig 9.7",
                statement="stopped at the later loss plateau of a small-init descent and polished by "
                "damped Newton, the width-2 critical point is a saddle (>= 1 negative Hessian "
                "eigenvalue): fraction of critical seeds",
                book=1.0 if book[0] > 0 else 0.0,
                measured=float(saddle.mean()),
                held=bool(saddle.mean() >= 0.5) == (book[0] > 0),
                min_preset="quick",
                detail="width-2 loss / negatives per critical seed: "
                + "; ".join(
                    f"{l:.4f} / {n}" for l, n in zip(loss2, counts["n_negative"][:, 0].tolist())
                )
                + "; plateau loss per seed: "
                + ", ".join(f"{v:.4f}" for v in ds["loss_plateau"].values[crit]),
                if_not_held="the descent passed no later saddle closely (init not small enough, or "
                "the window between the initial plateau and the final basin is empty)",
            )
        )
    steps_up = np.diff(counts["n_negative"], axis=1)
    if_not_held = (
        f"no seed's descent ended at a width-2 point with {book[0]} negatives (the book's point); "
        "Adam + Newton lands in minima (on Iris the 'setosa vs rest' point, loss 1/6), and which "
        "critical point is embedded decides the counts"
    )
    if plateau and data == "iris":
        # measured at the 'saddle' preset (8 seeds, see docs of the preset); the cause stands
        if_not_held = (
            f"the saddles the small-init descent visits on Iris (one-hot MSE, no output bias) have "
            f"another index than the book's {book[0]}, and each split adds more negatives than the "
            f"book's +2: the new directions of a split of neuron j carry alpha (1 - alpha) times "
            "the eigenvalues of sum_i r_i . a_j tanh''(w_j . x_i) x_i x_i^T (5 x 5 here), so the "
            "counts are those of the embedded point; the book's width-2 saddle (its targets, "
            "output bias and training) is not specified enough to find it"
        )
    out.append(
        claim(
            ds,
            name="negatives-after-embedding",
            figure="Fig 9.7",
            statement=f"negative Hessian eigenvalues at widths {widths} after embedding a width-2 critical point "
            f"with {book[0]} negative(s): book {' -> '.join(map(str, book))} (most common sequence)",
            book=book,
            measured=list(mode),
            held=bool(same_index) and list(mode) == book[: len(mode)],
            min_preset="tiny" if data == "1d" else "quick",
            reproduces=data == "1d",
            detail=f"{freq} of {len(same_index or seqs)} {'seeds of that index' if same_index else 'critical seeds'}; "
            f"all critical seeds: {dict(Counter(seqs))}; negatives added per split (book "
            f"{np.diff(book).tolist()}): {dict(Counter(tuple(r) for r in steps_up.tolist()))}; "
            f"width-2 losses: {np.round(loss2, 4).tolist()}",
            if_not_held=if_not_held,
        )
    )
    return out


def figures_hessian(ds):
    from phasekit.viz import embedding as viz

    return viz.hessian_figures(ds)


# ----------------------------------------------------------------------------- reduction


@dataclass(frozen=True)
class ReductionConfig(Config):
    """Fig 9.8 (digits or MNIST-1D for MNIST): width-m ReLU net with 10 outputs (one-hot MSE), every weight
    ~ N(0, (m^-gamma)^2), GD; merged at the end of the first plateau past the initial one
    (:func:`~phasekit.dynamics.condensation.merge_condensed_padded`), then the narrow net and
    the wide one are both trained on for ``retrain`` steps from that point."""

    dataset: str = param(
        "digits",
        choices=("digits", "mnist1d"),
        doc="digits: scikit-learn's 8x8 digits (the first n_train train, the rest test); "
        "mnist1d: MNIST-1D generated locally (the first n_train of its 4000 training "
        "samples, its 1000 test samples; needs the optional mnist1d package)",
    )
    n_train: int = param(1000, ge=10, le=4000, doc="training samples (see dataset)")
    width: int = param(400, ge=2)
    gamma: float = param(2.0, ge=0.0, le=4.0)
    lr: float = param(0.3, gt=0.0)
    steps: int = param(2000, ge=10)
    n_records: int = param(60, ge=4)
    retrain: int = param(2000, ge=1)
    retrain_records: int = param(40, ge=2)
    threshold: float = param(0.9, gt=0.0, le=1.0, doc="cosine threshold of one condensed direction")
    rel_amplitude: float = param(1e-2, ge=0.0, lt=1.0)
    flat: float = param(0.005, gt=0.0, doc="plateau: |d log10 loss| < flat per record")
    min_drop: float = param(
        0.05, gt=0.0, lt=1.0, doc="the merge plateau lies below (1 - min_drop) L0"
    )
    balance: bool = param(
        True,
        doc="merged neurons with ||a_G|| = ||theta_G|| (same function; the wide "
        "group's tangent kernel, see merge_condensed_padded)",
    )
    seeds: int = param(3, ge=1)
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap", "continuous"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        limit = _MAX_TRAIN[self.dataset]
        if self.n_train > limit:
            raise ValueError(
                f"n_train: at most {limit} for dataset {self.dataset!r} (the rest is the test "
                f"set), got {self.n_train}"
            )


# the largest n_train of each data set of ReductionConfig
_MAX_TRAIN = {"digits": 1700, "mnist1d": 4000}


def reduction_data(dataset: str, n_train: int):
    """(x_train [n_train, d], labels_train [n_train], x_test [n_test, d]) of the reduction
    experiment: ``dataset`` "digits" (scikit-learn's 8x8 digits, pixels / 16, d = 64: the first
    n_train train, the other 1797 - n_train test) or "mnist1d" (MNIST-1D generated locally, d =
    40: the first n_train of its 4000 training samples, its 1000 test samples)."""
    if dataset == "digits":
        x, labels = datasets.digits()
        return x[:n_train], labels[:n_train], x[n_train:]
    if dataset == "mnist1d":
        x, labels = mnist1d("train", n=n_train)
        return x, labels, mnist1d("test")[0]
    raise ValueError(f"dataset: 'digits' or 'mnist1d', got {dataset!r}")


def run_reduction(
    cfg: ReductionConfig, store=None, shard=None, progress: bool = True
) -> xr.Dataset:
    x_tr, labels, x_te = reduction_data(cfg.dataset, cfg.n_train)
    x_tr, y_tr, x_te = jnp.asarray(x_tr), jax.nn.one_hot(labels, 10), jnp.asarray(x_te)
    scale = cfg.width**-cfg.gamma
    loss_fn = train.mse(tl.apply)
    opt = train.optimizer("gd", cfg.lr)
    rec = train.record_steps(cfg.steps, cfg.n_records)
    rec2 = train.record_steps(cfg.retrain, cfg.retrain_records)

    def point(pt, key):
        k_init, k_out = jax.random.split(key)
        p = tl.init(k_init, cfg.width, x_tr.shape[1])
        p["a"] = jax.random.normal(k_out, (cfg.width, 10))
        p = tl.rescale(p, scale, scale)
        wide = train.run(
            loss_fn,
            p,
            (x_tr, y_tr),
            opt,
            steps=cfg.steps,
            record_at=rec,
            observe=lambda q: {"params": q},
        )
        at = cond.plateau_end_mask(wide.loss, cfg.flat) & (
            wide.loss < (1 - cfg.min_drop) * wide.loss[0]
        )
        j = jnp.where(jnp.any(at), jnp.argmax(at), rec.size - 1)
        p_j = jax.tree_util.tree_map(lambda v: v[j], wide.observables["params"])
        narrow, dirs = cond.merge_condensed_padded(
            p_j, x_tr, "relu", cfg.threshold, cfg.rel_amplitude, balance=cfg.balance
        )
        # train on the wide net and the merged one (null neurons padded: they never move) side by side
        both = jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b]), p_j, narrow)
        cont = jax.vmap(
            lambda q: train.run(loss_fn, q, (x_tr, y_tr), opt, steps=cfg.retrain, record_at=rec2)
        )(both)
        f = lambda q, z: tl.apply(q, z)
        _, rel_l2, agree_merge = cond.agreement(f(p_j, x_tr), f(narrow, x_tr))
        _, _, agree_test = cond.agreement(f(p_j, x_te), f(narrow, x_te))
        after = [jax.tree_util.tree_map(lambda v: v[i], cont.params) for i in (0, 1)]
        _, _, agree_after = cond.agreement(f(after[0], x_te), f(after[1], x_te))
        return {
            "loss": wide.loss,
            "merge_record": j,
            "merge_step": wide.step[j],
            "loss_at_merge": wide.loss[j],
            "width_after": dirs.n_directions,
            "n_dead": dirs.n_dead,
            "n_negligible": dirs.n_negligible,
            "loss_merged": loss_fn(narrow, (x_tr, y_tr)),
            "rel_l2": rel_l2,
            "agree_train": agree_merge,
            "agree_test": agree_test,
            "loss_wide_continued": cont.loss[0],
            "loss_retrained": cont.loss[1],
            "agree_after": agree_after,
        }

    ds = sweep.run(
        point,
        {"seed": np.arange(cfg.seeds)},
        store=store,
        shard=shard,
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False)
        | {"data": {"digits": "sklearn digits", "mnist1d": "MNIST-1D"}[cfg.dataset]},
        dims={
            "loss": ("step",),
            "loss_wide_continued": ("retrain_step",),
            "loss_retrained": ("retrain_step",),
        },
        coords={"step": rec, "retrain_step": rec2},
        batching=cfg.batching,
        progress=progress,
        desc="network reduction",
    )
    if not ds.attrs["complete"]:
        return ds
    ds.attrs["n_test"] = int(x_te.shape[0])
    return describe(ds, REDUCTION_VARIABLES)


REDUCTION_VARIABLES = {
    "loss": ("training loss of the wide net", "1"),
    "merge_record": (
        "record index of the merge (end of the first plateau below (1 - min_drop) L0)",
        "1",
    ),
    "merge_step": ("step of the merge", "steps"),
    "loss_at_merge": ("training loss of the wide net at the merge", "1"),
    "width_after": ("neurons after merging (condensed directions)", "1"),
    "n_dead": ("dead ReLU neurons dropped", "1"),
    "n_negligible": ("negligible-amplitude neurons dropped", "1"),
    "loss_merged": ("training loss of the merged net", "1"),
    "rel_l2": ("relative L2 difference of merged and wide outputs on the training set", "1"),
    "agree_train": ("argmax agreement of merged and wide nets, training set", "1"),
    "agree_test": ("argmax agreement of merged and wide nets, test set", "1"),
    "loss_wide_continued": ("training loss of the wide net trained on from the merge", "1"),
    "loss_retrained": ("training loss of the merged net retrained from the merge", "1"),
    "agree_after": ("test argmax agreement of the two nets after retraining", "1"),
}


def claims_reduction(ds: xr.Dataset) -> list:
    m = int(ds.attrs.get("config_width", 400))
    mnist1d_data = str(ds.attrs.get("config_dataset", "digits")) == "mnist1d"
    k = ds["width_after"].values
    agree = ds["agree_test"].values
    jump = ds["loss_merged"].values / ds["loss_at_merge"].values
    ratio = ds["loss_retrained"].values[:, -1] / ds["loss_wide_continued"].values[:, -1]
    return [
        claim(
            ds,
            name="width-reduced",
            figure="Fig 9.8",
            statement=f"at a plateau the condensed width-{m} net merges into far fewer neurons: "
            f"at most a quarter of the width (median over seeds)",
            book="400 -> 58",
            measured=float(np.median(k)),
            held=bool(np.median(k) <= m / 4),
            detail=f"per seed: {k.tolist()}; merge steps {ds['merge_step'].values.tolist()}",
            if_not_held="merge taken before the neurons condensed (no plateau past the initial one found)",
        ),
        claim(
            ds,
            name="same-loss-after-merge",
            figure="Fig 9.8",
            statement="the merged net sits on the wide net's plateau: training loss merged / wide at the "
            "merge within 5% of 1 (median over seeds)",
            book=1.0,
            measured=float(np.median(jump)),
            held=bool(abs(np.median(jump) - 1) <= 0.05),
            detail=f"per seed: {np.round(jump, 4).tolist()}",
            if_not_held="the merge dropped neurons that carry part of the output (rel_amplitude too high)",
        ),
        claim(
            ds,
            name="merged-agrees",
            figure="Fig 9.8",
            statement="the merged net predicts like the wide one: test-set argmax agreement >= 0.98 "
            "(median over seeds)",
            book=0.985,
            measured=float(np.median(agree)),
            held=bool(np.median(agree) >= 0.98),
            min_preset="quick",
            # measured (issue 16): digits quick 0.872, 20000 steps 0.813 (no later plateau);
            # MNIST-1D (preset mnist1d) 0.994
            reproduces=mnist1d_data,
            detail=f"per seed: {np.round(agree, 3).tolist()}; after retraining both nets: "
            f"{np.round(ds['agree_after'].values, 3).tolist()}; rel_l2 at the merge "
            f"{np.round(ds['rel_l2'].values, 4).tolist()}",
            if_not_held="the plateau found on digits is the early one (loss ~0.45 of 0.5) where the "
            "class scores are near-ties: the small output change of the merge (rel_l2) flips "
            "many argmaxes; the book merges MNIST at a later plateau (58 neurons), and digits has "
            "none at this init and lr (20000 GD steps: the loss falls steadily from 0.45 to 0.003, "
            "the only plateaus are the initial one and 0.45); on MNIST-1D (dataset=mnist1d) the "
            "same early plateau gives 0.994",
        ),
        claim(
            ds,
            name="retrained-reaches-wide-loss",
            figure="Fig 9.8",
            statement="retrained from the merge, the narrow net reaches the wide net's loss: final loss "
            "ratio narrow / wide within [0.8, 1.25] (median over seeds)",
            book=1.0,
            measured=float(np.median(ratio)),
            held=bool(0.8 <= np.median(ratio) <= 1.25),
            min_preset="quick",
            detail=f"per seed: {np.round(ratio, 3).tolist()}",
            reproduces=False,
            if_not_held="after the early plateau the wide net grows new directions out of the small neurons "
            "that the merge dropped as negligible; the narrow net tracks it with a lag (MNIST-1D: "
            "the 7-10 merged neurons stay near loss 0.34 while the wide net reaches 0.14-0.17 in "
            "2000 steps)",
        ),
    ]


def figures_reduction(ds):
    from phasekit.viz import embedding as viz

    return viz.reduction_figures(ds)


# ----------------------------------------------------------------------------- registry

register(
    Experiment(
        "embedding-loss-spectrum",
        area="embedding",
        figure="Fig 9.5",
        title="loss spectrum: plateaus shared across widths (two-layer ReLU, small init, many seeds)",
        config=LossSpectrumConfig,
        presets={
            "tiny": dict(widths=(5, 20, 100), seeds=2),
            "quick": {},
            "paper": dict(widths=(5, 10, 20, 50, 100, 200, 500), steps=100_000, n_records=2000),
        },
        run=run_loss_spectrum,
        claims=claims_loss_spectrum,
        figures=figures_loss_spectrum,
    )
)

_HESSIAN_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(seeds=3),
    "quick": dict(seeds=8),
    "paper": dict(seeds=32, descent_steps=50_000, widths=(3, 4, 5, 6)),
}

register(
    Experiment(
        "embedding-hessian",
        area="embedding",
        figure="Fig 9.7",
        title="Hessian eigenvalue counts after embedding a width-2 critical point (tanh, 1-D data)",
        config=HessianConfig,
        presets=_HESSIAN_PRESETS,
        run=run_hessian,
        claims=claims_hessian,
        figures=figures_hessian,
    )
)

register(
    Experiment(
        "embedding-hessian-iris",
        area="embedding",
        figure="Fig 9.7",
        title="Hessian eigenvalue counts after embedding a width-2 critical point (tanh, Iris)",
        config=HessianConfig,
        presets={k: dict(v, data="iris") for k, v in _HESSIAN_PRESETS.items()}
        | {
            # issue 16: a saddle, not a minimum: GD from a small init stopped at the later
            # plateau (loss ~0.34 or ~0.17 here), damped Newton from there
            "saddle": dict(
                data="iris",
                start="plateau",
                init_scale=1e-3,
                lr=0.05,
                descent_steps=4000,
                newton_steps=60,
                seeds=8,
            )
        },
        run=run_hessian,
        claims=claims_hessian,
        figures=figures_hessian,
    )
)

register(
    Experiment(
        "embedding-reduction",
        area="embedding",
        figure="Fig 9.8",
        title="network reduction: merge the condensed neurons of a width-400 net at a plateau "
        "(digits or MNIST-1D)",
        config=ReductionConfig,
        presets={
            "tiny": dict(
                n_train=300, width=100, steps=400, n_records=30, retrain=200, retrain_records=10
            ),
            "quick": {},
            "paper": dict(steps=30_000, retrain=30_000, n_records=100, seeds=8),
            # issue 16: MNIST-1D (generated locally) for the book's MNIST, 1000 samples as there
            "mnist1d": dict(dataset="mnist1d"),
        },
        run=run_reduction,
        claims=claims_reduction,
        figures=figures_reduction,
    )
)
