"""Course diagnostics (spec 05): vanishing gradients in a deep MLP.

    vanishing-gradients   per-layer gradient norms |dL/dW_l| of a 10-layer MLP at
                          initialization for each (activation, init scheme) pair; the ratio
                          first / last layer is ~1e-6 for sigmoid + Xavier, O(0.1-1) for ReLU + He.

Recipe: Gaussian inputs, target sin(x_1) -> sweep over ((activation, scheme) pair, seed) through
:func:`phasekit.dynamics.sweep.run` -> :func:`phasekit.theory.landscape.layer_gradient_norms`
of the MSE at init -> :func:`phasekit.theory.landscape.gradient_norm_ratio` -> claims -> figures
of :mod:`phasekit.viz.course`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from phasekit.dynamics import sweep, train
from phasekit.experiments.base import Config, Experiment, claim, describe, param, register
from phasekit.models import activations, mlp
from phasekit.theory import landscape

__all__ = ["VanishingConfig"]

SCHEMES = ("xavier", "lecun", "he")
VANISH, PROPAGATE = 1e-4, 1e-2  # ratio thresholds of the claims


def _pair(label: str) -> tuple[str, str]:
    act, _, scheme = label.partition("+")
    return act.strip(), scheme.strip()


@dataclass(frozen=True)
class VanishingConfig(Config):
    """Gradient norms at init of an MLP of ``depth`` weight layers (width ``width``) on n Gaussian
    inputs with target sin(x_1), MSE 1/(2n) sum (f - y)^2, biases 0."""

    n: int = param(256, ge=1, doc="samples")
    input_dim: int = param(16, ge=1)
    width: int = param(64, ge=1)
    depth: int = param(10, ge=2, doc="weight layers (depth - 1 hidden layers)")
    seeds: int = param(4, ge=1)
    pairs: tuple[str, ...] = param(
        ("sigmoid+xavier", "sigmoid+he", "relu+xavier", "relu+he"),
        doc=f"'activation+scheme', scheme in {', '.join(SCHEMES)}",
    )
    data_seed: int = param(100, ge=0)
    base_seed: int = param(0, ge=0)
    batching: str = param("auto", choices=("auto", "map", "vmap", "continuous"))

    EXECUTION_FIELDS = ("batching",)

    def validate(self):
        for p in self.pairs:
            act, scheme = _pair(p)
            activations.get(act)
            if scheme not in SCHEMES:
                raise ValueError(f"pairs: scheme of {p!r} must be one of {', '.join(SCHEMES)}")
        if len(set(self.pairs)) != len(self.pairs):
            raise ValueError(f"pairs: duplicates in {self.pairs}")


def run(cfg: VanishingConfig, store=None, shard=None, progress: bool = True) -> xr.Dataset:
    x = jax.random.normal(jax.random.key(cfg.data_seed), (cfg.n, cfg.input_dim))
    y = jnp.sin(x[:, 0])
    sizes = [cfg.input_dim] + [cfg.width] * (cfg.depth - 1) + [1]

    def point(pt, key):
        act, scheme = _pair(cfg.pairs[pt["pair"]])
        loss = train.mse(mlp.apply, activation=act)
        norms = landscape.layer_gradient_norms(loss, mlp.init(key, sizes, scheme=scheme), (x, y))
        return {"grad_norm": norms, "ratio": landscape.gradient_norm_ratio(norms)}

    ds = sweep.run(
        point,
        {"pair": np.arange(len(cfg.pairs)), "seed": np.arange(cfg.seeds)},
        static=("pair",),
        store=store,
        shard=shard,
        key_axes=("seed",),
        base_seed=cfg.base_seed,
        config=cfg.to_dict(execution=False),
        dims={"grad_norm": ("layer",)},
        coords={"layer": np.arange(1, cfg.depth + 1)},
        batching=cfg.batching,
        progress=progress,
        desc="vanishing gradients",
    )
    ds = ds.assign_coords(
        pair_label=("pair", list(cfg.pairs)),
        activation=("pair", [_pair(p)[0] for p in cfg.pairs]),
        scheme=("pair", [_pair(p)[1] for p in cfg.pairs]),
    )
    ds.attrs.update(depth=cfg.depth, width=cfg.width)
    return describe(ds, VARIABLES)


VARIABLES = {
    "grad_norm": ("Frobenius norm |dL/dW_l| of the gradient of layer l at initialization", "1"),
    "ratio": ("|dL/dW_1| / |dL/dW_depth|: first over last layer gradient norm", "1"),
}


def _median_ratio(ds, label):
    return float(np.median(ds["ratio"].values[list(ds["pair_label"].values).index(label)]))


def claims(ds: xr.Dataset) -> list:
    labels = list(ds["pair_label"].values)
    out = []
    if "sigmoid+xavier" in labels:
        r = _median_ratio(ds, "sigmoid+xavier")
        out.append(
            claim(
                ds,
                name="sigmoid-vanishes",
                figure="course: vanishing gradients",
                statement=f"sigmoid + Xavier, depth {ds.attrs['depth']}: the first-layer gradient norm is below "
                f"{VANISH:g} times the last layer's (median over seeds)",
                book="~1e-6",
                measured=r,
                held=r < VANISH,
                if_not_held="too shallow a net for the sigmoid's 1/4 derivative to compound",
            )
        )
    if "relu+he" in labels:
        r = _median_ratio(ds, "relu+he")
        out.append(
            claim(
                ds,
                name="relu-he-propagates",
                figure="course: vanishing gradients",
                statement=f"ReLU + He, depth {ds.attrs['depth']}: the first / last layer gradient-norm ratio is "
                f"O(0.1-1): between {PROPAGATE:g} and 10 (median over seeds)",
                book="O(0.1-1)",
                measured=r,
                held=PROPAGATE <= r <= 10,
                if_not_held="narrow layers: the He variance argument holds for width -> infinity",
            )
        )
    return out


def figures(ds: xr.Dataset) -> dict:
    from phasekit.viz import course as viz

    return viz.vanishing_figures(ds)


register(
    Experiment(
        "vanishing-gradients",
        area="course",
        figure="course: vanishing gradients",
        title="per-layer gradient norms at init of a 10-layer MLP: sigmoid vs ReLU x init scheme",
        config=VanishingConfig,
        presets={
            "tiny": dict(n=64, width=32, seeds=2, pairs=("sigmoid+xavier", "relu+he")),
            "quick": {},
            "paper": dict(
                n=2000,
                width=256,
                seeds=16,
                pairs=(
                    "sigmoid+xavier",
                    "sigmoid+lecun",
                    "sigmoid+he",
                    "tanh+xavier",
                    "relu+xavier",
                    "relu+lecun",
                    "relu+he",
                ),
            ),
        },
        run=run,
        claims=claims,
        figures=figures,
    )
)
