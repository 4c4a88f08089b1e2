"""The recovery experiment of book ch. 10: can GD from small init fit f* from n samples?

For every (condition, init std, seed, lr): draw a training set and a unit-scale init from the
seed, scale the init by ``std``, train with full-batch GD (:func:`phasekit.dynamics.train.run`)
and measure the test error of the final parameters. For each (condition, std, seed) the best
learning rate of the grid is kept (the book tunes lr per run; ``select="test"`` keeps the lowest
test error, ``select="train"`` the lowest final training loss, :func:`select_lr`).

Two ways to run a grid, same numbers:

- :func:`recovery_point`: one (condition, std, seed) with its lrs vmapped inside, the function
  :func:`phasekit.dynamics.sweep.run` calls per point (resumable, sharded; the experiments of
  :mod:`phasekit.experiments.rank`). Conditions and stds may be traced, so a sweep compiles one
  program per static shape.
- :func:`recovery`: the whole grid as one ``jax.jit(jax.vmap(recovery_point))`` over
  conditions (targets x sample sizes), init stds and seeds, in memory.

Tasks (:class:`Task`): :func:`regression_task`, :func:`fnl_task` (Fig 10.1, 10.5a),
:func:`matrix_completion_task` (Fig 10.2, 10.5b; random observed sets or a fixed order such as
the authors' :func:`cross_order`), :func:`conv_task` (Fig 10.3), :func:`neuron_task` (the
authors' width runs: one tanh neuron, Adam). After the runs,
:func:`transition` finds the empirical recovery threshold and :func:`recovered_fraction` the
share of seeds recovered.

Sample sizes vary without recompiling through a weight mask: data are ``(x, y, w)`` with
``x: [n_max, ...]`` and ``w`` = 1 on the first n samples, 0 elsewhere, and
:func:`masked_mse` = 1/(2n) sum_i w_i |f(x_i) - y_i|^2.

The optimistic-estimate claim: with small init and a tuned lr the test error drops at
n = R(f*) (the optimistic sample size), not at n = M.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from phasekit.dynamics import train

__all__ = [
    "Recovery",
    "Task",
    "conv_task",
    "cross_order",
    "first_n_mask",
    "fnl_task",
    "low_rank_matrices",
    "masked_mse",
    "matrix_completion_task",
    "neuron_task",
    "recovered_fraction",
    "recovery",
    "recovery_point",
    "recovery_point_run",
    "regression_task",
    "select_lr",
    "transition",
]


class Recovery(NamedTuple):
    """Result of :func:`recovery`; leading axes [C (if conditions), S (init stds), seeds].

    test_error:  [C, S, seeds]     test error at the selected lr
    train_loss:  [C, S, seeds]     final training loss at the selected lr
    lr:          [C, S, seeds]     the selected learning rate (nan if every lr diverged)
    test_error_all, train_loss_all, diverged: [C, S, seeds, L] per learning rate
    """

    test_error: jax.Array
    train_loss: jax.Array
    lr: jax.Array
    test_error_all: jax.Array
    train_loss_all: jax.Array
    diverged: jax.Array


def first_n_mask(n, n_max: int) -> jax.Array:
    """w_i = 1 for i < n, else 0: [n_max] (n may be traced)."""
    return (jnp.arange(n_max) < n).astype(jnp.float32)


def masked_mse(apply_fn: Callable, **apply_kwargs) -> Callable:
    """Loss on data (x, y, w): 1/(2 sum w) sum_i w_i |f(x_i) - y_i|^2 (the book's MSE on the n kept samples).

    Args:
      apply_fn: ``apply(params, x, **apply_kwargs) -> f``; **apply_kwargs: its static arguments.
    Returns:
      ``loss(params, (x [n_max, ...], y [n_max, ...], w [n_max])) -> scalar``.
    """

    def loss(params, data):
        x, y, w = data
        r = apply_fn(params, x, **apply_kwargs) - y
        return 0.5 * jnp.sum(w * r**2) / jnp.maximum(jnp.sum(w), 1.0)

    return loss


def _check_grid(lrs, select: str, n_seeds=None):
    if select not in ("test", "train"):
        raise ValueError(f"select: 'test' or 'train', got {select!r}")
    if n_seeds is not None and (
        isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1
    ):
        raise ValueError(f"n_seeds: must be a positive integer, got {n_seeds!r}")
    lrs = np.atleast_1d(np.asarray(lrs, np.float32))
    if lrs.ndim != 1 or not np.all(lrs > 0):
        raise ValueError(f"lrs: learning rates must be > 0, got {lrs}")
    return jnp.asarray(lrs)


def _check_optimizer(name: str):
    if name not in train.OPTIMIZERS:
        raise ValueError(f"optimizer: one of {', '.join(train.OPTIMIZERS)}, got {name!r}")


def select_lr(test_error, train_loss, diverged, lrs, select: str = "test"):
    """The book's per-run learning-rate tuning: along the last axis (the lr grid) keep the lr
    with the lowest test error (``select="test"``) or lowest final training loss ("train"),
    skipping runs that diverged or ended non-finite.

    Args: test_error, train_loss, diverged: [..., L]; lrs: [L].
    Returns: (test_error [...], train_loss [...], lr [...]) at the selected lr; nan where every lr failed.
    """
    lrs = jnp.asarray(lrs)
    bad = diverged | ~jnp.isfinite(test_error) | ~jnp.isfinite(train_loss)
    score = jnp.where(bad, jnp.inf, test_error if select == "test" else train_loss)
    best = jnp.argmin(score, axis=-1)
    pick = lambda a: jnp.take_along_axis(a, best[..., None], axis=-1)[..., 0]
    none_ok = jnp.all(bad, axis=-1)
    nan = lambda a: jnp.where(none_ok, jnp.nan, a)
    return nan(pick(test_error)), nan(pick(train_loss)), nan(lrs[best])


def recovery_point(
    task: Task,
    cond,
    std,
    key,
    *,
    lrs,
    steps: int,
    stop_loss=None,
    select: str = "test",
    n_seeds: int | None = None,
    optimizer: str = "gd",
) -> dict:
    """One point of the recovery experiment: the function a sweep calls per grid point.

    Draws a training set and a unit-scale init from ``key`` (``split(key)`` -> data key, init
    key), scales the init by ``std``, trains with plain GD at every lr of ``lrs`` (vmapped;
    the data and init direction are shared by the lrs) and keeps the best lr (:func:`select_lr`).
    With ``n_seeds``, seeds s = 0..n_seeds-1 use ``fold_in(key, s)`` and are vmapped too.

    Args:
      task: :class:`Task`; ``cond`` is passed to its ``sample_fn`` and ``test_error_fn``.
      std: init scale (may be traced); lrs: [L] (concrete); steps: GD budget (static).
      key: PRNG key of the point; stop_loss: stop a run when its loss falls to this (None:
        never); select: how the lr is chosen (:func:`select_lr`); n_seeds: see above;
      optimizer: a name of :func:`phasekit.dynamics.train.optimizer` ("gd": plain full-batch
        GD, the book; "adam": the authors' Fig 10.3 width runs), one per run at each lr.
    Returns:
      dict of arrays, leading ``[n_seeds]`` axis when ``n_seeds`` is given:
      test_error, train_loss, best_lr (at the selected lr), and test_error_all, train_loss_all,
      diverged: [..., L] per learning rate.
    """
    lrs = _check_grid(lrs, select, n_seeds)
    _check_optimizer(optimizer)

    def one(seed_key, lr):
        k_data, k_init = jax.random.split(seed_key)
        data = task.sample_fn(k_data, cond)
        params = jax.tree_util.tree_map(lambda p: std * p, task.init_fn(k_init))
        traj = train.run(
            task.loss_fn,
            params,
            data,
            train.optimizer(optimizer, lr),
            steps=steps,
            n_records=2,
            stop_loss=stop_loss,
        )
        return task.test_error_fn(traj.params, cond), traj.loss[-1], traj.diverged

    f = jax.vmap(one, (None, 0))  # lrs
    if n_seeds is not None:
        f = jax.vmap(f, (0, None))  # seeds
        key = jax.vmap(lambda s: jax.random.fold_in(key, s))(jnp.arange(n_seeds))
    err, loss, diverged = f(key, lrs)
    best_err, best_loss, best_lr = select_lr(err, loss, diverged, lrs, select)
    return {
        "test_error": best_err,
        "train_loss": best_loss,
        "best_lr": best_lr,
        "test_error_all": err,
        "train_loss_all": loss,
        "diverged": diverged,
    }


def recovery_point_run(
    task: Task,
    cond,
    std,
    key,
    *,
    lrs,
    steps: int,
    stop_loss=None,
    select: str = "test",
    n_seeds: int | None = None,
    optimizer: str = "gd",
) -> train.Resumable:
    """:func:`recovery_point` as a resumable run (:func:`phasekit.dynamics.train.stacked` over
    every (seed, lr) run of the point; ``finish`` gives recovery_point's dict): the form
    ``sweep.run`` batches continuously, so a point whose runs stop early (``stop_loss``) frees
    its lane for the next point. Same data, init and runs as :func:`recovery_point`.

    Args:
      task, cond, std, key, lrs, steps, stop_loss, select, n_seeds, optimizer: as in
        :func:`recovery_point`.
    Returns:
      :class:`phasekit.dynamics.train.Resumable` whose ``finish`` gives :func:`recovery_point`'s
      dict.
    """
    lrs = _check_grid(lrs, select, n_seeds)
    _check_optimizer(optimizer)
    keys = (
        key[None]
        if n_seeds is None
        else jax.vmap(lambda s: jax.random.fold_in(key, s))(jnp.arange(n_seeds))
    )
    n_s, n_l = keys.shape[0], lrs.shape[0]
    seed_of, lr_of = jnp.repeat(jnp.arange(n_s), n_l), jnp.tile(jnp.arange(n_l), n_s)

    def make(i_seed, i_lr):
        k_data, k_init = jax.random.split(keys[i_seed])
        data = task.sample_fn(k_data, cond)
        params = jax.tree_util.tree_map(lambda p: std * p, task.init_fn(k_init))
        r = train.resumable(
            task.loss_fn,
            params,
            data,
            train.optimizer(optimizer, lrs[i_lr]),
            steps=steps,
            n_records=2,
            stop_loss=stop_loss,
        )
        return r.then(
            lambda traj: (task.test_error_fn(traj.params, cond), traj.loss[-1], traj.diverged)
        )

    def outputs(res):
        err, loss, diverged = (jnp.reshape(a, (n_s, n_l)) for a in res)
        if n_seeds is None:
            err, loss, diverged = err[0], loss[0], diverged[0]
        best_err, best_loss, best_lr = select_lr(err, loss, diverged, lrs, select)
        return {
            "test_error": best_err,
            "train_loss": best_loss,
            "best_lr": best_lr,
            "test_error_all": err,
            "train_loss_all": loss,
            "diverged": diverged,
        }

    return train.stacked(make, seed_of, lr_of, steps=steps).then(outputs)


def recovery(
    loss_fn: Callable,
    init_fn: Callable,
    sample_fn: Callable,
    test_error_fn: Callable,
    *,
    init_stds,
    lrs,
    n_seeds: int,
    steps: int,
    key,
    conditions=None,
    stop_loss=None,
    select: str = "test",
) -> Recovery:
    """Train from ``std * init_fn(key)`` with GD on every grid point; keep the best lr.

    The whole grid in one ``jax.jit(jax.vmap(...))`` of :func:`recovery_point` (for grids that
    must resume or shard, call :func:`recovery_point` from :func:`phasekit.dynamics.sweep.run`).

    Args:
      loss_fn: ``(params, data) -> scalar`` (e.g. :func:`masked_mse`).
      init_fn: ``key -> params`` at unit scale.
      sample_fn: ``(key, condition) -> data`` (``key -> data`` without ``conditions``).
      test_error_fn: ``(params, condition) -> scalar`` (``params -> scalar`` without conditions).
      init_stds: [S] init scales (std, not variance).
      lrs: [L] learning-rate grid of plain GD.
      n_seeds: seeds; seed s uses ``fold_in(key, s)`` for its data and init direction, shared
        by all conditions, stds and lrs (common random numbers).
      steps: GD step budget.
      conditions: optional pytree with leading axis C (e.g. ``{"target": [C, ...], "n": [C]}``).
      stop_loss: stop a run once its training loss is <= stop_loss.
      select: "test" (lowest test error, the book) or "train" (lowest final training loss).
    Returns:
      :class:`Recovery`.
    """
    lrs = _check_grid(lrs, select, n_seeds)
    init_stds = np.atleast_1d(np.asarray(init_stds, np.float32))
    if not np.all(init_stds >= 0):
        raise ValueError(f"init_stds: must be >= 0, got {init_stds}")
    if conditions is None:
        task = Task(loss_fn, init_fn, lambda k, c: sample_fn(k), lambda p, c: test_error_fn(p))
    else:
        task = Task(loss_fn, init_fn, sample_fn, test_error_fn)

    def one(cond, std):
        return recovery_point(
            task,
            cond,
            std,
            key,
            lrs=lrs,
            steps=steps,
            stop_loss=stop_loss,
            select=select,
            n_seeds=n_seeds,
        )

    f = jax.vmap(one, (None, 0))  # init stds
    f = jax.vmap(f, (0, None)) if conditions is not None else f  # conditions
    out = jax.jit(f)(conditions, jnp.asarray(init_stds))
    return Recovery(
        out["test_error"],
        out["train_loss"],
        out["best_lr"],
        out["test_error_all"],
        out["train_loss_all"],
        out["diverged"],
    )


# ---- the book's tasks, ready for :func:`recovery` ---------------------------------------


class Task(NamedTuple):
    """The four functions :func:`recovery` needs; conditions are dicts with an ``"n"`` entry.

    loss_fn: ``(params, data) -> scalar`` (e.g. :func:`masked_mse`); init_fn: ``key -> params``
    at unit scale; sample_fn: ``(key, condition) -> data``; test_error_fn:
    ``(params, condition) -> scalar``.
    """

    loss_fn: Callable
    init_fn: Callable
    sample_fn: Callable
    test_error_fn: Callable


def regression_task(
    apply_fn: Callable,
    init_fn: Callable,
    target_fn: Callable,
    sample_x: Callable,
    n_max: int,
    x_test: jax.Array,
    relative: bool = False,
) -> Task:
    """Fit y = f*(x) from the first n of n_max sampled inputs; test error = mean (f - f*)^2 on x_test
    (divided by mean f*^2 with ``relative=True``).

    ``target_fn(x, condition) -> [n]`` (e.g. reads ``condition["coef"]``), ``sample_x(key, n_max)
    -> [n_max, d]``; conditions carry ``"n"`` (samples used) plus what ``target_fn`` reads.

    Args:
      apply_fn: ``apply(params, x) -> f``; init_fn: ``init(key) -> params`` at unit scale.
      target_fn, sample_x: f* and the input sampler, as above.
      n_max: the largest n; x_test: test inputs [n_test, ...]; relative: see above.
    Returns:
      :class:`Task`.
    """

    def sample_fn(key, cond):
        x = sample_x(key, n_max)
        return x, target_fn(x, cond), first_n_mask(cond["n"], n_max)

    def test_error_fn(params, cond):
        y = target_fn(x_test, cond)
        err = jnp.mean((apply_fn(params, x_test) - y) ** 2)
        return err / jnp.mean(y**2) if relative else err

    return Task(masked_mse(apply_fn), init_fn, sample_fn, test_error_fn)


def fnl_task(n_max: int, x_test: jax.Array, nonlinear) -> Task:
    """Fig 10.1: fit f* = c0 + c1 x1 + c2 x2 (``condition["coef"] = (c0, c1, c2)``) from n of
    ``n_max`` inputs x ~ N(0, I_2) with f_NL (``nonlinear``) or f_L, both written as
    :func:`phasekit.theory.optimistic.fnl_family_apply`; ``nonlinear`` may be traced (built
    inside a sweep point, one compiled program trains both models).

    Args:
      n_max: the largest n; x_test: [n_test, 2] test inputs; nonlinear: true for f_NL, false
        for f_L (a bool or a traced 0 / 1).
    Returns:
      :class:`Task`.
    """
    from phasekit.theory import optimistic

    return regression_task(
        lambda t, x: optimistic.fnl_family_apply(t, x, nonlinear),
        lambda k: jax.random.normal(k, (4,)),
        lambda x, c: c["coef"][0] + x @ c["coef"][1:],
        lambda k, n: jax.random.normal(k, (n, 2)),
        n_max,
        x_test,
    )


def conv_task(arch: str, width: int, n_max: int, x_test: jax.Array, kernel=None) -> Task:
    """Fig 10.3: fit the conv teacher (:func:`phasekit.theory.optimistic.conv_teacher`) with
    ``conv_model(arch, width)`` from n of ``n_max`` inputs x ~ N(0, I_d) (d = x_test.shape[1]);
    test error relative: mean (f - f*)^2 / mean f*^2 on x_test.

    Args:
      arch: the architecture of :func:`phasekit.theory.optimistic.conv_model`; width: channels;
      n_max: the largest n; x_test: [n_test, d]; kernel: the teacher's kernel (None:
        ``optimistic.CONV_KERNEL``).
    Returns:
      :class:`Task`.
    """
    from phasekit.models import conv1d
    from phasekit.theory import optimistic

    kernel = optimistic.CONV_KERNEL if kernel is None else kernel
    d = x_test.shape[1]
    init_fn, apply_fn = optimistic.conv_model(arch, width, d, len(kernel))
    teacher = optimistic.conv_teacher(kernel, d)
    return regression_task(
        apply_fn,
        init_fn,
        lambda x, c: conv1d.apply(teacher, x),
        lambda k, n: jax.random.normal(k, (n, d)),
        n_max,
        x_test,
        relative=True,
    )


def low_rank_matrices(key, d: int, ranks) -> jax.Array:
    """Rank-r targets M* = sqrt(d^2 / r) U V^T with U, V in R^{d x r} Haar-orthonormal:
    r equal singular values and mean(M*^2) = 1.  Returns [len(ranks), d, d].

    Args:
      key: PRNG key; d: matrix size; ranks: the ranks r (each <= d).
    """
    out = []
    for i, r in enumerate(ranks):
        ku, kv = jax.random.split(jax.random.fold_in(key, i))
        U = jnp.linalg.qr(jax.random.normal(ku, (d, r)))[0]
        V = jnp.linalg.qr(jax.random.normal(kv, (d, r)))[0]
        out.append(jnp.sqrt(d * d / r) * U @ V.T)
    return jnp.stack(out)


def _tangent_rank_on(target: jax.Array, w: jax.Array) -> jax.Array:
    """rank of the tangent functions of A B at the optimistic point of ``target``, restricted to
    the entries with w = 1 (w: [d * d], row-major)."""
    d = target.shape[0]
    U, S, Vt = jnp.linalg.svd(target)
    keep = S > 1e-4 * S[0]  # float32: the target has a clear gap by construction
    root = jnp.where(keep, jnp.sqrt(S), 0.0)
    A, B = U * root, root[:, None] * Vt
    eye = jnp.eye(d, dtype=target.dtype)
    jA = jnp.einsum("ik,lj->ijkl", eye, B).reshape(d * d, -1)  # d(AB)_ij / dA_kl
    jB = jnp.einsum("ik,lj->ijkl", A, eye).reshape(d * d, -1)  # d(AB)_ij / dB_kl
    s = jnp.linalg.svd(jnp.concatenate([jA, jB], 1) * w[:, None], compute_uv=False)
    return jnp.sum(s > 1e-4 * s[0])


def cross_order(d: int) -> np.ndarray:
    """The authors' fixed order of the d x d entries (row-major indices i d + j) for Fig 10.2:
    for k = 0..d-1, row k from the diagonal on ((k, k), ..., (k, d-1)), then column k below it
    ((k+1, k), ..., (d-1, k)). For d = 4: [0, 1, 2, 3, 4, 8, 12, 5, 6, 7, 9, 13, 10, 11, 14, 15].

    Its first 2 r d - r^2 entries are exactly the first r rows and r columns (the "cross" of
    size r, |rows u cols| = 2 r d - r^2): the entries that determine a rank-r matrix whose
    leading r x r block is invertible (M = C W^{-1} R, W the block, C the columns, R the rows).
    So with this order the n at which a rank-r target becomes identifiable is the optimistic
    size 2 r d - r^2, for every seed.

    Args:
      d: matrix size (>= 1).
    Returns:
      [d * d] int array, a permutation of 0..d^2-1 (host-side numpy).
    """
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
        raise ValueError(f"d: must be a positive integer, got {d!r}")
    out = []
    for k in range(d):
        out += [k * d + j for j in range(k, d)] + [i * d + k for i in range(k + 1, d)]
    return np.asarray(out, dtype=np.int32)


def matrix_completion_task(d: int, generic: bool = True, order=None) -> Task:
    """Matrix completion with f = (A B)_{ij}, A, B in R^{d x d} (book Fig 10.2).

    Conditions: ``{"target": [d, d], "n": int}``. Each seed observes n entries; test error =
    ||A B - M*||_F^2 / ||M*||_F^2 (distance to the target).

    Observed sets: with ``order`` (a permutation of the d^2 row-major indices, e.g.
    :func:`cross_order`, the authors' order) the first n entries of that order, the same for
    every seed (seeds then differ in their init direction only); otherwise n entries drawn
    without replacement per seed. ``generic=True`` (random draws only) draws uniformly among the
    sets whose tangent functions at the optimistic point are as independent as they can be
    (rank min(n, 2rd - r^2)), by rejection: the discrete analogue of "n generic sample points"
    that the optimistic estimate assumes (a random 7-entry set of a 4 x 4 rank-1 matrix misses a
    row or column 64% of the time, and then no method can recover it). ``generic=False``: plain
    uniform draws.

    Args:
      d: matrix size; generic: see above (ignored with ``order``); order: None or [d * d] ints.
    Returns:
      :class:`Task`.
    """
    from phasekit.models import toys

    if order is not None:
        order = np.asarray(order)
        if order.shape != (d * d,) or sorted(order.tolist()) != list(range(d * d)):
            raise ValueError(f"order: must be a permutation of 0..{d * d - 1}, got {order}")
        position = jnp.asarray(np.argsort(order))  # position of each entry in the order
    entries = jnp.stack(jnp.meshgrid(jnp.arange(d), jnp.arange(d), indexing="ij"), -1).reshape(
        -1, 2
    )

    def init_fn(key):
        return toys.matrix_factorization_init(key, d)

    def draw(key, n):
        return first_n_mask(n, d * d)[jnp.argsort(jax.random.permutation(key, d * d))]

    def sample_fn(key, cond):
        target, n = cond["target"], cond["n"]
        if order is not None:
            w = first_n_mask(n, d * d)[position]
        else:
            w = draw(key, n)
        if generic and order is None:
            need = jnp.minimum(n, _tangent_rank_on(target, jnp.ones(d * d)))
            key, w = jax.lax.while_loop(
                lambda c: _tangent_rank_on(target, c[1]) < need,
                lambda c: (jax.random.split(c[0])[0], draw(jax.random.split(c[0])[1], n)),
                (key, w),
            )
        return entries, target[entries[:, 0], entries[:, 1]], w

    def test_error_fn(params, cond):
        return jnp.sum((params["A"] @ params["B"] - cond["target"]) ** 2) / jnp.sum(
            cond["target"] ** 2
        )

    return Task(masked_mse(toys.matrix_factorization_apply), init_fn, sample_fn, test_error_fn)


def neuron_task(width: int, n_max: int, x_test: jax.Array, neuron=(1.0, 1.0, 1.0)) -> Task:
    """The authors' width experiment (Fig 10.3's width question on the smallest target): fit one
    tanh neuron f*(x) = a tanh(w x + b) (``neuron = (a, w, b)``, default tanh(x + 1)) with a
    two-layer tanh net with bias of ``width`` neurons, f = sum_j a_j tanh(w_j x + b_j)
    (:mod:`phasekit.models.two_layer`, 1-D input), from n of ``n_max`` inputs x ~ N(0, 1); test
    error relative: mean (f - f*)^2 / mean f*^2 on x_test. Its optimistic size is
    k (d + 2) = 3 (one neuron, d = 1 raw input plus the bias) at every width
    (:func:`phasekit.theory.optimistic.two_layer`).

    Args:
      width: neurons of the student (>= 1); n_max: the largest n; x_test: [n_test, 1];
      neuron: (a, w, b) of the target.
    Returns:
      :class:`Task`.
    """
    from phasekit.models import two_layer

    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width: must be a positive integer, got {width!r}")
    a, w, b = (float(v) for v in neuron)
    return regression_task(
        lambda p, x: two_layer.apply(p, x, "tanh"),
        lambda k: two_layer.init(k, width, 1, bias=True),
        lambda x, c: a * jnp.tanh(w * x[:, 0] + b),
        lambda k, n: jax.random.normal(k, (n, 1)),
        n_max,
        x_test,
        relative=True,
    )


def recovered_fraction(errors, threshold: float, axis: int = -1):
    """Fraction of runs along ``axis`` (seeds) whose test error is <= threshold (NaN counts as not).

    Args:
      errors: test errors with the seed axis at ``axis``; threshold: the recovery level.
    Returns:
      ``errors``' shape without ``axis``.
    """
    errors = np.asarray(errors, dtype=float)
    return np.mean(np.nan_to_num(errors, nan=np.inf) <= threshold, axis=axis)


def transition(n_values, errors, threshold: float):
    """Empirical recovery threshold: the smallest n from which the error stays <= threshold.

    ``n_values``: [K] increasing sample sizes; ``errors``: [..., K] (e.g. mean over seeds).
    Returns [...] (float; nan where the error never settles below the threshold).
    """
    n_values, errors = np.asarray(n_values), np.asarray(errors, dtype=float)
    ok = np.flip(np.logical_and.accumulate(np.flip(errors <= threshold, -1), -1), -1)
    first = np.argmax(ok, -1)
    return np.where(ok.any(-1), n_values[first].astype(float), np.nan)
