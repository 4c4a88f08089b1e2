"""Edge of stability on digits: full-batch GD at several learning rates, lambda_max -> 2 / lr.

Recipe: digits (sklearn, 8x8 images, centred, one-hot targets) -> tanh MLP -> full-batch GD
with MSE at each lr, all lrs in one vmap -> lambda_max of the training-loss Hessian every
``every`` steps on a fixed subset (Lanczos) -> ratio of the late sharpness to 2 / lr.
"""

from __future__ import annotations

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")

import jax
import numpy as np
import xarray as xr

import phasekit
from phasekit.data import tabular
from phasekit.dynamics import stability, train
from phasekit.models import mlp
from phasekit.viz import landscape as viz

PRESETS = {
    "quick": dict(n_train=1000, sizes=[64, 64, 64, 10], lrs=[0.05, 0.1, 0.2, 0.4, 0.8],
                  steps=3000, every=50, subset=500, lanczos_steps=20, seed=0),
    "paper": dict(n_train=1797, sizes=[64, 200, 200, 10], lrs=[0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6],
                  steps=20000, every=100, subset=1797, lanczos_steps=30, seed=0),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=PRESETS, default="quick")
    ap.add_argument("--out", default="results/edge_of_stability")
    args = ap.parse_args(argv)
    cfg = PRESETS[args.preset]
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # data: digits pixels in [0, 1], centred; one-hot targets
    x, labels = tabular.digits(cfg["n_train"], scale="unit")
    x = x - x.mean(0)
    y = np.eye(10, dtype=np.float32)[labels]

    # model and loss
    params = mlp.init(jax.random.key(cfg["seed"]), cfg["sizes"], scheme="lecun")
    loss = train.mse(mlp.apply, activation="tanh")

    # train: one vmapped run per learning rate, sharpness recorded with the trajectory
    lrs = np.asarray(cfg["lrs"], np.float32)
    traj = stability.sharpness_vs_lr(loss, params, (x, y), lrs, steps=cfg["steps"], every=cfg["every"],
                                     subset=cfg["subset"], num_steps=cfg["lanczos_steps"],
                                     key=jax.random.key(cfg["seed"]))
    sharp = np.asarray(traj.observables["sharpness"])
    ratio = stability.late_sharpness_ratio(sharp, lrs)

    # save
    ds = xr.Dataset(
        {"sharpness": (("lr", "step"), sharp), "loss": (("lr", "step"), np.asarray(traj.loss)),
         "threshold": ("lr", 2 / lrs), "late_ratio": ("lr", ratio),
         "diverged": ("lr", np.asarray(traj.diverged))},
        coords={"lr": lrs, "step": np.asarray(traj.step[0])},
        attrs={"config": repr(cfg), "phasekit_version": phasekit.__version__, "dtype": "float32",
               "loss": "MSE 1/(2n) sum |f - y|^2, one-hot digits", "sharpness": "Lanczos on a fixed subset"})
    ds.to_netcdf(out / "edge_of_stability.nc", engine="h5netcdf")

    # plot
    viz.edge_of_stability(ds.step.values, sharp, ds.loss.values, lrs, path=out / "edge_of_stability.png",
                          title=f"Edge of stability: digits, tanh MLP {cfg['sizes']}, full-batch GD, MSE")

    print(f"initial sharpness {sharp[0, 0]:.3g}")
    for lr, s, r in zip(lrs, sharp[:, -1], ratio):
        print(f"lr {lr:<5g} 2/lr {2 / lr:7.3g}  final lambda_max {s:7.3g}  late mean / (2/lr) = {r:.2f}")
    print(f"saved {out / 'edge_of_stability.nc'} and {out / 'edge_of_stability.png'}")


if __name__ == "__main__":
    main()
