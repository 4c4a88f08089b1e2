#!/usr/bin/env python
"""Training throughput: S batched two-layer runs vs the same runs one by one.

Two-layer ReLU net, m = 1000, 1-D data with n = 4 and n = 100 points, full-batch GD for a
fixed number of steps (no early stop). Arms (run-steps per second, all in this one process):

  map    phasekit: the S runs in one compiled program, sharded over all local devices (one
         per CPU core), ``lax.map`` over each device's runs (the CPU default of
         ``sweep.batched``); engine with records and divergence flags
  vmap   phasekit: the same with ``jax.vmap`` over each device's runs (the accelerator default)
  bare   a plain ``jax.vmap`` of a bare ``lax.scan`` GD loop (BENCHMARK-NOTES' "naive vmap")
  loop   Python loop over seeds, each run one jitted phasekit ``train.run`` (strong baseline)
  steps  Python loop over seeds and steps, a jitted GD step per call (the authors' style)
  torch  (with --torch-python PATH) PyTorch, loop over seeds and steps (authors' style)

    python benchmarks/train_throughput.py --torch-python /path/to/torch-venv/bin/python
    python benchmarks/train_throughput.py --only map --n 100     # one arm (for farm-bench A/B)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec

from phasekit.dynamics import sweep, train
from phasekit.models import two_layer

WIDTH = 1000


def data(n):
    x = jnp.linspace(-1, 1, n)[:, None]
    return x, jnp.sin(3 * x[:, 0])


def make_run(n, steps):
    x, y = data(n)
    loss = train.mse(two_layer.apply)

    def one(key):
        p = two_layer.rescale(two_layer.init(key, WIDTH, 1), WIDTH**-0.5, 1.0)
        tr = train.run(loss, p, (x, y), optax.sgd(0.05), steps=steps, n_records=20)
        return tr.loss[-1]

    return one


def bare_scan(n, steps):
    """The naive reference: vmap of a lax.scan of GD steps, nothing recorded."""
    x, y = data(n)
    loss = train.mse(two_layer.apply)

    def one(key):
        p = two_layer.rescale(two_layer.init(key, WIDTH, 1), WIDTH**-0.5, 1.0)
        body = lambda p, _: (
            jax.tree_util.tree_map(lambda a, g: a - 0.05 * g, p, jax.grad(loss)(p, (x, y))),
            None,
        )
        return loss(jax.lax.scan(body, p, None, length=steps)[0], (x, y))

    return one


def per_step_loop(n, seeds, steps):
    """The authors' style: Python loop over seeds and steps, one jitted GD step per call."""
    x, y = data(n)
    loss = train.mse(two_layer.apply)
    step = jax.jit(
        lambda p: jax.tree_util.tree_map(lambda a, g: a - 0.05 * g, p, jax.grad(loss)(p, (x, y)))
    )

    def go():
        out = []
        for key in jax.random.split(jax.random.key(0), seeds):
            p = two_layer.rescale(two_layer.init(key, WIDTH, 1), WIDTH**-0.5, 1.0)
            for _ in range(steps):
                p = step(p)
            out.append(p)
        return out

    return go


def timed(fn, repeats=3):
    jax.block_until_ready(fn())  # compile + warm up
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t)
    return best


def measure(arm, n, seeds, steps):
    keys = jax.random.split(jax.random.key(0), seeds)
    if arm in ("map", "vmap"):
        mesh = sweep.local_mesh()  # all local devices (phasekit makes one per CPU core)
        keys = jax.device_put(keys, NamedSharding(mesh, PartitionSpec("runs")))
        f = jax.jit(sweep.batched(make_run(n, steps), arm, mesh))
        t = timed(lambda: f(keys))
    elif arm == "steps":
        steps = min(steps, 200)
        t = timed(per_step_loop(n, seeds, steps), repeats=1)
    elif arm == "loop":
        f = jax.jit(make_run(n, steps))
        t = timed(lambda: [f(k) for k in keys])
    elif arm == "bare":
        f = jax.jit(jax.vmap(bare_scan(n, steps)))
        t = timed(lambda: f(keys))
    else:
        raise ValueError(f"arm: unknown {arm!r}")
    return seeds * steps / t


TORCH = textwrap.dedent("""
    import sys, time, torch
    torch.set_num_threads(2)
    n, seeds, steps, m = map(int, sys.argv[1:5])
    x = torch.linspace(-1, 1, n)[:, None]; x = torch.cat([x, torch.ones_like(x)], 1)
    y = torch.sin(3 * x[:, 0])
    best = float("inf")
    for rep in range(2):
        t = time.perf_counter()
        for s in range(seeds):
            g = torch.Generator().manual_seed(s)
            w = torch.randn(m, 2, generator=g).requires_grad_()
            a = (torch.randn(m, generator=g) * m ** -0.5).requires_grad_()
            for _ in range(steps):
                loss = 0.5 * ((torch.relu(x @ w.T) @ a - y) ** 2).mean()
                gw, ga = torch.autograd.grad(loss, (w, a))
                with torch.no_grad():
                    w -= 0.05 * gw; a -= 0.05 * ga
        best = min(best, time.perf_counter() - t)
    print(seeds * steps / best)
""")


def measure_torch(python, n, seeds, steps):
    out = subprocess.run(
        [python, "-c", TORCH, str(n), str(seeds), str(steps), str(WIDTH)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--n", type=int, nargs="*", default=[4, 100])
    ap.add_argument("--only", choices=["map", "vmap", "bare", "loop", "steps"], default=None)
    ap.add_argument(
        "--torch-python", default=None, help="python with torch for the sequential baseline"
    )
    args = ap.parse_args(argv)
    if args.only:
        for n in args.n:
            print(
                f"{args.only} n={n}: {measure(args.only, n, args.seeds, args.steps):,.0f} run-steps/s"
            )
        return 0
    print(
        f"two-layer ReLU m={WIDTH}, S={args.seeds} runs x {args.steps} GD steps, "
        f"{jax.device_count()} {jax.default_backend()} device(s)"
    )
    arms = ["map", "vmap", "bare", "loop", "steps"] + (["torch"] if args.torch_python else [])
    print(
        "run-steps per second (best of 3 after compilation) and ratios of phasekit (map) to each arm"
    )
    print(f"{'n':>5} " + " ".join(f"{a:>10}" for a in arms))
    for n in args.n:
        r = {a: measure(a, n, args.seeds, args.steps) for a in arms if a != "torch"}
        if args.torch_python:
            r["torch"] = measure_torch(args.torch_python, n, args.seeds, min(args.steps, 300))
        print(f"{n:>5} " + " ".join(f"{r[a]:>10,.0f}" for a in arms))
        print(f"{'':>5} " + " ".join(f"{r['map'] / r[a]:>9.1f}x" for a in arms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
