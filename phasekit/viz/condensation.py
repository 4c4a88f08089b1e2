"""Figures for condensation, the embedding principle and dropout (spec 02, book ch. 8-9).

Plot only: every function takes arrays already computed by the library and draws them;
``*_figures(ds)`` draw an experiment's figures from its Dataset alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "activation_figures",
    "condensation_process",
    "cosine_heatmap",
    "cosine_heatmaps",
    "dropout_outputs",
    "hessian_spectra",
    "loss_spectrum",
    "process_figures",
    "reduction",
    "residual_figures",
    "sample_size_curves",
]


def cosine_heatmap(ax, similarity, order=None, title: str | None = None):
    """Cosine similarity matrix [m, m], rows/columns in ``order`` (e.g. leading-eigenvector).

    Args:
      ax: the matplotlib Axes drawn into; similarity: [m, m]; order: a permutation [m] (None:
        as given); title: the panel's title.
    Returns:
      the ``AxesImage`` (for a colorbar).
    """
    D = np.asarray(similarity)
    if order is not None:
        o = np.asarray(order)
        D = D[np.ix_(o, o)]
    im = ax.imshow(D, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xlabel("neuron (sorted)")
    ax.set_ylabel("neuron (sorted)")
    if title:
        ax.set_title(title, fontsize=10)
    return im


def cosine_heatmaps(
    matrices: Mapping[str, np.ndarray],
    orders: Mapping[str, np.ndarray] | None = None,
    suptitle: str | None = None,
    ncols: int | None = None,
):
    """One sorted heat map per entry of ``matrices`` (title -> [m, m]) with a shared colorbar.

    Args:
      matrices: title -> [m, m]; orders: title -> permutation [m] (None: as given); suptitle:
        the figure's title; ncols: panels per row (None: all in one row).
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    n = len(matrices)
    if n == 0:
        raise ValueError("matrices: need at least one matrix to draw")
    ncols = ncols or n
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols + 0.8, 3.2 * nrows), squeeze=False)
    images = []
    for j, (ax, (name, D)) in enumerate(zip(axes.flat, matrices.items())):
        images.append(cosine_heatmap(ax, D, None if orders is None else orders[name], name))
        if j % ncols:
            ax.set_ylabel("")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.colorbar(images[-1], ax=axes, shrink=0.8, label="cosine similarity")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def condensation_process(
    step,
    loss,
    snapshots: Sequence[int],
    x,
    y,
    x_grid,
    outputs,
    omega,
    log_amp,
    n_directions,
    min_log_amp: float | None = None,
):
    """Book Fig 8.1-8.4: loss with plateaus and direction count; per snapshot the fit and the
    polar (Omega_k, log10 A_k) picture with the trajectories up to that time.

    Args:
      step, loss, n_directions: [R] records.  snapshots: record indices to draw.
      x, y: training data (1-D).  x_grid: [G];  outputs: [R, G] network output on the grid.
      omega, log_amp: [R, m] orientation and log10 amplitude of every neuron at every record.
      min_log_amp: the polar panels' inner radius in log10 A (None: the smallest log_amp).
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    step, loss = np.asarray(step), np.asarray(loss)
    omega, log_amp = np.asarray(omega), np.asarray(log_amp)
    k = len(snapshots)
    fig = plt.figure(figsize=(3.2 * k, 9.0))
    gs = fig.add_gridspec(3, k, height_ratios=[1.0, 1.1, 1.3])
    ax = fig.add_subplot(gs[0, :])
    ax.loglog(np.maximum(step, 1), loss, color="k", label="training loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax2 = ax.twinx()
    ax2.step(np.maximum(step, 1), n_directions, where="post", color="tab:red", alpha=0.8)
    ax2.set_ylabel("# condensed directions", color="tab:red")
    for j, s in enumerate(snapshots):
        ax.axvline(max(step[s], 1), color="tab:blue", ls=":", lw=1)
        ax.annotate(
            chr(65 + j), (max(step[s], 1), loss.max()), color="tab:blue", ha="left", va="top"
        )
    ax.set_title("loss plateaus and the number of condensed directions")
    lo = np.nanmin(log_amp) if min_log_amp is None else min_log_amp
    r_of = lambda la: np.clip(la, lo, None) - lo
    for j, s in enumerate(snapshots):
        axf = fig.add_subplot(gs[1, j])
        axf.plot(x_grid, np.asarray(outputs)[s], color="tab:blue", label="network")
        axf.scatter(np.ravel(x), y, s=6, color="k", label="data", zorder=3)
        axf.set_title(f"{chr(65 + j)}: step {step[s]}, loss {loss[s]:.2g}", fontsize=9)
        axf.set_xlabel("x")
        if j == 0:
            axf.legend(fontsize=7)
        axp = fig.add_subplot(gs[2, j], projection="polar")
        for i in range(omega.shape[1]):
            axp.plot(omega[: s + 1, i], r_of(log_amp[: s + 1, i]), color="0.75", lw=0.5)
        axp.scatter(omega[s], r_of(log_amp[s]), s=8, color="tab:red", zorder=3)
        ticks = axp.get_yticks()
        axp.set_yticks(ticks)
        axp.set_yticklabels([f"{t + lo:.0f}" for t in ticks], fontsize=6)
        axp.set_title("angle $\\Omega_k$, radius $\\log_{10} A_k$", fontsize=8)
    fig.tight_layout()
    return fig


def loss_spectrum(widths: Sequence[int], edges, density, title: str | None = None):
    """Book Fig 9.5: color = log10(p_i / sum p) of log10(loss) over all records and seeds.

    density: [W, B] normalized histogram per width; edges: [B + 1] of log10(loss).

    Args:
      widths: the W widths (row labels); title: the title (None: a default).
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    density = np.asarray(density, float)
    with np.errstate(divide="ignore"):
        logp = np.where(density > 0, np.log10(np.where(density > 0, density, 1.0)), np.nan)
    fig, ax = plt.subplots(figsize=(7, 3 + 0.25 * len(widths)))
    im = ax.pcolormesh(edges, np.arange(len(widths) + 1), logp, cmap="magma", shading="flat")
    ax.set_yticks(np.arange(len(widths)) + 0.5)
    ax.set_yticklabels([str(w) for w in widths])
    ax.set_ylabel("width m")
    ax.set_xlabel("$\\log_{10}$ loss")
    fig.colorbar(im, ax=ax, label="$\\log_{10}(p_i / \\sum p)$")
    ax.set_title(title or "loss spectrum: bright lines = plateaus shared across widths")
    fig.tight_layout()
    return fig


