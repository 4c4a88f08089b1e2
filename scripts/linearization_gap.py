#!/usr/bin/env python
"""Network vs its linearization at a linear, a critical and a condensed point (spec 05, 01).

Recipe: config -> the authors' 3-point 1-D data -> two-layer ReLU nets at (gamma, gamma')
with scales from ``regimes.scaling_for`` (alpha = 1, beta1 = m^-(gamma+gamma')/2,
beta2 = m^(gamma'-gamma)/2), anti-symmetric init -> the network and its first-order Taylor
model f_lin trained side by side by the same full-batch GD (lr from the phase-diagram rule
``phase.learning_rate``) -> gap ||f - f_lin|| on [-1, 1], RD of the input weights, both
losses, both outputs along the way -> results (.nc) + figure.

    python scripts/linearization_gap.py --preset quick      # m = 1000, 20k steps (~1 min)
    python scripts/linearization_gap.py --preset paper      # m = 10000, 200k steps
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr

import phasekit
from phasekit import data as datasets
from phasekit.dynamics import linearization, phase
from phasekit.models import two_layer
from phasekit.theory import regimes
from phasekit.viz import ntk as viz

PRESETS = {
    "quick": dict(width=1000, steps=20_000, n_records=60, n_grid=201),
    "paper": dict(width=10_000, steps=200_000, n_records=100, n_grid=401),
}
POINTS = [(0.5, 0.0), (1.0, 0.0), (1.75, 0.0)]          # linear, critical, condensed
ETA = 0.25                                              # lr = eta / (tr G + c) at init


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/linearization_gap")
    args = ap.parse_args(argv)
    cfg = PRESETS[args.preset]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # data
    x, y = (jnp.asarray(a) for a in datasets.authors_three_points())
    grid = jnp.linspace(-1.0, 1.0, cfg["n_grid"])[:, None]

    # model at each point; the three runs are one vmapped program over (alpha, beta1, beta2)
    m = cfg["width"]
    scales = jnp.array([regimes.scaling_for(g, gp, m) for g, gp in POINTS], jnp.float32)   # [P, 3]
    base = two_layer.init(jax.random.key(args.seed), m, 1, antisymmetric=True)

    def one(scale):
        alpha, beta1, beta2 = scale
        params0 = two_layer.rescale(base, beta1, beta2)
        lr = phase.learning_rate(params0, x, y, alpha=alpha, eta=ETA)
        f = functools.partial(two_layer.apply, alpha=alpha)
        traj = linearization.train_with_linearization(
            f, params0, (x, y), optax.sgd(lr), steps=cfg["steps"], n_records=cfg["n_records"],
            x_eval=grid, input_weights=two_layer.input_weights)
        return traj, lr

    # train
    t0 = time.time()
    traj, lrs = jax.jit(jax.vmap(one))(scales)
    jax.block_until_ready(traj)
    elapsed = time.time() - t0

    # analyse + save
    obs = {k: np.asarray(v) for k, v in traj.observables.items()}
    names = [str(regimes.regime(g, gp)) for g, gp in POINTS]
    ds = xr.Dataset(
        {k: (("point", "step"), obs[k]) for k in ("gap", "gap_rel", "rd", "rd_lin", "loss_net", "loss_lin")}
        | {k: (("point", "step", "x"), obs[k]) for k in ("f", "f_lin")}
        | {"lr": ("point", np.asarray(lrs)), "alpha": ("point", np.asarray(scales[:, 0])),
           "beta1": ("point", np.asarray(scales[:, 1])), "beta2": ("point", np.asarray(scales[:, 2]))},
        coords={"point": np.arange(len(POINTS)), "step": np.asarray(traj.step[0]), "x": np.asarray(grid[:, 0]),
                "gamma": ("point", [g for g, _ in POINTS]), "gamma_prime": ("point", [gp for _, gp in POINTS]),
                "regime": ("point", names)},
        attrs={"width": m, "steps": cfg["steps"], "eta": ETA, "seed": args.seed, "preset": args.preset,
               "x_train": np.asarray(x[:, 0]), "y_train": np.asarray(y), "float": "float32",
               "phasekit_version": phasekit.__version__,
               "scaling": "alpha = 1, beta1 = m^-(gamma+gamma')/2, beta2 = m^(gamma'-gamma)/2"})
    nc = out / "linearization_gap.nc"
    ds.to_netcdf(nc, engine="h5netcdf")

    # plot
    fig = viz.linearization_gap(ds)
    png = out / "linearization_gap.png"
    fig.savefig(png, dpi=110)

    print(f"two-layer ReLU, m = {m}, {cfg['steps']} GD steps, 3 points in {elapsed:.1f} s")
    for i, (g, gp) in enumerate(POINTS):
        print(f"  {names[i]:>9s} (gamma={g}, gamma'={gp}): lr={float(lrs[i]):.3g}  "
              f"max gap/RMS(y)={obs['gap_rel'][i].max():.3g}  final gap/RMS(y)={obs['gap_rel'][i, -1]:.3g}  "
              f"RD*={obs['rd'][i, -1]:.3g} (linear model {obs['rd_lin'][i, -1]:.3g})  "
              f"loss {obs['loss_net'][i, -1]:.1e} (linear model {obs['loss_lin'][i, -1]:.1e})")
    print(f"saved {nc}\n      {png}")


if __name__ == "__main__":
    main()
