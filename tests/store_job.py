"""A sweep run as a separate process by test_store_concurrency.py.

usage: python store_job.py STORE OUT.nc [BATCHING]
"""

import sys

import jax.numpy as jnp
import optax

from phasekit.dynamics import sweep, train
from phasekit.models import two_layer

X = jnp.linspace(-1, 1, 16)[:, None]
Y = jnp.sin(4 * X[:, 0])
AXES = {"scale": [0.25, 0.5, 1.0, 2.0], "width": [16, 32], "seed": list(range(4))}


def point(pt, key):
    p = two_layer.rescale(two_layer.init(key, pt["width"], 1), pt["scale"], pt["scale"])
    tr = train.run(
        train.mse(two_layer.apply, activation="tanh"),
        p,
        (X, Y),
        optax.sgd(0.05),
        steps=4000,
        n_records=8,
    )
    return {"loss": tr.loss, "a_norm": jnp.linalg.norm(tr.params["a"])}


def main(store, out, batching="map"):
    ds = sweep.run(
        point,
        AXES,
        static=("width",),
        store=None if store == "-" else store,
        chunk_size=2,
        config={"job": "store"},
        dims={"loss": ("record",)},
        batching=batching,
        progress=False,
    )
    sweep.save(ds, out)


if __name__ == "__main__":
    main(*sys.argv[1:])
