"""One training run as one traced program: ``lax.scan`` over record points, ``while_loop`` between.

    params_{s+1} = params_s + optimizer.update(grad L(params_s; batch_s))

Any optax optimizer (``optax.sgd`` for full-batch GD, minibatch SGD with ``batch_size``,
``optax.adam``, schedules). Observables are evaluated only at the record steps (log-spaced
by default), so memory is O(records), not O(steps). A run stops early when its loss falls to
``stop_loss`` (absolute) or ``stop_rel_loss * L(params_0)``; a run whose loss or gradient
becomes NaN/inf is flagged ``diverged`` and frozen at its last finite parameters. Stopped
runs keep their final values in later records.

:func:`run` is a pure function of arrays: wrap it in ``jax.jit`` and ``jax.vmap`` over seeds,
init scales and learning rates (an ``optax.sgd(lr)`` built from a traced ``lr`` is fine):

    >>> def one(key, lr):
    ...     p = two_layer.init(key, width=100, input_dim=1)
    ...     return train.run(loss, p, data, optax.sgd(lr), steps=1000)
    >>> traj = jax.jit(jax.vmap(one))(keys, lrs)          # traj.loss: [runs, records]

``loss_fn(params, batch) -> scalar`` (or ``loss_fn(params, batch, key)`` with
``loss_takes_key=True``, e.g. for dropout); ``data`` is a pytree whose leaves share a leading
sample axis ``n``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from phasekit import losses
from phasekit.typing import Data, Params  # noqa: F401  (re-exported: train.Params, train.Data)

__all__ = [
    "DIVERGE_FACTOR",
    "OPTIMIZERS",
    "Resumable",
    "RunState",
    "StackState",
    "Trajectory",
    "accuracy",
    "check_xy",
    "cross_entropy",
    "mse",
    "optimizer",
    "record_steps",
    "resumable",
    "run",
    "stacked",
]


class Trajectory(NamedTuple):
    """Result of :func:`run` (a pytree: vmapped runs stack along a leading axis).

    step:        [R] record steps (number of updates done before the record)
    loss:        [R] full-data loss at each record (frozen once the run stopped)
    observables: dict name -> [R, ...] values of ``observe(params)`` at each record
    params:      final parameters
    n_steps:     number of updates actually taken
    loss0:       L(params_0)
    converged:   the stop-loss rule fired
    diverged:    NaN/inf met; params are the last finite ones
    """

    step: jax.Array
    loss: jax.Array
    observables: dict
    params: Params
    n_steps: jax.Array
    loss0: jax.Array
    converged: jax.Array
    diverged: jax.Array

    @property
    def hit_cap(self):
        """Runs that used the whole step budget without converging or diverging."""
        return ~self.converged & ~self.diverged


def record_steps(steps: int, n_records: int = 100, schedule: str = "log") -> np.ndarray:
    """Sorted unique record steps in [0, steps], always including 0 and ``steps``.

    ``schedule``: "log" (log-spaced, the default: dynamics of the book span decades) or
    "linear" (every ``steps / (n_records - 1)`` steps, e.g. sharpness every k steps).
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps: must be a non-negative integer, got {steps!r}")
    if isinstance(n_records, bool) or not isinstance(n_records, (int, np.integer)) or n_records < 2:
        raise ValueError(f"n_records: must be an integer >= 2, got {n_records!r}")
    if schedule == "log":
        s = np.logspace(0, np.log10(max(steps, 1)), n_records - 1)
    elif schedule == "linear":
        s = np.linspace(0, steps, n_records)
    else:
        raise ValueError(f"schedule: 'log' or 'linear', got {schedule!r}")
    return np.unique(np.concatenate([[0], np.round(s).astype(np.int64), [steps]])).astype(np.int32)


DIVERGE_FACTOR = 1e6


