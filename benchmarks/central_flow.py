"""Central flow and warm-started sharpness tracking: HVPs and wall time.

Model: tanh MLP 64-128-128-10 (26,122 parameters), MSE to one-hot labels of 256 centred digits,
float32, full-batch GD from one LeCun init. Two measurements:

1. Warm vs cold Lanczos along GD (``stability.track_top_eigenpairs``, k = 1, relative residual
   1e-3, every 10 steps for 400 steps, at lr 0.4): mean HVPs per record after the first, and the
   largest relative difference of lambda_max between the two (equal accuracy).
2. GD + central flow at 3 learning rates (0.3, 0.4, 0.5; 200 steps, 4 substeps): one vmapped
   program vs the three runs one by one (each compiled once before timing; median of repeats);
   ratio = one-by-one time / vmapped time.

    python benchmarks/central_flow.py [--steps 200] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from phasekit.dynamics import flows, stability, train
from phasekit.models import mlp

SIZES = [64, 128, 128, 10]
LRS = (0.3, 0.4, 0.5)


def _data(n=256):
    from phasekit.data import tabular

    x, labels = tabular.digits(n, scale="unit")
    return jnp.asarray(x - x.mean(0)), jnp.asarray(np.eye(10, dtype=np.float32)[labels])


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--track-steps", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    data = _data()
    p0 = mlp.init(jax.random.key(0), SIZES, scheme="lecun")
    loss = train.mse(mlp.apply, activation="tanh")

    track = jax.jit(
        jax.vmap(
            lambda w: stability.track_top_eigenpairs(
                loss,
                p0,
                data,
                optax.sgd(0.4),
                steps=args.track_steps,
                every=10,
                k=1,
                tol=1e-3,
                max_steps=60,
                warm=w,
            )
        )
    )
    both = track(jnp.array([True, False]))
    hvp = np.asarray(both.num_hvp)[:, 1:]
    s = np.asarray(both.values)[:, :, 0]
    out = {
        "warm_hvp_per_record": float(hvp[0].mean()),
        "cold_hvp_per_record": float(hvp[1].mean()),
        "warm_over_cold": float(hvp[0].sum() / hvp[1].sum()),
        "max_rel_diff_sharpness": float(np.max(np.abs(s[0] / s[1] - 1))),
    }

    def one(lr):
        gd = train.run(
            loss,
            p0,
            data,
            optax.sgd(lr),
            steps=args.steps,
            n_records=args.steps // 10 + 1,
            schedule="linear",
        )
        cf = flows.central_flow(
            loss,
            p0,
            data,
            lr,
            steps=args.steps,
            n_records=args.steps // 10 + 1,
            schedule="linear",
            substeps=4,
            relaxation=2.0,
        )
        return gd.loss, cf.predicted_loss

    lrs = jnp.asarray(LRS, jnp.float32)
    batched = jax.jit(jax.vmap(one))
    single = jax.jit(one)
    jax.block_until_ready(batched(lrs))
    jax.block_until_ready(single(lrs[0]))
    t_batch = _median_time(lambda: batched(lrs), args.repeats)
    t_single = _median_time(lambda: [single(lr) for lr in lrs], args.repeats)
    out.update(
        vmapped_s=t_batch,
        one_by_one_s=t_single,
        ratio_one_by_one_over_vmapped=t_single / t_batch,
        steps=args.steps,
        lrs=list(LRS),
        devices=str(jax.devices()),
    )
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
