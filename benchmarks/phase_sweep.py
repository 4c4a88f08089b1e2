#!/usr/bin/env python
"""Phase-diagram sweep: the batching paths of ``sweep.run`` against a loop over one cached
jitted run, same runs, same steps, per width and in total.

  map         ``batching="map"``: ``lax.map`` over a chunk's runs (each stops at its own step)
  vmap        ``batching="vmap"``: a chunk's runs vectorized; every run of a chunk computes
              until the slowest one stops
  continuous  ``batching="continuous"``: a fixed batch of lanes, each round advances every
              lane K steps and refills the lanes whose runs stopped with pending points
  auto        ``batching="auto"``: what a sweep does by default (per width: see sweep._choose)
  cached      the honest baseline: a Python loop over grid points calling one jitted run per
              width with (gamma, gamma', key) as traced arguments (compiled once per width)

Every arm trains every network with the same ``phase.point_run`` (same lr rule, stop rule and
step cap) and keys, so results agree (printed: max |RD*| difference relative to ``map``).
Lane utilization = useful run-steps / computed lane-steps (vmap: from each chunk's slowest
run; continuous: counted by ``sweep.run``). Compile time is included in every arm.

    python benchmarks/phase_sweep.py                       # reduced grid, every arm
    python benchmarks/phase_sweep.py --grid quick          # the demo's grid (1,100 runs)
    python benchmarks/phase_sweep.py --grid quick --arms map continuous auto cached
    python benchmarks/phase_sweep.py --grid quick --vmap-max-width 1000   # vmap is slow on CPU

Measured on 2 idle CPU cores (2 devices), quick grid (220 runs per width, mean 1,044-1,523
steps, cap 20,000), compile included, 2026-12-03 (vmap from an earlier all-arms run the same
day; the other arms after lanes carry their setup and advance one after another on CPU):

  width     map   vmap (util)    continuous (util)   auto [map]   cached
    100    3.1s    7.8s  (6%)       4.0s (100%)          2.0s        2.4s
    300    2.4s   13.4s  (6%)       3.9s (100%)          2.5s        2.5s
   1000    2.5s   14.6s  (8%)       3.3s (100%)          2.6s        4.0s
   3000    5.1s  124.0s  (6%)       7.8s (100%)          5.7s        7.8s
  10000   14.2s  424.0s  (8%)      16.7s (100%)         14.6s       23.2s
  total   27.3s  583.8s            35.7s                27.4s       39.9s

Continuous is 0.62-0.85x lax.map (it was 0.41-0.50x before this change: each block recomputed
the run's setup, e.g. drew the width-10,000 initial parameters, ~1 ms, and a vmapped lane paid
a per-step select over its state); the rest of the gap is compile time: the round's program is
twice the size of a lax.map chunk's (4,862 against 2,391 compiled HLO instructions, 5.4 s
against 2.4 s to compile at width 100), which decides the small widths, where a width takes
2-4 s in all. On CPU the lanes advance one after another, so no lane-step is masked (100%).
Results: max |RD*| difference relative to map 0 at widths 100-1000 and 2e-2 at 3,000 and
10,000, from one run per width whose 1-ulp different learning rate (computed in another fused
program) tips the lr-backoff safeguard: the cached loop shows the same 2e-2 at 3,000. So
``batching="auto"`` is lax.map on CPU and continuous on accelerators, where a batch of lanes is
how a device fills (not measured here: no GPU was lent).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from phasekit import experiments
from phasekit.data import authors_three_points
from phasekit.dynamics import phase, sweep

QUICK = experiments.get("phase-diagram").preset("quick").phase_config()
GRIDS = {
    "quick": QUICK,
    "reduced": dataclasses.replace(QUICK, widths=(100, 400, 1600), seeds=1),
}
ARMS = ("map", "vmap", "continuous", "auto", "cached")


def axes_for(cfg, m):
    return {
        "gamma": np.asarray(cfg.gammas, float),
        "gamma_prime": np.asarray(cfg.gamma_primes, float),
        "width": np.asarray([m]),
        "seed": np.arange(cfg.seeds),
    }


def sweep_width(cfg, m, x, y, batching):
    """One width of the phase diagram through ``sweep.run`` (the point function of
    ``phase.phase_diagram``). Returns (rd_star [runs], steps [runs], Dataset)."""
    point = lambda pt, key: phase.point_run(
        pt["gamma"], pt["gamma_prime"], pt["width"], key, x, y, cfg
    )
    ds = sweep.run(
        point,
        axes_for(cfg, m),
        static=("width",),
        key_axes=("width", "seed"),
        base_seed=cfg.base_seed,
        batching=batching,
        progress=False,
        dims={"rd": ("record",), "loss": ("record",)},
    )
    return ds["rd_star"].values.ravel(), ds["steps"].values.ravel(), ds


def cached_width(cfg, m, x, y):
    f = jax.jit(lambda a, b, k: phase.train_point(a, b, m, k, x, y, cfg)[0])
    rd, steps = [], []
    base = jax.random.key(cfg.base_seed)
    for g in cfg.gammas:
        for gp in cfg.gamma_primes:
            for s in range(cfg.seeds):
                key = sweep.point_key(base, sweep.point_hash(("width", "seed"), (m, s)))
                out = f(jnp.float64(g), jnp.float64(gp), key)
                rd.append(float(out["rd_star"]))
                steps.append(int(out["steps"]))
    return np.array(rd), np.array(steps)


def vmap_utilization(cfg, m, x, y, ds):
    """Useful / computed lane-steps of plain vmap: each chunk runs until its slowest run stops."""
    point = lambda d, k: sweep._plain(
        lambda pt, kk: phase.point_run(pt["gamma"], pt["gamma_prime"], m, kk, x, y, cfg)
    )(d, k)
    ex = (
        {"gamma": np.float64(1.0), "gamma_prime": np.float64(0.0), "seed": np.int64(0)},
        jax.random.key(0),
    )
    order = ds.transpose("gamma", "gamma_prime", "width", "seed", ...)
    steps = order["steps"].values.ravel().astype(int)
    stopped = (order["converged"].values | order["diverged"].values).ravel()
    iters = steps + (stopped & (steps < cfg.max_steps))  # the update that found the stop
    size = min(sweep.auto_chunk_size(point, ex, "vmap", 1), len(iters))
    computed = sum(size * iters[i : i + size].max() for i in range(0, len(iters), size))
    return iters.sum() / computed


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--grid", choices=sorted(GRIDS), default="reduced")
    ap.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    ap.add_argument(
        "--widths", nargs="+", type=int, default=None, help="a subset of the grid's widths"
    )
    ap.add_argument(
        "--vmap-max-width",
        type=int,
        default=None,
        help="skip plain vmap above this width (it is the slowest arm on CPU)",
    )
    args = ap.parse_args(argv)
    cfg = GRIDS[args.grid]
    widths = args.widths or list(cfg.widths)
    x, y = (jnp.asarray(a, jnp.float32) for a in authors_three_points())
    per_width = len(cfg.gammas) * len(cfg.gamma_primes) * cfg.seeds
    print(
        f"grid '{args.grid}': {per_width} runs per width, widths {widths}, step cap {cfg.max_steps}, "
        f"{jax.device_count()} {jax.default_backend()} device(s)"
    )
    total = {a: 0.0 for a in args.arms}
    skipped = set()
    for m in widths:
        ref, t_row, notes = None, {}, []
        for arm in args.arms:
            if arm == "vmap" and args.vmap_max_width is not None and m > args.vmap_max_width:
                skipped.add(m)
                continue
            t = time.perf_counter()
            if arm == "cached":
                rd, steps = cached_width(cfg, m, x, y)
                ds = None
            else:
                rd, steps, ds = sweep_width(cfg, m, x, y, arm)
            t_row[arm] = time.perf_counter() - t
            total[arm] += t_row[arm]
            if ref is None:
                ref = rd
            note = f"{arm} {t_row[arm]:.1f}s"
            if arm == "vmap":
                note += f" (util {vmap_utilization(cfg, m, x, y, ds):.0%})"
            if arm in ("continuous", "auto") and np.isfinite(ds.attrs["lane_utilization"]):
                note += f" (util {ds.attrs['lane_utilization']:.0%})"
            if arm == "auto":
                note += f" [{', '.join(eval(ds.attrs['batching']))}]"
            note += f" dRD*={np.max(np.abs(rd - ref) / ref):.0e}"
            notes.append(note)
        ratios = ""
        if "map" in t_row:
            ratios = "  | map/x: " + ", ".join(
                f"{a} {t_row['map'] / t_row[a]:.2f}" for a in t_row if a != "map"
            )
        print(
            f"width {m:6d}: mean steps {steps.mean():.0f}, max {steps.max()}: "
            + "; ".join(notes)
            + ratios
        )
    line = ", ".join(f"{a} {total[a]:.1f}s" for a in args.arms)
    print(f"total: {line}" + (f"  (vmap skipped at widths {sorted(skipped)})" if skipped else ""))
    if "map" in total:
        print(
            "map / arm: "
            + ", ".join(
                f"{a} {total['map'] / total[a]:.2f}"
                for a in args.arms
                if a != "map" and not (a == "vmap" and skipped)
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
