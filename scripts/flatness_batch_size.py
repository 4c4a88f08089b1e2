"""Small- vs large-batch minima on digits (Keskar et al. 2017): sharpness, interpolation, slices.

Recipe: digits (sklearn) train/test split -> ReLU MLP, cross-entropy -> SGD from the same init
with a small and a large batch -> lambda_max of each solution's training-loss Hessian (Lanczos),
loss along the line through both solutions, filter-normalized 1-D slices around each and
Feng & Tu's direction flatness F along those directions.
"""

from __future__ import annotations

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")

import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr
from sklearn.model_selection import train_test_split

import phasekit
from phasekit.data import tabular
from phasekit.dynamics import train
from phasekit.models import mlp
from phasekit.theory import hessian, landscape
from phasekit.viz import landscape as viz

PRESETS = {
    "quick": dict(sizes=[64, 128, 128, 10], lr=0.1, steps=3000, small_batch=16, large_batch=1024,
                  n_directions=4, seed=0),
    "paper": dict(sizes=[64, 512, 512, 10], lr=0.1, steps=20000, small_batch=16, large_batch=1437,
                  n_directions=10, seed=0),
}


def cross_entropy(params, data):
    x, labels = data
    return optax.softmax_cross_entropy_with_integer_labels(mlp.apply(params, x), labels).mean()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=PRESETS, default="quick")
    ap.add_argument("--out", default="results/flatness_batch_size")
    args = ap.parse_args(argv)
    cfg = PRESETS[args.preset]
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # data
    x, labels = tabular.digits(scale="unit")
    x_tr, x_te, l_tr, l_te = train_test_split(x, labels, test_size=0.2, random_state=cfg["seed"])
    data_tr, data_te = (jnp.asarray(x_tr), jnp.asarray(l_tr)), (jnp.asarray(x_te), jnp.asarray(l_te))

    # model: one init shared by both runs
    key = jax.random.key(cfg["seed"])
    params0 = mlp.init(key, cfg["sizes"], scheme="he")

    # train: plain SGD, same lr and step count; only the batch size differs
    solutions = {}
    for name, batch in (("small batch", cfg["small_batch"]), ("large batch", cfg["large_batch"])):
        run = jax.jit(lambda p, b=batch: train.run(cross_entropy, p, data_tr, optax.sgd(cfg["lr"]),
                                                   steps=cfg["steps"], n_records=20, batch_size=b,
                                                   key=jax.random.fold_in(key, b)))
        solutions[name] = run(params0).params

    # analyse
    ts = np.linspace(-1.0, 2.0, 61, dtype=np.float32)
    alphas = np.linspace(-1.0, 1.0, 41, dtype=np.float32)
    sb, lb = solutions["small batch"], solutions["large batch"]
    curves = {"train": landscape.interpolate(cross_entropy, sb, lb, ts, data_tr),
              "test": landscape.interpolate(cross_entropy, sb, lb, ts, data_te)}
    dir_keys = jax.random.split(jax.random.fold_in(key, 1), cfg["n_directions"])
    sharp, trace, slices, flat, loss_tr, acc_te = {}, {}, {}, {}, {}, {}
    for name, p in solutions.items():
        sharp[name] = float(hessian.top_eigenvalues(cross_entropy, p, data_tr, num_steps=30)[0])
        trace[name] = [float(v) for v in hessian.trace(cross_entropy, p, data_tr, num_probes=20, probe_batch=5)]
        dirs = jax.vmap(lambda k: landscape.random_direction(k, p))(dir_keys)
        slices[name] = jax.vmap(lambda d: landscape.slice_1d(cross_entropy, p, d, alphas, data_tr))(dirs)
        flat[name] = jax.vmap(lambda d: landscape.direction_flatness(
            cross_entropy, p, d, data_tr, max_step=float(jnp.linalg.norm(jax.flatten_util.ravel_pytree(p)[0]))))(dirs)
        loss_tr[name] = float(cross_entropy(p, data_tr))
        acc_te[name] = float(jnp.mean(jnp.argmax(mlp.apply(p, data_te[0]), 1) == data_te[1]))

    # save
    names = list(solutions)
    ds = xr.Dataset(
        {"interp_train": ("t", np.asarray(curves["train"])), "interp_test": ("t", np.asarray(curves["test"])),
         "slice": (("solution", "direction", "alpha"), np.stack([np.asarray(slices[n]) for n in names])),
         "flatness": (("solution", "direction"), np.stack([np.asarray(flat[n]) for n in names])),
         "sharpness": ("solution", [sharp[n] for n in names]),
         "trace": ("solution", [trace[n][0] for n in names]), "trace_se": ("solution", [trace[n][1] for n in names]),
         "train_loss": ("solution", [loss_tr[n] for n in names]), "test_acc": ("solution", [acc_te[n] for n in names])},
        coords={"t": ts, "alpha": alphas, "solution": names, "batch_size": ("solution", [cfg["small_batch"], cfg["large_batch"]])},
        attrs={"config": repr(cfg), "phasekit_version": phasekit.__version__, "dtype": "float32",
               "directions": "filter-normalized Gaussian (Li et al. 2018), biases ignored"})
    ds.to_netcdf(out / "flatness_batch_size.nc", engine="h5netcdf")

    # plot
    viz.flatness_comparison(ts, {"train": ds.interp_train.values, "test": ds.interp_test.values}, alphas,
                            {n: np.asarray(slices[n]) for n in names}, sharp, path=out / "flatness_batch_size.png",
                            title=f"Digits, ReLU MLP {cfg['sizes']}, SGD lr {cfg['lr']}, {cfg['steps']} steps: "
                                  f"batch {cfg['small_batch']} vs {cfg['large_batch']}")

    for n in names:
        print(f"{n:12s} train loss {loss_tr[n]:.2e}  test acc {acc_te[n]:.3f}  lambda_max {sharp[n]:7.3g}  "
              f"tr H {trace[n][0]:8.3g} +- {trace[n][1]:.2g}  F (mean over directions) {np.mean(flat[n]):.3g}")
    print(f"sharpness ratio large/small = {sharp['large batch'] / sharp['small batch']:.2f}")
    print(f"saved {out / 'flatness_batch_size.nc'} and {out / 'flatness_batch_size.png'}")


if __name__ == "__main__":
    main()
