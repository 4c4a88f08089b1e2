"""Empirical NTK throughput: phasekit's implementations vs neural-tangents and a naive baseline.

Model: 8-512-512-1 ReLU MLP, 256 inputs, NTK Theta(x, x) [256, 256] traced over the output
(``phasekit.models.mlp``, and the same network as a Flax linen module).
Baselines measured in the same run:
  naive        ``jax.jacrev`` of the full batch, then J J^T (current JAX)
  neural-tangents 0.6.5 ``empirical_ntk_fn`` (jacobian contraction, NTK-vector products,
               structured derivatives), which needs an old JAX: it runs in another interpreter
               given by ``--nt-python`` (or $PHASEKIT_NT_PYTHON), e.g. a virtualenv made with
               ``pip install "jax[cpu]==0.4.23" "jaxlib==0.4.23" "neural-tangents==0.6.5"
               "numpy<2" "scipy<1.13"``; skipped with a message when absent.
Every time is the median of ``--reps`` jitted calls after a warm-up (fewer for calls
that take seconds); ratios are printed
against the naive baseline and against neural-tangents' structured derivatives.

    python benchmarks/empirical_ntk.py [--n 256] [--width 512] [--reps 5] [--nt-python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

NT_SNIPPET = r"""
import json, sys, time
import jax, jax.numpy as jnp, neural_tangents as nt
from neural_tangents import stax
n, d, width, reps = (int(a) for a in sys.argv[1:5])
init_fn, apply_fn, _ = stax.serial(stax.Dense(width), stax.Relu(), stax.Dense(width), stax.Relu(), stax.Dense(1))
_, params = init_fn(jax.random.PRNGKey(0), (-1, d))
x = jax.random.normal(jax.random.PRNGKey(1), (n, d))
out = {}
for name, impl in [("jacobian", 1), ("ntvp", 2), ("structured", 3)]:
    fn = jax.jit(nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,), vmap_axes=0, implementation=impl))
    fn(x, None, params).block_until_ready()
    ts = []
    while len(ts) < reps and sum(ts) < 2.0:
        t0 = time.perf_counter(); fn(x, None, params).block_until_ready(); ts.append(time.perf_counter() - t0)
    out[name] = sorted(ts)[len(ts) // 2]
print(json.dumps({"jax": jax.__version__, "times": out}))
"""


def median_time(fn, *args, reps: int) -> float:
    fn(*args).block_until_ready()
    times = []
    while len(times) < reps and sum(times) < 2.0:     # slow methods: fewer repetitions
        t0 = time.perf_counter()
        fn(*args).block_until_ready()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def neural_tangents_times(python: str | None, n: int, d: int, width: int, reps: int):
    if not python:
        print("neural-tangents: skipped (no --nt-python / $PHASEKIT_NT_PYTHON given; it does not "
              "import on current JAX)")
        return None
    proc = subprocess.run([python, "-c", NT_SNIPPET, str(n), str(d), str(width), str(reps)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        print(f"neural-tangents: skipped ({python} failed: {proc.stderr.strip().splitlines()[-1:]})")
        return None
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"neural-tangents 0.6.5 on jax {result['jax']} ({python})")
    return result["times"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--input-dim", type=int, default=8)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--nt-python", default=os.environ.get("PHASEKIT_NT_PYTHON"))
    args = parser.parse_args()

    import functools

    import jax
    import jax.numpy as jnp

    from phasekit.models import mlp
    from phasekit.theory import ntk

    sizes = [args.input_dim, args.width, args.width, 1]
    params = mlp.init(jax.random.key(0), sizes, scheme="he")
    x = jax.random.normal(jax.random.key(1), (args.n, args.input_dim))
    f = functools.partial(mlp.apply, activation="relu")

    @jax.jit
    def naive(params, x):
        jac = jax.jacrev(lambda p: f(p, x))(params)
        leaves = [j.reshape(x.shape[0], -1) for j in jax.tree_util.tree_leaves(jac)]
        return sum(j @ j.T for j in leaves)

    print(f"empirical NTK of a {'-'.join(map(str, sizes))} ReLU MLP on {args.n} inputs, "
          f"jax {jax.__version__}, {jax.devices()[0].platform}, median of {args.reps}")
    times = {"naive jacrev": median_time(naive, params, x, reps=args.reps)}
    ref = naive(params, x)
    for impl in ("jacobian", "ntvp", "structured"):
        fn = jax.jit(functools.partial(ntk.empirical_ntk, f, implementation=impl))
        times[f"phasekit {impl}"] = median_time(fn, params, x, reps=args.reps)
        err = float(jnp.linalg.norm(fn(params, x) - ref) / jnp.linalg.norm(ref))
        print(f"  phasekit {impl:<10s} relative difference to naive: {err:.1e}")
    # the same network as a Flax linen module (structured through nn.intercept_methods)
    import flax.linen as nn

    class DenseNet(nn.Module):
        @nn.compact
        def __call__(self, x):
            for _ in range(2):
                x = nn.relu(nn.Dense(args.width)(x))
            return nn.Dense(1)(x)[:, 0]

    net = DenseNet()
    variables = net.init(jax.random.key(0), x)
    fn = jax.jit(functools.partial(ntk.empirical_ntk, net.apply, implementation="structured"))
    times["phasekit structured (Flax)"] = median_time(fn, variables, x, reps=args.reps)
    nt_times = neural_tangents_times(args.nt_python, args.n, args.input_dim, args.width, args.reps)
    for name, t in (nt_times or {}).items():
        times[f"neural-tangents {name}"] = t

    base = times["naive jacrev"]
    nt_struct = times.get("neural-tangents structured")
    header = f"{'method':<30s}{'ms':>10s}{'naive/this':>13s}" + (f"{'nt-struct/this':>16s}" if nt_struct else "")
    print(header)
    for name, t in times.items():
        row = f"{name:<30s}{1e3 * t:>10.2f}{base / t:>13.1f}"
        print(row + (f"{nt_struct / t:>16.2f}" if nt_struct else ""))


if __name__ == "__main__":
    sys.exit(main())
