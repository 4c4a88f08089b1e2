"""Structure of the SGD noise on digits (spec 05 "SGD noise"; Zhu et al. 2019; Feng & Tu 2021).

    sgd-noise   minibatch SGD on digits (ReLU MLP, cross-entropy): a descent phase, then an
                exploration phase at the same lr whose weight snapshots give the PCA directions
                p_i, their variances sigma_i^2 and flatness F_i (Feng & Tu's inverse
                variance-flatness relation sigma_i^2 ~ F_i^-psi, psi ~ 4); at the last point the
                per-sample gradient covariance along the top-k Hessian eigenvectors against
                random directions (noise concentrated on the sharp directions, Sigma ~ H).

Recipe: config -> digits -> :func:`phasekit.dynamics.sweep.run` over seeds -> library measures
(:mod:`phasekit.theory.sgd_noise`, :func:`phasekit.theory.landscape.direction_flatness`) -> claims
-> figures of :mod:`phasekit.viz.landscape_noise`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from phasekit.dynamics import sweep
from phasekit.experiments.base import Config, Experiment, claim, describe, param, register
from phasekit.theory import landscape, sgd_noise

__all__ = ["SgdNoiseConfig"]

PSI_BOOK = 4.0  # Feng & Tu: sigma_i^2 ~ F_i^-psi with psi ~ 4
PSI_BAND = 1.5  # "psi ~ 4": |psi - 4| <= PSI_BAND, set before any run
FENG_TU_CAUSE = (
    "not reproduced on digits (measured psi -1.72, -1.68 at quick, PC1 = 93% of the snapshot "
    "variance: the cross-entropy run drifts; -1.13, -0.86 with the drift removed, preset "
    "detrended): the weight variance grows with the flatness, closer to the equilibrium psi = -2 "
    "than to Feng & Tu's inverse relation; their steady-state MNIST setup is not matched here"
)


@dataclass(frozen=True)
class SgdNoiseConfig(Config):
    """Digits (80/20 split), ReLU MLP with He init, cross-entropy, plain SGD at one lr and batch:
    ``steps`` of descent, then ``explore_steps`` more with ``snapshots`` weight records."""

    sizes: tuple[int, ...] = param((64, 32, 32, 10), ge=1, doc="layer widths, 64 in, 10 out")
    lr: float = param(0.1, gt=0.0)
    batch: int = param(16, ge=1, le=1437)
    steps: int = param(3000, ge=1, doc="descent steps before the snapshots")
    explore_steps: int = param(3000, ge=1, doc="steps over which the snapshots are taken")
    snapshots: int = param(100, ge=3, doc="weight snapshots (linearly spaced) for the PCA")
    k: int = param(20, ge=2, doc="PCA directions and Hessian eigenvectors")
    n_random: int = param(20, ge=1, doc="random directions of the isotropic reference")
    lanczos_steps: int = param(60, ge=2)
    detrend: bool = param(
        False, doc="remove the linear drift of the snapshots in time before the PCA"
    )
    seeds: int = param(2, ge=1)
    split_seed: int = param(0, ge=0)
    base_seed: int = param(0, ge=0)

    def validate(self):
        if self.sizes[0] != 64 or self.sizes[-1] != 10 or len(self.sizes) < 2:
            raise ValueError(
                f"sizes: must start with 64 (pixels) and end with 10 (classes), got {self.sizes}"
            )
        if self.k > self.snapshots:
            raise ValueError(f"k: at most snapshots = {self.snapshots}, got {self.k}")
        if self.k > self.lanczos_steps:
            raise ValueError(f"lanczos_steps: at least k = {self.k}, got {self.lanczos_steps}")


def _digits_split(seed):
    from sklearn.model_selection import train_test_split

    from phasekit.data import tabular

    x, labels = tabular.digits(scale="unit")
    x_tr, x_te, l_tr, l_te = train_test_split(x, labels, test_size=0.2, random_state=seed)
    return (jnp.asarray(x_tr), jnp.asarray(l_tr)), (jnp.asarray(x_te), jnp.asarray(l_te))


def run(cfg: SgdNoiseConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    """Per seed: PCA variances and flatness of the exploration phase, gradient-noise variances
    along the top-k Hessian eigenvectors and random directions, loss and accuracy."""
    import optax
    from jax.flatten_util import ravel_pytree

    from phasekit.dynamics import train
    from phasekit.models import mlp

    data_tr, data_te = _digits_split(cfg.split_seed)
    loss = train.cross_entropy(mlp.apply)
    acc = train.accuracy(mlp.apply, *data_te)
    unravel = ravel_pytree(mlp.init(jax.random.key(0), list(cfg.sizes), scheme="he"))[1]
    opt = optax.sgd(cfg.lr)

    def point(pt, key):
        k_init, k_sgd, k_noise = jax.random.split(key, 3)
        p0 = mlp.init(k_init, list(cfg.sizes), scheme="he")
        descent = train.run(
            loss, p0, data_tr, opt, steps=cfg.steps, n_records=10, batch_size=cfg.batch, key=k_sgd
        )
        explore = train.run(
            loss,
            descent.params,
            data_tr,
            opt,
            steps=cfg.explore_steps,
            n_records=cfg.snapshots,
            schedule="linear",
            observe=lambda p: {"theta": ravel_pytree(p)[0]},
            batch_size=cfg.batch,
            key=jax.random.fold_in(k_sgd, 1),
        )
        snaps = explore.observables["theta"]  # [T, P]
        pca = sgd_noise.weight_pca(snaps, cfg.k, detrend=cfg.detrend)
        centre = unravel(pca.mean)
        flat = jax.vmap(
            lambda d: landscape.direction_flatness(
                loss, centre, unravel(d), data_tr, max_step=jnp.linalg.norm(pca.mean)
            )
        )(pca.directions)
        noise = sgd_noise.gradient_noise(
            loss,
            explore.params,
            data_tr,
            k=cfg.k,
            num_random=cfg.n_random,
            num_steps=cfg.lanczos_steps,
            key=k_noise,
        )
        return {
            "pca_variance": pca.variance,
            "pca_flatness": flat,
            "total_variance": jnp.sum(
                sgd_noise.weight_pca(snaps, min(snaps.shape), detrend=cfg.detrend).variance
            ),
            "drift": jnp.linalg.norm(snaps[-1] - snaps[0]),
            "eigenvalue": noise.eigenvalues,
            "noise_variance": noise.variance,
            "random_noise_variance": noise.random_variance,
            "mean_noise_variance": noise.mean_variance,
            "alignment": noise.alignment,
            "explore_loss": explore.loss,
            "train_loss": loss(explore.params, data_tr),
            "test_acc": acc(explore.params)["accuracy"],
        }

    ds = sweep.run(
        point,
        {"seed": np.arange(cfg.seeds)},
        store=store,
        shard=shard,
        key_axes=("seed",),
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        progress=progress,
        desc="SGD noise",
        dims={
            "pca_variance": ("pc",),
            "pca_flatness": ("pc",),
            "eigenvalue": ("eig",),
            "noise_variance": ("eig",),
            "random_noise_variance": ("random",),
            "explore_loss": ("snapshot",),
        },
        coords={"pc": np.arange(cfg.k), "eig": np.arange(cfg.k)},
    )
    if not ds.attrs["complete"]:
        return describe(ds, VARIABLES)
    psi = [
        sgd_noise.power_law_exponent(f, v)
        for f, v in zip(ds["pca_flatness"].values, ds["pca_variance"].values)
    ]
    ds["psi"] = ("seed", np.array([p.psi for p in psi]))
    ds["psi_r"] = ("seed", np.array([p.r for p in psi]))
    ds["psi_c"] = ("seed", np.array([p.c for p in psi]))
    # exponent of the gradient variance against the curvature: sigma^2 ~ lambda^s (Sigma ~ H: s = 1)
    ds["curvature_exponent"] = (
        "seed",
        np.array(
            [
                -sgd_noise.power_law_exponent(lam, v).psi
                for lam, v in zip(ds["eigenvalue"].values, ds["noise_variance"].values)
            ]
        ),
    )
    lam = ds["eigenvalue"].values
    ds["isotropic_alignment"] = (
        "seed",
        np.array([float(sgd_noise.covariance_alignment(np.eye(lam.shape[-1]), v)) for v in lam]),
    )
    ds.attrs.update(sizes=list(cfg.sizes), lr=cfg.lr, batch=cfg.batch, detrend=int(cfg.detrend))
    return describe(ds, VARIABLES)


VARIABLES = {
    "pca_variance": ("variance sigma_i^2 of the SGD weights along PCA direction i", "1"),
    "pca_flatness": ("Feng & Tu flatness F_i along PCA direction i at the mean weight", "1"),
    "total_variance": ("total variance of the weight snapshots (sum over all directions)", "1"),
    "drift": ("|theta_last - theta_first| over the exploration phase", "1"),
    "eigenvalue": ("top-k eigenvalues lambda_i of the training-loss Hessian (last point)", "1"),
    "noise_variance": ("per-sample gradient variance v_i^T Sigma v_i along eigenvector i", "1"),
    "random_noise_variance": ("per-sample gradient variance along random unit directions", "1"),
    "mean_noise_variance": ("tr(Sigma) / P, the variance of isotropic noise of that total", "1"),
    "alignment": ("cosine of vec(Sigma_V) and vec(diag lambda) on the top-k eigenvectors", "1"),
    "explore_loss": ("training loss at the snapshots of the exploration phase", "1"),
    "train_loss": ("training cross-entropy at the last point", "1"),
    "test_acc": ("test accuracy at the last point", "1"),
    "psi": ("Feng & Tu exponent: sigma_i^2 ~ F_i^-psi (least squares on log-log)", "1"),
    "psi_r": ("correlation of log F_i and log sigma_i^2", "1"),
    "psi_c": ("intercept of log sigma_i^2 = c - psi log F_i", "1"),
    "curvature_exponent": ("exponent s of v_i^T Sigma v_i ~ lambda_i^s over the top-k", "1"),
    "isotropic_alignment": ("the alignment that isotropic noise would have", "1"),
}


def claims(ds: xr.Dataset) -> list:
    sharp = ds["noise_variance"].values.mean(-1)
    rand = ds["random_noise_variance"].values.mean(-1)
    ratio = sharp / rand
    psi = ds["psi"].values
    align, iso = ds["alignment"].values, ds["isotropic_alignment"].values
    s_exp = ds["curvature_exponent"].values
    k = ds.sizes["eig"]
    pc1 = ds["pca_variance"].values[:, 0] / ds["total_variance"].values
    return [
        claim(
            ds,
            name="noise-on-sharp-directions",
            figure="spec 05 (Zhu et al. 2019)",
            book="anisotropic: large along sharp directions",
            statement=f"the per-sample gradient variance along the top {k} Hessian eigenvectors exceeds "
            "that along random unit directions (mean over each set), for every seed",
            measured=[float(v) for v in ratio],
            held=bool(np.all(ratio > 1)),
            detail="ratio of mean variances (sharp / random) per seed",
            if_not_held="the top eigenvectors carry no more gradient noise than a random direction: "
            "the noise is not aligned with the curvature at this point",
        ),
        claim(
            ds,
            name="noise-tracks-curvature",
            figure="spec 05 (Zhu et al. 2019)",
            book="Sigma ~ H: exponent 1",
            statement=f"along the top {k} Hessian eigenvectors the gradient variance grows with the "
            "curvature: v_i^T Sigma v_i ~ lambda_i^s with s > 0, for every seed",
            measured=[float(v) for v in s_exp],
            held=bool(np.all(s_exp > 0)),
            min_preset="quick",
            detail=f"s per seed (1 for Sigma = 2 L H, linear regression); cosine of Sigma_V with diag "
            f"lambda {[round(float(a), 3) for a in align]} vs isotropic noise "
            f"{[round(float(a), 3) for a in iso]}",
            if_not_held="the top eigenvalues span too narrow a range for the exponent to be resolved",
        ),
        claim(
            ds,
            name="inverse-variance-flatness",
            figure="Feng & Tu 2021, Fig 2",
            book="psi > 0",
            statement="inverse variance-flatness relation: the SGD weight variance along the PCA directions "
            "falls with their flatness, sigma_i^2 ~ F_i^-psi with psi > 0 (equilibrium with isotropic noise "
            "would give psi = -2), for every seed",
            measured=[float(v) for v in psi],
            held=bool(np.all(psi > 0)),
            min_preset="quick",
            detail=f"psi per seed; log-log correlation {[round(float(r), 3) for r in ds['psi_r'].values]}; "
            f"share of the snapshot variance in PC1 {[round(float(v), 3) for v in pc1]}; "
            f"linear drift removed before the PCA: {bool(ds.attrs.get('detrend', 0))}",
            if_not_held=FENG_TU_CAUSE,
            reproduces=False,
        ),
        claim(
            ds,
            name="variance-flatness-exponent",
            figure="Feng & Tu 2021, Fig 2",
            book=PSI_BOOK,
            statement=f"Feng & Tu's exponent psi ~ {PSI_BOOK:g}: |psi - {PSI_BOOK:g}| <= {PSI_BAND:g} "
            "(seed mean)",
            measured=float(np.mean(psi)),
            held=bool(abs(np.mean(psi) - PSI_BOOK) <= PSI_BAND),
            min_preset="quick",
            detail="the band was fixed before the first run",
            if_not_held=FENG_TU_CAUSE,
            reproduces=False,
        ),
    ]


def figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import landscape_noise as viz

    return viz.sgd_noise_figures(ds)


register(
    Experiment(
        "sgd-noise",
        area="landscape",
        figure="Feng & Tu 2021, Fig 2",
        title="SGD noise on digits: gradient variance along sharp vs random directions, "
        "weight variance vs flatness",
        config=SgdNoiseConfig,
        presets={
            "tiny": dict(
                sizes=(64, 16, 10),
                steps=200,
                explore_steps=200,
                snapshots=20,
                k=5,
                n_random=5,
                lanczos_steps=15,
                seeds=1,
            ),
            "quick": {},
            # Feng & Tu analyse the fluctuations of a steady state; here the cross-entropy run keeps
            # drifting (PC1 carries ~93% of the quick preset's snapshot variance, measured), so this
            # preset removes the linear drift in time before the PCA (chosen after that run)
            "detrended": dict(detrend=True),
            "paper": dict(
                sizes=(64, 128, 128, 10),
                steps=20000,
                explore_steps=20000,
                snapshots=400,
                k=40,
                lanczos_steps=100,
                seeds=4,
            ),
        },
        run=run,
        claims=claims,
        figures=figures,
    )
)
