"""The recovery experiment of book ch. 10: can GD from small init fit f* from n samples?

For every (condition, init std, seed, lr): draw a training set and a unit-scale init from the
seed, scale the init by ``std``, train with full-batch GD (:func:`phasekit.dynamics.train.run`)
and measure the test error of the final parameters. For each (condition, std, seed) the best
learning rate of the grid is kept (the book tunes lr per run; ``select="test"`` keeps the lowest
test error, ``select="train"`` the lowest final training loss). The whole grid is one
``jax.jit(jax.vmap(...))``: conditions (targets x sample sizes), init stds, seeds and lrs.

Sample sizes vary without recompiling through a weight mask: data are ``(x, y, w)`` with
``x: [n_max, ...]`` and ``w`` = 1 on the first n samples, 0 elsewhere, and
:func:`masked_mse` = 1/(2n) sum_i w_i |f(x_i) - y_i|^2.

The optimistic-estimate claim: with small init and a tuned lr the test error drops at
n = R(f*) (the optimistic sample size), not at n = M.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from phasekit.dynamics import train


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
    """Loss on data (x, y, w): 1/(2 sum w) sum_i w_i |f(x_i) - y_i|^2 (the book's MSE on the n kept samples)."""

    def loss(params, data):
        x, y, w = data
        r = apply_fn(params, x, **apply_kwargs) - y
        return 0.5 * jnp.sum(w * r**2) / jnp.maximum(jnp.sum(w), 1.0)

    return loss


def recovery(loss_fn: Callable, init_fn: Callable, sample_fn: Callable, test_error_fn: Callable, *,
             init_stds, lrs, n_seeds: int, steps: int, key, conditions=None, stop_loss=None,
             select: str = "test") -> Recovery:
    """Train from ``std * init_fn(key)`` with GD on every grid point; keep the best lr.

    Args:
      loss_fn: ``(params, data) -> scalar`` (e.g. :func:`masked_mse`).
      init_fn: ``key -> params`` at unit scale.
      sample_fn: ``(key, condition) -> data`` (``key -> data`` without ``conditions``).
      test_error_fn: ``(params, condition) -> scalar`` (``params -> scalar`` without conditions).
      init_stds: [S] init scales (std, not variance).
      lrs: [L] learning-rate grid of plain GD.
      n_seeds: seeds; seed s uses ``fold_in(key, s)`` for its data and init direction, shared
        by all stds and lrs (common random numbers).
      steps: GD step budget.
      conditions: optional pytree with leading axis C (e.g. ``{"target": [C, ...], "n": [C]}``).
      stop_loss: stop a run once its training loss is <= stop_loss.
      select: "test" (lowest test error, the book) or "train" (lowest final training loss).
    Returns:
      :class:`Recovery`.
    """
    if select not in ("test", "train"):
        raise ValueError(f"select: 'test' or 'train', got {select!r}")
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise ValueError(f"n_seeds: must be a positive integer, got {n_seeds!r}")
    init_stds = jnp.atleast_1d(jnp.asarray(init_stds, jnp.float32))
    lrs = jnp.atleast_1d(jnp.asarray(lrs, jnp.float32))
    if not bool(jnp.all(lrs > 0)):
        raise ValueError(f"lrs: learning rates must be > 0, got {lrs}")
    if not bool(jnp.all(init_stds >= 0)):
        raise ValueError(f"init_stds: must be >= 0, got {init_stds}")
    seeds = jax.vmap(lambda s: jax.random.fold_in(key, s))(jnp.arange(n_seeds))

    def one(cond, std, seed_key, lr):
        k_data, k_init = jax.random.split(seed_key)
        data = sample_fn(k_data, cond) if conditions is not None else sample_fn(k_data)
        params = jax.tree_util.tree_map(lambda p: std * p, init_fn(k_init))
        traj = train.run(loss_fn, params, data, optax.sgd(lr), steps=steps, n_records=2,
                         stop_loss=stop_loss)
        err = test_error_fn(traj.params, cond) if conditions is not None else test_error_fn(traj.params)
        return err, traj.loss[-1], traj.diverged

    f = jax.vmap(one, (None, None, None, 0))          # lrs
    f = jax.vmap(f, (None, None, 0, None))            # seeds
    f = jax.vmap(f, (None, 0, None, None))            # init stds
    if conditions is not None:
        f = jax.vmap(f, (0, None, None, None))        # conditions
    err, loss, diverged = jax.jit(f)(conditions, init_stds, seeds, lrs)

    bad = diverged | ~jnp.isfinite(err) | ~jnp.isfinite(loss)
    score = jnp.where(bad, jnp.inf, err if select == "test" else loss)
    best = jnp.argmin(score, axis=-1)
    pick = lambda a: jnp.take_along_axis(a, best[..., None], axis=-1)[..., 0]
    none_ok = jnp.all(bad, axis=-1)
    nan = lambda a: jnp.where(none_ok, jnp.nan, a)
    return Recovery(nan(pick(err)), nan(pick(loss)), nan(lrs[best]), err, loss, diverged)


# ---- the book's tasks, ready for :func:`recovery` ---------------------------------------

class Task(NamedTuple):
    """The four functions :func:`recovery` needs; conditions are dicts with an ``"n"`` entry."""

    loss_fn: Callable
    init_fn: Callable
    sample_fn: Callable
    test_error_fn: Callable


def regression_task(apply_fn: Callable, init_fn: Callable, target_fn: Callable, sample_x: Callable,
                    n_max: int, x_test: jax.Array, relative: bool = False) -> Task:
    """Fit y = f*(x) from the first n of n_max sampled inputs; test error = mean (f - f*)^2 on x_test
    (divided by mean f*^2 with ``relative=True``).

    ``target_fn(x, condition) -> [n]`` (e.g. reads ``condition["coef"]``), ``sample_x(key, n_max)
    -> [n_max, d]``; conditions carry ``"n"`` (samples used) plus what ``target_fn`` reads.
    """

    def sample_fn(key, cond):
        x = sample_x(key, n_max)
        return x, target_fn(x, cond), first_n_mask(cond["n"], n_max)

    def test_error_fn(params, cond):
        y = target_fn(x_test, cond)
        err = jnp.mean((apply_fn(params, x_test) - y) ** 2)
        return err / jnp.mean(y**2) if relative else err

    return Task(masked_mse(apply_fn), init_fn, sample_fn, test_error_fn)


def low_rank_matrices(key, d: int, ranks) -> jax.Array:
    """Rank-r targets M* = sqrt(d^2 / r) U V^T with U, V in R^{d x r} Haar-orthonormal:
    r equal singular values and mean(M*^2) = 1.  Returns [len(ranks), d, d]."""
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
    keep = S > 1e-4 * S[0]            # float32: the target has a clear gap by construction
    root = jnp.where(keep, jnp.sqrt(S), 0.0)
    A, B = U * root, root[:, None] * Vt
    eye = jnp.eye(d, dtype=target.dtype)
    jA = jnp.einsum("ik,lj->ijkl", eye, B).reshape(d * d, -1)     # d(AB)_ij / dA_kl
    jB = jnp.einsum("ik,lj->ijkl", A, eye).reshape(d * d, -1)     # d(AB)_ij / dB_kl
    s = jnp.linalg.svd(jnp.concatenate([jA, jB], 1) * w[:, None], compute_uv=False)
    return jnp.sum(s > 1e-4 * s[0])


def matrix_completion_task(d: int, generic: bool = True) -> Task:
    """Matrix completion with f = (A B)_{ij}, A, B in R^{d x d} (book Fig 10.2).

    Conditions: ``{"target": [d, d], "n": int}``. Each seed observes n entries drawn without
    replacement; test error = ||A B - M*||_F^2 / ||M*||_F^2 (distance to the target).

    ``generic=True`` draws the observed set uniformly among the sets whose tangent functions at
    the optimistic point are as independent as they can be (rank min(n, 2rd - r^2)), by
    rejection: the discrete analogue of "n generic sample points" that the optimistic estimate
    assumes (a random 7-entry set of a 4 x 4 rank-1 matrix misses a row or column 64% of the
    time, and then no method can recover it). ``generic=False``: plain uniform draws.
    """
    from phasekit.models import toys

    entries = jnp.stack(jnp.meshgrid(jnp.arange(d), jnp.arange(d), indexing="ij"), -1).reshape(-1, 2)

    def init_fn(key):
        return toys.matrix_factorization_init(key, d)

    def draw(key, n):
        return first_n_mask(n, d * d)[jnp.argsort(jax.random.permutation(key, d * d))]

    def sample_fn(key, cond):
        target, n = cond["target"], cond["n"]
        w = draw(key, n)
        if generic:
            need = jnp.minimum(n, _tangent_rank_on(target, jnp.ones(d * d)))
            key, w = jax.lax.while_loop(
                lambda c: _tangent_rank_on(target, c[1]) < need,
                lambda c: (jax.random.split(c[0])[0], draw(jax.random.split(c[0])[1], n)), (key, w))
        return entries, target[entries[:, 0], entries[:, 1]], w

    def test_error_fn(params, cond):
        return jnp.sum((params["A"] @ params["B"] - cond["target"]) ** 2) / jnp.sum(cond["target"] ** 2)

    return Task(masked_mse(toys.matrix_factorization_apply), init_fn, sample_fn, test_error_fn)


def transition(n_values, errors, threshold: float):
    """Empirical recovery threshold: the smallest n from which the error stays <= threshold.

    ``n_values``: [K] increasing sample sizes; ``errors``: [..., K] (e.g. mean over seeds).
    Returns [...] (float; nan where the error never settles below the threshold).
    """
    n_values, errors = np.asarray(n_values), np.asarray(errors, dtype=float)
    ok = np.flip(np.logical_and.accumulate(np.flip(errors <= threshold, -1), -1), -1)
    first = np.argmax(ok, -1)
    return np.where(ok.any(-1), n_values[first].astype(float), np.nan)
