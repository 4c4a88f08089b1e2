"""Top Hessian eigenvalue of a >= 1e5-parameter MLP on 2000 examples: phasekit Lanczos vs power iteration.

Model: tanh MLP 64-300-300-10 (112,810 parameters), softmax cross-entropy, 2000 Gaussian inputs
with random labels, float32, one CPU. For each method: the number of Hessian-vector products
needed to reach 1e-3 relative accuracy of lambda_max (reference: 80 Lanczos steps), and the
wall time of a run with exactly that many products (compiled; median of repeats).

Baseline: PyHessian's method, power iteration with double-backprop HVPs in PyTorch, run in a
separate interpreter given by ``--torch-python`` (torch is never imported into phasekit's venv;
the baseline is skipped with a message when that interpreter has no torch). phasekit's own
power iteration is always measured as a second baseline.

    python benchmarks/hessian_top_eigenvalue.py [--torch-python /work/notes/torchvenv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

SIZES = [64, 300, 300, 10]
N, TOL = 2000, 1e-3


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def torch_worker(npz_path, ref, max_iters, repeats):
    """PyTorch power iteration with double-backprop HVPs (written here; not PyHessian's code)."""
    import torch

    torch.manual_seed(0)
    d = np.load(npz_path)
    x, labels = torch.from_numpy(d["x"]), torch.from_numpy(d["labels"]).long()
    ws = [torch.from_numpy(d[f"w{l}"]).requires_grad_() for l in range(len(SIZES) - 1)]
    bs = [torch.from_numpy(d[f"b{l}"]).requires_grad_() for l in range(len(SIZES) - 1)]
    params = [p for pair in zip(ws, bs) for p in pair]

    def loss_fn():
        h = x
        for l, (w, b) in enumerate(zip(ws, bs)):
            h = h @ w + b
            if l < len(ws) - 1:
                h = torch.tanh(h)
        return torch.nn.functional.cross_entropy(h, labels)

    def power(iters, stop_at_ref=False):
        v = [torch.randn_like(p) for p in params]
        estimates = []
        for _ in range(iters):
            if (
                stop_at_ref
                and len(estimates) > 1
                and abs(estimates[-1] - ref) < TOL * abs(ref)
                and abs(estimates[-1] - estimates[-2]) < TOL * abs(estimates[-1])
            ):
                break
            norm = torch.sqrt(sum((vi * vi).sum() for vi in v))
            v = [vi / norm for vi in v]
            grads = torch.autograd.grad(loss_fn(), params, create_graph=True)
            hv = torch.autograd.grad(grads, params, grad_outputs=v)
            estimates.append(float(sum((h * vi).sum() for h, vi in zip(hv, v))))
            v = [h.detach() for h in hv]
        return estimates

    est = power(max_iters, stop_at_ref=True)  # counting run: stops once both criteria are met
    rel = np.abs(np.array(est) - ref) / abs(ref)
    hit = np.nonzero(rel < TOL)[0]
    n_hvp = int(hit[0]) + 1 if hit.size else None
    change = np.abs(np.diff(est)) / np.abs(np.array(est[1:]))
    stop = np.nonzero(change < TOL)[0]
    n_stop = int(stop[0]) + 2 if stop.size else None
    t = _median_time(lambda: power(n_hvp or max_iters), repeats)
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "n_hvp": n_hvp,
                "n_hvp_stop_rule": n_stop,
                "time_s": t,
                "final": est[-1],
            }
        )
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--torch-python", default=None, help="python of a venv with torch (baseline)")
    ap.add_argument("--max-iters", type=int, default=100, help="power-iteration cap")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--torch-worker",
        nargs=4,
        metavar=("NPZ", "REF", "MAX_ITERS", "REPEATS"),
        help=argparse.SUPPRESS,
    )
    args = ap.parse_args(argv)
    if args.torch_worker:
        npz, ref, iters, reps = args.torch_worker
        return torch_worker(npz, float(ref), int(iters), int(reps))

    import jax
    import jax.numpy as jnp

    from phasekit.dynamics import train
    from phasekit.models import mlp
    from phasekit.theory import hessian

    # problem
    kx, kl, kp = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (N, SIZES[0]))
    labels = jax.random.randint(kl, (N,), 0, SIZES[-1])
    params = mlp.init(kp, SIZES, scheme="lecun", bias_std=0.1)
    M = sum(p.size for layer in params for p in layer.values())

    loss = train.cross_entropy(mlp.apply, activation="tanh")
    data = (x, labels)

    print(
        f"tanh MLP {SIZES}: M = {M:,} parameters, n = {N}, float32, jax {jax.__version__} "
        f"on {jax.devices()[0].platform} ({os.cpu_count()} cpus)"
    )

    # reference lambda_max and Lanczos HVP count: the Ritz values of the leading j x j block of T
    # are exactly what j Lanczos steps give
    matvec = hessian.hessian_matvec(loss, params, data)
    alpha, beta, _ = jax.jit(lambda v: hessian.lanczos(matvec, v, 80))(
        jax.random.normal(jax.random.key(1), (M,))
    )
    T = np.asarray(hessian.tridiagonal(alpha, beta), np.float64)
    ritz = np.array([np.linalg.eigvalsh(T[:j, :j])[-1] for j in range(1, 81)])
    ref = ritz[-1]
    n_lanczos = int(np.nonzero(np.abs(ritz - ref) / abs(ref) < TOL)[0][0]) + 1
    print(f"reference lambda_max = {ref:.6g} (80 Lanczos steps)")

    # phasekit Lanczos with exactly n_lanczos products
    lanczos = jax.jit(
        lambda p: hessian.top_eigenvalues(loss, p, data, num_steps=n_lanczos, key=jax.random.key(2))
    )
    val = float(lanczos(params)[0])
    t_lanczos = _median_time(lambda: lanczos(params).block_until_ready(), args.repeats)

    # phasekit power iteration (PyHessian's algorithm, compiled)
    rq = np.asarray(
        jax.jit(lambda p: hessian.power_iteration(loss, p, data, num_iters=args.max_iters))(params)
    )
    hit = np.nonzero(np.abs(rq - ref) / abs(ref) < TOL)[0]
    n_power = int(hit[0]) + 1 if hit.size else args.max_iters
    power = jax.jit(lambda p: hessian.power_iteration(loss, p, data, num_iters=n_power))
    power(params).block_until_ready()
    t_power = _median_time(lambda: power(params).block_until_ready(), args.repeats)

    hvp = jax.jit(lambda v: matvec(v))
    v = jnp.ones(M)
    hvp(v).block_until_ready()
    t_hvp = _median_time(lambda: hvp(v).block_until_ready(), 5)

    rows = [
        ("phasekit Lanczos (jit)", n_lanczos, t_lanczos, val),
        ("phasekit power iteration (jit)", n_power, t_power, rq[n_power - 1]),
    ]

    # baseline: PyTorch double-backprop power iteration in its own interpreter
    torch_row = None
    if args.torch_python and not os.access(args.torch_python, os.X_OK):
        print(f"torch baseline skipped: {args.torch_python} is not an executable python")
    elif args.torch_python:
        with tempfile.TemporaryDirectory() as tmp:
            npz = os.path.join(tmp, "problem.npz")
            arrays = {"x": np.asarray(x), "labels": np.asarray(labels)}
            for l, layer in enumerate(params):
                arrays[f"w{l}"], arrays[f"b{l}"] = np.asarray(layer["w"]), np.asarray(layer["b"])
            np.savez(npz, **arrays)
            proc = subprocess.run(
                [
                    args.torch_python,
                    __file__,
                    "--torch-worker",
                    npz,
                    str(float(ref)),
                    str(args.max_iters),
                    str(args.repeats),
                ],
                capture_output=True,
                text=True,
            )
        if proc.returncode == 0:
            torch_row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(
                (
                    f"PyTorch {torch_row['torch']} double-backprop power iteration",
                    torch_row["n_hvp"] or args.max_iters,
                    torch_row["time_s"],
                    torch_row["final"],
                )
            )
        else:
            print(
                f"torch baseline skipped: {args.torch_python} failed:\n{proc.stderr.strip().splitlines()[-1]}"
            )
    else:
        print(
            "torch baseline skipped: pass --torch-python PATH (a venv with torch; see BENCHMARK-NOTES.md)"
        )

    print(f"\none jitted JAX HVP: {1e3 * t_hvp:.1f} ms")
    print(f"{'method':52s} {'HVPs to 1e-3':>12s} {'time [s]':>9s} {'ms/HVP':>7s}  lambda_max")
    for name, n, t, lam in rows:
        print(f"{name:52s} {n:12d} {t:9.3f} {1e3 * t / n:7.1f}  {lam:.6g}")
    if torch_row is not None:
        print(
            f"(PyTorch power iteration with PyHessian's stop rule, relative change < 1e-3: "
            f"{torch_row['n_hvp_stop_rule']} HVPs; torch threads: {torch_row['threads']})"
        )
    base_name, base_n, base_t, _ = rows[-1]
    print(
        f"\nspeed-up of phasekit Lanczos over {base_name}: {base_t / t_lanczos:.1f}x in time, "
        f"{base_n / n_lanczos:.1f}x fewer HVPs"
    )
    if torch_row is not None:
        print(f"speed-up over phasekit's own power iteration: {t_power / t_lanczos:.1f}x")


if __name__ == "__main__":
    sys.exit(main())
