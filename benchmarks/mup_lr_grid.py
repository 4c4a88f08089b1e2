#!/usr/bin/env python
"""muP lr x seed grid of one width: one vmapped program vs the same runs one by one.

  grid       ``jax.jit(jax.vmap(point))`` over every (lr, seed) of one width and scheme: one
             compiled program, no per-step Python
  cached     a Python loop over the grid through ONE jitted ``point`` with lr and key as traced
             arguments (compiled once, reused)

Both train the same runs (``phasekit.experiments.parameterization.transfer_point``: digits,
cross-entropy, full-batch SGD under muP, same steps), so their losses agree and the ratio is the
cost of running the grid one run at a time. Times are wall-clock; compile reported separately.

    python benchmarks/mup_lr_grid.py                          # width 256, 8 lrs x 4 seeds
    python benchmarks/mup_lr_grid.py --width 1024 --lrs 12 --seeds 8
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from phasekit.experiments import parameterization as E


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--lrs", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--n-train", type=int, default=128)
    ap.add_argument("--scheme", default="mup", choices=("sp", "ntp", "mup"))
    args = ap.parse_args(argv)
    cfg = E.TransferConfig(
        widths=(args.width, 2 * args.width),
        schemes=(args.scheme,),
        n_train=args.n_train,
        steps=args.steps,
        n_lrs=args.lrs,
        seeds=args.seeds,
        lr_min=2.0**-6,
        lr_max=2.0,
    )
    x, labels = E._digits(cfg.n_train)
    point = E.transfer_point(
        cfg, x, labels, E._table(cfg.schemes, cfg.hidden_layers, cfg.optimizer, 0.0)
    )

    def one(lr, key):
        return point({"width": args.width, "scheme": jnp.int32(0), "lr": lr}, key)["loss"]

    lrs = np.repeat(cfg.lrs(), args.seeds).astype(np.float32)
    keys = jax.random.split(jax.random.key(0), lrs.size)

    grid = jax.jit(jax.vmap(one))
    t = time.perf_counter()
    grid(lrs, keys).block_until_ready()
    t_grid_first = time.perf_counter() - t
    t = time.perf_counter()
    out_grid = np.asarray(grid(lrs, keys))
    t_grid = time.perf_counter() - t

    single = jax.jit(one)
    t = time.perf_counter()
    single(lrs[0], keys[0]).block_until_ready()
    t_single_first = time.perf_counter() - t
    t = time.perf_counter()
    out_loop = np.asarray([single(lr, k) for lr, k in zip(lrs, keys)])
    t_loop = time.perf_counter() - t

    ok = np.isfinite(out_grid) & np.isfinite(out_loop)
    rel = np.abs(out_grid[ok] - out_loop[ok]) / np.abs(out_loop[ok])
    agree, median = (
        (float(rel.max()), float(np.median(rel))) if ok.any() else (float("nan"), float("nan"))
    )
    n = lrs.size
    print(
        f"{args.scheme} width {args.width}: {args.lrs} lrs x {args.seeds} seeds = {n} runs x {args.steps} steps "
        f"on {jax.devices()[0].device_kind}"
    )
    print(f"  grid   (one vmapped program): first call {t_grid_first:.2f} s, then {t_grid:.3f} s")
    print(
        f"  cached (loop, one compiled run): first call {t_single_first:.2f} s, then {t_loop:.3f} s for {n} runs"
    )
    print(
        f"  loop / grid time ratio: {t_loop / t_grid:.2f}x   (relative loss difference grid vs loop: max "
        f"{agree:.2e}, median {median:.2e}, float32 batched vs unbatched kernels; "
        f"{int((~np.isfinite(out_grid)).sum())} diverged)"
    )


if __name__ == "__main__":
    main()
