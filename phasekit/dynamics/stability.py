"""Sharpness during training and the edge of stability (Wu, Ma, E 2018; Cohen et al. 2021).

    sharpness S(theta) = lambda_max(H(theta)),    GD is linearly stable iff  S < 2 / lr

On the quadratic L = lambda x^2 / 2 a GD step is x <- (1 - lr lambda) x: it converges iff
lr < 2 / lambda. On a network, full-batch GD with a fixed lr shows "progressive sharpening"
(S rises) until S reaches ~2 / lr, where it hovers ("edge of stability").

:func:`track_sharpness` runs :func:`phasekit.dynamics.train.run` with an observer that computes
lambda_max by Lanczos on a fixed data subset every ``every`` steps (``schedule="linear"``), so
the sharpness is stored with the trajectory. :func:`sharpness_vs_lr` vmaps it over learning rates (and seeds).
:func:`track_top_eigenpairs` tracks the top k eigenpairs at every record inside the compiled loop,
warm-started from the previous record's eigenvectors, and counts the Hessian-vector products.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from phasekit.dynamics import train
from phasekit.theory import hessian

__all__ = [
    "TrackedEigenpairs",
    "fixed_subset",
    "late_sharpness_ratio",
    "late_sharpness_slope",
    "sharpness_observer",
    "sharpness_vs_lr",
    "stability_threshold",
    "track_sharpness",
    "track_top_eigenpairs",
]


def stability_threshold(lr):
    """2 / lr: the largest sharpness at which GD with step ``lr`` is linearly stable."""
    return 2.0 / jnp.asarray(lr)


def fixed_subset(data, size: int | None, key=None):
    """The same ``size`` samples of ``data`` (random, fixed by ``key``) at every record; None: all."""
    if size is None:
        return data
    n = jax.tree_util.tree_leaves(data)[0].shape[0]
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 0 < size <= n:
        raise ValueError(f"subset: must be an integer in [1, {n}] or None, got {size!r}")
    idx = jax.random.permutation(jax.random.key(0) if key is None else key, n)[:size]
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a)[idx], data)


def sharpness_observer(
    loss_fn: Callable, data, *, k: int = 1, num_steps: int = 20, key=None
) -> Callable:
    """``observe(params) -> {"sharpness": lambda_1}`` (plus ``"top_eigenvalues": [k]`` when k > 1).

    ``loss_fn(params, data)`` as in :func:`train.run`; eigenvalues by ``num_steps`` Lanczos steps.

    Args:
      loss_fn: ``loss(params, data) -> scalar``; data: the (fixed) batch the Hessian is taken on.
      k: eigenvalues per record; num_steps: Lanczos steps; key: PRNG key of the Lanczos start
        vector (None: the default of :func:`hessian.top_eigenvalues`).
    Returns:
      ``observe(params) -> {"sharpness": scalar}`` (plus ``"top_eigenvalues": [k]``).
    """

    def observe(params):
        top = hessian.top_eigenvalues(loss_fn, params, data, k=k, num_steps=num_steps, key=key)
        return {"sharpness": top[0], **({"top_eigenvalues": top} if k > 1 else {})}

    return observe


def track_sharpness(
    loss_fn: Callable,
    params,
    data,
    optimizer: optax.GradientTransformation,
    *,
    steps: int,
    every: int,
    subset: int | None = None,
    k: int = 1,
    num_steps: int = 20,
    key=None,
    **run_kwargs,
) -> train.Trajectory:
    """Train with :func:`train.run` and record lambda_max every ``every`` steps on a fixed subset.

    Args:
      loss_fn, params, data, optimizer: as in :func:`train.run`.
      steps: step budget, a multiple of ``every``.
      every: sharpness (and loss) are recorded at steps 0, every, 2 every, ..., steps.
      subset: number of samples of the fixed subset the Hessian is taken on (None: all data).
      k, num_steps: eigenvalues per record and Lanczos steps.
      key: PRNG key of the subset and the Lanczos start vectors.
      run_kwargs: passed on to :func:`train.run` (stop rules, batch_size, ...).
    Returns:
      :class:`train.Trajectory` with ``observables["sharpness"]: [R]``, R = steps / every + 1.
    """
    if (
        isinstance(every, bool)
        or not isinstance(every, (int, np.integer))
        or every < 1
        or steps % every
    ):
        raise ValueError(f"every: must be a positive integer dividing steps={steps}, got {every!r}")
    observe = sharpness_observer(
        loss_fn, fixed_subset(data, subset, key), k=k, num_steps=num_steps, key=key
    )
    return train.run(
        loss_fn,
        params,
        data,
        optimizer,
        steps=steps,
        n_records=steps // every + 1,
        schedule="linear",
        observe=observe,
        key=key,
        **run_kwargs,
    )


def sharpness_vs_lr(
    loss_fn: Callable,
    params,
    data,
    lrs,
    *,
    steps: int,
    every: int,
    subset: int | None = None,
    num_steps: int = 20,
    key=None,
    seed_axis: bool = False,
) -> train.Trajectory:
    """Full-batch GD from the same ``params`` at each learning rate in ``lrs`` [L], in one vmap.

    ``seed_axis=True``: ``params`` carries a leading seed axis [S] (e.g. ``jax.vmap(init)(keys)``)
    and every (seed, lr) pair is one lane of the same vmapped program; each seed's Lanczos start
    vectors come from its own key (``fold_in(key, s)``).
    Returns a :class:`train.Trajectory` with a leading [L] axis (``observables["sharpness"]: [L, R]``),
    or [S, L] with ``seed_axis``.

    Args:
      loss_fn: ``loss(params, data) -> scalar``; params: initial parameters (pytree, with a
        leading [S] axis when ``seed_axis``); data: the full batch.
      lrs: learning rates [L].
      steps, every: step budget and record interval, as in :func:`track_sharpness`.
      subset: samples of the fixed subset the Hessian is taken on (None: all data).
      num_steps: Lanczos steps per record; key: PRNG key of the subset and the start vectors.
      seed_axis: see above.
    """

    def one(lr, params, data, key):
        return track_sharpness(
            loss_fn,
            params,
            data,
            optax.sgd(lr),
            steps=steps,
            every=every,
            subset=subset,
            num_steps=num_steps,
            key=key,
        )

    key = jax.random.key(0) if key is None else key
    over_lr = jax.vmap(one, in_axes=(0, None, None, None))
    lrs = jnp.asarray(lrs)
    if not seed_axis:
        return jax.jit(over_lr)(lrs, params, data, key)
    sizes = {np.shape(a)[0] if np.ndim(a) else None for a in jax.tree_util.tree_leaves(params)}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            f"params: with seed_axis=True every leaf needs the same leading seed axis, got {sizes}"
        )
    keys = jax.vmap(lambda s: jax.random.fold_in(key, s))(jnp.arange(sizes.pop()))
    return jax.jit(jax.vmap(over_lr, in_axes=(None, 0, None, 0)))(lrs, params, data, keys)


def late_sharpness_ratio(sharpness, lrs, fraction: float = 0.25):
    """mean of lambda_max over the last ``fraction`` of records, divided by 2 / lr: [L].

    ~1 at the edge of stability; < 1 while sharpening has not reached the threshold.
    sharpness: [L, R], lrs: [L].
    """
    s = np.asarray(sharpness)
    tail = s[:, int(np.floor((1 - fraction) * s.shape[1])) :]
    return np.nanmean(tail, axis=1) / (2.0 / np.asarray(lrs))


def late_sharpness_slope(sharpness, steps, lrs, fraction: float = 0.25):
    """Least-squares slope of lambda_max against the step over the last ``fraction`` of records,
    in units of the threshold per step: d(lambda_max / (2 / lr)) / d step, [L] (host-only, numpy).

    > 0: the sharpness is still rising at the end of the budget (progressive sharpening not done);
    multiplied by the number of steps in the window it is the rise of the ratio
    lambda_max / (2 / lr) over that window. NaN records (diverged runs) are skipped.

    Args:
      sharpness: [L, R] lambda_max at the record steps; steps: [R] record steps; lrs: [L].
      fraction: the window, the last ``fraction`` of the R records (at least 2 records).
    Returns:
      [L] slopes (NaN where fewer than 2 finite records lie in the window).
    """
    s = np.asarray(sharpness, float) * (np.asarray(lrs, float)[:, None] / 2.0)
    t = np.asarray(steps, float)
    if t.shape != s.shape[-1:]:
        raise ValueError(f"steps: need shape [{s.shape[-1]}], got {t.shape}")
    start = min(int(np.floor((1 - fraction) * s.shape[1])), s.shape[1] - 2)
    out = np.full(s.shape[0], np.nan)
    for i, row in enumerate(s[:, start:]):
        ok = np.isfinite(row)
        if ok.sum() >= 2:
            out[i] = np.polyfit(t[start:][ok], row[ok], 1)[0]
    return out


# ----------------------------------------------------------------------------- warm-started tracking


class TrackedEigenpairs(NamedTuple):
    """Result of :func:`track_top_eigenpairs` (a pytree: vmapped runs stack along a leading axis).

    step:      [R] record steps 0, every, ..., steps
    loss:      [R] full-data loss at each record
    values:    [R, k] top k eigenvalues of H (descending; ``[:, 0]`` is the sharpness)
    residuals: [R, k] |H v_i - theta_i v_i| of each Ritz pair
    num_hvp:   [R] Hessian-vector products spent at each record
    vectors:   [k, M] the last record's eigenvectors (raveled params)
    observables: dict name -> [R, ...] of ``observe(params, eigenpairs)`` at each record
    trajectory: the :class:`train.Trajectory` of the run (records at steps 0 and ``steps``)
    """

    step: jax.Array
    loss: jax.Array
    values: jax.Array
    residuals: jax.Array
    num_hvp: jax.Array
    vectors: jax.Array
    observables: dict
    trajectory: train.Trajectory


def track_top_eigenpairs(
    loss_fn: Callable,
    params,
    data,
    optimizer: optax.GradientTransformation,
    *,
    steps: int,
    every: int,
    k: int = 1,
    tol: float = 1e-3,
    max_steps: int = 60,
    warm: bool = True,
    subset: int | None = None,
    key=None,
    observe: Callable | None = None,
    **run_kwargs,
) -> TrackedEigenpairs:
    """Train with :func:`train.resumable` and compute the top k eigenpairs of H every ``every``
    steps inside the same compiled program (a ``lax.scan`` over records, ``advance`` between),
    each by adaptive Lanczos (:func:`hessian.lanczos_top`) to relative residual ``tol``, started
    from the previous record's eigenvectors (``warm``) or from a random vector (cold). The HVPs
    spent per record are returned: a warm start needs fewer at the same residual while the
    eigenvectors change little between records. Pure and vmappable (e.g. over learning rates:
    ``jax.vmap(lambda lr: track_top_eigenpairs(..., optax.sgd(lr), ...))``; ``warm`` may be traced,
    so warm and cold runs can share one compiled program). ``observe(params, eigenpairs)`` -> dict
    is recorded at every record with the record's :class:`hessian.Eigenpairs` (vectors as pytrees),
    e.g. the layers' shares of the top eigenvector (:func:`hessian.block_shares`).

    Args:
      loss_fn, params, data, optimizer: as in :func:`train.run`.
      steps: step budget, a multiple of ``every``; every: the record interval.
      k: eigenpairs per record; tol: relative residual of each Lanczos solve; max_steps: the
        Lanczos steps allowed per record.
      warm: start each solve from the previous record's eigenvectors (may be traced).
      subset: samples of the fixed subset the Hessian is taken on (None: all data).
      key: PRNG key of the subset and the cold start vectors.
      observe: ``observe(params, eigenpairs) -> dict`` recorded at every record (or None).
      **run_kwargs: passed on to :func:`train.resumable`.
    Returns:
      :class:`TrackedEigenpairs`.
    """
    if (
        isinstance(every, bool)
        or not isinstance(every, (int, np.integer))
        or every < 1
        or steps % every
    ):
        raise ValueError(f"every: must be a positive integer dividing steps={steps}, got {every!r}")
    key = jax.random.key(0) if key is None else key
    sub = fixed_subset(data, subset, key)
    theta0, unravel = ravel_pytree(params)
    if not 1 <= k <= max_steps <= theta0.size:
        raise ValueError(f"max_steps: need k={k} <= max_steps <= M={theta0.size}, got {max_steps}")
    r = train.resumable(
        loss_fn, params, data, optimizer, steps=steps, record_at=[0, steps], key=key, **run_kwargs
    )
    observe = observe or (lambda p, pairs: {})

    def eig(p, U, kk):
        matvec = hessian.hessian_matvec(loss_fn, p, sub)
        v0 = jnp.where(
            warm, hessian.warm_start(U, kk), jax.random.normal(kk, theta0.shape, theta0.dtype)
        )
        return hessian.lanczos_top(matvec, v0, k, max_steps, tol=tol, key=kk)

    def record(carry, i):
        state, U = carry
        state = jax.lax.cond(i > 0, lambda s: r.advance(s, every), lambda s: s, state)
        p = state.train.params
        top = eig(p, U, jax.random.fold_in(key, i))
        pairs = hessian.Eigenpairs(top.values, jax.vmap(unravel)(top.vectors))
        out = (loss_fn(p, data), top.values, top.residuals, top.num_matvecs, observe(p, pairs))
        return (state, top.vectors), out

    U0 = jax.random.normal(jax.random.fold_in(key, 2**31 - 1), (k,) + theta0.shape, theta0.dtype)
    n_rec = steps // every + 1
    (state, U), (loss, values, res, hvps, obs) = jax.lax.scan(
        record, (r.init(), U0), jnp.arange(n_rec)
    )
    return TrackedEigenpairs(
        jnp.arange(n_rec) * every, loss, values, res, hvps, U, obs, r.finish(state)
    )
