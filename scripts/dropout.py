"""Dropout experiments of book ch. 8.4 (spec 02).

    --experiment outputs      Fig 8.12 / 8.13: wide two-layer nets at large (NTK-scale) init on 1-D
                              points, trained with and without dropout on the hidden layer: fitted
                              outputs and the cosine maps of the input weights (condensation).
    --experiment sample_size  Fig 8.16: teacher tanh(x - 6) + tanh(x + 6) (6 free parameters),
                              width-1000 tanh student, Adam: test error vs sample size for several
                              keep probabilities p (seeds and p vmapped).

Usage: python scripts/dropout.py --experiment outputs [--preset quick|paper] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from phasekit.dynamics import condensation as cond  # noqa: E402
from phasekit.dynamics import dropout, train  # noqa: E402
from phasekit.models import two_layer as tl  # noqa: E402
from phasekit.viz import condensation as viz  # noqa: E402

PRESETS = {
    "outputs": {"quick": dict(steps=10_000, width=1000), "paper": dict(steps=100_000, width=1000)},
    "sample_size": {"quick": dict(steps=5_000, width=1000, seeds=4, lr=1e-3, n=[2, 4, 6, 8, 12, 20, 40],
                                  ps=[1.0, 0.9, 0.5]),
                    "paper": dict(steps=100_000, width=1000, seeds=10, lr=1e-4, n=[2, 4, 6, 8, 10, 15, 20, 40, 80],
                                  ps=[1.0, 0.9, 0.7, 0.5])},
}


def _teacher(x):
    """tanh(x - 6) + tanh(x + 6): a width-2 tanh net, 6 free parameters (book Fig 8.13, 8.16)."""
    return jnp.tanh(x - 6) + jnp.tanh(x + 6)


def _fit(params, x, y, p, activation, alpha, lr, steps, key):
    """Adam on the dropout loss (fresh masks every step); the clean loss is recorded."""
    loss = dropout.mse(dropout.two_layer_apply, p, activation=activation, alpha=alpha)
    clean = train.mse(tl.apply, activation=activation, alpha=alpha)
    return train.run(loss, params, (x, y), train.optimizer("adam", lr), steps=steps, n_records=30,
                     key=key, loss_takes_key=True, observe=lambda q: {"clean_loss": clean(q, (x, y))})


def outputs(cfg, out: Path):
    m, ps = cfg["width"], [1.0, 0.9, 0.5]
    alpha, b1, b2 = tl.preset("ntk", m, 1)  # large init: the linear (NTK) regime
    setups = {
        # Fig 8.12: ReLU, a few 1-D points -> without dropout the interpolant oscillates
        "relu": dict(x=jnp.linspace(-1, 1, 8)[:, None], target=lambda t: jnp.sin(3 * t), lr=1e-3,
                     grid=jnp.linspace(-1.2, 1.2, 400)[:, None]),
        # Fig 8.13: tanh, teacher tanh(x-6)+tanh(x+6)
        "tanh": dict(x=jnp.linspace(-10, 10, 12)[:, None], target=_teacher, lr=1e-3,
                     grid=jnp.linspace(-12, 12, 400)[:, None]),
    }
    files, lines = [], []
    for act, s in setups.items():
        x, grid = s["x"], s["grid"]
        y = s["target"](x[:, 0])
        params = tl.rescale(tl.init(jax.random.key(0), m, 1), b1, b2)
        fits, polar, rows = {}, {}, []
        for p in ps:
            traj = jax.jit(lambda q: _fit(q, x, y, p, act, alpha, s["lr"], cfg["steps"], jax.random.key(1)))(params)
            q = traj.params
            theta = tl.input_weights(q)
            dead = cond.dead_neurons(tl.preactivation(q, x)) if act == "relu" else None
            dirs = cond.condensed_directions(theta, cond.neuron_amplitude(q["a"], theta), dead,
                                             odd=act == "tanh")
            # condensation is a change of direction: compare with the initial input weights
            moved = cond.cosine_similarity_matrix(theta) - cond.cosine_similarity_matrix(tl.input_weights(params))
            name = f"{act}, p = {p:g}" + (" (no dropout)" if p == 1 else "")
            fits[name] = np.asarray(tl.apply(q, grid, act, alpha))
            polar[name] = cond.orientation_amplitude(q["a"], q["w"], q["b"])
            rows.append((p, float(traj.observables["clean_loss"][-1]), int(dirs.n_directions),
                         float(np.mean(np.abs(np.asarray(moved))))))
        ds = xr.Dataset({"output": (("p", "x"), np.stack(list(fits.values()))),
                         "omega": (("p", "neuron"), np.stack([np.asarray(v[0]) for v in polar.values()])),
                         "amplitude": (("p", "neuron"), np.stack([np.asarray(v[1]) for v in polar.values()])),
                         "clean_loss": ("p", [r[1] for r in rows]), "n_directions": ("p", [r[2] for r in rows])},
                        coords={"p": ps, "x": np.asarray(grid[:, 0])},
                        attrs=dict(experiment="outputs", activation=act, width=m, init="ntk", lr=s["lr"],
                                   optimizer="adam", steps=cfg["steps"]))
        ds.to_netcdf(out / f"outputs_{act}.nc", engine="h5netcdf")
        fig = viz.dropout_outputs(np.asarray(x), np.asarray(y), np.asarray(grid[:, 0]), fits, polar,
                                  f"width-{m} {act} net at NTK-scale init, with and without dropout")
        fig.savefig(out / f"outputs_{act}.png", dpi=110)
        files += [out / f"outputs_{act}.nc", out / f"outputs_{act}.png"]
        for p, loss, nd, moved in rows:
            lines.append(f"  {act:5s} p = {p:3.1f}: clean training loss {loss:.2e}, condensed directions "
                         f"(cos >= 0.9, A >= 1e-2 max) {nd:4d}, mean |change of cosine| since init {moved:.3f}")
    print(f"outputs: width {m}, NTK init (alpha = sqrt(m)), Adam, {cfg['steps']} steps; dropout on the hidden layer")
    print("\n".join(lines))
    return files


def sample_size(cfg, out: Path):
    m, ps, ns, seeds = cfg["width"], cfg["ps"], cfg["n"], cfg["seeds"]
    alpha, b1, b2 = tl.preset("ntk", m, 1)
    x_test = jnp.linspace(-10, 10, 500)[:, None]
    y_test = _teacher(x_test[:, 0])
    errors = np.zeros((len(ps), len(ns), seeds))
    for j, n in enumerate(ns):

        def one(key, p):
            kx, kp, kd = jax.random.split(key, 3)
            x = jax.random.uniform(kx, (n, 1), minval=-10, maxval=10)
            params = tl.rescale(tl.init(kp, m, 1), b1, b2)
            q = _fit(params, x, _teacher(x[:, 0]), p, "tanh", alpha, cfg["lr"], cfg["steps"], kd).params
            return jnp.mean((tl.apply(q, x_test, "tanh", alpha) - y_test) ** 2)

        keys = jax.random.split(jax.random.fold_in(jax.random.key(0), n), seeds)
        run = jax.jit(jax.vmap(jax.vmap(one, in_axes=(0, None)), in_axes=(None, 0)))
        errors[:, j] = np.asarray(run(keys, jnp.asarray(ps)))
    ds = xr.Dataset({"test_error": (("p", "n", "seed"), errors)}, coords={"p": ps, "n": ns},
                    attrs=dict(experiment="sample_size", width=m, lr=cfg["lr"], optimizer="adam",
                               steps=cfg["steps"], teacher="tanh(x-6)+tanh(x+6)", init="ntk"))
    ds.to_netcdf(out / "sample_size.nc", engine="h5netcdf")
    fig = viz.sample_size_curves(ns, {f"p = {p:g}": errors[i] for i, p in enumerate(ps)}, n_params=6,
                                 title=f"teacher tanh(x-6)+tanh(x+6), width-{m} tanh student, {seeds} seeds")
    fig.savefig(out / "sample_size.png", dpi=110)
    print(f"sample_size: width {m} tanh, NTK init, Adam lr {cfg['lr']}, {cfg['steps']} steps, {seeds} seeds; "
          "median test MSE on [-10, 10]:")
    print("  " + "n".rjust(8) + "".join(f"{n:>9d}" for n in ns))
    for i, p in enumerate(ps):
        print(f"  p = {p:4.2f}" + "".join(f"{v:9.2e}" for v in np.median(errors[i], axis=1)))
    return [out / "sample_size.nc", out / "sample_size.png"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiment", choices=list(PRESETS), default="outputs")
    ap.add_argument("--preset", choices=["quick", "paper"], default="quick")
    ap.add_argument("--out", default="results/dropout")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"outputs": outputs, "sample_size": sample_size}[args.experiment](PRESETS[args.experiment][args.preset], out)
    print("wrote " + ", ".join(str(f) for f in files))


if __name__ == "__main__":
    main()
