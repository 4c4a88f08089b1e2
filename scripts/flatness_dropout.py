"""Minima found with and without dropout (book ch. 11.4): sharpness, Hessian trace, slices, flatness.

Recipe: digits (sklearn) train/test split, one-hot targets -> one-hidden-layer ReLU MLP, MSE ->
full-batch GD from the same inits (seeds) with dropout of keep probability p on the hidden layer
(p = 1: no dropout; seeds and p vmapped), each run stopped when its *clean* training loss (no
dropout) first reaches the same target, so all solutions sit at one loss level -> at each solution,
on the clean training loss: lambda_max of the Hessian (Lanczos), tr H (Hutchinson),
filter-normalized 1-D random-direction slices and Feng & Tu's direction flatness F.

Control: the same GD on the mask-averaged loss R_S + R_1 (dropout's explicit regularizer, no noise)
tells whether the flattening comes from R_1 or from dropout's noise.
Full-batch GD keeps dropout the only source of noise; lr is chosen with 2 / lr above the sharpness
of every solution, so the edge of stability does not cap lambda_max.
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
from jax.flatten_util import ravel_pytree
from sklearn.model_selection import train_test_split

import phasekit
from phasekit.data import tabular
from phasekit.dynamics import dropout, train
from phasekit.models import mlp
from phasekit.theory import hessian, landscape
from phasekit.viz import landscape as viz

PRESETS = {
    "quick": dict(n_train=500, width=128, ps=[1.0, 0.9, 0.7], seeds=4, lr=0.2, target_loss=0.03,
                  max_steps=8000, n_directions=4, seed=0),
    # not run yet: lr 0.15 keeps 2 / lr above the sharpening no-dropout runs at the lower target
    "paper": dict(n_train=None, width=128, ps=[1.0, 0.9, 0.8, 0.7], seeds=10, lr=0.15, target_loss=0.01,
                  max_steps=60_000, n_directions=10, seed=0),
}

clean_loss = train.mse(mlp.apply)  # evaluation: no dropout


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=PRESETS, default="quick")
    ap.add_argument("--out", default="results/flatness_dropout")
    args = ap.parse_args(argv)
    cfg = PRESETS[args.preset]
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # data: digits, MSE on one-hot targets (the setting of dropout's explicit regularizer R_1)
    x, labels = tabular.digits(scale="unit")
    x_tr, x_te, l_tr, l_te = train_test_split(x, labels, test_size=0.2, random_state=cfg["seed"])
    x_tr, l_tr = x_tr[: cfg["n_train"]], l_tr[: cfg["n_train"]]
    one_hot = np.eye(10, dtype=np.float32)
    data_tr = (jnp.asarray(x_tr), jnp.asarray(one_hot[l_tr]))
    x_te, l_te = jnp.asarray(x_te), jnp.asarray(l_te)

    # model: one init per seed, shared by every p
    sizes = [64, cfg["width"], 10]
    seed_keys = jax.random.split(jax.random.key(cfg["seed"]), cfg["seeds"])
    ps = jnp.asarray(cfg["ps"], jnp.float32)

    # train: GD from the same inits, two ways for each p:
    #   "dropout":      the dropout loss, a fresh mask every step;
    #   "explicit R_1": the mask-averaged loss R_S + R_1 (deterministic, no noise), a control
    #                   that separates dropout's explicit regularizer from its noise.
    # The loss handed to train.run has the *value* of the clean loss and the *gradient* of the
    # training loss, so its stop rule fires when the clean training loss first reaches
    # target_loss: every solution is compared at one loss level.
    def fit(key, p, noise):
        drop = dropout.mse(dropout.mlp_apply, p)

        def loss(q, data, k):
            if noise:
                d = drop(q, data, k)
            else:
                d = clean_loss(q, data) + dropout.mlp_regularizer(q, data[0], p)
            return d + jax.lax.stop_gradient(clean_loss(q, data) - d)

        traj = train.run(loss, mlp.init(key, sizes, scheme="he"), data_tr, optax.sgd(cfg["lr"]),
                         steps=cfg["max_steps"], n_records=2, key=jax.random.fold_in(key, 1),
                         loss_takes_key=True, stop_loss=cfg["target_loss"])
        return traj.params, traj.n_steps, traj.converged

    trainings = {"dropout": True, "explicit R_1": False}
    runs = [jax.jit(jax.vmap(jax.vmap(lambda k, p, n=noise: fit(k, p, n), in_axes=(0, None)), in_axes=(None, 0)))(
        seed_keys, ps) for noise in trainings.values()]
    solutions, n_steps, converged = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *runs)  # leaves [T, P, S, ...]

    # analyse every solution on the clean training loss (directions shared across solutions,
    # each filter-normalized to its own solution)
    alphas = np.linspace(-1.0, 1.0, 41, dtype=np.float32)
    dir_keys = jax.random.split(jax.random.fold_in(jax.random.key(cfg["seed"]), 1), cfg["n_directions"])

    def analyse(q):
        dirs = jax.vmap(lambda k: landscape.random_direction(k, q))(dir_keys)
        radius = jnp.linalg.norm(ravel_pytree(q)[0])
        return dict(
            sharpness=hessian.top_eigenvalues(clean_loss, q, data_tr, num_steps=30)[0],
            trace=hessian.trace(clean_loss, q, data_tr, num_probes=20)[0],
            slices=jax.vmap(lambda d: landscape.slice_1d(clean_loss, q, d, alphas, data_tr))(dirs),
            flatness=jax.vmap(lambda d: landscape.direction_flatness(clean_loss, q, d, data_tr, max_step=radius))(dirs),
            train_loss=clean_loss(q, data_tr),
            test_acc=jnp.mean(jnp.argmax(mlp.apply(q, x_te), 1) == l_te),
            weight_norm=radius,
            layer_norms=jnp.stack([jnp.linalg.norm(layer["w"]) for layer in q]))

    res = {k: np.asarray(v) for k, v in jax.jit(jax.vmap(jax.vmap(jax.vmap(analyse))))(solutions).items()}

    # save
    dims = ("training", "p", "seed")
    ds = xr.Dataset(
        {"sharpness": (dims, res["sharpness"]), "trace": (dims, res["trace"]),
         "slice": (dims + ("direction", "alpha"), res["slices"]),
         "flatness": (dims + ("direction",), res["flatness"]),
         "train_loss": (dims, res["train_loss"]), "test_acc": (dims, res["test_acc"]),
         "weight_norm": (dims, res["weight_norm"]), "layer_norm": (dims + ("layer",), res["layer_norms"]),
         "steps": (dims, np.asarray(n_steps)), "converged": (dims, np.asarray(converged))},
        coords={"training": list(trainings), "p": cfg["ps"], "seed": np.arange(cfg["seeds"]), "alpha": alphas},
        attrs={"config": repr(cfg), "phasekit_version": phasekit.__version__, "dtype": "float32",
               "model": f"ReLU MLP {sizes}, He init, dropout (keep prob p) on the hidden layer",
               "optimizer": f"full-batch GD, lr {cfg['lr']}, stopped at clean train loss {cfg['target_loss']}",
               "analysis": "clean (no-dropout) training MSE; Lanczos 30 steps; Hutchinson 20 probes",
               "directions": "filter-normalized Gaussian (Li et al. 2018), biases ignored"})
    ds.to_netcdf(out / "flatness_dropout.nc", engine="h5netcdf")

    # plot: slices of the dropout solutions; the explicit-R_1 control beside them in the bar panels
    png = out / "flatness_dropout.png"
    control = {k: res[k][1] for k in ("sharpness", "trace", "flatness")}
    viz.dropout_flatness(alphas, res["slices"][0], cfg["ps"], res["sharpness"][0], res["trace"][0],
                         res["flatness"][0], control=control, control_label=r"GD on $R_S + R_1$ (no noise)",
                         path=png, title=f"Digits (n = {len(l_tr)}), ReLU MLP {sizes}, full-batch GD lr {cfg['lr']}, "
                                         f"each stopped at clean training loss {cfg['target_loss']:g}")

    ms = lambda a: f"{np.mean(a):7.3g} +- {np.std(a):<6.2g}"
    print(f"clean training loss target {cfg['target_loss']:g}; Hessian etc. of the clean training loss; "
          f"mean +- std over {cfg['seeds']} seeds; 2 / lr = {2 / cfg['lr']:g}")
    print(f"{'training':13s} {'p':>4s} {'steps':>6s} {'loss':>7s} {'test acc':>8s} {'lambda_max':>17s} "
          f"{'tr H':>17s} {'F (mean over dirs)':>19s} {'|W_1|, |W_2|':>13s}")
    for t, name in enumerate(trainings):
        for i, p in enumerate(cfg["ps"]):
            w1, w2 = res["layer_norms"][t, i].mean(0)
            print(f"{name:13s} {p:4.2f} {np.mean(n_steps[t, i]):6.0f} {np.mean(res['train_loss'][t, i]):7.3g} "
                  f"{np.mean(res['test_acc'][t, i]):8.3f} {ms(res['sharpness'][t, i])} {ms(res['trace'][t, i])} "
                  f"{ms(res['flatness'][t, i].mean(-1)):>19s} {w1:6.3g}, {w2:5.3g}")
    if not np.all(converged):
        print(f"WARNING: {int(np.sum(~np.asarray(converged)))} runs did not reach the target loss in "
              f"{cfg['max_steps']} steps; their numbers are not at the common loss level (F grows with the loss)")
    if res["sharpness"].max() > 1.8 / cfg["lr"]:
        print(f"WARNING: some lambda_max is near or above 2 / lr = {2 / cfg['lr']:g}: the edge of stability "
              "may cap the sharpness of those runs; lower lr")
    sharp = res["sharpness"].mean(-1)
    print(f"lambda_max(p = {cfg['ps'][0]:g}) / lambda_max(p = {cfg['ps'][-1]:g}): dropout {sharp[0, 0] / sharp[0, -1]:.2f}, "
          f"explicit R_1 {sharp[1, 0] / sharp[1, -1]:.2f}")
    print(f"saved {out / 'flatness_dropout.nc'} and {png}")


if __name__ == "__main__":
    main()
