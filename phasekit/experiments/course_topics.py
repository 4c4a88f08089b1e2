"""The course's remaining topics (spec 07, "Course topics beyond the diagnostics"; issue 27).

    course-preprocessing    least squares on features of scales 1..scale_max with correlated columns:
                            GD's measured rate and steps to a tolerance against (kappa - 1)/(kappa + 1),
                            raw vs standardized vs PCA-whitened (fit on train); the Hessian condition
                            number of a two-layer net at init on the same three inputs.
    course-weight-decay     SGD: decoupled decay beta equals L2 with lambda = beta / eta along training;
                            Adam + L2 vs AdamW on digits at matched decay: test accuracy and each
                            weight's effective shrinkage per step against its gradient scale sqrt(v_hat).
    course-orthogonal-init  singular values of the input-output Jacobian at init of deep linear and tanh
                            nets (depth 10..50), orthogonal vs Gaussian (LeCun = Xavier for square
                            layers); steps to a target loss of a deep linear net at the largest depth.
    course-layernorm        LN beside BN: LN's output independent of the batch; the scale invariance
                            <w, grad_w L> = 0 of the kernels feeding LN, |w|^2's growth law and the
                            effective learning rate eta / |w|^2 along GD, with and without weight decay.
    course-hparam-search    grid vs random vs successive halving vs batch GP-UCB (scikit-learn's GP) over
                            (learning rate, weight decay, init scale) where weight decay does not matter:
                            best validation loss against the budget in run-steps.

Recipes only; the measures are :mod:`phasekit.data.preprocessing`, :mod:`phasekit.theory.conditioning`,
:mod:`phasekit.dynamics.weight_decay`, :mod:`phasekit.models.orthogonal`,
:mod:`phasekit.theory.normalization`, :mod:`phasekit.dynamics.search`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr

from phasekit.data import preprocessing as pp
from phasekit.dynamics import regularization as reg
from phasekit.dynamics import search, sweep, train
from phasekit.dynamics import weight_decay as wd
from phasekit.experiments.base import Config, Experiment, claim, describe, param, register
from phasekit.models import mlp, normalized_mlp, square_net
from phasekit.theory import conditioning as cond
from phasekit.theory import diagnostics as dg
from phasekit.theory import hessian
from phasekit.theory import normalization as norm

__all__ = [
    "LayerNormConfig",
    "OrthogonalConfig",
    "PreprocessingConfig",
    "SearchConfig",
    "WeightDecayConfig",
]

RATE_TOL = 1e-3
FACTOR_TOL = 0.2


def _store(store, name):
    return None if store is None else f"{store}/{name}"


def _grid(point, axes: dict, *, cfg, store, shard, progress, desc, **kw) -> xr.Dataset:
    """One :func:`sweep.run` of ``point`` over ``axes`` with the seed axis as key axis: store,
    resume and shards as in every experiment."""
    return sweep.run(
        point,
        axes,
        store=store,
        shard=shard,
        key_axes=("seed",),
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        progress=progress,
        desc=desc,
        **kw,
    )


def _figures(name):
    def draw(ds):
        from phasekit.viz import course_topics as viz

        return getattr(viz, name)(ds)

    return draw


# ============================================================================ preprocessing

TRANSFORMS = ("raw", "standardize", "whiten")


@dataclass(frozen=True)
class PreprocessingConfig(Config):
    """Design [n, d]: Gaussian columns, neighbour correlation ``rho``, column scales geometric in
    [1, scale_max], offset ``offset``; y = X w + noise. Transforms are fit on the first
    ``train_fraction`` rows and applied to all; GD (step 2 / (L + mu)) on the training rows, raw
    columns centred. Net: tanh [d, width, 1] at LeCun init, MSE to y / std(y), dense Hessian."""

    n: int = param(400, ge=4)
    d: int = param(8, ge=2)
    scale_max: float = param(100.0, ge=1.0)
    rho: float = param(0.6, ge=0.0, lt=1.0)
    offset: float = param(3.0)
    noise: float = param(0.1, ge=0.0)
    train_fraction: float = param(0.75, gt=0.0, le=1.0)
    tol: float = param(1e-6, gt=0.0, lt=1.0, doc="steps to |w_t - w*| <= tol |w_0 - w*|")
    width: int = param(16, ge=1)
    seeds: int = param(3, ge=1)
    data_seed: int = param(100, ge=0)
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        if int(self.n * self.train_fraction) < self.d + 1:
            raise ValueError(f"train_fraction: need more than d = {self.d} training rows")


def _pre_data(cfg, seed):
    k1, k2, k3 = jax.random.split(jax.random.fold_in(jax.random.key(cfg.data_seed), seed), 3)
    z = jax.random.normal(k1, (cfg.n, cfg.d), jnp.float64)
    z = z.at[:, 1:].set(cfg.rho * z[:, :-1] + np.sqrt(1 - cfg.rho**2) * z[:, 1:])
    x = z * jnp.geomspace(1.0, cfg.scale_max, cfg.d) + cfg.offset
    y = (x - x.mean(0)) @ (
        jax.random.normal(k2, (cfg.d,), jnp.float64) / jnp.geomspace(1.0, cfg.scale_max, cfg.d)
    )
    return x, y + cfg.noise * jax.random.normal(k3, (cfg.n,), jnp.float64)


def _transform(cfg, name, x):
    tr = x[: int(cfg.n * cfg.train_fraction)]
    if name == "raw":
        return x - tr.mean(0)  # centred only: the intercept is not the point
    return pp.fit(name, tr)(x)


def run_preprocessing(
    cfg: PreprocessingConfig, store=None, shard=None, progress: bool = True
) -> xr.Dataset:
    n_tr = int(cfg.n * cfg.train_fraction)
    with jax.enable_x64(True):
        data = jax.jit(jax.vmap(lambda s: _pre_data(cfg, s)))(jnp.arange(cfg.seeds))
        kappas = jax.vmap(lambda x: cond.condition_number(_transform(cfg, "raw", x)[:n_tr]))(
            data[0]
        )
        cap = int(1.2 * float(cond.predicted_gd_steps(jnp.max(kappas), cfg.tol))) + 10
        dense = min(cap, 400)
        rec = np.unique(
            np.concatenate([np.arange(dense + 1), np.linspace(dense, cap, 3000).astype(int)])
        )

        def point(pt, key):
            x, y = data[0][pt["seed"]], data[1][pt["seed"]]
            # every transform, picked by a traced index: one compiled program for the whole grid
            xt = jnp.stack([_transform(cfg, t, x)[:n_tr] for t in TRANSFORMS])[pt["transform"]]
            yt = y[:n_tr]
            s = cond.gram_eigenvalues(xt)
            kappa = s[-1] / s[0]
            w_star = jnp.linalg.solve(xt.T @ xt, xt.T @ yt)
            loss = lambda w, d: 0.5 * jnp.mean((d[0] @ w - d[1]) ** 2)
            traj = train.run(
                loss,
                jnp.zeros(cfg.d),
                (xt, yt),
                optax.sgd(dg.gd_optimal_lr(s[0], s[-1])),
                steps=cap,
                record_at=rec,
                observe=lambda w: {"d": jnp.linalg.norm(w - w_star)},
            )
            dist = traj.observables["d"]
            idx = jnp.minimum(cond.steps_to_tolerance(dist, cfg.tol), len(rec) - 1)
            # the net at init on the same inputs
            net = mlp.init(key, [cfg.d, cfg.width, 1], dtype=jnp.float64)
            yn = yt / jnp.std(yt)
            h = hessian.hessian(train.mse(mlp.apply, activation="tanh"), net, (xt, yn))
            return {
                "kappa": kappa,
                "rate": dg.contraction_rate(jnp.asarray(rec), dist, floor=1e-13),
                "rate_theory": dg.gd_rate(kappa),
                "steps": jnp.asarray(rec)[idx],
                "steps_theory": cond.predicted_gd_steps(kappa, cfg.tol),
                "hessian_kappa": cond.hessian_condition_number(jnp.linalg.eigvalsh(h), 1e-8),
            }

        ds = sweep.run(
            point,
            {"transform": np.arange(len(TRANSFORMS)), "seed": np.arange(cfg.seeds)},
            store=store,
            shard=shard,
            key_axes=("seed",),
            base_seed=cfg.base_seed,
            config=cfg.to_dict(execution=False),
            batching=cfg.batching,
            progress=progress,
            desc="preprocessing",
        )
    ds = ds.assign_coords(transform=list(TRANSFORMS))
    ds.attrs.update(tol=cfg.tol, scale_max=cfg.scale_max)
    return describe(
        ds,
        {
            "kappa": ("condition number of X^T X / n (training rows)", "1"),
            "rate": ("GD's measured contraction per step of |w_t - w*| (step 2 / (L + mu))", "1"),
            "rate_theory": ("(kappa - 1) / (kappa + 1)", "1"),
            "steps": ("GD's measured steps to |w_t - w*| <= tol |w_0 - w*|", "steps"),
            "steps_theory": (
                "ceil(log tol / log r), r = (kappa - 1) / (kappa + 1) (1 where kappa = 1)",
                "steps",
            ),
            "hessian_kappa": (
                "two-layer tanh net at init: max |lambda| / min nonzero |lambda| of the loss Hessian",
                "1",
            ),
        },
    )


def claims_preprocessing(ds: xr.Dataset) -> list:
    out = []
    for t in ("raw", "standardize"):
        sel = ds.sel(transform=t)
        err = float(np.max(np.abs(sel["rate"] - sel["rate_theory"])))
        out.append(
            claim(
                ds,
                name=f"gd-rate-{t}",
                figure="course: preprocessing",
                statement=f"{t}: GD's measured rate on least squares equals (kappa - 1)/(kappa + 1) "
                f"within {RATE_TOL:g} (every seed; kappa {float(sel['kappa'].median()):.4g})",
                book=0.0,
                measured=err,
                held=err < RATE_TOL,
                if_not_held="the fit window of the rate sits before the slowest mode dominates",
            )
        )
    kw = float(np.max(np.abs(ds["kappa"].sel(transform="whiten") - 1)))
    out.append(
        claim(
            ds,
            name="whitening-kappa-one",
            figure="course: preprocessing",
            statement="PCA whitening (fit on the training rows) makes kappa(X^T X / n) = 1 to float64 tolerance (1e-9)",
            book=1.0,
            measured=kw,
            held=kw < 1e-9,
            if_not_held="a near-singular training covariance",
        )
    )
    raw, white = ds.sel(transform="raw"), ds.sel(transform="whiten")
    factor = raw["steps"] / white["steps"]
    pred = raw["steps_theory"] / white["steps_theory"]
    rel = float(np.max(np.abs(factor / pred - 1)))
    out.append(
        claim(
            ds,
            name="whitening-cuts-steps",
            figure="course: preprocessing",
            statement=f"whitening cuts GD's steps to tol {ds.attrs['tol']:g} by the predicted factor "
            f"(log tol / log r_raw over 1 step) within {FACTOR_TOL:.0%} (every seed)",
            book=float(pred.median()),
            measured=float(factor.median()),
            held=rel < FACTOR_TOL,
            if_not_held="the starting error has little weight on the slowest eigendirection",
            detail=f"largest relative deviation {rel:.3g}",
        )
    )
    h = ds["hessian_kappa"]
    gain_std = float((h.sel(transform="raw") / h.sel(transform="standardize")).median())
    gain_white = float((h.sel(transform="raw") / h.sel(transform="whiten")).median())
    out.append(
        claim(
            ds,
            name="net-hessian-better-conditioned",
            figure="course: preprocessing",
            statement="the two-layer net's Hessian at init is better conditioned on standardized and on "
            "whitened inputs than on raw ones (median ratios raw / transformed > 1)",
            book="> 1",
            measured=[gain_std, gain_white],
            held=min(gain_std, gain_white) > 1,
            if_not_held="the net's Hessian at init is dominated by its output layer, not the inputs",
        )
    )
    return out


register(
    Experiment(
        "course-preprocessing",
        area="course",
        figure="course: preprocessing",
        title="standardization and PCA whitening: GD's rate (kappa-1)/(kappa+1) and the net's Hessian conditioning",
        config=PreprocessingConfig,
        presets={
            "tiny": dict(n=120, d=4, scale_max=10.0, seeds=2, width=8),
            "quick": {},
            "paper": dict(n=2000, d=16, seeds=8, width=32),
        },
        run=run_preprocessing,
        claims=claims_preprocessing,
        figures=_figures("preprocessing_figures"),
    )
)


# ============================================================================ weight decay vs L2

METHODS = ("adam_l2", "adamw")
EQUAL_TOL = 1e-4
SLOPE_TOL = 0.1


@dataclass(frozen=True)
class WeightDecayConfig(Config):
    """Digits (sklearn, pixels / 16), first ``n_train`` samples for training, the next ``n_test``
    for test; MLP [64, width, 10] tanh, LeCun init, cross-entropy, full-batch. (a) ``sgd_steps``
    of SGD at ``sgd_lr`` with decoupled decay ``sgd_decay`` vs L2 at lambda = decay / lr. (b)
    ``adam_steps`` of Adam + L2 and AdamW at ``adam_lr`` for every decay in ``decays`` (weights
    only, biases undecayed), test accuracy and per-weight effective shrinkage at the end."""

    n_train: int = param(1000, ge=10)
    n_test: int = param(797, ge=10)
    width: int = param(64, ge=1)
    sgd_lr: float = param(0.5, gt=0.0)
    sgd_decay: float = param(1e-3, gt=0.0, lt=1.0)
    sgd_steps: int = param(300, ge=1)
    adam_lr: float = param(3e-3, gt=0.0)
    decays: tuple[float, ...] = param((1e-3, 1e-2, 1e-1, 3e-1), gt=0.0)
    adam_steps: int = param(1500, ge=1)
    seeds: int = param(2, ge=1)
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        if self.n_train + self.n_test > 1797:
            raise ValueError(
                f"n_test: digits has 1797 samples, n_train + n_test = {self.n_train + self.n_test}"
            )


def _digits(cfg):
    from phasekit.data import digits

    x, y = digits()
    return (
        jnp.asarray(x[: cfg.n_train]),
        jnp.asarray(y[: cfg.n_train]),
        jnp.asarray(x[cfg.n_train : cfg.n_train + cfg.n_test]),
        jnp.asarray(y[cfg.n_train : cfg.n_train + cfg.n_test]),
    )


def _leaves_w(tree):
    return jnp.concatenate([layer["w"].ravel() for layer in tree])


def run_weight_decay(
    cfg: WeightDecayConfig, store=None, shard=None, progress: bool = True
) -> xr.Dataset:
    x, y, xt, yt = _digits(cfg)
    sizes = [64, cfg.width, 10]
    loss = train.cross_entropy(mlp.apply, activation="tanh")
    acc = train.accuracy(mlp.apply, xt, yt, activation="tanh")

    def sgd_point(pt, key):
        p0 = mlp.init(key, sizes)
        lam = wd.equivalent_l2(cfg.sgd_lr, cfg.sgd_decay)
        # (L2, decoupled) = (0, beta), (beta / eta, 0), (0, 0): one program, vmapped over the three
        l2s, decs = jnp.array([0.0, lam, 0.0]), jnp.array([cfg.sgd_decay, 0.0, 0.0])
        ws = jax.vmap(
            lambda l2, dec: train.run(
                loss,
                p0,
                (x, y),
                wd.sgd_decay(cfg.sgd_lr, l2, dec),
                steps=cfg.sgd_steps,
                n_records=12,
                observe=lambda p: {"w": _leaves_w(p)},
            ).observables["w"]
        )(l2s, decs)
        wa, wb, wc = ws
        scale = jnp.max(jnp.abs(wa), -1)
        return {
            "sgd_gap": jnp.max(jnp.abs(wa - wb), -1) / scale,
            "sgd_decay_effect": jnp.max(jnp.abs(wa - wc), -1) / scale,
        }

    sg = sweep.run(
        sgd_point,
        {"seed": np.arange(cfg.seeds)},
        store=_store(store, "sgd"),
        shard=shard,
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        batching=cfg.batching,
        dims={"sgd_gap": ("sgd_record",), "sgd_decay_effect": ("sgd_record",)},
        coords={"sgd_record": train.record_steps(cfg.sgd_steps, 12)},
        progress=progress,
        desc="SGD decay = L2",
    )

    def adam_point(pt, key):
        decay = jnp.asarray(cfg.decays)[pt["decay"]]
        is_l2 = (pt["optimizer"] == 0).astype(
            decay.dtype
        )  # traced: Adam + L2 and AdamW in one program
        make = lambda d: wd.adam_decay(cfg.adam_lr, is_l2 * d, (1 - is_l2) * d, reg.weights_only)
        r = train.resumable(
            loss, mlp.init(key, sizes), (x, y), make(decay), steps=cfg.adam_steps, n_records=2
        )
        s = r.advance(r.init(), cfg.adam_steps)
        params, opt_state = s.train.params, s.train.opt_state
        g = jax.grad(loss)(params, (x, y))
        shrink = _leaves_w(wd.effective_shrinkage(make, decay, opt_state, g, params))
        rms = jnp.sqrt(_leaves_w(wd.second_moment(opt_state)))
        ok = (jnp.abs(_leaves_w(params)) > 1e-6) & (rms > 1e-7)
        # weights outside ``ok`` (zero, or no gradient) are left out; where() keeps their NaN logs out of the sums
        lx, ly = (
            jnp.where(ok, jnp.log(jnp.where(ok, rms, 1.0)), 0.0),
            jnp.where(ok, jnp.log(jnp.abs(jnp.where(ok, shrink, 1.0))), 0.0),
        )
        w = ok.astype(lx.dtype)
        mx, my = jnp.sum(w * lx) / w.sum(), jnp.sum(w * ly) / w.sum()
        slope = jnp.sum(w * (lx - mx) * (ly - my)) / jnp.sum(w * (lx - mx) ** 2)
        q = jnp.nanpercentile(
            jnp.where(ok, jnp.abs(shrink), jnp.nan), jnp.array([10.0, 50.0, 90.0])
        )
        return {
            "test_accuracy": acc(params)["accuracy"],
            "train_loss": loss(params, (x, y)),
            "shrink_slope": slope,
            "shrink_quantiles": q,
            "weight_norm": jnp.linalg.norm(_leaves_w(params)),
        }

    ad = sweep.run(
        adam_point,
        {
            "optimizer": np.arange(len(METHODS)),
            "decay": np.arange(len(cfg.decays)),
            "seed": np.arange(cfg.seeds),
        },
        store=_store(store, "adam"),
        shard=shard,
        key_axes=("seed",),
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        batching=cfg.batching,
        dims={"shrink_quantiles": ("quantile",)},
        coords={"quantile": [10, 50, 90]},
        progress=progress,
        desc="Adam + L2 vs AdamW",
    )
    ad = ad.assign_coords(optimizer=list(METHODS), decay=np.asarray(cfg.decays))
    ds = xr.merge([sg, ad], combine_attrs="drop_conflicts")
    ds.attrs.update(adam_lr=cfg.adam_lr, sgd_lr=cfg.sgd_lr, sgd_decay=cfg.sgd_decay)
    return describe(
        ds,
        {
            "sgd_gap": (
                "max |theta_decoupled - theta_L2| / max |theta| (lambda = beta / eta), weights",
                "1",
            ),
            "sgd_decay_effect": (
                "max |theta_decoupled - theta_no_decay| / max |theta|, weights",
                "1",
            ),
            "test_accuracy": ("test accuracy after training", "1"),
            "train_loss": ("training cross-entropy (no penalty) after training", "1"),
            "shrink_slope": (
                "least-squares slope of log effective shrinkage vs log sqrt(v_hat) over the weights",
                "1",
            ),
            "shrink_quantiles": (
                "10/50/90th percentiles over the weights of the one-step effective shrinkage",
                "1",
            ),
            "weight_norm": ("|w| of all weights after training", "1"),
        },
    )


def claims_weight_decay(ds: xr.Dataset) -> list:
    out = []
    gap, effect = (
        float(ds["sgd_gap"].max()),
        float(ds["sgd_decay_effect"].isel(sgd_record=-1).min()),
    )
    out.append(
        claim(
            ds,
            name="sgd-decay-is-l2",
            figure="course: weight decay vs L2",
            statement=f"SGD: theta <- (1 - beta) theta - eta g equals SGD on L + (lambda/2)|theta|^2 with lambda = "
            f"beta/eta at every record (relative gap < {EQUAL_TOL:g}), while the decay itself moves the "
            f"weights by more",
            book=0.0,
            measured=gap,
            held=gap < EQUAL_TOL and effect > 10 * gap,
            if_not_held="float32 rounding compounds over the steps",
            detail=f"decay's own effect {effect:.3g}",
        )
    )
    s_l2 = float(ds["shrink_slope"].sel(optimizer="adam_l2").median())
    s_w = float(np.abs(ds["shrink_slope"].sel(optimizer="adamw")).max())
    out.append(
        claim(
            ds,
            name="adam-l2-shrinks-less-where-gradients-are-large",
            figure="course: weight decay vs L2",
            statement=f"Adam + L2: a weight's effective shrinkage per step falls as 1 / sqrt(v_hat) (log-log slope "
            f"-1 within {SLOPE_TOL}, median over decays and seeds); AdamW: the same for every weight "
            f"(|slope| < 1e-3)",
            book=[-1.0, 0.0],
            measured=[s_l2, s_w],
            held=abs(s_l2 + 1) < SLOPE_TOL and s_w < 1e-3,
            if_not_held="the L2 term dominates v_hat early (bias correction amplifies it)",
        )
    )
    q = ds["shrink_quantiles"].median("seed")
    spread = q.sel(quantile=90) / q.sel(quantile=10)
    spread_l2, spread_w = (
        float(spread.sel(optimizer="adam_l2").min()),
        float(np.abs(spread.sel(optimizer="adamw") - 1).max()),
    )
    out.append(
        claim(
            ds,
            name="adam-l2-shrinkage-spread",
            figure="course: weight decay vs L2",
            statement="Adam + L2 shrinks weights unevenly, AdamW evenly: the 90th over the 10th percentile of "
            "the one-step shrinkage is > 1 at every decay for Adam + L2 and 1 (to 1e-3) for AdamW",
            book="Adam + L2 > 1, AdamW 1",
            measured=[spread_l2, spread_w],
            held=spread_l2 > 1 and spread_w < 1e-3,
            if_not_held="the gradient scales of the weights are too alike",
        )
    )
    acc = ds["test_accuracy"].mean("seed")
    best_l2, best_w = (
        float(acc.sel(optimizer="adam_l2").max()),
        float(acc.sel(optimizer="adamw").max()),
    )
    out.append(
        claim(
            ds,
            name="adamw-generalizes-at-least-as-well",
            figure="course: weight decay vs L2",
            statement="at matched decay, AdamW's best test accuracy over the decay grid is at least Adam + L2's "
            "(minus 0.5%) (Loshchilov & Hutter)",
            book="AdamW >= Adam + L2",
            measured=[best_w, best_l2],
            held=best_w >= best_l2 - 0.005,
            if_not_held="digits is too easy (both saturate) or the decay grid misses AdamW's optimum",
            min_preset="quick",
        )
    )
    return out


register(
    Experiment(
        "course-weight-decay",
        area="course",
        figure="course: weight decay vs L2",
        title="weight decay vs L2: equal under SGD (lambda = beta/eta); Adam + L2 vs AdamW shrinkage and accuracy",
        config=WeightDecayConfig,
        presets={
            "tiny": dict(
                n_train=300,
                n_test=200,
                width=16,
                sgd_steps=60,
                adam_steps=150,
                decays=(1e-2, 1e-1),
                seeds=1,
            ),
            "quick": {},
            "paper": dict(
                width=256,
                adam_steps=5000,
                seeds=5,
                decays=(1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0),
            ),
        },
        run=run_weight_decay,
        claims=claims_weight_decay,
        figures=_figures("weight_decay_figures"),
    )
)


# ============================================================================ orthogonal init

INITS = ("orthogonal", "gaussian")
ACTS = ("identity", "tanh")


@dataclass(frozen=True)
class OrthogonalConfig(Config):
    """Square nets (:mod:`phasekit.models.square_net`) of width ``width`` and ``depths`` weight
    layers, no biases; "gaussian" is N(0, 1 / width) (LeCun, = Xavier for square layers),
    "orthogonal" gain 1. Jacobian singular values at ``inputs`` Gaussian inputs, in float64 (the
    smallest singular values of a Gaussian product at depth 50 are below float32's resolution).
    Training: the deep linear net of depth max(depths) on y = x A (A Gaussian / sqrt(width),
    ``n`` samples), GD at ``lr`` for ``steps``, steps to ``target`` times the initial loss."""

    width: int = param(32, ge=2)
    depths: tuple[int, ...] = param((10, 20, 50), ge=1)
    inputs: int = param(4, ge=1)
    n: int = param(256, ge=2)
    lr: float = param(0.01, gt=0.0)
    steps: int = param(2000, ge=1)
    target: float = param(0.01, gt=0.0, lt=1.0)
    seeds: int = param(3, ge=1)
    data_seed: int = param(100, ge=0)
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap"))

    EXECUTION_FIELDS = ("batching",)


def _square(key, init_index, width, depth, dtype=jnp.float32):
    """Both inits, picked by a traced index (one compiled program for the two)."""
    a = square_net.init(key, width, depth, "orthogonal", dtype=dtype)
    b = square_net.init(key, width, depth, "gaussian", dtype=dtype)
    return jax.tree_util.tree_map(lambda u, v: jnp.where(init_index == 0, u, v), a, b)


def run_orthogonal(
    cfg: OrthogonalConfig, store=None, shard=None, progress: bool = True
) -> xr.Dataset:
    n = cfg.width
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(cfg.data_seed), (cfg.inputs, n), jnp.float64)

        deepest = max(cfg.depths)

        def jac_point(pt, key):
            # every depth, init and activation in one compiled program: the net stacks the largest
            # depth and skips the layers past pt["depth"]; both activations are computed
            p = _square(jax.random.fold_in(key, pt["depth"]), pt["init"], n, deepest, jnp.float64)
            sv = jnp.stack(
                [
                    cond.jacobian_singular_values(
                        square_net.apply, p, x, activation=a, depth=pt["depth"]
                    )
                    for a in ACTS
                ]
            )[pt["activation"]]
            return {
                "sv_max": sv.max(-1).mean(),
                "sv_min": sv.min(-1).mean(),
                "log_spread": cond.log_spread(sv).mean(),
                "max_dev_from_one": jnp.max(jnp.abs(sv - 1)),
            }

        jac = _grid(
            jac_point,
            {
                "init": np.arange(2),
                "activation": np.arange(2),
                "depth": np.asarray(cfg.depths),
                "seed": np.arange(cfg.seeds),
            },
            cfg=cfg,
            store=_store(store, "jacobian"),
            shard=shard,
            progress=progress,
            desc="orthogonal init: Jacobian spectra",
        )
    jac = jac.assign_coords(init=list(INITS), activation=list(ACTS))

    kx, ka = jax.random.split(jax.random.key(cfg.data_seed + 1))
    xs = jax.random.normal(kx, (cfg.n, n))
    ys = xs @ (jax.random.normal(ka, (n, n)) / np.sqrt(n))
    loss = train.mse(square_net.apply, activation="identity")
    depth = max(cfg.depths)
    rec = train.record_steps(cfg.steps, 60)

    def train_point(pt, key):
        traj = train.run(
            loss,
            _square(key, pt["init"], n, depth),
            (xs, ys),
            optax.sgd(cfg.lr),
            steps=cfg.steps,
            record_at=rec,
        )
        return {
            "loss": traj.loss,
            "steps_to_target": dg.steps_to_target(rec, traj.loss, cfg.target * traj.loss[0]),
            "diverged": traj.diverged,
        }

    tr = _grid(
        train_point,
        {"init": np.arange(2), "seed": np.arange(cfg.seeds)},
        cfg=cfg,
        store=_store(store, "training"),
        shard=shard,
        progress=progress,
        desc="orthogonal init: training",
        dims={"loss": ("step",)},
        coords={"step": rec},
    )
    if not (jac.attrs["complete"] and tr.attrs["complete"]):
        return tr  # one shard; the complete run adds the rest
    tr = tr.assign_coords(init=list(INITS))
    ds = xr.merge([jac, tr], combine_attrs="drop_conflicts")
    ds.attrs.update(width=n, train_depth=depth, target=cfg.target, lr=cfg.lr)
    return describe(
        ds,
        {
            "sv_max": (
                "largest singular value of the input-output Jacobian at init (mean over inputs)",
                "1",
            ),
            "sv_min": (
                "smallest singular value of the input-output Jacobian at init (mean over inputs)",
                "1",
            ),
            "log_spread": ("std of log singular values of the Jacobian (mean over inputs)", "1"),
            "max_dev_from_one": (
                "max |sigma - 1| over the Jacobian's singular values and inputs",
                "1",
            ),
            "loss": ("training MSE of the deep linear net", "1"),
            "steps_to_target": ("GD steps to target x initial loss (NaN: not reached)", "steps"),
            "diverged": ("the run diverged", "1"),
        },
    )


def claims_orthogonal(ds: xr.Dataset) -> list:
    out = []
    lin = ds.sel(activation="identity")
    dev = float(lin["max_dev_from_one"].sel(init="orthogonal").max())
    out.append(
        claim(
            ds,
            name="orthogonal-linear-isometry",
            figure="course: orthogonal init",
            statement=f"orthogonal init of a deep linear net (depth up to {int(ds.depth.max())}): every singular "
            f"value of the input-output Jacobian is 1 to 1e-5",
            book=0.0,
            measured=dev,
            held=dev < 1e-5,
            if_not_held="round-off compounds with depth",
        )
    )
    g = lin["log_spread"].sel(init="gaussian").median("seed")
    grow = float(g.isel(depth=-1) / g.isel(depth=0))
    pred = float(np.sqrt(ds.depth.values[-1] / ds.depth.values[0]))
    out.append(
        claim(
            ds,
            name="gaussian-spectrum-spreads",
            figure="course: orthogonal init",
            statement=f"Gaussian (LeCun/Xavier) init: the spread of log singular values grows with depth, like "
            f"sqrt(depth) (deepest over shallowest > sqrt(ratio of depths) / 2 = {pred / 2:.3g})",
            book=pred,
            measured=grow,
            held=grow > pred / 2,
            if_not_held="the depths are too close together",
        )
    )
    t = ds.sel(activation="tanh")["log_spread"].median("seed").isel(depth=-1)
    ratio = float(t.sel(init="gaussian") / t.sel(init="orthogonal"))
    out.append(
        claim(
            ds,
            name="orthogonal-tanh-tighter",
            figure="course: orthogonal init",
            statement="tanh nets at the largest depth: orthogonal init keeps the Jacobian spectrum tighter than "
            "Gaussian (ratio of log-spreads Gaussian / orthogonal > 2)",
            book="> 1",
            measured=ratio,
            held=ratio > 2,
            if_not_held="tanh's saturation, not the weights, sets the spread at this width",
        )
    )
    s = ds["steps_to_target"]
    so, sg = float(s.sel(init="orthogonal").median()), float(s.sel(init="gaussian").median())
    sg_eff = sg if np.isfinite(sg) else float(ds["step"].max()) * 2
    out.append(
        claim(
            ds,
            name="orthogonal-trains-faster",
            figure="course: orthogonal init",
            statement=f"deep linear net at depth {ds.attrs['train_depth']}: orthogonal init reaches {ds.attrs['target']:g} "
            f"x the initial loss in fewer GD steps than Gaussian (median over seeds; not reached counts "
            f"as twice the budget)",
            book="orthogonal faster (Saxe et al.)",
            measured=[so, sg],
            held=bool(np.isfinite(so) and so < sg_eff),
            if_not_held="the learning rate suits the Gaussian net's top singular direction better",
            detail=f"diverged runs: orthogonal {int(ds['diverged'].sel(init='orthogonal').sum())}, Gaussian "
            f"{int(ds['diverged'].sel(init='gaussian').sum())} of {ds.sizes['seed']} (one lr for both: the "
            f"Gaussian product's large top singular value makes that lr unstable)",
        )
    )
    return out


register(
    Experiment(
        "course-orthogonal-init",
        area="course",
        figure="course: orthogonal init",
        title="orthogonal vs Gaussian init: input-output Jacobian spectra of deep linear / tanh nets, training at depth 50",
        config=OrthogonalConfig,
        presets={
            "tiny": dict(width=16, depths=(10, 50), inputs=2, n=64, steps=300, seeds=2),
            "quick": {},
            "paper": dict(
                width=128, depths=(10, 20, 30, 40, 50), inputs=16, n=1024, steps=10000, seeds=8
            ),
        },
        run=run_orthogonal,
        claims=claims_orthogonal,
        figures=_figures("orthogonal_figures"),
    )
)


# ============================================================================ layer norm


@dataclass(frozen=True)
class LayerNormConfig(Config):
    """Digits (standardized pixels), first ``n`` samples; :class:`phasekit.models.normalized_mlp.MLP`
    with LN after each hidden Dense (no bias there), tanh, 10 outputs, cross-entropy; full-batch GD
    at ``lr`` with decoupled decay in ``decays`` (0: none) for ``steps``, recorded at pairs of
    consecutive steps (t, t + 1) to check |w|^2's one-step law. Batch independence: one sample's
    output with its batch replaced by ``batch`` fresh samples, LN vs BN (training mode)."""

    n: int = param(500, ge=8)
    widths: tuple[int, ...] = param((64, 64), ge=1)
    lr: float = param(0.5, gt=0.0)
    decays: tuple[float, ...] = param((0.0, 1e-3), ge=0.0, lt=1.0)
    steps: int = param(2000, ge=2)
    records: int = param(12, ge=2)
    batch: int = param(16, ge=2)
    seeds: int = param(2, ge=1)
    base_seed: int = param(0, ge=0)


def _feeds_norm(n_hidden):
    return lambda path: any(f"'Dense_{i}'" in path for i in range(n_hidden))


def run_layernorm(
    cfg: LayerNormConfig, store=None, shard=None, progress: bool = True
) -> xr.Dataset:
    from phasekit.data import digits

    xa, ya = digits(scale="standard")
    x, y = jnp.asarray(xa[: cfg.n]), jnp.asarray(ya[: cfg.n])
    ln = normalized_mlp.MLP(cfg.widths, out=10, layer_norm=True, activation="tanh")
    bn = normalized_mlp.MLP(cfg.widths, out=10, batch_norm=True, activation="tanh")
    feeds = _feeds_norm(len(cfg.widths))

    def loss(params, data):
        return jnp.mean(
            optax.softmax_cross_entropy_with_integer_labels(
                ln.apply({"params": params}, data[0]), data[1]
            )
        )

    base = np.unique(np.round(np.geomspace(1, cfg.steps - 1, cfg.records - 1)).astype(int))
    rec = np.unique(np.concatenate([[0, 1], base, base + 1]))

    def observe(p):
        g = jax.grad(loss)(p, (x, y))
        return {
            "w_sq": norm.squared_norms(p, feeds),
            "g_sq": norm.squared_norms(g, feeds),
            "cos": norm.cosine_weight_gradient(loss, p, (x, y), feeds),
        }

    def point(pt, key):
        decay = jnp.asarray(cfg.decays)[pt["decay"]]
        params, _ = normalized_mlp.init(key, ln, 64)
        traj = train.run(
            loss,
            params,
            (x, y),
            wd.decoupled_sgd(cfg.lr, decay),
            steps=cfg.steps,
            record_at=rec,
            observe=observe,
        )
        o = traj.observables
        nxt = np.searchsorted(rec, rec + 1)
        has = jnp.asarray(np.isin(rec + 1, rec))
        pred = norm.next_sq_norm(o["w_sq"], o["g_sq"], cfg.lr, decay)
        law = jnp.where(
            has[:, None], jnp.abs(o["w_sq"][np.minimum(nxt, len(rec) - 1)] / pred - 1), 0.0
        )
        # batch independence: sample 0 with the other rows replaced
        kb = jax.random.fold_in(key, 1)
        xb = x[: cfg.batch]
        other = xb.at[1:].set(
            x[cfg.batch : 2 * cfg.batch - 1][::-1] + jax.random.normal(kb, (cfg.batch - 1, 64))
        )
        f = lambda v: ln.apply({"params": params}, v)[0]
        pb, sb = normalized_mlp.init(key, bn, 64)
        g = lambda v: bn.apply(
            {"params": pb, "batch_stats": sb}, v, train=True, mutable=["batch_stats"]
        )[0][0]
        return {
            "loss": traj.loss,
            "w_sq": o["w_sq"],
            "cos": o["cos"],
            "law_error": law.max(),
            "eff_lr": norm.effective_lr(cfg.lr, o["w_sq"]),
            "ln_batch_gap": jnp.max(jnp.abs(f(xb) - f(other))),
            "bn_batch_gap": jnp.max(jnp.abs(g(xb) - g(other))),
        }

    layers = [f"Dense_{i}" for i in range(len(cfg.widths))]
    ds = _grid(
        point,
        {"decay": np.arange(len(cfg.decays)), "seed": np.arange(cfg.seeds)},
        cfg=cfg,
        store=store,
        shard=shard,
        progress=progress,
        desc="layer norm",
        dims={
            "loss": ("step",),
            "w_sq": ("step", "layer"),
            "cos": ("step", "layer"),
            "eff_lr": ("step", "layer"),
        },
        coords={"step": rec, "layer": layers},
    )
    if not ds.attrs["complete"]:
        return ds  # one shard; the complete run adds the rest
    ds = ds.assign_coords(decay=np.asarray(cfg.decays))
    ds.attrs.update(lr=cfg.lr)
    return describe(
        ds,
        {
            "loss": ("training cross-entropy", "1"),
            "w_sq": ("|W_l|^2 of the kernels feeding a LayerNorm", "1"),
            "cos": ("<w, grad_w L> / (|w| |grad_w L|) of the kernels feeding a LayerNorm", "1"),
            "law_error": (
                "max over records t of |(|w_{t+1}|^2) / ((1 - beta)^2 |w_t|^2 + eta^2 |g_t|^2) - 1|",
                "1",
            ),
            "eff_lr": ("effective learning rate eta / |w|^2", "1"),
            "ln_batch_gap": ("max |f_LN(x_0 | batch) - f_LN(x_0 | other batch)|", "1"),
            "bn_batch_gap": (
                "max |f_BN(x_0 | batch) - f_BN(x_0 | other batch)| (training mode)",
                "1",
            ),
        },
    )


def claims_layernorm(ds: xr.Dataset) -> list:
    out = []
    ln_gap, bn_gap = float(ds["ln_batch_gap"].max()), float(ds["bn_batch_gap"].min())
    out.append(
        claim(
            ds,
            name="ln-batch-independent",
            figure="course: layer norm",
            statement="LN's output for a sample does not change when the other samples of its batch change "
            "(max difference 0); BN's (training mode) does (> 1e-3)",
            book=0.0,
            measured=[ln_gap, bn_gap],
            held=ln_gap == 0.0 and bn_gap > 1e-3,
            if_not_held="XLA reorders the per-row reduction with the batch size",
        )
    )
    cos = float(np.abs(ds["cos"]).max())
    out.append(
        claim(
            ds,
            name="scale-invariance",
            figure="course: layer norm",
            statement="<w, grad_w L> = 0 for the kernels feeding LN along the whole run: |cosine| < 1e-3",
            book=0.0,
            measured=cos,
            held=cos < 1e-3,
            if_not_held="LN's epsilon breaks the invariance where Var[z] is small",
        )
    )
    law = float(ds["law_error"].max())
    out.append(
        claim(
            ds,
            name="norm-growth-law",
            figure="course: layer norm",
            statement="|w_{t+1}|^2 = (1 - beta)^2 |w_t|^2 + eta^2 |g_t|^2 at every recorded step, with and "
            "without decay (relative error < 1e-4)",
            book=0.0,
            measured=law,
            held=law < 1e-4,
            if_not_held="float32 rounding of |w|^2",
        )
    )
    w = ds["w_sq"].median("seed")
    grow0 = float((w.sel(decay=0.0).isel(step=-1) / w.sel(decay=0.0).isel(step=0)).min())
    out.append(
        claim(
            ds,
            name="norm-grows-without-decay",
            figure="course: layer norm",
            statement="without decay |w| of every kernel feeding LN only grows, so the effective lr "
            "eta / |w|^2 falls (final over initial |w|^2 > 1)",
            book="> 1",
            measured=grow0,
            held=grow0 > 1.0,
            if_not_held="too few steps",
        )
    )
    decays = [float(d) for d in ds["decay"].values if d > 0]
    if decays:
        d = decays[-1]
        ratio = float(
            (
                ds["eff_lr"].sel(decay=d).isel(step=-1) / ds["eff_lr"].sel(decay=0.0).isel(step=-1)
            ).median()
        )
        out.append(
            claim(
                ds,
                name="decay-keeps-effective-lr",
                figure="course: layer norm",
                statement=f"weight decay {d:g} keeps |w| smaller, so the final effective lr eta / |w|^2 is higher "
                f"than without decay (median ratio > 1)",
                book="> 1",
                measured=ratio,
                held=ratio > 1.0,
                if_not_held="too few steps for decay to act",
            )
        )
    return out


register(
    Experiment(
        "course-layernorm",
        area="course",
        figure="course: layer norm",
        title="LayerNorm beside BatchNorm: batch independence, <w, grad_w L> = 0, |w|^2 growth and effective lr eta/|w|^2",
        config=LayerNormConfig,
        presets={
            "tiny": dict(n=128, widths=(16, 16), steps=100, records=6, seeds=1, decays=(0.0, 1e-2)),
            "quick": {},
            "paper": dict(
                n=1797,
                widths=(128, 128, 128),
                steps=10000,
                records=20,
                seeds=5,
                decays=(0.0, 1e-4, 1e-3),
            ),
        },
        run=run_layernorm,
        claims=claims_layernorm,
        figures=_figures("layernorm_figures"),
    )
)


# ============================================================================ hyperparameter search

SEARCHES = ("grid", "random", "halving", "gp_ucb")
SH_TOL = 0.01


@dataclass(frozen=True)
class SearchConfig(Config):
    """A two-layer tanh net [d, width, 1] (``mlp``, LeCun init times ``init_scale``) fit to a
    teacher tanh(x . b) + x_1 x_2 on ``n`` training samples, validation MSE on ``n`` more; full-batch
    SGD with decoupled decay lr * weight_decay for ``steps`` (the full budget R). Space: lr in
    ``lr_range`` (log), weight_decay in ``wd_range`` (log; so small it does not matter), init_scale
    in ``scale_range`` (log). Per seed: grid (per_dim^3 points), random (as many), successive
    halving (eta, min budget R / eta^2) over the random points, batch GP-UCB (``gp_batches``
    batches of per_dim^3 / gp_batches). Every search evaluates trials in batches of that size,
    each batch one vmapped program (the same compiled program for all). Not stored: the searches
    hold their state on the host (no ``store``/resume; the quick preset takes about a minute)."""

    d: int = param(6, ge=2)
    width: int = param(32, ge=1)
    n: int = param(256, ge=4)
    steps: int = param(300, ge=9)
    lr_range: tuple[float, ...] = param((1e-2, 3.0), gt=0.0)
    wd_range: tuple[float, ...] = param((1e-7, 1e-5), gt=0.0)
    scale_range: tuple[float, ...] = param((0.1, 4.0), gt=0.0)
    per_dim: int = param(3, ge=2)
    eta: int = param(3, ge=2)
    gp_batches: int = param(3, ge=1)
    lanes: int = param(9, ge=1)
    seeds: int = param(5, ge=1)
    data_seed: int = param(100, ge=0)

    def validate(self):
        for f in ("lr_range", "wd_range", "scale_range"):
            v = getattr(self, f)
            if len(v) != 2 or not v[0] < v[1]:
                raise ValueError(f"{f}: need (low, high) with low < high, got {v}")
        if self.per_dim**3 % self.gp_batches:
            raise ValueError(f"gp_batches: must divide per_dim^3 = {self.per_dim**3}")


def _search_task(cfg):
    k1, k2, k3 = jax.random.split(jax.random.key(cfg.data_seed), 3)
    x = jax.random.normal(k1, (2 * cfg.n, cfg.d))
    b = jax.random.normal(k2, (cfg.d,)) / np.sqrt(cfg.d)
    y = jnp.tanh(2 * x @ b) + x[:, 0] * x[:, 1] + 0.1 * jax.random.normal(k3, (2 * cfg.n,))
    loss = train.mse(mlp.apply, activation="tanh")
    tr, va = (x[: cfg.n], y[: cfg.n]), (x[cfg.n :], y[cfg.n :])

    def make(pt, key):
        p = jax.tree_util.tree_map(
            lambda a: pt["init_scale"] * a, mlp.init(key, [cfg.d, cfg.width, 1])
        )
        opt = wd.sgd_decay(pt["lr"], 0.0, pt["lr"] * pt["weight_decay"])
        r = train.resumable(loss, p, tr, opt, steps=cfg.steps, n_records=2)
        return r.then(
            lambda t: {"val_loss": jnp.nan_to_num(loss(t.params, va), nan=1e6, posinf=1e6)}
        )

    space = {
        "lr": (*cfg.lr_range, True),
        "weight_decay": (*cfg.wd_range, True),
        "init_scale": (*cfg.scale_range, True),
    }
    return make, space


def _curve(events, checkpoints):
    """best val_loss among the events [(run-steps so far, val_loss)] finished by each checkpoint."""
    ev = np.asarray(events, float)
    return np.array(
        [ev[ev[:, 0] <= b, 1].min() if np.any(ev[:, 0] <= b) else np.nan for b in checkpoints]
    )


def run_search(cfg: SearchConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    make, space = _search_task(cfg)
    n_trials, R = cfg.per_dim**3, cfg.steps
    checkpoints = R * np.arange(1, n_trials + 1)
    rows: dict[str, list] = {k: [] for k in ("best", "steps", "curve")}
    sh_rungs = []
    for seed in range(cfg.seeds):
        keys = search.trial_keys(1000 * seed, n_trials)
        res = {}
        rnd = search.random(space, n_trials, seed)
        b = (
            n_trials // cfg.gp_batches
        )  # every batch of every search has this size: one compiled program

        def ev(pts, ks):
            return np.concatenate(
                [
                    search.evaluate(make, {k: v[i : i + b] for k, v in pts.items()}, ks[i : i + b])[
                        "val_loss"
                    ]
                    for i in range(0, len(ks), b)
                ]
            )

        for name, pts in (("grid", search.grid(space, cfg.per_dim)), ("random", rnd)):
            v = ev(pts, keys)
            res[name] = (
                float(v.min()),
                n_trials * R,
                np.stack([R * np.arange(1, n_trials + 1), v], -1),
            )
        h = search.halving(
            make,
            rnd,
            keys,
            brackets=[(range(n_trials), max(1, R // cfg.eta**2))],
            max_steps=R,
            eta=cfg.eta,
            lanes=cfg.lanes,
            round_steps=max(1, R // (4 * cfg.eta**2)),
        )
        res["halving"] = (h.best_loss, h.steps, h.events[:, [0, 2]])
        sh_rungs.append([len(r["ids"]) for r in h.rungs[0]])
        bo = search.GPUCB(len(space), seed=seed)
        events = []
        for i in range(cfg.gp_batches):
            u = bo.ask(b)
            v = ev(search.from_unit(space, u), keys[i * b : (i + 1) * b])
            bo.tell(u, v)
            events += [(R * (i * b + j + 1), float(x)) for j, x in enumerate(v)]
        res["gp_ucb"] = (float(bo.y.min()), n_trials * R, np.asarray(events))
        rows["best"].append([res[s][0] for s in SEARCHES])
        rows["steps"].append([res[s][1] for s in SEARCHES])
        rows["curve"].append([_curve(res[s][2], checkpoints) for s in SEARCHES])
    ds = xr.Dataset(
        {
            "best_val_loss": (("seed", "search"), np.asarray(rows["best"])),
            "budget": (("seed", "search"), np.asarray(rows["steps"])),
            "curve": (("seed", "search", "checkpoint"), np.asarray(rows["curve"])),
            "rung_sizes": (("seed", "rung"), np.asarray(sh_rungs)),
        },
        coords={
            "seed": np.arange(cfg.seeds),
            "search": list(SEARCHES),
            "checkpoint": checkpoints,
            "rung": np.arange(len(sh_rungs[0])),
        },
    )
    ds.attrs.update(full_budget=n_trials * R, steps=R, eta=cfg.eta, n_trials=n_trials)
    return describe(
        ds,
        {
            "best_val_loss": ("best validation MSE found by the search", "1"),
            "budget": ("run-steps the search computed", "steps"),
            "curve": (
                "best validation MSE among trials finished within the checkpoint's run-steps",
                "1",
            ),
            "rung_sizes": ("configurations per rung of successive halving", "1"),
        },
    )


def claims_search(ds: xr.Dataset) -> list:
    out = []
    b = ds["best_val_loss"]
    gain = float(np.median(np.log(b.sel(search="grid") / b.sel(search="random"))))
    out.append(
        claim(
            ds,
            name="random-beats-grid",
            figure="course: hyperparameter search",
            statement=f"random search beats grid search at equal budget ({ds.attrs['n_trials']} full runs) when one "
            f"of the three dimensions (weight decay) does not matter: median over seeds of "
            f"log(grid best / random best) > 0 (Bergstra & Bengio 2012)",
            book="> 0",
            measured=gain,
            held=gain > 0,
            if_not_held="measured at quick: a tie (median -0.007 over 5 seeds); the grid's three "
            "cell-centre values per dimension bracket the good learning rates of this task",
            min_preset="quick",
            reproduces=False,
        )
    )
    rel = b.sel(search="halving") / b.sel(search="random") - 1
    frac = float((ds["budget"].sel(search="halving") / ds.attrs["full_budget"]).max())
    med = float(rel.median())
    out.append(
        claim(
            ds,
            name="halving-near-best-at-a-third",
            figure="course: hyperparameter search",
            statement=f"successive halving (eta {ds.attrs['eta']}) over the random configurations reaches within "
            f"{SH_TOL:.0%} of their best full-budget loss (median over seeds) at no more than a third "
            f"of the budget",
            book=[SH_TOL, 1 / 3],
            measured=[med, frac],
            held=med <= SH_TOL and frac <= 1 / 3,
            if_not_held="the best full-budget configuration starts slowly and is dropped at the first rung",
            min_preset="quick",
            detail=f"relative gaps per seed {np.round(rel.values, 4).tolist()}",
        )
    )
    gp = float(np.median(np.log(b.sel(search="grid") / b.sel(search="gp_ucb"))))
    out.append(
        claim(
            ds,
            name="gp-ucb-beats-grid",
            figure="course: hyperparameter search",
            statement="batch GP-UCB (scikit-learn GP, 3 batches) beats grid search at equal budget: median "
            "log(grid best / GP-UCB best) > 0",
            book="> 0",
            measured=gp,
            held=gp > 0,
            min_preset="quick",
            if_not_held="too few batches for the surrogate to learn the two relevant dimensions",
        )
    )
    return out


register(
    Experiment(
        "course-hparam-search",
        area="course",
        figure="course: hyperparameter search",
        title="grid vs random vs successive halving vs batch GP-UCB on the vmapped engine; one irrelevant dimension",
        config=SearchConfig,
        presets={
            "tiny": dict(d=4, width=8, n=64, steps=90, seeds=2, lanes=9),
            "quick": {},
            "paper": dict(
                width=64, n=1024, steps=1000, per_dim=4, gp_batches=4, seeds=10, lanes=16
            ),
        },
        run=run_search,
        claims=claims_search,
        figures=_figures("search_figures"),
    )
)
