#!/usr/bin/env python
"""Phase-diagram sweep: phasekit vs a straightforward per-run loop, same runs, same steps.

  phasekit   ``phase.phase_diagram``: one compiled program per width, runs batched and
             sharded by ``sweep.run`` (lax.map on CPU), no per-step Python
  per-run    the straightforward script: a Python loop over grid points, each point's run
             jitted with its (gamma, gamma') as constants (so compiled once per point)
  cached     the same loop with (gamma, gamma') as traced arguments (compiled once per width)

Both baselines train every network with the same ``phase.train_point`` (same lr rule, stop
rule and step cap), so the results agree and the ratio is the cost of scheduling alone.

    python benchmarks/phase_sweep.py                 # reduced grid (~2 min)
    python benchmarks/phase_sweep.py --grid quick    # the demo's grid (540 runs; slow baseline)
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


def keys_for(cfg, m, seed):
    return sweep.point_key(jax.random.key(cfg.base_seed), sweep.point_hash(("width", "seed"), (m, seed)))


def per_run(cfg, x, y, cached: bool):
    rd = []
    fns = {}
    for g in cfg.gammas:
        for gp in cfg.gamma_primes:
            for m in cfg.widths:
                for s in range(cfg.seeds):
                    if cached:
                        f = fns.setdefault(m, jax.jit(lambda a, b, k, m=m: phase.train_point(a, b, m, k, x, y, cfg)[0]))
                        out = f(jnp.float32(g), jnp.float32(gp), keys_for(cfg, m, s))
                    else:
                        out = jax.jit(lambda k: phase.train_point(g, gp, m, k, x, y, cfg)[0])(keys_for(cfg, m, s))
                    rd.append(float(out["rd_star"]))
    return np.array(rd)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", choices=sorted(GRIDS), default="reduced")
    ap.add_argument("--skip-per-run", action="store_true", help="skip the slowest baseline")
    ap.add_argument("--only", choices=["phasekit", "cached", "per-run"], default=None,
                    help="run one arm only (to time whole processes side by side)")
    args = ap.parse_args(argv)
    cfg = GRIDS[args.grid]
    x, y = (jnp.asarray(a) for a in authors_three_points())
    n_runs = len(cfg.gammas) * len(cfg.gamma_primes) * len(cfg.widths) * cfg.seeds
    print(f"grid '{args.grid}': {n_runs} runs, widths {list(cfg.widths)}, step cap {cfg.max_steps}, "
          f"{jax.device_count()} {jax.default_backend()} device(s)")

    if args.only in ("cached", "per-run"):
        t = time.perf_counter()
        per_run(cfg, x, y, cached=args.only == "cached")
        print(f"{args.only:10s} {time.perf_counter() - t:8.1f} s")
        return 0
    t = time.perf_counter()
    ds = phase.phase_diagram(x, y, cfg, progress=False)
    t_pk = time.perf_counter() - t
    rd_pk = ds["rd_star"].values.ravel()
    print(f"phasekit   {t_pk:8.1f} s")
    if args.only == "phasekit":
        return 0
    for name, cached in [("cached", True)] + ([] if args.skip_per_run else [("per-run", False)]):
        t = time.perf_counter()
        rd = per_run(cfg, x, y, cached)
        dt = time.perf_counter() - t
        print(f"{name:10s} {dt:8.1f} s   phasekit is {dt / t_pk:5.1f}x faster   "
              f"max |RD* difference| / RD* = {np.max(np.abs(rd - rd_pk) / rd_pk):.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
