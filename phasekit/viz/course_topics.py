"""Figures of :mod:`phasekit.experiments.course_topics`, drawn from the Dataset alone."""

from __future__ import annotations

import numpy as np

__all__ = [
    "layernorm_figures",
    "orthogonal_figures",
    "preprocessing_figures",
    "search_figures",
    "weight_decay_figures",
]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def preprocessing_figures(ds) -> dict:
    """{"preprocessing": measured vs predicted GD steps per transform; Hessian kappa of the net}.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    labels = [str(t) for t in ds["transform"].values]
    for i, t in enumerate(labels):
        sel = ds.isel(transform=i)
        a.scatter(sel["kappa"], sel["steps"], label=f"{t} measured")
        a.scatter(sel["kappa"], sel["steps_theory"], marker="x", label=f"{t} log tol / log r")
    a.set(
        xscale="log",
        yscale="log",
        xlabel=r"$\kappa(X^TX/n)$",
        ylabel="GD steps to tol",
        title=f"least squares, tol {ds.attrs.get('tol')}",
    )
    a.legend(fontsize=7)
    b.bar(labels, [float(np.median(ds["hessian_kappa"].values[i])) for i in range(len(labels))])
    b.set(yscale="log", ylabel="Hessian condition number at init", title="two-layer tanh net")
    fig.tight_layout()
    return {"preprocessing": fig}


def weight_decay_figures(ds) -> dict:
    """{"weight_decay": SGD decoupled-vs-L2 gap along training; test accuracy vs decay per method;
    shrinkage percentiles vs decay}.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    plt = _plt()
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(14, 4))
    steps = ds["sgd_record"].values
    a.plot(
        steps,
        np.asarray(ds["sgd_gap"]).max(0) + 1e-12,
        "o-",
        label="decoupled vs L2 (lambda = beta/eta)",
    )
    a.plot(
        steps,
        np.asarray(ds["sgd_decay_effect"]).min(0) + 1e-12,
        "s-",
        label="decoupled vs no decay",
    )
    a.set(yscale="log", xlabel="step", ylabel="relative weight difference", title="SGD")
    a.legend(fontsize=7)
    for m in ds["optimizer"].values:
        acc = ds["test_accuracy"].sel(optimizer=m)
        b.plot(ds["decay"], acc.mean("seed"), "o-", label=str(m))
        q = ds["shrink_quantiles"].sel(optimizer=m).median("seed")
        (line,) = c.plot(ds["decay"], q.sel(quantile=50), "o-", label=f"{m} median")
        c.fill_between(
            ds["decay"], q.sel(quantile=10), q.sel(quantile=90), color=line.get_color(), alpha=0.2
        )
    b.set(
        xscale="log",
        xlabel="decay (lambda)",
        ylabel="test accuracy",
        title="Adam + L2 vs AdamW, digits",
    )
    b.legend(fontsize=7)
    c.set(
        xscale="log",
        yscale="log",
        xlabel="decay (lambda)",
        ylabel="one-step shrinkage (10-90%)",
        title=f"effective shrinkage per weight, lr {ds.attrs.get('adam_lr')}",
    )
    c.legend(fontsize=7)
    fig.tight_layout()
    return {"weight_decay": fig}


def orthogonal_figures(ds) -> dict:
    """{"orthogonal_init": Jacobian singular-value range vs depth per (init, activation); training loss}.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    depth = ds["depth"].values
    for init in ds["init"].values:
        for act in ds["activation"].values:
            sel = ds.sel(init=init, activation=act)
            (line,) = a.plot(depth, sel["sv_max"].median("seed"), "o-", label=f"{init} {act}")
            a.plot(depth, sel["sv_min"].median("seed"), "o--", color=line.get_color())
        loss = np.asarray(ds["loss"].sel(init=init))
        b.plot(ds["step"], np.median(loss, 0), label=str(init))
    a.set(
        yscale="log",
        xlabel="depth",
        ylabel="Jacobian singular values (max solid, min dashed)",
        title=f"at init, width {ds.attrs.get('width')}",
    )
    a.legend(fontsize=7)
    b.set(
        xscale="symlog",
        yscale="log",
        xlabel="GD step",
        ylabel="training MSE",
        title=f"deep linear net, depth {ds.attrs.get('train_depth')}, lr {ds.attrs.get('lr')}",
    )
    b.legend(fontsize=7)
    fig.tight_layout()
    return {"orthogonal_init": fig}


def layernorm_figures(ds) -> dict:
    """{"layernorm": |w|^2 and the effective lr eta/|w|^2 along GD, per decay; |cos(w, grad)|}.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    plt = _plt()
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(14, 4))
    step = np.maximum(ds["step"].values, 1)
    for d in ds["decay"].values:
        for layer in ds["layer"].values:
            sel = ds.sel(decay=d, layer=layer)
            a.plot(step, sel["w_sq"].median("seed"), label=f"decay {d:g} {layer}")
            b.plot(step, sel["eff_lr"].median("seed"), label=f"decay {d:g} {layer}")
            c.plot(step, np.abs(sel["cos"]).max("seed") + 1e-12, label=f"decay {d:g} {layer}")
    a.set(xscale="log", xlabel="GD step", ylabel=r"$|w|^2$", title="kernels feeding LayerNorm")
    b.set(
        xscale="log",
        yscale="log",
        xlabel="GD step",
        ylabel=r"$\eta / |w|^2$",
        title=f"effective lr, eta {ds.attrs.get('lr')}",
    )
    c.set(
        xscale="log",
        yscale="log",
        xlabel="GD step",
        ylabel=r"$|\cos(w, \nabla_w L)|$",
        title="scale invariance",
    )
    for ax in (a, b, c):
        ax.legend(fontsize=6)
    fig.tight_layout()
    return {"layernorm": fig}


def search_figures(ds) -> dict:
    """{"hparam_search": best validation loss vs budget (run-steps) per search, median over seeds}.

    Args:
      ds: the Dataset of its experiment's run (or :func:`phasekit.dynamics.sweep.load` of the
        saved file).
    Returns:
      dict figure name -> ``matplotlib.figure.Figure``.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    budget = ds["checkpoint"].values / ds.attrs.get("steps", 1)
    for s in ds["search"].values:
        c = np.asarray(ds["curve"].sel(search=s))
        (line,) = ax.plot(budget, np.nanmedian(c, 0), "o-", ms=3, label=str(s))
        ax.fill_between(
            budget, np.nanmin(c, 0), np.nanmax(c, 0), color=line.get_color(), alpha=0.15
        )
    ax.set(
        yscale="log",
        xlabel="budget (full runs' worth of steps)",
        ylabel="best validation MSE",
        title="hyperparameter search (median and range over seeds)",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return {"hparam_search": fig}