def _check_descent(optimizer, params):
    """Refuse an optimizer whose first step does not descend: the update of a unit gradient
    must point downhill (learning rate > 0), however the optimizer was built. Skipped when the
    parameters or the learning rate are traced (under vmap/jit), where no value is known."""
    try:
        with jax.ensure_compile_time_eval():
            ones = jax.tree_util.tree_map(jnp.ones_like, params)
            upd, _ = optimizer.update(ones, optimizer.init(params), params)
            total = sum(jnp.sum(u) for u in jax.tree_util.tree_leaves(upd))
            value = float(total)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError, TypeError):
        return
    if not np.isfinite(value) or value >= 0:
        raise ValueError(
            f"optimizer: its first update of a unit gradient does not descend "
            f"(sum {value:g}); the learning rate must be > 0"
        )


def _all_finite(tree) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _validate_data(data):
    sizes = {np.shape(x)[0] if np.ndim(x) else None for x in jax.tree_util.tree_leaves(data)}
    if None in sizes or len(sizes) != 1:
        raise ValueError(
            f"data: all leaves (e.g. x and y) need the same number of samples "
            f"along axis 0, got sizes {sorted(sizes, key=str)}"
        )
    n = sizes.pop()
    if n == 0:
        raise ValueError("data: the data set is empty")
    for leaf in jax.tree_util.tree_leaves(data):
        if (
            not isinstance(leaf, jax.core.Tracer)
            and np.issubdtype(np.asarray(leaf).dtype, np.inexact)
            and not np.all(np.isfinite(np.asarray(leaf)))
        ):
            raise ValueError("data: contains NaN or inf")
    return n


class _State(NamedTuple):
    params: Params
    opt_state: Any
    step: jax.Array
    loss: jax.Array
    converged: jax.Array
    diverged: jax.Array
    key: jax.Array
    scale: jax.Array
    sane: Params  # the last parameters whose loss was finite and below the divergence limit


class RunState(NamedTuple):
    """A run in flight (a pytree: vmapped runs stack along a leading axis).

    train:   the optimizer's state (params, optimizer state, step, last loss, stop flags, key, ...)
    rec_i:   index of the next record to take (== number of records taken)
    losses:  [R] full-data loss at the records taken so far (zeros after rec_i)
    obs:     dict name -> [R, ...] observables at the records taken so far
    loss0:   L(params_0)
    done:    every record is taken: the run stopped (converged / diverged) or reached its last
             record step; :meth:`Resumable.advance` leaves a done run unchanged
    iters:   update computations done so far (``n_steps`` plus the one that found the stop)
    """

    train: _State
    rec_i: jax.Array
    losses: jax.Array
    obs: dict
    loss0: jax.Array
    done: jax.Array
    iters: jax.Array

    @property
    def n_steps(self):
        return self.train.step


class Resumable:
    """One training run as a resumable state (built by :func:`resumable`):

        state = r.init()              # records step 0
        state = r.advance(state, n)   # at most n more updates (one compiled while_loop)
        traj = r.finish(state)        # Trajectory, identical to train.run's

    ``advance`` stops at the run's own stop rule, so ``finish(advance(init(), steps))`` is
    :func:`run`, and any split of the steps into several ``advance`` calls gives the same bits
    (the loop carries everything: parameters, optimizer state, PRNG key, record buffers).
    Everything is traceable and vmappable over runs (``jax.vmap(r.advance)`` in a sweep).
    ``then(post)`` gives a Resumable whose ``finish`` returns ``post(trajectory)`` (e.g. a dict of
    a sweep point's outputs).
    """

    def __init__(self, init, advance, finish, steps: int):
        self.init, self.advance, self._finish, self.steps = init, advance, finish, steps

    def finish(self, state: RunState):
        return self._finish(state)

    def then(self, post: Callable) -> Resumable:
        return Resumable(self.init, self.advance, lambda s: post(self._finish(s)), self.steps)


