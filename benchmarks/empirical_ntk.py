"""Empirical NTK throughput: phasekit's implementations vs neural-tangents and a naive baseline.

Models:
  MLP  8-512-512-1 ReLU MLP, 256 inputs, NTK Theta(x, x) [256, 256] traced over the output:
       ``phasekit.models.mlp``, the same network written by a user as a plain function of a dict
       of weights, and as a Flax linen module (all three reach the structured rules through
       their traced programs; the user's function should be within 1.5x of ``mlp.apply``).
  CNN  Flax linen Conv(16, 3x3) -> relu -> Conv(16, 3x3) -> relu -> Dense(10) on 16x16x1
       images (``--cnn-n`` of them), NTK traced over the 10 outputs, given to phasekit as
       ``lambda p, x: module.apply({"params": p}, x)``: structured vs jacobian (bar: 10x).
       The ratio grows with the number of images: ``jacobian`` contracts an [n k, P] Jacobian
       with itself (n^2 k P, P ~ 43k led by the dense head), while the structured path's cost is
       led by the per-output backward passes through the convolutions (n k of them), which
       ``jacobian`` needs too, plus the convolutions' own n^2 k P_conv contraction (P_conv ~ 2.5k):
       the ratio rises with n towards P / P_conv. On 2 idle CPU cores, one run each: 7.4x at
       512 images (neural-tangents 0.6.5 in the same run: its structured 5.3x its jacobian, and
       phasekit's structured 1.40x faster than its structured) and 10.1x at 1024 (the default);
       a later idle run (2026-12-02): 10.3x at 1024 (15.0 s vs 1.46 s) and 10.6x at 2048
       (40.9 s vs 3.86 s); at 64 and 256 images (loaded machine) 5.3x and 5.9x. Measured on a loaded machine the
       ratios read higher (10.3x at 512, 11.1x at 1024): the Jacobian contraction suffers more
       from a shared memory bus.
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

    python benchmarks/empirical_ntk.py [--n 256] [--width 512] [--cnn-n 1024] [--reps 5] [--nt-python PATH]
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
n, d, width, reps, cnn_n = (int(a) for a in sys.argv[1:6])
init_fn, apply_fn, _ = stax.serial(stax.Dense(width), stax.Relu(), stax.Dense(width), stax.Relu(), stax.Dense(1))
_, params = init_fn(jax.random.PRNGKey(0), (-1, d))
x = jax.random.normal(jax.random.PRNGKey(1), (n, d))
cnn_init, cnn_apply, _ = stax.serial(stax.Conv(16, (3, 3), padding="SAME"), stax.Relu(),
                                     stax.Conv(16, (3, 3), padding="SAME"), stax.Relu(),
                                     stax.Flatten(), stax.Dense(10))
_, cnn_params = cnn_init(jax.random.PRNGKey(0), (-1, 16, 16, 1))
images = jax.random.normal(jax.random.PRNGKey(1), (cnn_n, 16, 16, 1))
out = {}
for name, impl, f, p, xx in [("jacobian", 1, apply_fn, params, x), ("ntvp", 2, apply_fn, params, x),
                             ("structured", 3, apply_fn, params, x),
                             ("cnn jacobian", 1, cnn_apply, cnn_params, images),
                             ("cnn structured", 3, cnn_apply, cnn_params, images)]:
    fn = jax.jit(nt.empirical_ntk_fn(f, trace_axes=(-1,), vmap_axes=0, implementation=impl))
    fn(xx, None, p).block_until_ready()
    ts = []
    while len(ts) < reps and sum(ts) < 2.0:
        t0 = time.perf_counter(); fn(xx, None, p).block_until_ready(); ts.append(time.perf_counter() - t0)
    out[name] = sorted(ts)[len(ts) // 2]
print(json.dumps({"jax": jax.__version__, "times": out}))
"""