def hessian_spectra(
    spectra: Mapping[str, np.ndarray],
    counts: Mapping[str, tuple],
    tol: float,
    title: str | None = None,
):
    """Sorted Hessian eigenvalues per network (symlog axis) with (neg, zero, pos) counts.

    Args:
      spectra: name -> eigenvalues [M]; counts: name -> (negative, zero, positive) counts;
      tol: |lambda| below it counts as zero (the symlog axis' linear range); title: the title.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, eig in spectra.items():
        eig = np.sort(np.asarray(eig))
        neg, zero, pos = counts[name]
        ax.plot(
            np.arange(1, eig.size + 1),
            eig,
            "o-",
            ms=4,
            label=f"{name}: {neg} neg / {zero} zero / {pos} pos",
        )
    ax.set_yscale("symlog", linthresh=tol)
    top = max(float(np.max(np.abs(np.asarray(e)))) for e in spectra.values())
    exps = np.arange(np.log10(tol), np.log10(top) + 3, 3)
    ax.set_yticks(np.concatenate([-(10.0 ** exps[::-1]), [0.0], 10.0**exps]))
    ax.axhspan(-tol, tol, color="0.9", zorder=0, label=f"|$\\lambda$| <= {tol:g} (zero)")
    ax.set_xlabel("eigenvalue index (ascending)")
    ax.set_ylabel("Hessian eigenvalue")
    ax.legend(fontsize=8)
    ax.set_title(title or "Hessian spectrum after critical embedding")
    fig.tight_layout()
    return fig


def reduction(
    step_wide,
    loss_wide,
    step_narrow,
    loss_narrow,
    merge_step: int,
    widths: tuple[int, int],
    title: str | None = None,
):
    """Book Fig 9.8: wide net's loss, the merge point, and the reduced net retrained from there.

    Args:
      step_wide, loss_wide: the wide net's records [R]; step_narrow, loss_narrow: the merged net's
        records [R'], steps counted from the merge; merge_step: the wide net's step at the merge;
      widths: (wide, merged) widths; title: the title.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.loglog(np.maximum(step_wide, 1), loss_wide, label=f"width {widths[0]}")
    ax.loglog(
        np.asarray(step_narrow) + merge_step,
        loss_narrow,
        "--",
        label=f"merged width {widths[1]}, retrained",
    )
    ax.axvline(merge_step, color="0.5", ls=":", label="merge")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.legend()
    ax.set_title(title or "network reduction at a plateau")
    fig.tight_layout()
    return fig


def dropout_outputs(
    x,
    y,
    x_grid,
    outputs: Mapping[str, np.ndarray],
    orientations: Mapping[str, tuple] | None = None,
    title: str | None = None,
):
    """Book Fig 8.12/8.13: fitted outputs with / without dropout and, below each, the neurons
    as points (angle Omega_k = atan2(b_k, w_k), radius A_k / max A): condensed weights sit on a
    few rays. ``orientations[name] = (omega [m], amplitude [m])``.

    Args:
      x, y: training data (1-D) [n]; x_grid: [G]; outputs: name -> [G] the fitted output;
      orientations: see above (None: no neuron panels); title: the title.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    k = len(outputs)
    rows = 2 if orientations else 1
    fig = plt.figure(figsize=(3.6 * k, 3.4 * rows))
    for j, (name, f) in enumerate(outputs.items()):
        ax = fig.add_subplot(rows, k, j + 1)
        ax.plot(x_grid, f, color="tab:blue", label="network")
        ax.scatter(np.ravel(x), y, s=10, color="k", zorder=3, label="data")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("x")
        if j == 0:
            ax.legend(fontsize=7)
        if orientations:
            omega, amp = (np.asarray(v) for v in orientations[name])
            axp = fig.add_subplot(rows, k, k + j + 1, projection="polar")
            axp.scatter(omega, amp / amp.max(), s=4, color="tab:red", alpha=0.6)
            axp.set_title("$\\Omega_k$ vs $A_k / \\max A$", fontsize=8)
            axp.tick_params(labelsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def sample_size_curves(
    n_samples,
    errors: Mapping[str, np.ndarray],
    n_params: int | None = None,
    title: str | None = None,
):
    """Book Fig 8.16: test error vs sample size per keep probability (median and quartiles
    over seeds; ``errors[label]``: [N, seeds]).

    Args:
      n_samples: sample sizes [N]; errors: label -> [N, seeds]; n_params: the target's parameter
        count, drawn as a vertical line (None: none); title: the title.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4))
    n_samples = np.asarray(n_samples)
    for name, err in errors.items():
        err = np.asarray(err)
        med = np.median(err, axis=1)
        ax.semilogy(n_samples, med, "o-", label=name)
        ax.fill_between(
            n_samples, np.percentile(err, 25, axis=1), np.percentile(err, 75, axis=1), alpha=0.2
        )
    if n_params:
        ax.axvline(n_params, color="0.4", ls=":", label=f"{n_params} target parameters")
    ax.set_xlabel("number of training samples n")
    ax.set_ylabel("test error (MSE)")
    ax.legend(fontsize=8)
    ax.set_title(title or "test error vs sample size")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- experiments