def resumable(
    loss_fn: Callable,
    params: Params,
    data: Data,
    optimizer: optax.GradientTransformation,
    *,
    steps: int,
    n_records: int = 100,
    schedule: str = "log",
    record_at=None,
    observe: Callable[[Params], dict] | None = None,
    stop_loss=None,
    stop_rel_loss=None,
    batch_size: int | None = None,
    key=None,
    loss_takes_key: bool = False,
    lr_backoff=None,
    diverge_factor: float | None = DIVERGE_FACTOR,
) -> Resumable:
    """The run :func:`run` describes (same arguments), as a :class:`Resumable`.

    Args:
      loss_fn, params, data, optimizer, steps, n_records, schedule, record_at, observe, stop_loss,
        stop_rel_loss, batch_size, key, loss_takes_key, lr_backoff, diverge_factor: as in
        :func:`run`.
    Returns:
      :class:`Resumable`: ``r.finish(r.advance(r.init(), steps))`` is :func:`run`'s Trajectory.
    """
    if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps: must be a positive integer, got {steps!r}")
    n = _validate_data(data)
    if batch_size is not None and not (isinstance(batch_size, int) and 0 < batch_size <= n):
        raise ValueError(f"batch_size: must be an integer in [1, {n}], got {batch_size!r}")
    if lr_backoff is not None and not (isinstance(lr_backoff, (int, float)) and 0 < lr_backoff < 1):
        raise ValueError(f"lr_backoff: must be in (0, 1), got {lr_backoff!r}")
    if (batch_size is not None or loss_takes_key) and key is None:
        raise ValueError("key: a PRNG key is needed for minibatches / stochastic losses")
    rec = np.asarray(record_steps(steps, n_records, schedule) if record_at is None else record_at)
    if (
        rec.ndim != 1
        or rec.size == 0
        or rec.min() < 0
        or rec.max() > steps
        or np.any(np.diff(rec) <= 0)
    ):
        raise ValueError(f"record_at: need increasing steps in [0, {steps}], got {rec}")
    if diverge_factor is not None and not (
        isinstance(diverge_factor, (int, float)) and diverge_factor > 1
    ):
        raise ValueError(f"diverge_factor: must be a number > 1 or None, got {diverge_factor!r}")
    _check_descent(optimizer, params)
    observe = observe or (lambda p: {})
    key = jax.random.key(0) if key is None else key
    n_rec = rec.size
    rec_steps = jnp.asarray(rec, jnp.int32)

    def batch_loss(p, batch, k):
        return loss_fn(p, batch, k) if loss_takes_key else loss_fn(p, batch)

    def full_loss(p, k):
        return batch_loss(p, data, k)

    def thresholds(loss0):
        threshold = jnp.asarray(-jnp.inf, loss0.dtype)
        if stop_loss is not None:
            threshold = jnp.maximum(threshold, stop_loss)
        if stop_rel_loss is not None:
            threshold = jnp.maximum(threshold, stop_rel_loss * loss0)
        limit = jnp.asarray(jnp.inf, loss0.dtype)
        if diverge_factor is not None:
            limit = jnp.where(loss0 > 0, diverge_factor * loss0, limit)
        return threshold, limit

    def one_step(s: _State, threshold, limit) -> _State:
        if batch_size is None and not loss_takes_key:
            # no randomness: the key rides along unchanged (a split per step costs ~10% of a
            # small step when the state is carried on, e.g. between continuous-batching blocks)
            key = k_batch = k_loss = s.key
        else:
            key, k_batch, k_loss = jax.random.split(s.key, 3)
        batch = data
        if batch_size is not None:
            idx = jax.random.choice(k_batch, n, (batch_size,), replace=False)
            batch = jax.tree_util.tree_map(lambda a: a[idx], data)
        loss, grads = jax.value_and_grad(batch_loss)(s.params, batch, k_loss)
        sane = jnp.isfinite(loss) & (loss <= limit)
        last_sane = jax.tree_util.tree_map(lambda a, b: jnp.where(sane, a, b), s.params, s.sane)
        bad = ~(sane & _all_finite(grads))
        converged = ~bad & (loss <= threshold)
        scale = s.scale
        if lr_backoff is not None:
            scale = jnp.where(loss > s.loss, scale * lr_backoff, scale)
        updates, opt_state = optimizer.update(grads, s.opt_state, s.params)
        updates = jax.tree_util.tree_map(lambda u: scale.astype(u.dtype) * u, updates)
        new_params = optax.apply_updates(s.params, updates)
        bad = bad | ~_all_finite(new_params)
        move = ~(bad | converged)
        keep = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(move, a, b), new, old)
        return _State(
            keep(new_params, s.params),
            keep(opt_state, s.opt_state),
            s.step + move.astype(s.step.dtype),
            jnp.where(bad, s.loss, loss),
            converged,
            bad,
            key,
            scale,
            last_sane,
        )

    def due(r: RunState):
        """A record is due: the step reached the next record step, or the run stopped (then
        every remaining record holds the frozen run's values)."""
        s = r.train
        nxt = rec_steps[jnp.minimum(r.rec_i, n_rec - 1)]
        return (r.rec_i < n_rec) & ((s.step >= nxt) | s.converged | s.diverged)

    def take_record(r: RunState) -> RunState:
        s = r.train
        # The record's work (full-data loss, observables) depends only on values this
        # while_loop leaves unchanged, so XLA's loop-invariant code motion hoists it out, into
        # the step loop, where it ran at EVERY step (1.3 s instead of 11 ms per step for the
        # anchor Transformer's 20k-sequence record). Tying the parameters to the loop-carried
        # record counter through an optimization barrier keeps it inside.
        params, _ = jax.lax.optimization_barrier((s.params, r.rec_i))
        value = (full_loss(params, s.key), observe(params))
        stopped = s.converged | s.diverged
        slots = jnp.arange(n_rec)
        # a stopped run's remaining records are all equal (same frozen state): write them at once
        hit = jnp.where(stopped, slots >= r.rec_i, slots == r.rec_i)
        put = lambda buf, v: jnp.where(hit.reshape((n_rec,) + (1,) * (buf.ndim - 1)), v, buf)
        losses = put(r.losses, value[0])
        obs = jax.tree_util.tree_map(put, r.obs, value[1])  # observables may be pytrees (params)
        rec_i = jnp.where(stopped, n_rec, r.rec_i + 1).astype(r.rec_i.dtype)
        return r._replace(rec_i=rec_i, losses=losses, obs=obs, done=rec_i >= n_rec)

    def record_if_due(r: RunState) -> RunState:
        # a while_loop run at most once rather than lax.cond: under vmap its body executes only
        # when some lane has a record due (a batched cond would evaluate the record every step)
        return jax.lax.while_loop(due, take_record, r)

    def init() -> RunState:
        loss0 = full_loss(params, key)
        s0 = _State(
            params,
            optimizer.init(params),
            jnp.zeros((), jnp.int32),
            loss0,
            jnp.zeros((), bool),
            ~jnp.isfinite(loss0),
            key,
            jnp.ones((), loss0.dtype),
            params,
        )
        obs_shape = jax.eval_shape(lambda: observe(params))
        obs = jax.tree_util.tree_map(lambda v: jnp.zeros((n_rec,) + v.shape, v.dtype), obs_shape)
        r = RunState(
            s0,
            jnp.zeros((), jnp.int32),
            jnp.zeros((n_rec,), loss0.dtype),
            obs,
            loss0,
            jnp.zeros((), bool),
            jnp.zeros((), jnp.int32),
        )
        return record_if_due(r)

    def advance(r: RunState, n) -> RunState:
        """At most ``n`` more update computations (traced; <= 0: no-op); a done run is unchanged."""
        threshold, limit = thresholds(r.loss0)
        stop_at = r.iters + jnp.maximum(jnp.asarray(n, r.iters.dtype), 0)

        def body(r):
            r = r._replace(train=one_step(r.train, threshold, limit), iters=r.iters + 1)
            return record_if_due(r)

        return jax.lax.while_loop(lambda r: ~r.done & (r.iters < stop_at), body, r)

    def finish(r: RunState) -> Trajectory:
        s = r.train
        final = jax.tree_util.tree_map(lambda a, b: jnp.where(s.diverged, b, a), s.params, s.sane)
        return Trajectory(
            jnp.asarray(rec), r.losses, r.obs, final, s.step, r.loss0, s.converged, s.diverged
        )

    return Resumable(init, advance, finish, int(rec.max()))


