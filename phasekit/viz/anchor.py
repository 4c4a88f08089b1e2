"""Figures of the anchor-function experiments (:mod:`phasekit.experiments.anchor`, book Fig
13.5-13.6), drawn from the Dataset alone."""

from __future__ import annotations

import matplotlib.pyplot as plt

__all__ = [
    "accuracy_curves",
    "condensation_curve",
    "identity_curve",
    "mechanism",
    "phase_diagram",
    "phase_figures",
]

ID_FIT, COMMUTATIVE = 0.9, 0.7  # the thresholds of phasekit.experiments.anchor


def phase_diagram(ds, other: str = "weight_decay", ax=None):
    """OOD accuracy (seed mean, last record) over gamma (rows) x ``other`` (columns); cells with
    ID accuracy < 0.9 hatched, cells with commutativity < 0.7 marked with a cross.

    Args:
      ds: an anchor-function Dataset (of its experiment's run, or :func:`phasekit.dynamics.sweep.load`); other: the column axis; ax: the Axes drawn into (None: a new figure).
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    ax = (
        ax
        or plt.subplots(
            figsize=(max(3.6, 1.8 + 1.1 * ds.sizes[other]), 1.6 + 0.5 * ds.sizes["gamma"]),
            constrained_layout=True,
        )[1]
    )
    last = ds.isel(step=-1).mean("seed")
    ood = last["ood_acc"].transpose("gamma", other).values
    ida = last["id_acc"].transpose("gamma", other).values
    com = last["commutativity"].transpose("gamma", other).values
    g, o = ds["gamma"].values, ds[other].values
    mesh = ax.imshow(ood, origin="lower", cmap="viridis", vmin=0, vmax=1, aspect="auto")
    plt.colorbar(mesh, ax=ax, label="OOD accuracy\n(held-out pair, composite answer)")
    for i in range(len(g)):
        for j in range(len(o)):
            if ida[i, j] < ID_FIT:
                ax.add_patch(
                    plt.Rectangle(
                        (j - 0.5, i - 0.5),
                        1,
                        1,
                        fill=False,
                        hatch="///",
                        edgecolor="white",
                        linewidth=0,
                    )
                )
            if com[i, j] < COMMUTATIVE:
                ax.plot(j, i, "x", color="red", markersize=10)
            ax.text(j, i + 0.3, f"{ood[i, j]:.2f}", ha="center", va="center", fontsize=7, color="w")
    ax.set_xticks(range(len(o)), [f"{v:g}" for v in o])
    ax.set_yticks(range(len(g)), [f"{v:g}" for v in g])
    ax.set_xlabel(other.replace("_", " "))
    ax.set_ylabel(r"init rate $\gamma$ (W ~ N(0, $d_{in}^{-2\gamma}$))")
    ax.set_title(
        f"OOD accuracy, {ds.sizes['seed']} seed(s)\nhatched: ID acc < {ID_FIT:g}; "
        f"x: commutativity < {COMMUTATIVE:g}",
        fontsize=8,
    )
    return ax.figure


def accuracy_curves(ds, other: str = "weight_decay"):
    """Train / ID / OOD accuracy against step for each gamma (seed mean, first ``other`` value).

    Args:
      ds: an anchor-function Dataset (of its experiment's run, or :func:`phasekit.dynamics.sweep.load`); other: the second grid axis besides gamma.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    g = ds["gamma"].values
    fig, axes = plt.subplots(
        1, len(g), figsize=(2.6 * len(g), 2.6), sharey=True, constrained_layout=True, squeeze=False
    )
    sel = ds.isel({other: -1}).mean("seed")
    for ax, gi in zip(axes[0], g):
        s = sel.sel(gamma=gi)
        for var, style in (
            ("train_acc", "-"),
            ("id_acc", "--"),
            ("ood_acc", "-"),
            ("symmetric_acc", ":"),
        ):
            ax.plot(ds["step"].values, s[var].values, style, label=var.replace("_acc", ""))
        ax.set_title(rf"$\gamma$={gi:g}, {other}={ds[other].values[-1]:g}", fontsize=8)
        ax.set_xlabel("step")
    axes[0, 0].set_ylabel("accuracy")
    axes[0, 0].legend(fontsize=7)
    return fig


def condensation_curve(ds, other: str = "weight_decay"):
    """Mean |cos| between first-block W_Q rows at the last record against gamma (Fig 13.7).

    Args:
      ds: an anchor-function Dataset (of its experiment's run, or :func:`phasekit.dynamics.sweep.load`); other: the second grid axis besides gamma.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    fig, ax = plt.subplots(figsize=(4, 3), constrained_layout=True)
    last = ds["wq_condensation"].isel(step=-1)
    for o in ds[other].values:
        v = last.sel({other: o})
        ax.errorbar(
            ds["gamma"].values,
            v.mean("seed").values,
            yerr=v.std("seed").values,
            marker="o",
            capsize=2,
            label=f"{other}={o:g}",
        )
    ax.set_xlabel(r"$\gamma$")
    ax.set_ylabel(r"mean |cos| between $W_Q$ rows")
    ax.legend(fontsize=7)
    return fig


def mechanism(ds, other: str = "weight_decay"):
    """At the smallest, middle and largest gamma (seed 0, last ``other``): the cosine-similarity
    heat map of the first block's W_Q rows (top, Fig 13.7) and the key-token embeddings on their
    top-2 principal axes coloured by token value (middle, Fig 13.8); when the Dataset holds the
    masking probes, the last token's output on the held-out pair with its attention to the key
    item masked, on its top-2 principal axes coloured by the key value, titled with the key-value
    variance share unmasked -> masked and the mean cosine with the second anchor masked (bottom,
    Fig 13.9-13.12).

    Args:
      ds: an anchor-function Dataset (of its experiment's run, or :func:`phasekit.dynamics.sweep.load`); other: the second grid axis besides gamma.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    g = ds["gamma"].values
    picks = sorted({0, len(g) // 2, len(g) - 1})
    probes = "key_masked_pc" in ds
    rows = 3 if probes else 2
    fig, axes = plt.subplots(
        rows,
        len(picks),
        figsize=(3.2 * len(picks), 3 * rows),
        constrained_layout=True,
        squeeze=False,
    )
    sel = ds.isel({other: -1, "seed": 0})
    for col, i in enumerate(picks):
        s = sel.isel(gamma=i)
        im = axes[0, col].imshow(s["wq_cosine"].values, cmap="RdBu_r", vmin=-1, vmax=1)
        axes[0, col].set_title(rf"$W_Q$ rows, $\gamma$={g[i]:g}", fontsize=8)
        pc = s["embedding_pc"].values
        sc = axes[1, col].scatter(pc[:, 0], pc[:, 1], c=ds["key_token"].values, cmap="viridis", s=8)
        axes[1, col].set_title(rf"token embeddings 20..99, $\gamma$={g[i]:g}", fontsize=8)
        axes[1, col].set_xlabel("PC 1")
        if probes:
            pm = s["key_masked_pc"].values
            key = ds["ood_key"].values if "ood_key" in ds.coords else ds["ood_sequence"].values
            sk = axes[2, col].scatter(pm[:, 0], pm[:, 1], c=key, cmap="viridis", s=4)
            axes[2, col].set_title(
                rf"key masked, $\gamma$={g[i]:g}" + "\n"
                f"key share {float(s['key_share']):.2f} -> {float(s['key_share_key_masked']):.2f}; "
                f"cos(2nd anchor masked) {float(s['anchor2_cosine']):.2f}",
                fontsize=7,
            )
            axes[2, col].set_xlabel("PC 1")
    if probes:
        plt.colorbar(sk, ax=axes[2, -1], label="key item x")
    plt.colorbar(im, ax=axes[0, -1], label="cosine similarity")
    plt.colorbar(sc, ax=axes[1, -1], label="token")
    return fig


def phase_figures(ds) -> dict:
    """The figures of an anchor phase-diagram Dataset: ``{"phase_diagram": :func:`phase_diagram`,
    "accuracy_curves": :func:`accuracy_curves`, "wq_condensation": :func:`condensation_curve`,
    "mechanism": :func:`mechanism`}`` (name -> matplotlib Figure).

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    return {
        "phase_diagram": phase_diagram(ds),
        "accuracy_curves": accuracy_curves(ds),
        "wq_condensation": condensation_curve(ds),
        "mechanism": mechanism(ds),
    }


def identity_curve(ds):
    """Identity task: final train and test accuracy (seed mean and range) against n_train.

    Args:
      ds: an identity-task Dataset.
    Returns:
      the ``matplotlib.figure.Figure``.
    """
    fig, ax = plt.subplots(figsize=(4.2, 3), constrained_layout=True)
    last = ds.isel(step=-1)
    n = ds["n_train"].values
    for var in ("train_acc", "test_acc"):
        v = last[var]
        ax.plot(n, v.mean("seed").values, "o-", label=var.replace("_acc", ""))
        ax.fill_between(n, v.min("seed").values, v.max("seed").values, alpha=0.2)
    ax.set_xscale("log")
    ax.set_xlabel("training sequences")
    ax.set_ylabel("accuracy")
    ax.set_title(ds.attrs.get("scale_note", ""), fontsize=7)
    ax.legend(fontsize=7)
    return fig
