"""Condensation experiments of book ch. 8 (spec 02).

    --experiment process     Fig 8.1-8.4: two-layer ReLU, width 100, small init, 1-D target with
                             4 kinks: loss plateaus while the number of condensed directions grows;
                             polar (Omega, log A) snapshots with trajectories.
    --experiment activation  Fig 8.10: 5-50-1 nets, small init, Adam: cosine maps of the input
                             weights at the end of the initial plateau for several activations and
                             the number of condensed lines of each.
    --experiment residual    Fig 8.11: residual 6-layer net (d=3, width 18), hidden layers
                             x^2 tanh, x tanh, sigmoid, tanh, softplus: lines per layer.

Usage: python scripts/condensation.py --experiment process [--preset quick|paper] [--out DIR]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from phasekit.dynamics import condensation as cond  # noqa: E402
from phasekit.dynamics import train  # noqa: E402
from phasekit.models import mlp  # noqa: E402
from phasekit.models import two_layer as tl  # noqa: E402
from phasekit.viz import condensation as viz  # noqa: E402

PRESETS = {
    "process": {"quick": dict(steps=300_000, n_records=100), "paper": dict(steps=2_000_000, n_records=200)},
    "activation": {"quick": dict(steps=1_500, n_records=40), "paper": dict(steps=5_000, n_records=100)},
    "residual": {"quick": dict(steps=4_000, n_records=30), "paper": dict(steps=40_000, n_records=100)},
}


def process(cfg, out: Path):
    # config (book Fig 8.1): 4-kink target on [-1, 1], width 100, every weight ~ N(0, m^-2gamma).
    # In the 2-D (w, b) plane cos 0.9 merges kinks 0.4 apart (e.g. at x = 0.4 and 0.8), so the
    # directions are counted at cos >= 0.99 (8 degrees).
    m, gamma, lr, n, threshold = 100, 2.0, 0.1, 100, 0.99
    # data
    x = jnp.linspace(-1, 1, n)[:, None]
    relu = jax.nn.relu
    target = lambda t: -relu(t) + relu(2 * (t + 0.3)) - relu(1.5 * (t - 0.4)) + relu(0.5 * (t - 0.8))
    y = target(x[:, 0])
    x_grid = jnp.linspace(-1, 1, 201)[:, None]
    # model
    scale = m**-gamma
    params = tl.rescale(tl.init(jax.random.key(0), m, 1), scale, scale)

    def observe(p):
        omega, amp = cond.orientation_amplitude(p["a"], p["w"], p["b"])
        theta = tl.input_weights(p)
        dirs = cond.condensed_directions(theta, cond.neuron_amplitude(p["a"], theta),
                                         cond.dead_neurons(tl.preactivation(p, x)), threshold)
        return {"omega": omega, "log_amp": jnp.log10(amp), "output": tl.apply(p, x_grid),
                "n_directions": dirs.n_directions, "n_dead": dirs.n_dead}

    # train (full-batch GD)
    traj = jax.jit(lambda p: train.run(train.mse(tl.apply), p, (x, y), train.optimizer("gd", lr),
                                       steps=cfg["steps"], n_records=cfg["n_records"], observe=observe))(params)
    obs = {k: np.asarray(v) for k, v in traj.observables.items()}
    step, loss = np.asarray(traj.step), np.asarray(traj.loss)
    # analyse: one snapshot at the end of each loss plateau
    nd = obs["n_directions"]
    snaps = list(cond.plateau_ends(loss))[-5:]
    # save
    ds = xr.Dataset(
        {"loss": ("step", loss), "n_directions": ("step", nd), "n_dead": ("step", obs["n_dead"]),
         "omega": (("step", "neuron"), obs["omega"]), "log10_amplitude": (("step", "neuron"), obs["log_amp"]),
         "output": (("step", "x"), obs["output"])},
        coords={"step": step, "x": np.asarray(x_grid[:, 0])},
        attrs=dict(experiment="process", width=m, gamma=gamma, lr=lr, n=n, optimizer="gd", threshold=threshold))
    ds.to_netcdf(out / "process.nc", engine="h5netcdf")
    fig = viz.condensation_process(step, loss, snaps, x, np.asarray(y), np.asarray(x_grid[:, 0]),
                                   obs["output"], obs["omega"], obs["log_amp"], nd,
                                   min_log_amp=float(np.percentile(obs["log_amp"], 5)))
    fig.savefig(out / "process.png", dpi=110)
    print(f"process: width {m}, init std m^-{gamma:g}, GD lr {lr}, {cfg['steps']} steps, "
          f"directions at cos >= {threshold}, amplitude >= 1e-2 max")
    print(f"  loss {loss[0]:.3g} -> {loss[-1]:.3g}; at the end of each plateau:")
    for i in snaps:
        print(f"  step {step[i]:>7d}: loss {loss[i]:.3e}, {nd[i]} directions, {obs['n_dead'][i]} dead neurons")
    return [out / "process.nc", out / "process.png"]


def activation(cfg, out: Path):
    # config (book Fig 8.10; learning rates of the book, Adam). x^2 tanh's initial gradient is
    # cubic in the init scale and would not move out of Adam's epsilon from gamma = 4: gamma = 3.
    runs = [("tanh", 1e-3, 4.0), ("sigmoid", 1e-3, 4.0), ("softplus", 1e-3, 4.0),
            ("xtanh", 8e-4, 4.0), ("x2tanh", 2.5e-4, 3.0)]
    m, d, n, frac = 50, 5, 80, 0.9
    # data: sum_k 3.5 sin(5 x_k + 1), x_k ~ U[-4, 2]
    x = jax.random.uniform(jax.random.key(1), (n, d), minval=-4, maxval=2)
    y = jnp.sum(3.5 * jnp.sin(5 * x + 1), axis=1)
    sims, orders, rows = {}, {}, []
    for act, lr, gamma in runs:
        scale = m**-gamma
        params = tl.rescale(tl.init(jax.random.key(0), m, d), scale, scale)

        def observe(p):
            theta = tl.input_weights(p)
            lines = cond.condensed_directions(theta, cond.neuron_amplitude(p["a"], theta), odd=True)
            return {"cos": cond.cosine_similarity_matrix(theta), "lines": lines.n_directions,
                    "directions": lines.effective_width}

        loss_fn = train.mse(tl.apply, activation=act)
        traj = jax.jit(lambda p: train.run(loss_fn, p, (x, y), train.optimizer("adam", lr),
                                           steps=cfg["steps"], n_records=cfg["n_records"], observe=observe))(params)
        loss = np.asarray(traj.loss)
        # end of the initial plateau: the first record where the loss has dropped by 5 %
        i = int(np.argmax(loss <= frac * loss[0])) if np.any(loss <= frac * loss[0]) else len(loss) - 1
        D = np.asarray(traj.observables["cos"][i])
        name = f"{act} (step {int(traj.step[i])})"
        sims[name], orders[name] = D, np.asarray(cond.leading_eigenvector_order(D))
        rows.append((act, lr, gamma, int(traj.step[i]), float(loss[i] / loss[0]), int(traj.observables["lines"][i]),
                     int(traj.observables["directions"][i]), float(np.mean(np.abs(D)))))
    ds = xr.Dataset(
        {"cosine": (("activation", "neuron", "neuron2"), np.stack(list(sims.values()))),
         "lr": ("activation", [r[1] for r in rows]), "gamma": ("activation", [r[2] for r in rows]),
         "snapshot_step": ("activation", [r[3] for r in rows]), "loss_over_L0": ("activation", [r[4] for r in rows]),
         "n_lines": ("activation", [r[5] for r in rows]), "n_directions": ("activation", [r[6] for r in rows])},
        coords={"activation": [r[0] for r in rows]},
        attrs=dict(experiment="activation", width=m, n=n, optimizer="adam", threshold=0.9,
                   snapshot=f"first record with loss <= {frac} * L0"))
    ds.to_netcdf(out / "activation.nc", engine="h5netcdf")
    fig = viz.cosine_heatmaps(sims, orders, "input-weight cosine at the end of the initial plateau (5-50-1)", ncols=3)
    fig.savefig(out / "activation.png", dpi=110)
    print(f"activation: 5-{m}-1, n = {n}, Adam, snapshot = first record with loss <= {frac} L0; "
          "book: tanh/sigmoid/softplus 1 line, x tanh 2, x^2 tanh 3")
    print(f"  {'activation':10s} {'lr':>8s} {'gamma':>5s} {'step':>6s} {'loss/L0':>8s} {'lines':>5s} {'dirs':>4s} {'mean|cos|':>9s}")
    for act, lr, gamma, s, l, lines, dirs, mc in rows:
        print(f"  {act:10s} {lr:8.1e} {gamma:5.1f} {s:6d} {l:8.3f} "
              f"{lines:5d} {dirs:4d} {mc:9.3f}")
    return [out / "activation.nc", out / "activation.png"]


def residual(cfg, out: Path):
    # config (book Fig 8.11): residual net 3-18x5-1, init std 0.01, Adam lr 4e-5 (paper preset);
    # the quick preset uses lr 4e-4 to reach the same stage in 10x fewer steps.
    acts = ["x2tanh", "xtanh", "sigmoid", "tanh", "softplus"]
    book_lines = [3, 2, 1, 1, 1]
    d, m, n, std = 3, 18, 80, 0.01
    lr = 4e-4 if cfg["steps"] < 10_000 else 4e-5
    sizes = [d] + [m] * len(acts) + [1]
    x = jax.random.uniform(jax.random.key(1), (n, d), minval=-1, maxval=1)
    y = jnp.sum(4 * jnp.sin(12 * x + 1), axis=1)
    gammas = [math.log(1 / std) / math.log(fan_in) for fan_in in sizes[:-1]]  # fan_in^-gamma = std
    params = mlp.init(jax.random.key(0), sizes, gamma=gammas)

    def observe(p):
        out = {}
        for l in range(len(acts)):
            theta = cond.layer_input_weights(p, l)
            out[f"cos{l}"] = cond.cosine_similarity_matrix(theta)
            out[f"lines{l}"] = cond.condensed_directions(
                theta, cond.neuron_amplitude(p[l + 1]["w"], theta), odd=True).n_directions
        return out

    loss_fn = train.mse(mlp.apply, residual=True, layer_activations=acts)
    traj = jax.jit(lambda p: train.run(loss_fn, p, (x, y), train.optimizer("adam", lr), steps=cfg["steps"],
                                       n_records=cfg["n_records"], observe=observe))(params)
    loss = np.asarray(traj.loss)
    # the initial stage: the first record where the loss has dropped by 10 %
    i = int(np.argmax(loss <= 0.9 * loss[0])) if np.any(loss <= 0.9 * loss[0]) else len(loss) - 1
    sims = {f"layer {l + 1}: {a}": np.asarray(traj.observables[f"cos{l}"][i]) for l, a in enumerate(acts)}
    orders = {k: np.asarray(cond.leading_eigenvector_order(v)) for k, v in sims.items()}
    lines = [int(traj.observables[f"lines{l}"][i]) for l in range(len(acts))]
    ds = xr.Dataset(
        {"loss": ("step", loss),
         "n_lines": (("step", "layer"), np.stack([np.asarray(traj.observables[f"lines{l}"]) for l in range(len(acts))], 1)),
         "cosine": (("layer", "neuron", "neuron2"), np.stack(list(sims.values())))},
        coords={"step": np.asarray(traj.step), "layer": acts},
        attrs=dict(experiment="residual", sizes=str(sizes), init_std=std, lr=lr, optimizer="adam"))
    ds.to_netcdf(out / "residual.nc", engine="h5netcdf")
    fig = viz.cosine_heatmaps(sims, orders, f"residual 6-layer net, step {int(traj.step[i])}: input-weight cosine", ncols=5)
    fig.savefig(out / "residual.png", dpi=110)
    print(f"residual: sizes {sizes}, init std {std}, Adam lr {lr}, {cfg['steps']} steps, "
          f"loss {loss[0]:.3g} -> {loss[-1]:.3g}; snapshot at step {int(traj.step[i])} (loss {loss[i]:.3g} <= 0.9 L0)")
    for a, k, b in zip(acts, lines, book_lines):
        print(f"  {a:9s} condensed lines {k:2d} (book {b})")
    return [out / "residual.nc", out / "residual.png"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiment", choices=list(PRESETS), default="process")
    ap.add_argument("--preset", choices=["quick", "paper"], default="quick")
    ap.add_argument("--out", default="results/condensation")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"process": process, "activation": activation, "residual": residual}[args.experiment](
        PRESETS[args.experiment][args.preset], out)
    print("wrote " + ", ".join(str(f) for f in files))


if __name__ == "__main__":
    main()
