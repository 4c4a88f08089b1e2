"""A small sweep run as a separate process by test_sweep.py (kill -9 / multi-device checks).

usage: python sweep_job.py STORE OUT.nc [SHARD]
"""

import sys

import jax
import jax.numpy as jnp
import optax

from phasekit.dynamics import sweep, train
from phasekit.models import two_layer

X = jnp.linspace(-1, 1, 16)[:, None]
Y = jnp.sin(4 * X[:, 0])
AXES = {"scale": [0.25, 0.5, 1.0, 2.0], "width": [16, 32], "seed": list(range(6))}


def point(pt, key):
    p = two_layer.rescale(two_layer.init(key, pt["width"], 1), pt["scale"], pt["scale"])
    tr = train.run(
        train.mse(two_layer.apply, activation="tanh"),
        p,
        (X, Y),
        optax.sgd(0.05),
        steps=3000,
        n_records=8,
    )
    return {"loss": tr.loss, "a_norm": jnp.linalg.norm(tr.params["a"])}


def main(store, out, shard=None):
    ds = sweep.run(
        point,
        AXES,
        static=("width",),
        store=None if store == "-" else store,
        chunk_size=4,
        shard=shard,
        config={"job": "test"},
        dims={"loss": ("record",)},
        progress=False,
    )
    ds.attrs["device_count"] = jax.device_count()
    sweep.save(ds, out)


if __name__ == "__main__":
    main(*sys.argv[1:])