def median_time(fn, *args, reps: int) -> float:
    fn(*args).block_until_ready()
    times = []
    while len(times) < reps and sum(times) < 2.0:  # slow methods: fewer repetitions
        t0 = time.perf_counter()
        fn(*args).block_until_ready()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def neural_tangents_times(python: str | None, n: int, d: int, width: int, reps: int, cnn_n: int):
    if not python:
        print(
            "neural-tangents: skipped (no --nt-python / $PHASEKIT_NT_PYTHON given; it does not "
            "import on current JAX)"
        )
        return None
    proc = subprocess.run(
        [python, "-c", NT_SNIPPET, str(n), str(d), str(width), str(reps), str(cnn_n)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        print(
            f"neural-tangents: skipped ({python} failed: {proc.stderr.strip().splitlines()[-1:]})"
        )
        return None
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"neural-tangents 0.6.5 on jax {result['jax']} ({python})")
    return result["times"]


def table(title, times, base_name, nt_name=None):
    base, nt_t = times[base_name], times.get(nt_name)
    print(f"\n{title}")
    print(
        f"{'method':<34s}{'ms':>10s}{'base/this':>12s}"
        + (f"{'nt-struct/this':>16s}" if nt_t else "")
        + f"   (base: {base_name})"
    )
    for name, t in times.items():
        row = f"{name:<34s}{1e3 * t:>10.2f}{base / t:>12.1f}"
        print(row + (f"{nt_t / t:>16.2f}" if nt_t else ""))


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--input-dim", type=int, default=8)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--cnn-n", type=int, default=1024)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--nt-python", default=os.environ.get("PHASEKIT_NT_PYTHON"))
    args = parser.parse_args()

    import functools

    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    from phasekit.models import mlp
    from phasekit.theory import ntk

    sizes = [args.input_dim, args.width, args.width, 1]
    params = mlp.init(jax.random.key(0), sizes, scheme="he")
    x = jax.random.normal(jax.random.key(1), (args.n, args.input_dim))
    f = functools.partial(mlp.apply, activation="relu")

    def naive_of(f):
        @jax.jit
        def naive(params, x):  # J J^T from the full-batch Jacobian, traced over outputs
            out_ndim = jax.eval_shape(f, params, x).ndim
            jac = jax.tree_util.tree_leaves(jax.jacrev(lambda p: f(p, x))(params))
            flat = [j.reshape(j.shape[:out_ndim] + (-1,)) for j in jac]
            return sum(jnp.einsum("i...p,j...p->ij", j, j) for j in flat)

        return naive

    def check(label, kernel, ref):
        err = float(jnp.linalg.norm(kernel - ref) / jnp.linalg.norm(ref))
        print(f"  {label:<32s} relative difference to naive: {err:.1e}")

    print(
        f"empirical NTK, jax {jax.__version__}, {jax.devices()[0].platform}, median of {args.reps} "
        f"(shared machine: compare ratios within this run only)"
    )
    print(f"MLP {'-'.join(map(str, sizes))} ReLU on {args.n} inputs")
    naive = naive_of(f)
    mlp_times = {"naive jacrev": median_time(naive, params, x, reps=args.reps)}
    ref = naive(params, x)
    for impl in ("jacobian", "ntvp", "structured"):
        fn = functools.partial(ntk.empirical_ntk, f, implementation=impl)  # jitted inside
        mlp_times[f"phasekit {impl}"] = median_time(fn, params, x, reps=args.reps)
        check(f"phasekit {impl}", fn(params, x), ref)

    # the same network written by a user: a plain function of a dict of weights
    user_params = {f"W{i}": layer["w"] for i, layer in enumerate(params)} | {
        f"b{i}": layer["b"] for i, layer in enumerate(params)
    }

    def user_mlp(w, x):
        h = jax.nn.relu(x @ w["W0"] + w["b0"])
        h = jax.nn.relu(h @ w["W1"] + w["b1"])
        return (h @ w["W2"] + w["b2"])[:, 0]

    fn = functools.partial(ntk.empirical_ntk, user_mlp, implementation="auto")
    mlp_times["phasekit auto (user's function)"] = median_time(fn, user_params, x, reps=args.reps)
    check("phasekit auto (user's function)", fn(user_params, x), ref)

    class DenseNet(nn.Module):
        @nn.compact
        def __call__(self, x):
            for _ in range(2):
                x = nn.relu(nn.Dense(args.width)(x))
            return nn.Dense(1)(x)[:, 0]

    net = DenseNet()
    variables = net.init(jax.random.key(0), x)
    fn = functools.partial(ntk.empirical_ntk, net.apply, implementation="auto")
    mlp_times["phasekit auto (Flax)"] = median_time(fn, variables, x, reps=args.reps)

    class ConvNet(nn.Module):
        @nn.compact
        def __call__(self, x):
            for _ in range(2):
                x = nn.relu(nn.Conv(16, (3, 3), padding="SAME")(x))
            return nn.Dense(10)(x.reshape((x.shape[0], -1)))

    conv = ConvNet()
    images = jax.random.normal(jax.random.key(1), (args.cnn_n, 16, 16, 1))
    conv_params = conv.init(jax.random.key(0), images[:1])["params"]
    g = lambda p, x: conv.apply({"params": p}, x)
    print(
        f"CNN Conv16-Conv16-Dense10 on {args.cnn_n} images 16x16x1, "
        f"plan: {ntk.ntk_plan(g, conv_params, images).structured}"
    )
    naive = naive_of(g)
    cnn_times = {}
    if args.cnn_n <= 64:  # the full-batch jacrev holds n k cotangents x n images of activations
        cnn_times["naive jacrev"] = median_time(naive, conv_params, images, reps=args.reps)
    else:
        print(
            f"  naive jacrev: not timed at {args.cnn_n} images (it would allocate "
            f"~{args.cnn_n**2 * 10 * 16**3 * 4 / 2**30:.0f} GiB); checked on the first 32"
        )
    ref = naive(conv_params, images[:32])
    # ntvp vmaps n k full-batch products: like the naive jacrev, only at small n
    for impl in (
        ("jacobian", "ntvp", "structured") if args.cnn_n <= 64 else ("jacobian", "structured")
    ):
        fn = functools.partial(ntk.empirical_ntk, g, implementation=impl)
        cnn_times[f"phasekit {impl}"] = median_time(fn, conv_params, images, reps=args.reps)
        check(f"phasekit {impl}", fn(conv_params, images)[:32, :32], ref)

    nt_times = neural_tangents_times(
        args.nt_python, args.n, args.input_dim, args.width, args.reps, args.cnn_n
    )
    for name, t in (nt_times or {}).items():
        (cnn_times if name.startswith("cnn") else mlp_times)[
            f"neural-tangents {name.removeprefix('cnn ')}"
        ] = t

    table("MLP", mlp_times, "naive jacrev", "neural-tangents structured")
    table("CNN", cnn_times, "phasekit jacobian", "neural-tangents structured")
    ratio = mlp_times["phasekit auto (user's function)"] / mlp_times["phasekit structured"]
    speedup = cnn_times["phasekit jacobian"] / cnn_times["phasekit structured"]
    print(f"\nuser's MLP function / mlp.apply (structured): {ratio:.2f}x (bar: <= 1.5x)")
    print(f"CNN: structured is {speedup:.1f}x faster than jacobian (bar: >= 10x)")


if __name__ == "__main__":
    sys.exit(main())
