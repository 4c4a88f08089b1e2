"""Vanishing gradients: per-layer gradient norms of a 10-layer MLP, sigmoid vs ReLU x init scheme.

Recipe: Gaussian inputs, target sin(x_1) -> 10-layer MLP (9 hidden layers) for each
(activation, init scheme) over several seeds in one vmap -> |dL/dW_l| at initialization (MSE)
-> ratio first / last layer. Course notes: ~1e-6 for sigmoid + Xavier, O(0.1-1) for ReLU + He.
"""

from __future__ import annotations

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import phasekit
from phasekit.models import mlp
from phasekit.theory import landscape
from phasekit.viz import landscape as viz

PRESETS = {
    "quick": dict(n=256, input_dim=16, width=64, depth=10, seeds=4,
                  configs=[("sigmoid", "xavier"), ("sigmoid", "he"), ("relu", "xavier"), ("relu", "he")]),
    "paper": dict(n=2000, input_dim=16, width=256, depth=10, seeds=16,
                  configs=[("sigmoid", "xavier"), ("sigmoid", "lecun"), ("sigmoid", "he"), ("tanh", "xavier"),
                           ("relu", "xavier"), ("relu", "lecun"), ("relu", "he")]),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=PRESETS, default="quick")
    ap.add_argument("--out", default="results/vanishing_gradients")
    args = ap.parse_args(argv)
    cfg = PRESETS[args.preset]
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # data
    x = jax.random.normal(jax.random.key(100), (cfg["n"], cfg["input_dim"]))
    y = jnp.sin(x[:, 0])
    sizes = [cfg["input_dim"]] + [cfg["width"]] * (cfg["depth"] - 1) + [1]
    keys = jax.random.split(jax.random.key(0), cfg["seeds"])

    # model + analyse: gradient norms at initialization, vmapped over seeds
    norms = {}
    for act, scheme in cfg["configs"]:
        def loss(p, act=act):
            return 0.5 * jnp.mean((mlp.apply(p, x, activation=act) - y) ** 2)

        grads = jax.jit(jax.vmap(lambda k, scheme=scheme, loss=loss: landscape.layer_gradient_norms(
            loss, mlp.init(k, sizes, scheme=scheme))))(keys)
        norms[f"{act} + {scheme}"] = np.asarray(grads)

    # save
    labels = list(norms)
    ds = xr.Dataset({"grad_norm": (("config", "seed", "layer"), np.stack([norms[l] for l in labels]))},
                    coords={"config": labels, "seed": np.arange(cfg["seeds"]), "layer": np.arange(1, cfg["depth"] + 1)},
                    attrs={"config": repr(cfg), "phasekit_version": phasekit.__version__, "dtype": "float32",
                           "loss": "MSE 1/(2n) sum (f - y)^2 at initialization, biases 0"})
    ds.to_netcdf(out / "vanishing_gradients.nc", engine="h5netcdf")

    # plot
    viz.vanishing_gradients(norms, path=out / "vanishing_gradients.png",
                            title=f"Per-layer gradient norms at init, {cfg['depth']}-layer MLP, width {cfg['width']}")

    for label in labels:
        g = norms[label]
        print(f"{label:18s} |dL/dW_1| / |dL/dW_{cfg['depth']}| = {np.median(g[:, 0] / g[:, -1]):.2e} (median over seeds)")
    print(f"saved {out / 'vanishing_gradients.nc'} and {out / 'vanishing_gradients.png'}")


if __name__ == "__main__":
    main()
