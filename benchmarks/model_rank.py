"""Model rank of a two-layer tanh net: time and peak memory, phasekit vs a naive dense baseline.

Cases (each in its own process, so the peak resident memory is its own):
  full:      M = 10^4 parameters (width 2500, d = 3, no bias) on N = 2 * 10^4 points, at the
             optimistic point of a width-10 teacher (rank 40) and at a generic point of a
             width-5000 net on d = 1 (numerical rank ~20): phasekit.theory.rank.model_rank.
  reduced:   M = 2000, N = 4000: phasekit (auto method) vs the baseline
             ``np.linalg.svd(vmap(grad(f_i))(theta, x))`` (all per-example gradients in one
             call, dense SVD). ``jax.jacrev(f)(theta)`` of the whole batch needs 64 GB here.

  auto-choice (``--auto-choice``): tanh MLPs on digits at the two sizes of issue 26, a
             3000 x 1960 Jacobian (64-26-10 on 300 images) and a 640 x 26122 one (64-128-128-10
             on 64 images): dense vs sketch vs ``method="auto"``, each timed warm (second call),
             and the ratio of auto's time to the faster method's.

    python benchmarks/model_rank.py [--skip-baseline] [--auto-choice]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import jax
import numpy as np
from jax.flatten_util import ravel_pytree


def _net(width, d, key):
    from phasekit.models import two_layer

    return two_layer.rescale(
        two_layer.init(jax.random.key(key), width, d, bias=False), width**-0.5, d**-0.5
    )


def _case(name):
    from phasekit.models import two_layer
    from phasekit.theory import optimistic as opt
    from phasekit.theory.rank import model_rank

    f = lambda p, x: two_layer.apply(p, x, "tanh")
    if name in ("full_optimistic", "reduced_optimistic", "baseline_optimistic"):
        width, N = (2500, 20000) if name == "full_optimistic" else (500, 4000)
        p = opt.two_layer_point(_net(10, 3, 1), width)
        x = np.random.default_rng(0).standard_normal((N, 3))
    else:  # full_generic
        p, x = _net(5000, 1, 2), np.random.default_rng(0).standard_normal((20000, 1))
    M = sum(a.size for a in jax.tree_util.tree_leaves(p))
    t = time.perf_counter()
    if name.startswith("baseline"):
        with jax.enable_x64(True):
            theta, unravel = ravel_pytree(jax.tree_util.tree_map(lambda a: a.astype(np.float64), p))
            one = lambda th, xi: f(unravel(th), xi[None])[0]
            J = np.asarray(jax.vmap(jax.grad(one), (None, 0))(theta, x))
            s = np.linalg.svd(J, compute_uv=False)
        rank, method = int(np.sum(s > max(J.shape) * np.finfo(float).eps * s[0])), "grad+svd"
    else:
        res = model_rank(f, p, x)
        rank, method = res.rank, res.method
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux: KiB)
    print(
        json.dumps(
            {
                "case": name,
                "M": M,
                "N": x.shape[0],
                "rank": rank,
                "method": method,
                "seconds": seconds,
                "peak_MiB": peak,
            }
        )
    )


def _auto_choice(repeats: int = 3):
    from phasekit import data
    from phasekit.models import mlp
    from phasekit.theory.rank import model_rank

    x_all = np.asarray(data.digits()[0])
    f = lambda p, x: mlp.apply(p, x, activation="tanh")
    print(
        f"auto-choice: warm times, min of {repeats} interleaved calls (load average "
        f"{os.getloadavg()[0]:.1f} at the start), float64 SVD / sketch"
    )
    for sizes, n in (([64, 26, 10], 300), ([64, 128, 128, 10], 64)):
        p = mlp.init(jax.random.key(0), sizes)
        x = x_all[:n]
        t, res = {}, {}
        for method in ("dense", "sketch", "auto"):
            res[method] = model_rank(f, p, x, method=method, warn=False)  # compile
        for _ in range(repeats):  # interleaved, so a change of machine load hits every method alike
            for method in ("dense", "sketch", "auto"):
                start = time.perf_counter()
                res[method] = model_rank(f, p, x, method=method, warn=False)
                t[method] = min(t.get(method, np.inf), time.perf_counter() - start)
        best = min(t["dense"], t["sketch"])
        r = res["auto"]
        print(
            f"  J {r.n_points} x {r.n_params}: dense {t['dense']:.2f} s (rank {res['dense'].rank}), "
            f"sketch {t['sketch']:.2f} s (rank {res['sketch'].rank}), auto -> {r.method} {t['auto']:.2f} s "
            f"= {t['auto'] / best:.2f}x the faster method (the chosen method's own time: "
            f"{t[r.method] / best:.2f}x)"
        )


def _run(name):
    out = subprocess.run([sys.executable, __file__, "--case", name], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument(
        "--auto-choice", action="store_true", help="only the auto-method check of issue 26"
    )
    args = ap.parse_args()
    if args.case:
        return _case(args.case)
    if args.auto_choice:
        return _auto_choice()
    print(f"jax {jax.__version__}, float64, {jax.devices()[0].platform}; times include compilation")
    names = ["full_optimistic", "full_generic", "reduced_optimistic"]
    if not args.skip_baseline:
        names.append("baseline_optimistic")
    rows = {n: _run(n) for n in names}
    for r in rows.values():
        print(
            f"  {r['case']:<20} M={r['M']:>6} N={r['N']:>6}  rank={r['rank']:>4} ({r['method']:<10})"
            f"  {r['seconds']:7.1f} s  peak {r['peak_MiB']:7.0f} MiB"
        )
    if "baseline_optimistic" in rows:
        a, b = rows["reduced_optimistic"], rows["baseline_optimistic"]
        print(
            f"reduced size: baseline / phasekit time = {b['seconds'] / a['seconds']:.1f}x, "
            f"peak memory = {b['peak_MiB'] / a['peak_MiB']:.1f}x (ranks {b['rank']} vs {a['rank']})"
        )


if __name__ == "__main__":
    main()
