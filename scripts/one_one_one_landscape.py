"""Non-convexity of the 1-1-1 network: loss surface and where its Hessian is indefinite.

Recipe: x = 1, label 1, f = s_out(w2 sigmoid(w1)) without biases -> MSE with a linear output and
cross-entropy with a sigmoid output on a (w1, w2) grid -> dense Hessian eigenvalues at every grid
point (float64) -> eigen counts: indefinite where one eigenvalue is negative and one positive.
At the origin the cross-entropy Hessian is [[0, -1/8], [-1/8, 1/16]].
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
from phasekit.models import toys
from phasekit.theory import hessian, landscape
from phasekit.viz import landscape as viz

PRESETS = {"quick": dict(extent=6.0, points=121, label=1.0, tol=1e-10),
           "paper": dict(extent=8.0, points=401, label=1.0, tol=1e-10)}


def mse(w, x, y):
    return 0.5 * jnp.mean((toys.one_one_one_apply(w, x, output="identity") - y) ** 2)


def cross_entropy(w, x, y):
    f = toys.one_one_one_apply(w, x, output="sigmoid")
    return -jnp.mean(y * jnp.log(f) + (1 - y) * jnp.log1p(-f))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=PRESETS, default="quick")
    ap.add_argument("--out", default="results/one_one_one_landscape")
    args = ap.parse_args(argv)
    cfg = PRESETS[args.preset]
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    with jax.enable_x64(True):
        # data: one sample
        x, y = jnp.ones(1), jnp.full(1, cfg["label"])
        # grid over the two weights
        w1 = jnp.linspace(-cfg["extent"], cfg["extent"], cfg["points"])
        grid = jnp.stack(jnp.meshgrid(w1, w1, indexing="ij"), axis=-1)
        # analyse: loss, Hessian eigenvalues and counts everywhere
        losses, eigs, counts = {}, {}, {}
        for name, loss in (("MSE, linear output", mse), ("cross-entropy, sigmoid output", cross_entropy)):
            losses[name] = np.asarray(jax.vmap(jax.vmap(lambda w, loss=loss: loss(w, x, y)))(grid))
            eigs[name] = np.asarray(landscape.eigenvalues_on_grid(loss, grid, x, y))
            counts[name] = np.stack([np.asarray(c) for c in
                                     jax.vmap(lambda e: hessian.eigen_counts(e, cfg["tol"]))(eigs[name].reshape(-1, 2))], -1)
        H0 = np.asarray(hessian.hessian(cross_entropy, jnp.zeros(2), x, y))

    # save
    names = list(losses)
    shape = (len(w1), len(w1))
    indefinite = {n: ((counts[n][:, 0] > 0) & (counts[n][:, 2] > 0)).reshape(shape) for n in names}
    ds = xr.Dataset(
        {"loss": (("loss_fn", "w1", "w2"), np.stack([losses[n] for n in names])),
         "eigenvalues": (("loss_fn", "w1", "w2", "k"), np.stack([eigs[n] for n in names])),
         "indefinite": (("loss_fn", "w1", "w2"), np.stack([indefinite[n] for n in names])),
         "hessian_ce_origin": (("i", "j"), H0)},
        coords={"loss_fn": names, "w1": np.asarray(w1), "w2": np.asarray(w1)},
        attrs={"config": repr(cfg), "phasekit_version": phasekit.__version__, "dtype": "float64",
               "model": "f = s_out(w2 * sigmoid(w1 * x)), x = 1, no biases"})
    ds.to_netcdf(out / "one_one_one_landscape.nc", engine="h5netcdf")

    # plot
    viz.one_one_one(np.asarray(w1), np.asarray(w1), losses, indefinite, path=out / "one_one_one_landscape.png",
                    title=f"1-1-1 net, x = 1, label {cfg['label']:g}: loss contours, indefinite Hessian shaded")

    print(f"cross-entropy Hessian at the origin: {H0.tolist()} (expected [[0, -1/8], [-1/8, 1/16]])")
    for n in names:
        print(f"{n:30s} indefinite on {indefinite[n].mean():.1%} of the grid [-{cfg['extent']:g}, {cfg['extent']:g}]^2")
    print(f"saved {out / 'one_one_one_landscape.nc'} and {out / 'one_one_one_landscape.png'}")


if __name__ == "__main__":
    main()