def process_figures(ds, seed: int = 0, n_snapshots: int = 5) -> dict:
    """Figures of a ``condensation-process`` Dataset: the Fig 8.1-8.4 panel of one seed (loss,
    direction count, fit and polar picture at the last ``n_snapshots`` plateau ends) and the
    direction counts of every seed over time.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
      seed: index of the seed drawn (default 0).
      n_snapshots: snapshots drawn (default 5).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    s = ds.isel(seed=seed)
    ends = np.flatnonzero(s["plateau_end"].values.astype(bool))[-n_snapshots:]
    if ends.size == 0:
        ends = np.array([s.sizes["step"] - 1])
    log_amp = s["log10_amplitude"].values
    figs = {
        "process": condensation_process(
            s["step"].values,
            s["loss"].values,
            list(ends),
            ds["x_train"].values,
            ds["y_train"].values,
            ds["x"].values,
            s["output"].values,
            s["omega"].values,
            log_amp,
            s["n_directions"].values,
            min_log_amp=float(np.nanpercentile(log_amp[np.isfinite(log_amp)], 5)),
        )
    }
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    step = np.maximum(ds["step"].values, 1)
    for i in range(ds.sizes["seed"]):
        ax.loglog(step, ds["loss"].values[i], lw=1)
        ax2.step(step, ds["n_directions"].values[i], where="post", lw=1, label=f"seed {i}")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("loss plateaus, every seed")
    ax2.set_xscale("log")
    ax2.set_xlabel("step")
    ax2.set_ylabel("# condensed directions")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    figs["directions"] = fig
    return figs


def activation_figures(ds, seed: int = 0) -> dict:
    """Figures of a ``condensation-activation`` Dataset: sorted cosine heat maps of the input
    weights at the end of the initial plateau, one per activation (book Fig 8.10).

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
      seed: index of the seed drawn (default 0).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    mats, orders = {}, {}
    for i, a in enumerate(str(a) for a in ds["activation"].values):
        d = ds.isel(activation=i, seed=seed)
        title = f"{a}: step {int(d['snapshot_step'])}, {int(d['n_lines'])} line(s)"
        mats[title], orders[title] = d["cosine"].values, d["order"].values.astype(int)
    return {
        "cosine": cosine_heatmaps(
            mats,
            orders,
            "input-weight cosine at the last step (initial stage)"
            if ds.attrs.get("config_snapshot") == "last"
            else "input-weight cosine at the end of the initial plateau",
            ncols=min(3, len(mats)),
        )
    }