class StackState(NamedTuple):
    """The state of :func:`stacked`: ``runs`` (stacked states), ``done`` (all of them) and
    ``iters`` (the most update computations of any: vmapped runs step together)."""

    runs: Any
    done: jax.Array
    iters: jax.Array


def stacked(make: Callable[..., Resumable], *args, steps: int) -> Resumable:
    """Several runs as one resumable run: ``make(*a)`` for each slice of ``args`` along their
    leading axis (e.g. one point of a sweep trained at every learning rate of a grid), vmapped.
    Done when every run is; ``finish`` gives the stacked outputs of each run's ``finish``.
    ``steps``: the most update computations any run needs (its step budget)."""

    def pack(runs):
        return StackState(runs, jnp.all(runs.done), jnp.max(runs.iters))

    def init():
        return pack(jax.vmap(lambda *a: make(*a).init())(*args))

    def advance(st: StackState, n) -> StackState:
        return pack(jax.vmap(lambda s, *a: make(*a).advance(s, n))(st.runs, *args))

    def finish(st: StackState):
        return jax.vmap(lambda s, *a: make(*a).finish(s))(st.runs, *args)

    return Resumable(init, advance, finish, steps)


def run(
    loss_fn: Callable,
    params: Params,
    data: Data,
    optimizer: optax.GradientTransformation,
    *,
    steps: int,
    n_records: int = 100,
    schedule: str = "log",
    record_at=None,
    observe: Callable[[Params], dict] | None = None,
    stop_loss=None,
    stop_rel_loss=None,
    batch_size: int | None = None,
    key=None,
    loss_takes_key: bool = False,
    lr_backoff=None,
    diverge_factor: float | None = DIVERGE_FACTOR,
) -> Trajectory:
    """Train ``params`` for at most ``steps`` updates; see the module docstring.

    Args:
      loss_fn: ``(params, batch) -> scalar`` (``(params, batch, key)`` if ``loss_takes_key``).
      params: initial parameters (pytree).
      data: pytree with a shared leading sample axis; the whole of it is one full batch.
      optimizer: an optax GradientTransformation.
      steps: step budget (static).
      n_records, schedule, record_at: where to record (``record_at``: explicit steps).
      observe: ``params -> dict of arrays`` evaluated at every record.
      stop_loss / stop_rel_loss: stop when L <= stop_loss or L <= stop_rel_loss * L(params_0)
        (may be traced). Checked on the step's (full- or mini-batch) loss.
      batch_size: minibatch SGD: each step draws ``batch_size`` samples without replacement.
      key: PRNG key for minibatches and ``loss_takes_key`` losses.
      lr_backoff: the original authors' safeguard: whenever a step's loss is higher than the
        previous step's, multiply all later updates by this factor (e.g. 0.5). None: off.
      diverge_factor: a run whose loss exceeds ``diverge_factor * L(params_0)`` is flagged
        ``diverged`` like a NaN run (a blow-up that does not reach inf, e.g. ReLU nets at a huge
        lr whose neurons all die and whose loss then settles above its initial value, is not a
        slow run), and its returned params are the last ones whose loss was below the limit.
        Default 1e6; None: only NaN/inf count.
    Returns:
      :class:`Trajectory`. The same as ``r.finish(r.advance(r.init(), steps))`` with
      ``r = resumable(...)`` (the same arguments): a run never needs more than ``steps``
      update computations (the one that finds the stop included).
    """
    r = resumable(
        loss_fn,
        params,
        data,
        optimizer,
        steps=steps,
        n_records=n_records,
        schedule=schedule,
        record_at=record_at,
        observe=observe,
        stop_loss=stop_loss,
        stop_rel_loss=stop_rel_loss,
        batch_size=batch_size,
        key=key,
        loss_takes_key=loss_takes_key,
        lr_backoff=lr_backoff,
        diverge_factor=diverge_factor,
    )
    return r.finish(r.advance(r.init(), steps))


