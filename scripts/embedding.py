"""Embedding principle experiments of book ch. 9 (spec 02).

    --experiment loss_spectrum  Fig 9.5: two-layer ReLU nets of several widths, small init, many
                                seeds (one vmapped run per width); histogram of log10(loss) over all
                                records: plateaus shared across widths are bright lines.
    --experiment hessian        Fig 9.7: train a width-2 tanh net to a critical point (float64,
                                Newton-polished), embed it into widths 3 and 4 by splitting, count
                                Hessian eigenvalues; on 1-D data and on Iris.
    --experiment reduction      Fig 9.8 with scikit-learn digits in place of MNIST: width-400 ReLU
                                net, merge condensed neurons at a plateau, retrain the narrow net,
                                compare losses and test predictions.

Usage: python scripts/embedding.py --experiment hessian [--preset quick|paper] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from sklearn.datasets import load_digits, load_iris  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from phasekit.dynamics import condensation as cond  # noqa: E402
from phasekit.dynamics import train  # noqa: E402
from phasekit.models import two_layer as tl  # noqa: E402
from phasekit.theory import embedding as emb  # noqa: E402
from phasekit.viz import condensation as viz  # noqa: E402

PRESETS = {
    "loss_spectrum": {"quick": dict(widths=[5, 10, 20, 50, 100], seeds=100, steps=20_000, n_records=400),
                      "paper": dict(widths=[5, 10, 20, 50, 100, 200, 500], seeds=100, steps=100_000, n_records=2000)},
    "hessian": {"quick": dict(steps=5_000), "paper": dict(steps=50_000)},
    "reduction": {"quick": dict(steps=2_000, retrain=2_000), "paper": dict(steps=30_000, retrain=30_000)},
}


def _kinks(t):
    """The 4-kink 1-D target of book Fig 8.1 (also used for the width comparison)."""
    r = jax.nn.relu
    return -r(t) + r(2 * (t + 0.3)) - r(1.5 * (t - 0.4)) + r(0.5 * (t - 0.8))


def loss_spectrum(cfg, out: Path):
    # config: small init (every weight ~ N(0, (m^-gamma)^2)), full-batch GD, linear record schedule
    gamma, lr, n = 2.0, 0.1, 40
    x = jnp.linspace(-1, 1, n)[:, None]
    y = _kinks(x[:, 0])
    loss_fn = train.mse(tl.apply)
    densities, finals = [], []
    for m in cfg["widths"]:
        scale = float(m) ** -gamma

        def one(key):
            p = tl.rescale(tl.init(key, m, 1), scale, scale)
            return train.run(loss_fn, p, (x, y), train.optimizer("gd", lr), steps=cfg["steps"],
                             n_records=cfg["n_records"], schedule="linear")

        keys = jax.random.split(jax.random.fold_in(jax.random.key(0), m), cfg["seeds"])
        traj = jax.jit(jax.vmap(one))(keys)
        edges, p = cond.loss_spectrum(traj.loss)
        densities.append(p)
        finals.append(np.asarray(traj.loss[:, -1]))
    density = np.stack(densities)
    ds = xr.Dataset({"density": (("width", "log10_loss"), density),
                     "final_loss": (("width", "seed"), np.stack(finals))},
                    coords={"width": cfg["widths"], "log10_loss": 0.5 * (edges[1:] + edges[:-1])},
                    attrs=dict(experiment="loss_spectrum", gamma=gamma, lr=lr, n=n, steps=cfg["steps"],
                               seeds=cfg["seeds"], schedule="linear"))
    ds.to_netcdf(out / "loss_spectrum.nc", engine="h5netcdf")
    fig = viz.loss_spectrum(cfg["widths"], edges, density,
                            f"loss spectrum, {cfg['seeds']} seeds per width: shared plateaus are bright lines")
    fig.savefig(out / "loss_spectrum.png", dpi=110)
    print(f"loss_spectrum: widths {cfg['widths']}, {cfg['seeds']} seeds each (vmapped), GD lr {lr}, "
          f"init std m^-{gamma:g}, {cfg['steps']} steps")
    centers = ds.log10_loss.values
    for m, p, f in zip(cfg["widths"], density, finals):
        top = np.sort(centers[np.argsort(p)[-3:]])
        print(f"  width {m:4d}: most visited log10(loss) bins {np.round(top, 2)}, "
              f"median final loss {np.median(f):.2e}")
    return [out / "loss_spectrum.nc", out / "loss_spectrum.png"]


def _width2_critical_point(x, y, outputs, steps, seed):
    """Adam from a moderate init, then Newton polishing to a critical point (float64)."""
    loss_fn = train.mse(tl.apply, activation="tanh")
    p = tl.init(jax.random.key(seed), 2, x.shape[1], dtype=jnp.float64)
    if outputs > 1:
        p["a"] = jax.random.normal(jax.random.key(seed + 1), (2, outputs), jnp.float64)
    p = tl.rescale(p, 0.5, 0.5)
    p = train.run(loss_fn, p, (x, y), train.optimizer("adam", 0.01), steps=steps, n_records=2).params
    return loss_fn, emb.refine_critical_point(loss_fn, p, (x, y), steps=30)


def hessian(cfg, out: Path):
    tol = 1e-10
    book = {"1-D": "0 -> 1 -> 2 negatives", "Iris": "3 -> 5 -> 7 negatives"}
    files, rows = [], []
    with jax.enable_x64(True):
        # data: a 1-D bump + slope on 20 points; Iris (standardized features, one-hot targets)
        x1 = jnp.linspace(-1, 1, 20)[:, None]
        xi, yi = load_iris(return_X_y=True)
        sets = {"1-D": (x1, jnp.exp(-4 * x1[:, 0] ** 2) + 0.5 * x1[:, 0], 1, 2),
                "Iris": (jnp.asarray(StandardScaler().fit_transform(xi)), jax.nn.one_hot(yi, 3, dtype=jnp.float64), 3, 2)}
        for name, (x, y, outputs, seed) in sets.items():
            loss_fn, p2 = _width2_critical_point(x, y, outputs, cfg["steps"], seed)
            reports = {2: emb.embedding_report(loss_fn, p2, p2, (x, y), tol=tol)["narrow"]}
            for w in (3, 4):
                wide = emb.embed_to_width(p2, w, alphas=0.3)
                reports[w] = emb.embedding_report(loss_fn, p2, wide, (x, y), tol=tol)["wide"]
            tag = name.replace("-", "").lower()
            ds = xr.Dataset({f"eigenvalues_width{w}": (f"index{w}", r["eigenvalues"]) for w, r in reports.items()},
                            attrs=dict(experiment="hessian", data=name, activation="tanh", tol=tol, alpha=0.3,
                                       **{f"counts_width{w}": [r["n_negative"], r["n_zero"], r["n_positive"]]
                                          for w, r in reports.items()},
                                       **{f"grad_l1_width{w}": r["grad_l1"] for w, r in reports.items()}))
            ds.to_netcdf(out / f"hessian_{tag}.nc", engine="h5netcdf")
            fig = viz.hessian_spectra({f"width {w}": r["eigenvalues"] for w, r in reports.items()},
                                      {f"width {w}": (r["n_negative"], r["n_zero"], r["n_positive"])
                                       for w, r in reports.items()}, tol,
                                      f"{name}: width-2 critical point embedded into widths 3, 4 (tanh)")
            fig.savefig(out / f"hessian_{tag}.png", dpi=110)
            files += [out / f"hessian_{tag}.nc", out / f"hessian_{tag}.png"]
            rows.append((name, reports))
    print(f"hessian: tanh two-layer nets, float64, split alpha = 0.3, zero = |lambda| <= {tol:g}")
    for name, reports in rows:
        print(f"  {name} (book: {book[name]}):")
        for w, r in reports.items():
            print(f"    width {w}: loss {r['loss']:.6e}  |grad|_1 {r['grad_l1']:.1e}  "
                  f"negative {r['n_negative']:2d}  zero {r['n_zero']:2d}  positive {r['n_positive']:2d}")
    return files


def reduction(cfg, out: Path):
    # config: width 400 ReLU, 10 outputs (one-hot MSE), 1000 training digits, small init, GD
    m, gamma, lr, n_train = 400, 2.0, 0.3, 1000
    digits_x, digits_y = load_digits(return_X_y=True)
    x = jnp.asarray(digits_x / 16.0, jnp.float32)
    y = jax.nn.one_hot(digits_y, 10)
    x_tr, y_tr, x_te = x[:n_train], y[:n_train], x[n_train:]
    scale = float(m) ** -gamma
    p = tl.init(jax.random.key(0), m, x.shape[1])
    p["a"] = jax.random.normal(jax.random.key(1), (m, 10))
    p = tl.rescale(p, scale, scale)
    loss_fn = train.mse(tl.apply)
    opt = train.optimizer("gd", lr)
    record_at = train.record_steps(cfg["steps"], 60)
    # train the wide net in segments ending at the record steps, keeping the params
    wide = jax.jit(lambda p: train.run(loss_fn, p, (x_tr, y_tr), opt, steps=cfg["steps"], record_at=record_at,
                                       observe=lambda q: {"params": q}))(p)
    loss = np.asarray(wide.loss)
    # merge at the end of the first plateau after the initial one, and at the end of training
    ends = [i for i in cond.plateau_ends(loss, flat=0.005) if loss[i] < 0.95 * loss[0]]
    merge_points = sorted(set(ends[:1] + [len(loss) - 1]))
    results, curves = [], {}
    for i in merge_points:
        p_i = jax.tree_util.tree_map(lambda v: v[i], wide.observables["params"])
        narrow, rep = cond.merge_condensed(p_i, x_tr)
        retrain_at = train.record_steps(cfg["retrain"], 40)
        tr = jax.jit(lambda q: train.run(loss_fn, q, (x_tr, y_tr), opt, steps=cfg["retrain"], record_at=retrain_at))(narrow)
        # wide net trained on for the same number of steps from the same point, for comparison
        tw = jax.jit(lambda q: train.run(loss_fn, q, (x_tr, y_tr), opt, steps=cfg["retrain"], record_at=retrain_at))(p_i)
        _, _, agree_test = cond.output_agreement(tl.apply(p_i, x_te), tl.apply(narrow, x_te))
        _, _, agree_after = cond.output_agreement(tl.apply(tw.params, x_te), tl.apply(tr.params, x_te))
        results.append(dict(step=int(wide.step[i]), loss_at_merge=float(loss[i]), width_after=rep.width_after,
                            n_dead=rep.n_dead, n_negligible=rep.n_negligible, rel_l2=rep.rel_l2,
                            loss_merged=float(loss_fn(narrow, (x_tr, y_tr))), agree_test=agree_test,
                            loss_retrained=float(tr.loss[-1]), loss_wide_continued=float(tw.loss[-1]),
                            agree_after=agree_after))
        curves[int(wide.step[i])] = (np.asarray(retrain_at), np.asarray(tr.loss), rep.width_after)
    ds = xr.Dataset({"loss": ("step", loss), **{k: ("merge", [r[k] for r in results]) for k in results[0] if k != "step"}},
                    coords={"step": np.asarray(wide.step), "merge": [r["step"] for r in results]},
                    attrs=dict(experiment="reduction", data="sklearn digits", width=m, gamma=gamma, lr=lr,
                               n_train=n_train, threshold=0.9, rel_amplitude=1e-2))
    ds.to_netcdf(out / "reduction.nc", engine="h5netcdf")
    first = results[0]
    s0, l0, w0 = curves[first["step"]]
    fig = viz.reduction(np.asarray(wide.step), loss, s0, l0, first["step"], (m, w0),
                        f"digits: width {m} -> {w0} at step {first['step']}, retrained")
    fig.savefig(out / "reduction.png", dpi=110)
    print(f"reduction: digits ({n_train} train / {x_te.shape[0]} test), width {m} ReLU, init std m^-{gamma:g}, "
          f"GD lr {lr}; merge at cos >= 0.9 after dropping neurons with A < 1e-2 max A and dead ones")
    for r in results:
        print(f"  merge at step {r['step']} (loss {r['loss_at_merge']:.4f}): width {m} -> {r['width_after']} "
              f"({r['n_dead']} dead, {r['n_negligible']} negligible dropped); merged loss {r['loss_merged']:.4f}, "
              f"output rel. L2 diff {r['rel_l2']:.3f}, test prediction agreement {100 * r['agree_test']:.1f}%")
        print(f"    after {cfg['retrain']} more steps: narrow {r['loss_retrained']:.4f} vs wide {r['loss_wide_continued']:.4f}, "
              f"test agreement {100 * r['agree_after']:.1f}%")
    return [out / "reduction.nc", out / "reduction.png"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiment", choices=list(PRESETS), default="hessian")
    ap.add_argument("--preset", choices=["quick", "paper"], default="quick")
    ap.add_argument("--out", default="results/embedding")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run = {"loss_spectrum": loss_spectrum, "hessian": hessian, "reduction": reduction}[args.experiment]
    files = run(PRESETS[args.experiment][args.preset], out)
    print("wrote " + ", ".join(str(f) for f in files))


if __name__ == "__main__":
    main()
