"""A continuous-batching sweep run as a separate process by test_continuous.py (kill -9 test).

usage: python continuous_job.py STORE OUT.nc      (STORE "-": in memory)
"""

import sys

import jax
import jax.numpy as jnp
import optax

from phasekit.dynamics import sweep, train

X = jnp.linspace(-1, 1, 24).reshape(12, 2)
Y = jnp.sin(3 * X[:, 0]) + X[:, 1]
AXES = {"lr": [0.02, 0.05, 0.1, 0.2, 0.4], "seed": list(range(8))}


def point(pt, key):
    w = jax.random.normal(key, (2, 16))
    params = {"w": w, "a": jnp.zeros(16)}
    loss = train.mse(lambda p, x: jnp.tanh(x @ p["w"]) @ p["a"])
    r = train.resumable(
        loss, params, (X, Y), optax.sgd(pt["lr"]), steps=6000, n_records=12, stop_rel_loss=0.05
    )
    return r.then(lambda t: {"loss": t.loss, "steps": t.n_steps, "a": t.params["a"]})


def main(store, out):
    ds = sweep.run(
        point,
        AXES,
        store=None if store == "-" else store,
        chunk_size=2,
        lanes=4,
        config={"job": "continuous"},
        dims={"loss": ("record",), "a": ("unit",)},
        batching="continuous",
        progress=False,
    )
    ds.attrs["device_count"] = jax.device_count()
    sweep.save(ds, out)


if __name__ == "__main__":
    main(*sys.argv[1:])