def residual_figures(ds, seed: int = 0) -> dict:
    """Figures of a ``condensation-residual`` Dataset: one sorted cosine heat map per hidden
    layer at the end of the initial stage (book Fig 8.11) and the loss curves.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
      seed: index of the seed drawn (default 0).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    acts = [str(a) for a in ds["layer_activation"].values]
    s = ds.isel(seed=seed)
    mats, orders = {}, {}
    for l, a in enumerate(acts):
        title = f"layer {l + 1}: {a}, {int(s['n_lines'][l])} line(s)"
        mats[title] = s["cosine"].values[l]
        orders[title] = s["order"].values[l].astype(int)
    figs = {
        "cosine": cosine_heatmaps(
            mats,
            orders,
            f"residual net, step {int(s['snapshot_step'])}: input-weight cosine",
            ncols=len(acts),
        )
    }
    fig, ax = plt.subplots(figsize=(6, 3.6))
    step = np.maximum(ds["step"].values, 1)
    for i in range(ds.sizes["seed"]):
        (line,) = ax.loglog(step, ds["loss"].values[i], lw=1, label=f"seed {i}")
        ax.axvline(max(int(ds["snapshot_step"].values[i]), 1), color=line.get_color(), ls=":", lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("loss; dotted: end of the initial stage (snapshot)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    figs["loss"] = fig
    return figs
