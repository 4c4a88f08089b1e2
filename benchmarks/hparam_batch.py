#!/usr/bin/env python
"""64 hyperparameter trials as one vmapped program vs the same trials one by one.

  batch      ``search.evaluate``: one ``jax.jit(jax.vmap(run))`` over all 64 trials (lr, weight
             decay, init scale traced), one call
  one-by-one the sampler loop of an ask/tell library: ask one trial, run it through ONE jitted
             single-trial program (compiled once, reused), tell its loss, repeat 64 times

Both run the same trials (the task of ``course-hparam-search``, same keys and step count), so the
losses agree and the ratio is the cost of running the trials one at a time. Wall-clock, the
first call (compile) reported separately.

    python benchmarks/hparam_batch.py                 # 64 trials, the quick task
    python benchmarks/hparam_batch.py --trials 256 --steps 1000 --width 64
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from phasekit.dynamics import search
from phasekit.experiments import course_topics


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--trials", type=int, default=64)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    cfg = course_topics.SearchConfig(steps=a.steps, width=a.width)
    make, space = course_topics._search_task(cfg)
    pts = search.random(space, a.trials, 0)
    keys = search.trial_keys(0, a.trials)

    t = time.perf_counter()
    batch = search.evaluate(make, pts, keys)["val_loss"]
    first_batch = time.perf_counter() - t
    times = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        search.evaluate(make, pts, keys)
        times.append(time.perf_counter() - t)
    t_batch = min(times)

    one = jax.jit(lambda p, k: search._plain(make)(p, k)["val_loss"])
    p0 = {n: jnp.float32(v[0]) for n, v in pts.items()}
    t = time.perf_counter()
    one(p0, keys[0]).block_until_ready()
    first_one = time.perf_counter() - t
    times = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        losses = [
            float(one({n: jnp.float32(v[i]) for n, v in pts.items()}, keys[i]))
            for i in range(a.trials)
        ]
        times.append(time.perf_counter() - t)
    t_one = min(times)
    rel = np.abs(np.asarray(losses) - batch) / np.maximum(np.abs(batch), 1e-12)
    print(
        f"backend {jax.default_backend()} ({jax.devices()[0].device_kind}), {a.trials} trials x {a.steps} steps, width {a.width}"
    )
    print(f"compile+first call: batch {first_batch:.2f} s, single-trial program {first_one:.2f} s")
    print(
        f"batch (one vmapped program): {t_batch:.3f} s   one by one: {t_one:.3f} s   ratio {t_one / t_batch:.2f}x"
    )
    # vmapped and single-trial programs round differently (fused multiply-adds, reduction order);
    # trials at learning rates near the edge of stability amplify an ulp into a different loss
    print(
        f"relative difference of the losses: median {np.median(rel):.2e}, "
        f"{np.mean(rel < 1e-3):.0%} of trials within 1e-3, max {rel.max():.2e}"
    )


if __name__ == "__main__":
    main()
