#!/usr/bin/env python
"""Phase diagram of initialization scale for two-layer ReLU networks (book ch. 7, spec 01).

Recipe: config -> data -> sweep (gamma, gamma', width, seed), every network trained to a
relative loss of 1e-4 -> S_w = slope of log RD* over log m -> compare sign(S_w) with the
theoretical regimes -> figures (S_w heat map, RD* vs m panels, neuron orientation/amplitude
scatter at a linear, a critical and a condensed point) -> results file.

    python scripts/phase_diagram.py --preset quick            # the demo (`make demo`)
    python scripts/phase_diagram.py --preset paper            # book grid, widths 1000..40000
    python scripts/phase_diagram.py --data digits             # digits stand-in for MNIST
    python scripts/phase_diagram.py --data mnist --mnist-dir ~/data/mnist
    python scripts/phase_diagram.py --preset paper --shard 0/4   # one of 4 processes, same store

Rerunning the same command resumes from the store in OUT/store (finished points are skipped).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from phasekit import data as datasets
from phasekit.dynamics import condensation, phase, sweep
from phasekit.models import two_layer
from phasekit.theory import regimes
from phasekit.viz import phase as viz

GAMMAS = tuple(np.round(np.arange(0.0, 2.01, 0.25), 2))
PRESETS = {
    # the demo: book 1-D data, coarse grid, widths spanning 2 decades, 4 seeds
    "quick": dict(gammas=GAMMAS, gamma_primes=(-1.0, -0.5, 0.0, 0.5, 1.0),
                  widths=(100, 300, 1000, 3000, 10000), seeds=4, max_steps=20_000),
    # book Fig 7.5: finer grid, widths 1000..40000
    "paper": dict(gammas=tuple(np.round(np.arange(0.0, 2.01, 0.125), 3)),
                  gamma_primes=tuple(np.round(np.arange(-1.0, 1.01, 0.25), 2)),
                  widths=(1000, 5000, 10000, 20000, 40000), seeds=5, max_steps=100_000),
    # high-dimensional data (digits / MNIST), the label as a scalar target: the data kernel is
    # ill-conditioned, so runs stop at 1% of the initial loss (not 1e-4) within 20k steps
    "digits": dict(gammas=(0.25, 0.75, 1.25, 1.75), gamma_primes=(-0.5, 0.0, 0.5),
                   widths=(50, 200, 800), seeds=2, max_steps=20_000, rel_tol=1e-2),
}
# (gamma, gamma', label) of the RD*-vs-width panels (Fig 7.4) and neuron scatters (Fig 7.3/7.6)
SHOWCASE = [(0.5, 0.0, "linear (NTK-like)"), (1.0, 0.0, "critical (mean-field-like)"),
            (1.75, 0.0, "condensed")]


def load_data(name: str, n: int | None, mnist_dir: str | None):
    if name == "book":
        return datasets.authors_three_points()
    if name == "four":
        return datasets.four_points()
    if name == "digits":
        x, y = datasets.digits(n=n or 100)
    elif name == "mnist":
        x, y = datasets.mnist(mnist_dir, n=n or 1000)
    else:
        raise ValueError(f"data: unknown {name!r}")
    return x.astype(np.float32), y.astype(np.float32)


def neuron_panels(x, y, cfg, width):
    """Retrain the three showcase points at the largest width with parameters returned."""
    key = jax.random.fold_in(jax.random.key(cfg.base_seed), sweep.point_hash(("width", "seed"), (width, 0)))
    panels, fits = [], []
    grid = jnp.linspace(-1.0, 1.0, 401)[:, None]
    for g, gp, label in SHOWCASE:
        out, _ = jax.jit(lambda k: phase.train_point(g, gp, width, k, jnp.asarray(x), jnp.asarray(y), cfg,
                                                     return_params=True))(key)
        kind = regimes.regime(g, gp)
        p0, p1 = out["theta0"], out["theta_final"]
        if x.shape[1] == 1:
            ang0, amp0 = condensation.orientation_amplitude(p0["a"], p0["w"], p0.get("b"))
            ang1, amp1 = condensation.orientation_amplitude(p1["a"], p1["w"], p1.get("b"))
            xlabel = r"orientation $\Omega_k$ = atan2($b_k$, $w_k$)"
            alpha = regimes.scaling_for(g, gp, width)[0]
            fits.append({"title": f"{label}", "regime": kind, "x": np.asarray(grid[:, 0]),
                         "f": np.asarray(two_layer.apply(p1, grid, cfg.activation, alpha)),
                         "x_train": x[:, 0], "y_train": y})
        else:
            ang0, amp0 = condensation.projection_amplitude(p0["a"], two_layer.input_weights(p0))
            ang1, amp1 = condensation.projection_amplitude(p1["a"], two_layer.input_weights(p1))
            xlabel = r"projection $\hat w_k \cdot p$, p = 1/$\sqrt{D}$"
        panels.append({"title": f"{label}: γ={g}, γ'={gp}, m={width}\nRD*={float(out['rd_star']):.2g}"
                                f"{'' if bool(out['converged']) else ' (not converged)'}",
                       "regime": kind, "angle0": np.asarray(ang0), "amp0": np.asarray(amp0),
                       "angle": np.asarray(ang1), "amp": np.asarray(amp1), "xlabel": xlabel})
    return panels, fits


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default=None,
                    help="default: quick for 1-D data, digits for digits/mnist")
    ap.add_argument("--data", choices=["book", "four", "digits", "mnist"], default="book",
                    help="book: the authors' 3 points x = (-0.5, 0, 0.5) -> y = (-0.5, 0, 1)")
    ap.add_argument("--n", type=int, default=None, help="number of samples (digits / mnist)")
    ap.add_argument("--mnist-dir", default=None, help="folder with the MNIST IDX files")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--widths", type=lambda s: tuple(int(v) for v in s.split(",")), default=None)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--shard", default=None, help="i/n: compute one of n parts of the grid")
    ap.add_argument("--out", default=None, help="output folder (default results/phase_diagram/<preset>-<data>)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)

    data_name = args.data
    preset = args.preset or ("digits" if data_name in ("digits", "mnist") else "quick")
    overrides = {k: v for k, v in {"seeds": args.seeds, "widths": args.widths,
                                   "max_steps": args.max_steps}.items() if v is not None}
    cfg = phase.PhaseConfig(**(PRESETS[preset] | overrides))
    out = Path(args.out or f"results/phase_diagram/{preset}-{data_name}")
    out.mkdir(parents=True, exist_ok=True)

    x, y = load_data(data_name, args.n, args.mnist_dir)
    n_runs = len(cfg.gammas) * len(cfg.gamma_primes) * len(cfg.widths) * cfg.seeds
    print(f"phase diagram [{preset}] on {data_name} data (n={len(x)}, d={x.shape[1]}): "
          f"{len(cfg.gammas)} x {len(cfg.gamma_primes)} (gamma, gamma') points x widths {list(cfg.widths)} "
          f"x {cfg.seeds} seeds = {n_runs} runs on {jax.device_count()} {jax.default_backend()} device(s)")
    t0 = time.perf_counter()
    ds = phase.phase_diagram(x, y, cfg, store=out / "store", shard=args.shard, progress=not args.no_progress)
    if not ds.attrs["complete"]:
        print(f"shard {args.shard} done; rerun without --shard when all shards have finished to merge.")
        return 0
    ds.attrs["data"] = data_name
    path = sweep.save(ds, out / "phase_diagram.nc")

    fig, ax = plt.subplots(figsize=(6.6, 5.4), constrained_layout=True)
    viz.s_w_heatmap(ds, ax)
    fig.savefig(out / "s_w_heatmap.png", dpi=150)
    axes = viz.rd_vs_width(ds, SHOWCASE)
    axes[0].figure.savefig(out / "rd_vs_width.png", dpi=150)
    panels, fits = neuron_panels(x, y, cfg, max(cfg.widths))
    axes = viz.neuron_scatter(panels)
    axes[0].figure.savefig(out / "neurons.png", dpi=150)
    figures = [out / "s_w_heatmap.png", out / "rd_vs_width.png", out / "neurons.png"]
    if fits:
        axes = viz.fits(fits)
        axes[0].figure.savefig(out / "fits.png", dpi=150)
        figures.append(out / "fits.png")
    plt.close("all")

    agree = phase.agreement(ds, margin=0.1)
    wall = time.perf_counter() - t0
    summary = {
        "preset": preset, "data": data_name, "runs": n_runs, "wall_time_s": round(wall, 1),
        "agreement": f"{agree['n_agree']}/{agree['n_compared']}", "disagree": agree["disagree"],
        "hit_cap": agree["n_hit_cap"], "diverged": agree["n_diverged"],
        "boundary_gamma": dict(zip(map(float, ds.gamma_prime.values), np.round(ds.boundary_gamma.values, 3).tolist())),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"\nwall time {wall:.1f} s for {n_runs} runs ({agree['n_hit_cap']} hit the step cap, "
          f"{agree['n_diverged']} diverged)")
    print(f"sign(S_w) agrees with the theoretical regime at {agree['n_agree']} of {agree['n_compared']} "
          f"grid points >= 0.1 from the boundary" + (f"; disagree at {agree['disagree']}" if agree["disagree"] else ""))
    print("empirical boundary (gamma at S_w = 0) vs theory:")
    for gp, bg in zip(ds.gamma_prime.values, ds.boundary_gamma.values):
        emp = f"{bg:.3f}" if np.isfinite(bg) else "none in the grid"
        print(f"  gamma' = {gp:+.2f}: empirical {emp:>16s}   theory {float(regimes.boundary_curve(gp)):.3f}")
    for g, gp, label in SHOWCASE:
        p = ds.sel(gamma=g, gamma_prime=gp, method="nearest")
        print(f"  S_w near {label:28s} (gamma={float(p.gamma):.2f}, gamma'={float(p.gamma_prime):+.2f}): "
              f"{float(p.S_w):+.3f} +- {float(p.S_w_stderr):.3f}")
    print(f"results: {path}")
    for f in figures:
        print(f"figure:  {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
