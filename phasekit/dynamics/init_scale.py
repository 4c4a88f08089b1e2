"""Initialization-scale sweeps for any model: RD* per parameter group and S_w over widths.

The phase diagram's question asked of a researcher's own network: how far do the weights move
from their initialization, as a function of the init scale and the width?

    theta_0 = s_g * theta_bar_0 for each parameter group g   (theta_bar_0: the model's own init)
    RD_g(t) = ||theta_g(t) - theta_g(0)||_2 / ||theta_g(0)||_2,     RD*_g = RD_g at the stop
    S_w,g   = slope of log RD*_g against log m over widths m       (:func:`phase.scaling_exponent`)

S_w < 0: the group barely moves as the net widens (linear / kernel regime); S_w > 0: it moves
more and more (condensed / feature-learning regime). Each run trains the *displacement*
delta = theta - theta_0 (the model sees theta_0 + delta), so RD ~ 1e-6 is resolved in float32.

Learning-rate rules (``lr``), evaluated at theta_0 inside the traced run, so a grid of scales and
seeds is one compiled program:

    "gauss_newton"  eta / tr G(theta_0),  tr G = (1/n) sum_i tr(J_i^T H_i J_i)  (H_i = I for the
                    MSE, diag p_i - p_i p_i^T for cross-entropy): an upper bound on lambda_max of
                    the Gauss-Newton part, so GD tracks gradient flow at every scale
    "sharpness"     eta / lambda_max(H(theta_0)) (Lanczos, 20 steps)
    a number        fixed
    a callable      ``lr(params0, data, scale) -> lr`` (``scale``: the point's multipliers), e.g.
                    the two-layer net's closed-form bound of :func:`phasekit.dynamics.phase.learning_rate`

Runs stop at ``rel_tol * L(theta_0)`` or at ``steps`` (flagged ``hit_cap``, excluded from S_w), and
divergence is flagged, as in :func:`phasekit.dynamics.train.run`. Everything goes through
:func:`phasekit.dynamics.sweep.run`: resumable, sharded, one vmapped program per width.

    >>> ds = init_scale_sweep(model, (x, y), scales=[0.1, 1, 10], widths=[64, 256, 1024], seeds=4)
    >>> ds["S_w"].sel(group="Dense_0")          # per scale: the first layer's width exponent
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr

from phasekit.dynamics import sweep, train
from phasekit.theory import hessian
from phasekit.typing import Data, Params

__all__ = [
    "LOSSES",
    "LR_RULES",
    "Model",
    "VARIABLES",
    "add_width_exponent",
    "as_model",
    "data_hash",
    "default_groups",
    "describe",
    "displacement_run",
    "gauss_newton_trace",
    "group_masks",
    "group_norm",
    "init_scale_sweep",
    "scale_params",
]

LR_RULES = ("gauss_newton", "sharpness")
LOSSES = ("mse", "cross_entropy")


class Model(NamedTuple):
    """A model as the sweep sees it: ``init(key, width, x0) -> params`` at unit scale (``width``
    None for a model without one; ``x0`` [1, ...] a sample, for flax's shape inference) and
    ``apply(params, x, width) -> outputs``."""

    init: Callable
    apply: Callable


def as_model(model) -> Model:
    """An ``(init, apply)`` pair (``init(key, width)``, or ``init(key)`` for a model without a
    width; ``apply(params, x)``), a flax module, or a callable ``width -> flax module``, as a
    :class:`Model`. A flax module's params are initialized on the data's first sample."""
    import flax.linen as nn

    if isinstance(model, Model):
        return model
    if isinstance(model, tuple) and len(model) == 2 and all(callable(f) for f in model):
        init, apply = model
        return Model(
            lambda key, width, x0: init(key) if width is None else init(key, width),
            lambda p, x, width: apply(p, x),
        )
    if isinstance(model, nn.Module):
        return Model(
            lambda key, width, x0: model.init(key, x0)["params"],
            lambda p, x, width: model.apply({"params": p}, x),
        )
    if callable(model):
        return Model(
            lambda key, width, x0: model(width).init(key, x0)["params"],
            lambda p, x, width: model(width).apply({"params": p}, x),
        )
    raise ValueError(
        "model: an (init, apply) pair, a flax module, or a callable width -> flax module"
    )


def default_groups(params: Params) -> dict[str, Callable[[tuple], bool]]:
    """One group per top-level entry of the params: a flax module's layers ("Dense_0", ...), the
    keys of a dict ("a", "w", ...), the layers of a list ("0", "1", ...)."""
    keys = list(params) if isinstance(params, Mapping) else list(range(len(params)))
    return {str(k): _top_key_is(k) for k in keys}


def _top_key_is(k) -> Callable[[tuple], bool]:
    return lambda path: _first_key(path) == k


def _first_key(path):
    p = path[0]
    return getattr(p, "key", getattr(p, "idx", getattr(p, "name", p)))


def group_masks(params, groups) -> dict[str, list[bool]]:
    """For each group (top-level keys, or a predicate on the leaf path) a bool per leaf of ``params``.

    Args:
      params: the model's parameters (pytree).
      groups: name -> a tuple of top-level keys, or a predicate ``path -> bool`` on the leaf's
        key path (as :func:`default_groups` builds).
    Returns:
      name -> list of bools, one per leaf of ``params`` in ``tree_leaves`` order.
    """
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    masks = {}
    for name, member in groups.items():
        if isinstance(member, (tuple, list, set, frozenset)):
            keys = set(member)
            sel = [_first_key(path) in keys for path, _ in leaves]
        else:
            sel = [bool(member(path)) for path, _ in leaves]
        if not any(sel):
            raise ValueError(f"groups: group {name!r} selects no parameter")
        masks[name] = sel
    return masks


def _group_leaves(tree, mask):
    return [leaf for leaf, keep in zip(jax.tree_util.tree_leaves(tree), mask) if keep]


def group_norm(tree, mask) -> jax.Array:
    """||theta_g||_2 over the leaves of ``tree`` selected by ``mask``."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(leaf)) for leaf in _group_leaves(tree, mask)))


def scale_params(params, masks: Mapping[str, list], multipliers: Mapping[str, Any]):
    """theta_g <- s_g theta_g for each group g in ``multipliers`` (traced s_g welcome).

    Args:
      params: the parameters (pytree).
      masks: name -> bool per leaf (:func:`group_masks`).
      multipliers: name -> s_g (scalars, may be traced); groups not named keep scale 1.
    Returns:
      the scaled parameters, same structure as ``params``.
    """
    leaves, treedef = jax.tree_util.tree_flatten(params)
    out = list(leaves)
    for name, s in multipliers.items():
        out = [s * leaf if keep else leaf for leaf, keep in zip(out, masks[name])]
    return jax.tree_util.tree_unflatten(treedef, out)


def gauss_newton_trace(
    apply_fn: Callable, params, x, loss: str = "mse", batch_size: int | None = None
):
    """tr G = (1/n) sum_i tr(J_i^T H_i J_i), J_i = d f(x_i) / d theta [k, M], H_i the output
    Hessian of the loss (:func:`phasekit.theory.hessian.output_hessian`). Per-sample
    Jacobians, one sample at a time (``lax.map``; ``batch_size`` vmaps that many at once, which
    some convolution batching rules do not support): memory O(k M). Traceable.

    Args:
      apply_fn: ``apply(params, x) -> f [n, k]`` (or [n]); params: the parameters (pytree).
      x: inputs [n, ...].
      loss: "mse" (H_i = I) or "cross_entropy" (H_i = diag p_i - p_i p_i^T).
      batch_size: samples vmapped at once (None: one at a time).
    Returns:
      tr G, a scalar.
    """

    def one(xi):
        f = lambda p: jnp.reshape(apply_fn(p, xi[None]), (-1,))
        J = jax.jacrev(f)(params)
        Jf = jnp.concatenate(
            [jnp.reshape(j, (j.shape[0], -1)) for j in jax.tree_util.tree_leaves(J)], 1
        )
        H = hessian.output_hessian(f(params)[None], loss)[0]
        return jnp.sum(Jf * (H @ Jf))

    return jnp.mean(
        jax.lax.map(one, x, batch_size=None if batch_size is None else min(batch_size, x.shape[0]))
    )


def _lr_value(rule, eta, apply_fn, loss_name, loss_fn, p0, data, scale):
    if callable(rule):
        return rule(p0, data, scale)
    if rule == "gauss_newton":
        return eta / gauss_newton_trace(apply_fn, p0, data[0], loss_name)
    if rule == "sharpness":
        return eta / hessian.top_eigenvalues(loss_fn, p0, data, num_steps=20)[0]
    return jnp.asarray(rule, jnp.float32)


def _validate(scales, widths, seeds, lr, eta, steps, rel_tol, loss):
    if not isinstance(seeds, (int, np.integer)) or isinstance(seeds, bool) or seeds < 1:
        raise ValueError(f"seeds: must be a positive integer, got {seeds!r}")
    if widths is not None:
        if len(widths) < 1 or any(
            not isinstance(w, (int, np.integer)) or isinstance(w, bool) or w < 1 for w in widths
        ):
            raise ValueError(f"widths: positive integers, got {widths!r}")
    values = scales.values() if isinstance(scales, Mapping) else [scales]
    for v in values:
        v = np.asarray(v, float)
        if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise ValueError(
                f"scales: need non-empty lists of positive finite multipliers, got {scales!r}"
            )
    if not (
        callable(lr)
        or lr in LR_RULES
        or (isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr > 0)
    ):
        raise ValueError(f"lr: a positive number, one of {LR_RULES}, or a callable, got {lr!r}")
    if not eta > 0:
        raise ValueError(f"eta: must be > 0, got {eta!r}")
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps: must be a positive integer, got {steps!r}")
    if not 0 < rel_tol < 1:
        raise ValueError(f"rel_tol: must be in (0, 1), got {rel_tol!r}")
    if not (callable(loss) or loss in LOSSES):
        raise ValueError(f"loss: one of {LOSSES} or a loss(apply)-> LossFn factory, got {loss!r}")


def init_scale_sweep(
    model,
    data: Data,
    *,
    scales: Sequence[float] | Mapping[str, Sequence[float]],
    widths: Sequence[int] | None = None,
    seeds: int = 1,
    groups: Mapping[str, Any] | None = None,
    loss: str | Callable = "mse",
    lr: float | str | Callable = "gauss_newton",
    eta: float = 0.25,
    steps: int = 10_000,
    rel_tol: float = 1e-4,
    n_records: int = 40,
    lr_backoff: float | None = None,
    store=None,
    shard=None,
    base_seed: int = 0,
    batching: str = "auto",
    chunk_size: int | str = "auto",
    progress: bool = True,
    config: dict | None = None,
) -> xr.Dataset:
    """Train ``model`` from every init scale, width and seed; RD* per parameter group, S_w.

    Args:
      model: ``(init, apply)`` with ``init(key, width)`` (or ``init(key)`` without ``widths``) at
        unit scale, a flax module, or a callable ``width -> flax module`` (:func:`as_model`).
      data: ``(x [n, ...], y [n, ...])``.
      scales: global multipliers s (axis "scale": theta_0 = s theta_bar_0), or a mapping
        group -> multipliers (one axis "scale_<group>" per group; groups left out keep scale 1).
      widths: the widths m (a static axis, one compiled program per width), or None.
      seeds: seeds per point (the unit-scale init depends on (width, seed) only, so every scale
        starts from the same theta_bar_0 and scale is the only difference).
      groups: name -> top-level keys or a predicate on the leaf path; default
        :func:`default_groups` (one per layer / top-level key). RD* is reported per group.
      loss: "mse", "cross_entropy" (integer or one-hot labels), or a factory ``apply -> loss``.
      lr, eta: the learning-rate rule (module docstring).
      steps, rel_tol, n_records, lr_backoff: the stop rules and records of :func:`train.run`.
      store, shard, base_seed, batching, chunk_size, progress: as in :func:`sweep.run`.
      config: extra JSON-able description of the model and data for the store's fingerprint
        (a user's model is code: name it here so a store is not reused for another model).
    Returns:
      Dataset with dims (scale axes..., [width], seed, group, record): rd_star [.., group],
      loss_star, loss0, steps, lr, converged, diverged, hit_cap, rd [.., record, group],
      loss [.., record]; with two or more widths S_w, S_w_stderr, S_w_poor_fit over
      (scale axes..., group) from the converged runs' seed-mean log RD*.
    """
    _validate(scales, widths, seeds, lr, eta, steps, rel_tol, loss)
    model = as_model(model)
    x, y = train.check_xy(*data)
    x0 = x[:1]
    has_width = widths is not None
    probe = jax.eval_shape(
        lambda k: model.init(k, widths[0] if widths is not None else None, x0), jax.random.key(0)
    )
    groups = default_groups(probe) if groups is None else dict(groups)
    masks = group_masks(probe, groups)
    names = list(groups)
    per_group = isinstance(scales, Mapping)
    if isinstance(scales, Mapping):
        unknown = set(scales) - set(names)
        if unknown:
            raise ValueError(f"scales: unknown groups {sorted(unknown)}; groups are {names}")
        scale_axes = {f"scale_{g}": np.asarray(v, float) for g, v in scales.items()}
    else:
        scale_axes = {"scale": np.asarray(scales, float)}
    loss_name = loss if isinstance(loss, str) else None
    factories: dict[str, Callable] = {"mse": train.mse, "cross_entropy": train.cross_entropy}
    make_loss = factories[loss] if isinstance(loss, str) else loss  # a str is in LOSSES

    def scale_of(pt):
        if per_group:
            return {g: pt[f"scale_{g}"] for g in scales}
        return {g: pt["scale"] for g in names}

    def point(pt, key):
        width = pt.get("width")
        scale = scale_of(pt)
        p0 = scale_params(model.init(key, width, x0), masks, scale)
        run = displacement_run(
            lambda p, xx: model.apply(p, xx, width),
            p0,
            (x, y),
            masks,
            make_loss,
            loss_name,
            lr,
            eta,
            scale,
            steps=steps,
            rel_tol=rel_tol,
            n_records=n_records,
            lr_backoff=lr_backoff,
        )
        return run.then(lambda out: {k: v for k, v in out.items() if k != "theta_final"})

    axes = dict(scale_axes)
    if has_width:
        axes["width"] = np.asarray(widths, int)
    axes["seed"] = np.arange(seeds)
    key_axes = ("width", "seed") if has_width else ("seed",)
    rec = train.record_steps(steps, n_records)
    t0 = time.perf_counter()
    fingerprint = dict(
        kind="init_scale_sweep",
        groups=names,
        loss=loss_name or repr(loss),
        lr=lr if isinstance(lr, (str, int, float)) else repr(lr),
        eta=eta,
        steps=steps,
        rel_tol=rel_tol,
        n_records=n_records,
        lr_backoff=lr_backoff,
        data_hash=data_hash(x, y),
        **(config or {}),
    )
    ds = sweep.run(
        point,
        axes,
        static=("width",) if has_width else (),
        store=store,
        shard=shard,
        key_axes=key_axes,
        base_seed=base_seed,
        config=fingerprint,
        dims={"rd_star": ("group",), "rd": ("record", "group"), "loss": ("record",)},
        coords={"group": names, "record": rec},
        batching=batching,
        chunk_size=chunk_size,
        progress=progress,
        desc="init-scale sweep",
    )
    ds = ds.assign_coords(step=("record", rec))
    if widths is not None and len(widths) >= 2:
        ds = add_width_exponent(ds)
    ds.attrs["wall_time_s"] = time.perf_counter() - t0
    return describe(ds)


def displacement_run(
    apply_fn: Callable,
    p0: Params,
    data: Data,
    masks: Mapping[str, list],
    make_loss: Callable = train.mse,
    loss_name: str | None = "mse",
    lr="gauss_newton",
    eta: float = 0.25,
    scale: Mapping | None = None,
    *,
    steps: int,
    rel_tol: float,
    n_records: int = 40,
    lr_backoff: float | None = None,
    observe: Callable | None = None,
) -> train.Resumable:
    """One run of :func:`init_scale_sweep` (and of the two-layer phase diagram,
    :func:`phasekit.dynamics.phase.network_run`): GD on the displacement delta from ``p0`` (the
    model sees p0 + delta), its RD per group at the records. A resumable run
    (:func:`phasekit.dynamics.train.resumable`), so :func:`sweep.run` batches it continuously;
    ``.finish`` of a finished state (or ``train.run``'s equivalent) is a dict: rd_star [G],
    loss_star, loss0, steps, lr, converged, diverged, hit_cap, rd [R, G], loss [R] (plus
    ``observe``'s outputs at the records, prefixed ``obs_``). Traceable and vmappable.

    Args:
      apply_fn: ``apply(params, x) -> f``; p0: theta_0 (pytree, already scaled).
      data: ``(x [n, ...], y [n, ...])``.
      masks: group name -> bool per leaf (:func:`group_masks`); RD is reported per group.
      make_loss: a factory ``apply -> loss(params, data)`` (:func:`phasekit.dynamics.train.mse`).
      loss_name: "mse" or "cross_entropy", the output Hessian of the "gauss_newton" rule.
      lr, eta: the learning-rate rule (module docstring).
      scale: the point's multipliers, passed to a callable ``lr``.
      steps, rel_tol, n_records, lr_backoff: the stop rules and records of :func:`train.run`.
      observe: ``observe(params) -> dict`` of extra outputs at the records (or None).
    Returns:
      :class:`phasekit.dynamics.train.Resumable` whose ``finish`` gives the dict above (and
      ``theta_final``).
    """
    plus = lambda delta: jax.tree_util.tree_map(jnp.add, p0, delta)
    loss_fn = make_loss(lambda delta, xx: apply_fn(plus(delta), xx))
    lr_value = _lr_value(
        lr, eta, apply_fn, loss_name or "mse", make_loss(apply_fn), p0, data, scale or {}
    )
    norms0 = {g: group_norm(p0, m) for g, m in masks.items()}

    def rd(delta):
        return {
            "rd": jnp.stack([group_norm(delta, m) / norms0[g] for g, m in masks.items()]),
            **({f"obs_{k}": v for k, v in observe(plus(delta)).items()} if observe else {}),
        }

    run = train.resumable(
        loss_fn,
        jax.tree_util.tree_map(jnp.zeros_like, p0),
        data,
        optax.sgd(lr_value),
        steps=steps,
        n_records=n_records,
        stop_rel_loss=rel_tol,
        lr_backoff=lr_backoff if lr_backoff is not None and lr_backoff < 1 else None,
        observe=rd,
    )

    def outputs(traj):
        out = {
            "rd_star": traj.observables["rd"][-1],
            "loss_star": traj.loss[-1],
            "loss0": traj.loss0,
            "steps": traj.n_steps,
            "lr": lr_value,
            "converged": traj.converged,
            "diverged": traj.diverged,
            "hit_cap": traj.hit_cap,
            "rd": traj.observables["rd"],
            "loss": traj.loss,
            "theta_final": plus(traj.params),
        }
        out.update({k: v for k, v in traj.observables.items() if k.startswith("obs_")})
        return out

    return run.then(outputs)


def add_width_exponent(ds: xr.Dataset) -> xr.Dataset:
    """S_w per point of every other axis (scale axes, group; gamma and gamma' for the phase
    diagram): the slope of the converged runs' seed-mean log RD* over widths
    (:func:`phasekit.dynamics.phase.scaling_exponent`), with S_w_stderr, S_w_r2, S_w_poor_fit
    and S_w_missing_runs. Runs not computed yet (a store read while a sweep is still writing
    it: NaN in every variable) are counted and their fits flagged poor, never a plain
    poor_fit=False; the widths they lack are listed in ``attrs["incomplete_widths"]``.

    Args:
      ds: a sweep Dataset with a ``width`` dim (>= 2 widths) and rd_star, converged, steps.
    Returns:
      ``ds`` with rd_star_geomean and the S_w variables over the dims of rd_star but width, seed.
    """
    from phasekit.dynamics.phase import scaling_exponent

    valid = ds["converged"].astype(bool) & np.isfinite(ds["rd_star"]) & (ds["rd_star"] > 0)
    mean_log = xr.ufuncs.log(ds["rd_star"].where(valid)).mean("seed", skipna=True)
    by_width = mean_log.transpose(..., "width")
    fit = scaling_exponent(
        ds["width"].values,
        np.exp(by_width.values),
        valid=(valid.sum("seed") > 0).transpose(..., "width").values,
    )
    dims = [d for d in by_width.dims if d != "width"]
    computed = xr.ufuncs.isfinite(ds["steps"].astype(float))
    missing = (
        (~computed).sum(("width", "seed")).broadcast_like(by_width.isel(width=0)).transpose(*dims)
    )
    ds = ds.assign(
        rd_star_geomean=np.exp(mean_log),
        S_w=(dims, fit.slope),
        S_w_stderr=(dims, fit.stderr),
        S_w_r2=(dims, fit.r2),
        S_w_poor_fit=(dims, fit.poor_fit | (missing.values > 0)),
        S_w_missing_runs=(dims, missing.values),
    )
    if int(missing.sum()):
        absent = (~computed).any([d for d in computed.dims if d != "width"])
        ds.attrs["incomplete_widths"] = json.dumps(
            [int(m) for m in ds["width"].values[absent.values]]
        )
    return ds


VARIABLES = {
    "rd_star": (
        "RD* = |theta_g(t*) - theta_g(0)| / |theta_g(0)| per parameter group at the stop",
        "1",
    ),
    "loss_star": ("training loss at the stop", "1"),
    "loss0": ("training loss at initialization", "1"),
    "steps": ("GD steps taken", "steps"),
    "lr": ("learning rate of the run (the lr rule at theta_0)", "1"),
    "converged": ("loss reached rel_tol * L(theta_0)", "bool"),
    "diverged": ("loss or gradient became NaN/inf or blew up", "bool"),
    "hit_cap": ("stopped at the step cap without converging", "bool"),
    "rd": ("RD per parameter group at the record steps", "1"),
    "loss": ("training loss at the record steps", "1"),
    "rd_star_geomean": ("geometric mean of RD* over converged seeds", "1"),
    "S_w_r2": ("R^2 of the log-log fit", "1"),
    "S_w_missing_runs": ("runs of the fit not computed (yet)", "1"),
    "S_w": ("width exponent: slope of log RD* against log width", "1"),
    "S_w_stderr": ("standard error of S_w (NaN with two widths)", "1"),
    "S_w_poor_fit": (
        "S_w fit with < 2 widths, missing runs, or a residual std > 0.25 in log RD",
        "bool",
    ),
}


def describe(ds: xr.Dataset) -> xr.Dataset:
    """Attach ``long_name`` and ``units`` attributes from :data:`VARIABLES` to the variables of
    an :func:`init_scale_sweep` Dataset that has them (in place; returns ``ds``)."""
    for name, (long_name, units) in VARIABLES.items():
        if name in ds:
            ds[name].attrs.update(long_name=long_name, units=units)
    return ds


def data_hash(x, y) -> str:
    """A short digest of the data's bytes, for a store's fingerprint.

    Args:
      x, y: arrays (anything ``numpy.asarray`` takes).
    Returns:
      a 16-character hex string (BLAKE2b, 8 bytes).
    """
    import hashlib

    return hashlib.blake2b(
        np.asarray(x).tobytes() + np.asarray(y).tobytes(), digest_size=8
    ).hexdigest()
