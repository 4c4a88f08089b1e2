"""Frequency principle experiments of book ch. 4-6 (spec 04): networks fit low frequencies first.

    --experiment sin15       Fig 4.2: sin x + sin 5x; outputs at several steps and the loss plateau.
    --experiment sin135      Fig 4.7: sin x + sin 3x + sin 5x (equal amplitudes); Delta_F heat map.
    --experiment init_scale  Fig 6.2: the same target with all weights multiplied up: the
                             high peak is slow and the fit between training points oscillates.
    --experiment ricker      Fig 4.9 / 6.3: Ricker activation a = 0.3 vs 0.1, with and without
                             anti-symmetric initialization (ASI).
    --experiment lgrad       Fig 6.4: L vs the derivative-augmented L_grad (same seeds, same GD step).
    --experiment early_stop  Fig 4.12: noisy sin x; test error is smallest once the low peak is fit.
    --experiment parity      parity on {-1,1}^10, 200 training points: train 100 %, test ~50 %.
    --experiment filtering   digits: Gaussian filtering method, e_low converges before e_high.
    --experiment ntk         linear regime: NTK eigenvalue on each Fourier mode vs measured order.
    --experiment all         every experiment above at the chosen preset.

Usage: python scripts/frequency_principle.py --experiment sin135 [--preset quick|paper] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from phasekit import data  # noqa: E402
from phasekit.dynamics import frequency as F  # noqa: E402
from phasekit.dynamics import losses, train  # noqa: E402
from phasekit.models import asi, mlp, two_layer  # noqa: E402
from phasekit.viz import frequency as viz  # noqa: E402

PRESETS = {
    "sin15": {"quick": dict(steps=3_000, n_records=80), "paper": dict(steps=20_000, n_records=150)},
    "sin135": {"quick": dict(steps=3_000, n_records=80, seeds=3), "paper": dict(steps=20_000, n_records=150, seeds=10)},
    "init_scale": {"quick": dict(steps=3_000, n_records=60), "paper": dict(steps=20_000, n_records=120)},
    "ricker": {"quick": dict(steps=5_000, n_records=60), "paper": dict(steps=30_000, n_records=120)},
    "lgrad": {"quick": dict(steps=4_000, n_records=60, seeds=3, width=500),
              "paper": dict(steps=20_000, n_records=120, seeds=10, width=1000)},
    "early_stop": {"quick": dict(steps=6_000, n_records=80), "paper": dict(steps=40_000, n_records=150)},
    "parity": {"quick": dict(steps=3_000, n_records=40, seeds=3), "paper": dict(steps=10_000, n_records=80, seeds=10)},
    "filtering": {"quick": dict(steps=2_000, n_records=40, n=1000), "paper": dict(steps=10_000, n_records=80, n=1797)},
    "ntk": {"quick": dict(steps=20_000, n_records=80, width=1000), "paper": dict(steps=100_000, n_records=150, width=4000)},
}
THRESHOLD = 0.1  # Delta_F convergence threshold


def _grid(n):
    """n-point uniform grid of [-pi, pi) (the DFT grid: bin k is frequency k), [n, 1]."""
    return jnp.asarray(data.uniform_grid(n, -np.pi, np.pi, endpoint=False))


def _tanh(p, x):
    return mlp.apply(p, x, activation="tanh")


def _many(one, seeds):
    """Run ``one(key)`` for ``seeds`` seeds as one vmapped, compiled program."""
    return jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(0), seeds))


def _save(ds, out: Path, name: str, fig):
    ds.to_netcdf(out / f"{name}.nc", engine="h5netcdf")
    fig.savefig(out / f"{name}.png", dpi=110)
    plt.close(fig)
    return [out / f"{name}.nc", out / f"{name}.png"]


def _fmt(steps):
    return "[" + ", ".join("never" if s < 0 else str(int(s)) for s in np.asarray(steps)) + "]"


def sin15(cfg, out: Path):
    # config (Fig 4.2): 64-point grid, tanh 1-200-200-1, small init (std = fan_in^-1), Adam 1e-3
    n, peaks, sizes, lr = 64, [1.0, 5.0], [1, 200, 200, 1], 1e-3
    # data
    x, x_plot = _grid(n), jnp.linspace(-np.pi, np.pi, 301)[:, None]
    y, _ = F.sine_series(x, peaks)
    # model + train
    delta_f = F.spectral_error_observable(_tanh, x, y, peaks)
    observe = lambda p: {**delta_f(p), "output": _tanh(p, x_plot)}
    params = mlp.init(jax.random.key(0), sizes, gamma=1.0)
    tr = jax.jit(lambda p: train.run(train.mse(_tanh), p, (x, y), train.optimizer("adam", lr), steps=cfg["steps"],
                                     n_records=cfg["n_records"], observe=observe))(params)
    # analyse: snapshots when peak 1 has converged, halfway (log) to peak 5, when peak 5 has, and at the end
    step, loss, df = np.asarray(tr.step), np.asarray(tr.loss), np.asarray(tr.observables["delta_f"])
    cs = F.convergence_step(step, df, THRESHOLD)
    c1, c5 = [int(s) if s > 0 else int(step[-1]) for s in np.asarray(cs.step)]
    wanted = [c1, int(np.sqrt(c1 * c5)), c5, int(step[-1])]
    idx = sorted({int(np.argmin(np.abs(step - w))) for w in wanted})
    # save + plot
    ds = xr.Dataset({"loss": ("step", loss), "delta_f": (("step", "peak"), df),
                     "output": (("step", "x"), np.asarray(tr.observables["output"])),
                     "convergence_step": ("peak", np.asarray(cs.step))},
                    coords={"step": step, "peak": peaks, "x": np.asarray(x_plot[:, 0])},
                    attrs=dict(experiment="sin15", sizes=str(sizes), init="std fan_in^-1", optimizer="adam",
                               lr=lr, n=n, threshold=THRESHOLD))
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    viz.outputs_at_steps(axes[0], x_plot[:, 0], F.sine_series(x_plot, peaks)[0], ds.output.values[idx], step[idx],
                         x[:, 0], y)
    axes[0].set_title("network output during training", fontsize=9)
    viz.loss_curve(axes[1], step, loss, marks=step[idx])
    axes[1].set_title("loss: plateau after sin x is fit", fontsize=9)
    viz.delta_f_curves(axes[2], step, df, peaks, THRESHOLD)
    axes[2].set_title(r"relative error per peak $\Delta_F(k)$", fontsize=9)
    fig.suptitle("F-Principle: sin x + sin 5x, tanh 1-200-200-1, small init, Adam")
    fig.tight_layout()
    files = _save(ds, out, "sin15", fig)
    print(f"sin15: {sizes} tanh, small init, Adam {lr}, {cfg['steps']} steps; loss {loss[0]:.3g} -> {loss[-1]:.3g}")
    print(f"  convergence step (Delta_F < {THRESHOLD}): k=1 {_fmt(cs.step[:1])}, k=5 {_fmt(cs.step[1:])}")
    return files


def sin135(cfg, out: Path):
    # config (Fig 4.7): equal amplitudes, 64-point grid, tanh 1-200-200-1, small init, Adam 1e-3
    n, peaks, sizes, lr = 64, [1.0, 3.0, 5.0], [1, 200, 200, 1], 1e-3
    x = _grid(n)
    y, _ = F.sine_series(x, peaks)
    target_amp = F.amplitude(F.dft(y), n)
    found = F.dft_frequencies(x)[F.find_peaks(target_amp)]
    delta_f = F.spectral_error_observable(_tanh, x, y, found)
    observe = lambda p: {**delta_f(p), "amplitude": F.amplitude(F.dft(_tanh(p, x)), n)}

    def one(key):
        return train.run(train.mse(_tanh), mlp.init(key, sizes, gamma=1.0), (x, y), train.optimizer("adam", lr),
                         steps=cfg["steps"], n_records=cfg["n_records"], observe=observe)

    tr = _many(one, cfg["seeds"])
    step, df = np.asarray(tr.step[0]), np.asarray(tr.observables["delta_f"])
    cs = F.convergence_step(step, df, THRESHOLD)
    ordered = np.all((np.asarray(cs.step[:, :-1]) < np.asarray(cs.step[:, 1:])) & np.asarray(cs.converged[:, :-1]), axis=1)
    amps = np.asarray(tr.observables["amplitude"][0])
    idx = [int(np.argmin(np.abs(step - s))) for s in np.asarray(cs.step[0]) if s > 0]
    ds = xr.Dataset({"loss": (("seed", "step"), np.asarray(tr.loss)), "delta_f": (("seed", "step", "peak"), df),
                     "amplitude": (("seed", "step", "freq"), np.asarray(tr.observables["amplitude"])),
                     "target_amplitude": ("freq", np.asarray(target_amp)),
                     "convergence_step": (("seed", "peak"), np.asarray(cs.step))},
                    coords={"seed": np.arange(cfg["seeds"]), "step": step, "peak": found,
                            "freq": F.dft_frequencies(x)},
                    attrs=dict(experiment="sin135", sizes=str(sizes), init="std fan_in^-1", optimizer="adam",
                               lr=lr, n=n, threshold=THRESHOLD))
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw=dict(width_ratios=[1.3, 1]))
    viz.delta_f_heatmap(axes[0], step, df[0], found)
    axes[0].set_title(r"$\Delta_F$ per peak (seed 0): low converges first", fontsize=9)
    viz.spectra(axes[1], ds.freq.values, target_amp, amps[idx], step[idx], found, kmax=12)
    axes[1].set_title("|DFT| of target and network when each peak converges", fontsize=9)
    fig.suptitle("F-Principle: sin x + sin 3x + sin 5x, tanh 1-200-200-1, small init, Adam")
    fig.tight_layout()
    files = _save(ds, out, "sin135", fig)
    print(f"sin135: peaks found at k = {', '.join(f'{k:.4g}' for k in found)}; {cfg['seeds']} seeds, {cfg['steps']} steps, Adam {lr}")
    for s in range(cfg["seeds"]):
        print(f"  seed {s}: convergence steps (Delta_F < {THRESHOLD}) {_fmt(cs.step[s])}")
    print(f"  ordered 1 < 3 < 5 in {int(ordered.sum())}/{cfg['seeds']} seeds")
    return files


def init_scale(cfg, out: Path):
    # config (Fig 6.2): LeCun tanh 1-200-200-1 with every weight multiplied by s; 32 training
    # points of sin x + sin 3x + sin 5x; test on a dense grid.
    n, peaks, sizes, lr, scales = 32, [1.0, 3.0, 5.0], [1, 200, 200, 1], 1e-3, [0.5, 1.0, 3.0, 6.0]
    x, x_plot = _grid(n), jnp.linspace(-np.pi, np.pi, 401)[:, None]
    y, y_plot = F.sine_series(x, peaks)[0], F.sine_series(x_plot, peaks)[0]
    delta_f = F.spectral_error_observable(_tanh, x, y, peaks)
    base = mlp.init(jax.random.key(0), sizes, scheme="lecun")

    def one(s):
        p = jax.tree_util.tree_map(lambda w: s * w, base)
        tr = train.run(train.mse(_tanh), p, (x, y), train.optimizer("adam", lr), steps=cfg["steps"],
                       n_records=cfg["n_records"], observe=delta_f)
        return tr, _tanh(tr.params, x_plot), train.mse(_tanh)(tr.params, (x_plot, y_plot))

    tr, fits, test = jax.jit(jax.vmap(one))(jnp.asarray(scales))
    step, df = np.asarray(tr.step[0]), np.asarray(tr.observables["delta_f"])
    cs = F.convergence_step(step, df, THRESHOLD)
    ds = xr.Dataset({"loss": (("scale", "step"), np.asarray(tr.loss)), "delta_f": (("scale", "step", "peak"), df),
                     "fit": (("scale", "x"), np.asarray(fits)), "test_mse": ("scale", np.asarray(test)),
                     "convergence_step": (("scale", "peak"), np.asarray(cs.step))},
                    coords={"scale": scales, "step": step, "peak": peaks, "x": np.asarray(x_plot[:, 0])},
                    attrs=dict(experiment="init_scale", sizes=str(sizes), init="lecun x scale", optimizer="adam",
                               lr=lr, n=n, threshold=THRESHOLD))
    labels = [f"weights x {s:g}: test MSE {float(t):.3g}" for s, t in zip(scales, test)]
    fig = plt.figure(figsize=(16, 7))
    grid = fig.add_gridspec(2, 4)
    top = [fig.add_subplot(grid[0, i]) for i in range(len(scales))]
    viz.draw_fits(top, x_plot[:, 0], y_plot, dict(zip(labels, np.asarray(fits))), x[:, 0], y)
    ax = fig.add_subplot(grid[1, :2])
    viz.convergence_bars(ax, peaks, {f"x {s:g}": cs.step[i] for i, s in enumerate(scales)}, cfg["steps"])
    ax.set_title("convergence step per peak (training points)", fontsize=9)
    ax = fig.add_subplot(grid[1, 2:])
    ax.loglog(scales, np.asarray(test), "o-")
    ax.set_xlabel("init scale s (weights x s)")
    ax.set_ylabel("test MSE on a dense grid")
    ax.set_title("larger init generalizes worse", fontsize=9)
    fig.suptitle(f"Init scale: tanh 1-200-200-1, 32 training points, {cfg['steps']} Adam steps")
    fig.tight_layout()
    files = _save(ds, out, "init_scale", fig)
    print(f"init_scale: {sizes} tanh (LeCun x s), Adam {lr}, {cfg['steps']} steps, 32 training points")
    for i, s in enumerate(scales):
        print(f"  s = {s:<4g} convergence steps {_fmt(cs.step[i])}  train loss {float(tr.loss[i, -1]):.2e}  "
              f"test MSE {float(test[i]):.3g}")
    return files


def ricker(cfg, out: Path):
    # config (Fig 4.9 / 6.3): two-layer Ricker net, width 500, NTK scaling (output / sqrt(m)),
    # w, b ~ N(0, 1), Adam 1e-3, 32 training points of sin x + sin 3x + sin 5x.
    n, m, peaks, lr = 32, 500, [1.0, 3.0, 5.0], 1e-3
    x, x_plot = _grid(n), jnp.linspace(-np.pi, np.pi, 401)[:, None]
    y, y_plot = F.sine_series(x, peaks)[0], F.sine_series(x_plot, peaks)[0]
    fits, rows, dfs = {}, [], []
    for a in (0.3, 0.1):
        net = lambda p, x, a=a: two_layer.apply(p, x, activation=f"ricker:{a}", alpha=m**0.5)
        for use_asi in (False, True):
            model = (lambda p, x, net=net: asi.apply(net, p, x)) if use_asi else net
            base = two_layer.init(jax.random.key(0), m, 1)
            params = asi.pair(base) if use_asi else base
            tr = jax.jit(lambda p: train.run(train.mse(model), p, (x, y), train.optimizer("adam", lr),
                                             steps=cfg["steps"], n_records=cfg["n_records"],
                                             observe=F.spectral_error_observable(model, x, y, peaks)))(params)
            step, df = np.asarray(tr.step), np.asarray(tr.observables["delta_f"])
            cs = F.convergence_step(step, df, THRESHOLD)
            test = float(train.mse(model)(tr.params, (x_plot, y_plot)))
            label = f"a = {a}, {'ASI' if use_asi else 'no ASI'}"
            fits[f"{label}: test MSE {test:.3g}"] = np.asarray(model(tr.params, x_plot))
            rows.append((a, use_asi, np.asarray(cs.step), float(tr.loss[-1]), test))
            dfs.append(df)
    ds = xr.Dataset({"delta_f": (("run", "step", "peak"), np.stack(dfs)),
                     "fit": (("run", "x"), np.stack(list(fits.values()))),
                     "test_mse": ("run", [r[4] for r in rows]),
                     "convergence_step": (("run", "peak"), np.stack([r[2] for r in rows]))},
                    coords={"run": [f"a={r[0]},asi={r[1]}" for r in rows], "a": ("run", [r[0] for r in rows]),
                            "asi": ("run", [r[1] for r in rows]), "step": step, "peak": peaks,
                            "x": np.asarray(x_plot[:, 0])},
                    attrs=dict(experiment="ricker", width=m, alpha="sqrt(m)", optimizer="adam", lr=lr, n=n,
                               threshold=THRESHOLD))
    fig = plt.figure(figsize=(16, 6.6))
    grid = fig.add_gridspec(2, 4, height_ratios=[1, 0.9])
    viz.draw_fits([fig.add_subplot(grid[0, i]) for i in range(4)], x_plot[:, 0], y_plot, fits, x[:, 0], y)
    ax = fig.add_subplot(grid[1, 1:3])
    viz.convergence_bars(ax, peaks, {f"a = {r[0]}, {'ASI' if r[1] else 'no ASI'}": r[2] for r in rows}, cfg["steps"])
    ax.set_title("convergence step per peak: a = 0.1 fits high frequencies first", fontsize=9)
    fig.suptitle(f"Ricker activation, two-layer width {m}, 32 training points, {cfg['steps']} Adam steps")
    fig.tight_layout()
    files = _save(ds, out, "ricker", fig)
    print(f"ricker: two-layer width {m}, NTK scaling, Adam {lr}, {cfg['steps']} steps, 32 training points")
    for a, use_asi, c, l, t in rows:
        print(f"  a = {a}, ASI {str(use_asi):5s}: convergence steps {_fmt(c)}  train loss {l:.2e}  test MSE {t:.3g}")
    return files


def lgrad(cfg, out: Path):
    # config (Fig 6.4): two-layer tanh, NTK scaling, w, b ~ N(0, 4), full-batch GD lr 0.2,
    # 64-point grid of sin x + sin 3x + sin 5x; L = MSE vs L_grad = L + (1/n) sum |h' - f'|^2.
    n, m, peaks, lr, b2 = 64, cfg["width"], [1.0, 3.0, 5.0], 0.2, 2.0
    x = _grid(n)
    y, dy = F.sine_series(x, peaks)
    model = lambda p, x: two_layer.apply(p, x, activation="tanh", alpha=m**0.5)
    delta_f = F.spectral_error_observable(model, x, y, peaks)
    runs = {"L (MSE)": (train.mse(model), (x, y)),
            "L_grad": (losses.derivative_augmented_mse(model), (x, y, dy[:, None]))}
    res = {}
    for name, (loss, d) in runs.items():
        def one(key, loss=loss, d=d):
            p = two_layer.rescale(two_layer.init(key, m, 1), 1.0, b2)
            return train.run(loss, p, d, train.optimizer("gd", lr), steps=cfg["steps"], n_records=cfg["n_records"],
                             observe=delta_f)
        tr = _many(one, cfg["seeds"])
        res[name] = (np.asarray(tr.step[0]), np.asarray(tr.observables["delta_f"]),
                     F.convergence_step(tr.step, tr.observables["delta_f"], THRESHOLD))
    step = res["L (MSE)"][0]
    ds = xr.Dataset({"delta_f": (("loss", "seed", "step", "peak"), np.stack([r[1] for r in res.values()])),
                     "convergence_step": (("loss", "seed", "peak"), np.stack([np.asarray(r[2].step) for r in res.values()]))},
                    coords={"loss": list(res), "seed": np.arange(cfg["seeds"]), "step": step, "peak": peaks},
                    attrs=dict(experiment="lgrad", width=m, alpha="sqrt(m)", beta2=b2, optimizer="gd", lr=lr, n=n,
                               threshold=THRESHOLD))
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    colors = plt.cm.plasma(np.linspace(0, 0.8, len(peaks)))
    for (name, (_, df, _)), ls in zip(res.items(), ["-", "--"]):
        viz.delta_f_curves(axes[0], step, df[0], peaks, THRESHOLD, ls=ls, label_prefix=f"{name}: ", colors=colors)
    axes[0].set_title(r"$\Delta_F$, seed 0 (solid: L, dashed: L_grad)", fontsize=9)
    viz.convergence_bars(axes[1], peaks, {name: r[2].step[0] for name, r in res.items()}, cfg["steps"])
    axes[1].set_title("convergence step per peak, seed 0", fontsize=9)
    fig.suptitle(f"Derivative-augmented loss speeds up high frequencies (two-layer tanh, width {m}, GD lr {lr})")
    fig.tight_layout()
    files = _save(ds, out, "lgrad", fig)
    print(f"lgrad: two-layer tanh width {m}, NTK scaling, GD lr {lr}, {cfg['steps']} steps, {cfg['seeds']} seeds")
    for name, (_, _, cs) in res.items():
        print(f"  {name:8s} " + "  ".join(f"seed {s}: {_fmt(cs.step[s])}" for s in range(cfg["seeds"])))
    return files


def early_stop(cfg, out: Path):
    # config (Fig 4.12): 64 samples of sin x + N(0, 0.5^2) noise; tanh 1-200-200-1, small init,
    # Adam 1e-3; test error against the clean sin x on a dense grid.
    n, sigma, sizes, lr = 64, 0.5, [1, 200, 200, 1], 1e-3
    x, x_plot = _grid(n), jnp.linspace(-np.pi, np.pi, 401)[:, None]
    y = F.sine_series(x, [1.0])[0] + sigma * jax.random.normal(jax.random.key(3), (n,))
    y_plot = F.sine_series(x_plot, [1.0])[0]
    delta_f = F.spectral_error_observable(_tanh, x, y, [1.0])
    test_mse = train.mse(_tanh)
    observe = lambda p: {**delta_f(p), "test_mse": test_mse(p, (x_plot, y_plot)), "output": _tanh(p, x_plot)}
    tr = jax.jit(lambda p: train.run(train.mse(_tanh), p, (x, y), train.optimizer("adam", lr), steps=cfg["steps"],
                                     n_records=cfg["n_records"], observe=observe))(mlp.init(jax.random.key(0), sizes, gamma=1.0))
    step, loss = np.asarray(tr.step), np.asarray(tr.loss)
    test, df = np.asarray(tr.observables["test_mse"]), np.asarray(tr.observables["delta_f"])
    best = int(np.argmin(test))
    cs = F.convergence_step(step, df, THRESHOLD)
    ds = xr.Dataset({"loss": ("step", loss), "test_mse": ("step", test), "delta_f_k1": ("step", df[:, 0]),
                     "output": (("step", "x"), np.asarray(tr.observables["output"]))},
                    coords={"step": step, "x": np.asarray(x_plot[:, 0])},
                    attrs=dict(experiment="early_stop", sizes=str(sizes), noise_std=sigma, optimizer="adam", lr=lr,
                               n=n, best_step=int(step[best])))
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    viz.loss_curve(axes[0], step, loss, label="train loss (noisy)")
    viz.loss_curve(axes[0], step, test, marks=[step[best]], label="test MSE (clean sin x)")
    axes[0].axvline(max(step[best], 1), color="gray", ls=":")
    axes[0].legend(fontsize=7)
    axes[0].set_title(f"test error is minimal at step {int(step[best])}", fontsize=9)
    viz.delta_f_curves(axes[1], step, df, [1.0], THRESHOLD)
    axes[1].axvline(max(step[best], 1), color="gray", ls=":")
    axes[1].set_title(r"$\Delta_F$ of the low peak: converged before the best step", fontsize=9)
    viz.outputs_at_steps(axes[2], x_plot[:, 0], y_plot, np.asarray(tr.observables["output"])[[best, -1]],
                         step[[best, -1]], x[:, 0], y)
    axes[2].set_title("best (early-stopped) and final fits", fontsize=9)
    fig.suptitle(f"Early stopping on noisy sin x (noise std {sigma}): low frequency first, noise last")
    fig.tight_layout()
    files = _save(ds, out, "early_stop", fig)
    print(f"early_stop: {sizes} tanh, small init, Adam {lr}, {cfg['steps']} steps, noise std {sigma}")
    print(f"  Delta_F(k=1) < {THRESHOLD} from step {_fmt(cs.step)}; best test MSE {test[best]:.4f} at step "
          f"{int(step[best])}; final test MSE {test[-1]:.4f}, final train loss {loss[-1]:.2e}")
    return files


def parity(cfg, out: Path):
    # config: parity prod_j x_j on {-1,1}^10; 200 random training points; tanh 10-500-1 (LeCun), Adam 1e-3
    d, n_train, sizes, lr = 10, 200, [10, 500, 1], 1e-3
    cube = jnp.asarray(1.0 - 2.0 * ((np.arange(2**d)[:, None] >> np.arange(d)) & 1), jnp.float32)
    labels = jnp.prod(cube, axis=1)
    perm = np.random.default_rng(0).permutation(2**d)
    tr_idx, te_idx = perm[:n_train], perm[n_train:]
    x, y = cube[tr_idx], labels[tr_idx]

    def one(key):
        tr = train.run(train.mse(_tanh), mlp.init(key, sizes), (x, y), train.optimizer("adam", lr),
                       steps=cfg["steps"], n_records=cfg["n_records"])
        h = _tanh(tr.params, cube)
        return tr.loss, h, F.boolean_degree_power(cube, h)

    loss, h, power = _many(one, cfg["seeds"])
    h = np.asarray(h)
    correct = np.sign(h) == np.asarray(labels)
    train_acc, test_acc = correct[:, tr_idx].mean(1), correct[:, te_idx].mean(1)
    data_power = np.asarray(F.boolean_degree_power(x, y))
    ds = xr.Dataset({"final_loss": ("seed", np.asarray(loss[:, -1])), "train_accuracy": ("seed", train_acc),
                     "test_accuracy": ("seed", test_acc), "network_power": (("seed", "degree"), np.asarray(power)),
                     "data_power": ("degree", data_power),
                     "parity_power": ("degree", np.asarray(F.boolean_degree_power(cube, labels)))},
                    coords={"seed": np.arange(cfg["seeds"]), "degree": np.arange(d + 1)},
                    attrs=dict(experiment="parity", d=d, n_train=n_train, sizes=str(sizes), optimizer="adam", lr=lr))
    fig, ax = plt.subplots(figsize=(8, 3.8))
    viz.degree_power(ax, {"parity on the whole cube": ds.parity_power.values,
                          f"training data ({n_train} points)": data_power,
                          "trained network on the whole cube (seed 0)": np.asarray(power[0])})
    ax.set_ylim(1e-5, 2)
    ax.set_title(f"Parity, d = {d}: train acc {train_acc.mean():.0%}, test acc {test_acc.mean():.0%} "
                 f"(mean of {cfg['seeds']} seeds): the network fills in low frequencies", fontsize=9)
    fig.tight_layout()
    files = _save(ds, out, "parity", fig)
    print(f"parity: d = {d}, {n_train} training points, {sizes} tanh, Adam {lr}, {cfg['steps']} steps, {cfg['seeds']} seeds")
    print(f"  train accuracy {np.round(train_acc, 3).tolist()}, test accuracy {np.round(test_acc, 3).tolist()}")
    print("  network power by degree (seed 0): " + " ".join(f"{v:.2g}" for v in np.asarray(power[0])))
    return files


def filtering(cfg, out: Path):
    # config (CiCP 2020, filtering method): digits (pixels / 16), one-hot targets, tanh 64-200-10,
    # small init, Adam 1e-3; delta = 1, 2, 3 x the median nearest-neighbour distance.
    sizes, lr, factors = [64, 200, 10], 1e-3, [1.0, 2.0, 3.0]
    xd, labels = data.digits(cfg["n"])
    x, y = jnp.asarray(xd), jax.nn.one_hot(labels, 10)
    nn = float(F.nearest_neighbour_distance(x))
    deltas = [f * nn for f in factors]
    observe = F.filtering_observable(_tanh, x, y, deltas)
    tr = jax.jit(lambda p: train.run(train.mse(_tanh), p, (x, y), train.optimizer("adam", lr), steps=cfg["steps"],
                                     n_records=cfg["n_records"], observe=observe))(mlp.init(jax.random.key(0), sizes, gamma=1.0))
    step = np.asarray(tr.step)
    e_low, e_high = np.asarray(tr.observables["e_low"]), np.asarray(tr.observables["e_high"])
    half_low = F.convergence_step(step, e_low, 0.5)
    half_high = F.convergence_step(step, e_high, 0.5)
    ds = xr.Dataset({"loss": ("step", np.asarray(tr.loss)), "e_low": (("step", "delta"), e_low),
                     "e_high": (("step", "delta"), e_high)},
                    coords={"step": step, "delta": deltas},
                    attrs=dict(experiment="filtering", n=int(x.shape[0]), sizes=str(sizes), optimizer="adam", lr=lr,
                               nearest_neighbour_distance=nn))
    fig, ax = plt.subplots(figsize=(8, 4))
    viz.filtering_curves(ax, step, e_low, e_high, deltas)
    ax.set_title(f"Filtering method on digits (n = {x.shape[0]}): low-frequency part converges first", fontsize=9)
    fig.tight_layout()
    files = _save(ds, out, "filtering", fig)
    print(f"filtering: digits n = {x.shape[0]}, {sizes} tanh, small init, Adam {lr}, {cfg['steps']} steps; "
          f"median nearest-neighbour distance {nn:.3f}")
    for j, dl in enumerate(deltas):
        print(f"  delta {dl:.2f}: e_low < 0.5 from step {_fmt(half_low.step[j:j + 1])}, e_high from "
              f"{_fmt(half_high.step[j:j + 1])}; final e_low {e_low[-1, j]:.3f}, e_high {e_high[-1, j]:.3f}")
    return files


def ntk(cfg, out: Path):
    # config: linear regime: two-layer tanh, NTK scaling, w, b ~ N(0, 4), wide; ASI so h_0 = 0
    # and Delta_F starts at 1; GD lr 0.2 on the 64-point grid, equal-amplitude peaks 1..6.
    from phasekit.theory import ntk as ntk_theory  # another engineer's module (issue 8 depends on it)

    n, m, peaks, lr, b2 = 64, cfg["width"], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 0.2, 2.0
    x = _grid(n)
    y, _ = F.sine_series(x, peaks)
    net = lambda p, x: two_layer.apply(p, x, activation="tanh", alpha=m**0.5)
    base = two_layer.rescale(two_layer.init(jax.random.key(0), m, 1), 1.0, b2)
    kernel = ntk_theory.empirical_ntk(net, base, x)
    freqs = F.dft_frequencies(x)
    lam = np.asarray(F.fourier_mode_eigenvalues(kernel, x[:, 0], freqs))
    predicted = np.asarray(F.linear_convergence_step(F.fourier_mode_eigenvalues(kernel, x[:, 0], peaks), lr, n, THRESHOLD))
    model = lambda p, x: asi.apply(net, p, x)
    tr = jax.jit(lambda p: train.run(train.mse(model), p, (x, y), train.optimizer("gd", lr), steps=cfg["steps"],
                                     n_records=cfg["n_records"],
                                     observe=F.spectral_error_observable(model, x, y, peaks)))(asi.pair(base))
    step, df = np.asarray(tr.step), np.asarray(tr.observables["delta_f"])
    # first passage (held for 3 records), which is what the linear prediction describes: the
    # modes are coupled (the kernel is not diagonal in the Fourier basis), so a converged peak
    # can drift back above the threshold while the higher ones are being fit.
    cs = F.convergence_step(step, df, THRESHOLD, window=3)
    ds = xr.Dataset({"ntk_mode_eigenvalue": ("freq", lam), "delta_f": (("step", "peak"), df),
                     "predicted_step": ("peak", predicted), "convergence_step": ("peak", np.asarray(cs.step))},
                    coords={"freq": freqs, "step": step, "peak": peaks},
                    attrs=dict(experiment="ntk", width=m, alpha="sqrt(m)", beta2=b2, optimizer="gd", lr=lr, n=n,
                               threshold=THRESHOLD, init="ASI (h_0 = 0)"))
    fig = viz.eigen_vs_convergence(freqs, lam, peaks, predicted, np.asarray(cs.step),
                                   f"Linear regime: two-layer tanh, width {m}, GD lr {lr}, ASI")
    files = _save(ds, out, "ntk", fig)
    print(f"ntk: two-layer tanh width {m}, NTK scaling, GD lr {lr}, {cfg['steps']} steps, ASI init")
    print("  lambda(k) at the peaks: " + ", ".join(f"k={k:g}: {float(v):.3g}" for k, v in zip(peaks, lam[np.asarray(peaks, int)])))
    print(f"  predicted steps {_fmt(np.round(predicted))}\n  measured steps  {_fmt(cs.step)}")
    return files


EXPERIMENTS = {f.__name__: f for f in (sin15, sin135, init_scale, ricker, lgrad, early_stop, parity, filtering, ntk)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiment", choices=list(EXPERIMENTS) + ["all"], default="sin135")
    ap.add_argument("--preset", choices=["quick", "paper"], default="quick")
    ap.add_argument("--out", type=Path, default=Path("results/frequency_principle"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    names = list(EXPERIMENTS) if args.experiment == "all" else [args.experiment]
    for name in names:
        files = EXPERIMENTS[name](PRESETS[name][args.preset], args.out)
        print("  wrote " + ", ".join(str(f) for f in files))


if __name__ == "__main__":
    main()
