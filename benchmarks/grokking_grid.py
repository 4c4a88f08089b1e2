#!/usr/bin/env python
"""Grokking alpha x weight-decay grid: one vmapped program against the same runs one by one.

  vmapped    every (alpha, weight decay, seed) point of the grid in ONE jitted ``jax.vmap``
             of the experiment's point function (alpha and wd traced)
  sweep      ``sweep.run`` as the experiment calls it (batching "auto": lax.map on CPU)
  loop       the honest baseline: a Python loop over the points calling one cached jitted
             program of a single point (compiled once, alpha / wd / key as arguments)

All arms run the same point function with the same keys and steps, so the delays agree;
the ratio is the cost of scheduling alone. Times include compilation (each arm compiles once)
and are also shown warm (a second call of the compiled program).

    python benchmarks/grokking_grid.py                # the tiny-sized grid of the quick preset
    python benchmarks/grokking_grid.py --preset quick
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time

import jax
import jax.numpy as jnp
import numpy as np

from phasekit import experiments
from phasekit.dynamics import sweep
from phasekit.experiments import grokking

GRIDS = {
    "reduced": dict(steps=1000, alphas=(0.5, 1.0, 2.0), weight_decays=(1.0, 2.0, 3.0), seeds=1),
    "quick": {},
}


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--preset", choices=sorted(GRIDS), default="reduced")
    args = ap.parse_args(argv)
    cfg = dataclasses.replace(experiments.get("grokking").preset("quick"), **GRIDS[args.preset])
    point, _ = grokking.point_fn(cfg)
    grid = list(itertools.product(cfg.alphas, cfg.weight_decays, range(cfg.seeds)))
    base = jax.random.key(cfg.base_seed)
    keys = jnp.stack([sweep.point_key(base, sweep.point_hash(("seed",), (s,))) for _, _, s in grid])
    alphas = jnp.asarray([g[0] for g in grid], jnp.float32)
    wds = jnp.asarray([g[1] for g in grid], jnp.float32)
    print(
        f"grid '{args.preset}': {len(grid)} runs x {cfg.steps} steps, p = {cfg.p}, width {cfg.width}, "
        f"{jax.device_count()} {jax.default_backend()} device(s) (a shared, loaded machine: ratios, not absolutes)"
    )

    one = jax.jit(lambda a, w, k: point({"alpha": a, "weight_decay": w}, k)["delay_bound"])
    many = jax.jit(
        jax.vmap(lambda a, w, k: point({"alpha": a, "weight_decay": w}, k)["delay_bound"])
    )
    times = {}
    t = time.perf_counter()
    d_vmap = np.asarray(jax.block_until_ready(many(alphas, wds, keys)))
    times["vmapped"] = time.perf_counter() - t
    t = time.perf_counter()
    jax.block_until_ready(many(alphas, wds, keys))
    times["vmapped (warm)"] = time.perf_counter() - t
    t = time.perf_counter()
    d_loop = np.array([float(one(a, w, k)) for a, w, k in zip(alphas, wds, keys)])
    times["loop"] = time.perf_counter() - t
    t = time.perf_counter()
    for a, w, k in zip(alphas, wds, keys):
        float(one(a, w, k))
    times["loop (warm)"] = time.perf_counter() - t
    t = time.perf_counter()
    ds = sweep.run(
        point,
        {
            "alpha": np.asarray(cfg.alphas),
            "weight_decay": np.asarray(cfg.weight_decays),
            "seed": np.arange(cfg.seeds),
        },
        key_axes=("seed",),
        base_seed=cfg.base_seed,
        dims={v: ("step",) for v in ("train_loss", "test_loss", "train_accuracy", "test_accuracy")},
        progress=False,
    )
    times["sweep.run"] = time.perf_counter() - t
    d_sweep = ds["delay_bound"].values.ravel()
    for name, v in times.items():
        print(f"{name:16s} {v:8.2f} s")
    print(
        f"loop / vmapped: {times['loop'] / times['vmapped']:.2f}x (cold), "
        f"{times['loop (warm)'] / times['vmapped (warm)']:.2f}x (warm); "
        f"loop / sweep.run: {times['loop'] / times['sweep.run']:.2f}x"
    )
    print(
        f"same delays (vmapped vs loop vs sweep): max |diff| {np.nanmax(np.abs(d_vmap - d_loop)):g}, "
        f"{np.nanmax(np.abs(d_sweep - d_loop)):g} steps"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