def mse(apply_fn: Callable, **apply_kwargs) -> Callable:
    """The spec's loss R_S = 1/(2n) sum_i |f(x_i) - y_i|^2 on ``data = (x, y)``.

    Args:
      apply_fn: the model's forward pass ``apply(params, x, **apply_kwargs) -> f [n, k]`` (or [n]).
      **apply_kwargs: static arguments passed to every ``apply_fn`` call.
    Returns:
      ``loss(params, (x [n, d], y [n, k])) -> scalar`` (:class:`phasekit.typing.LossFn`), the body
      :func:`phasekit.losses.squared_error`.
    """

    def loss(params, data):
        x, y = check_xy(*data)
        return losses.squared_error(apply_fn(params, x, **apply_kwargs), y)

    return loss


def cross_entropy(apply_fn: Callable, **apply_kwargs) -> Callable:
    """Softmax cross-entropy R_S = (1/n) sum_i -log softmax(f(x_i))_{y_i} on ``data = (x, y)``.

    ``y``: integer labels [n] or one-hot / probability targets [n, k]; ``apply_fn(params, x)``
    returns logits [n, k]. The same convention as :func:`mse`: ``loss(params, data) -> scalar``.

    Args:
      apply_fn: the model's forward pass ``apply(params, x, **apply_kwargs) -> logits [n, k]``.
      **apply_kwargs: static arguments passed to every ``apply_fn`` call.
    Returns:
      ``loss(params, (x, y)) -> scalar``, y integer labels [n] or one-hot / soft targets [n, k]
      (:func:`phasekit.losses.cross_entropy`).
    """

    def loss(params, data):
        x, y = check_xy(*data)
        return losses.cross_entropy(apply_fn(params, x, **apply_kwargs), y)

    return loss


def accuracy(apply_fn: Callable, x, y, **apply_kwargs) -> Callable:
    """Observer ``params -> {"accuracy": fraction of argmax f(x_i) == label_i}`` for
    :func:`run`'s ``observe`` (``y``: integer labels [n] or one-hot [n, k]).

    Args:
      apply_fn: the model's forward pass ``apply(params, x, **apply_kwargs) -> logits [n, k]``.
      x: inputs [n, ...]; y: labels [n] (integer) or [n, k] (one-hot, compared by argmax).
    Returns:
      ``observe(params) -> {"accuracy": scalar in [0, 1]}``.
    """
    labels = jnp.argmax(y, -1) if jnp.ndim(y) == 2 else jnp.asarray(y)

    def observe(params):
        pred = jnp.argmax(apply_fn(params, x, **apply_kwargs), -1)
        return {"accuracy": jnp.mean(pred == labels)}

    return observe


def check_xy(x, y):
    """Validate a supervised data set: x [n, ...] and y [n, ...] with the same n."""
    if np.ndim(x) < 1 or np.ndim(y) < 1 or np.shape(x)[0] != np.shape(y)[0]:
        raise ValueError(f"y: need as many samples as x, got x {np.shape(x)} and y {np.shape(y)}")
    if np.shape(x)[0] == 0:
        raise ValueError("x: the data set is empty")
    for name, v in (("x", x), ("y", y)):
        if (
            not isinstance(v, jax.core.Tracer)
            and np.issubdtype(np.asarray(v).dtype, np.inexact)
            and not np.all(np.isfinite(np.asarray(v)))
        ):
            raise ValueError(f"{name}: contains NaN or inf")
    return x, y


OPTIMIZERS = ("gd", "sgd", "momentum", "adam")


def optimizer(name: str = "gd", lr=1e-3, **kwargs) -> optax.GradientTransformation:
    """An optax optimizer by name, with ``lr`` validated when it is a concrete number.

    gd / sgd: plain gradient steps (full batch or with ``batch_size`` in :func:`run`);
    momentum: heavy ball (``momentum=0.9``); adam: ``optax.adam``.
    """
    if not isinstance(lr, jax.core.Tracer) and not callable(lr) and not np.all(np.asarray(lr) > 0):
        raise ValueError(f"lr: learning rate must be > 0, got {lr!r}")
    if name in ("gd", "sgd"):
        return optax.sgd(lr)
    if name == "momentum":
        return optax.sgd(lr, momentum=kwargs.pop("momentum", 0.9), **kwargs)
    if name == "adam":
        return optax.adam(lr, **kwargs)
    raise ValueError(f"optimizer: unknown {name!r}; known: {', '.join(OPTIMIZERS)}")
