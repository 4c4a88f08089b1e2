"""Hyperparameter search on the vmapped engine (spec 07, "Hyperparameter search").

A search space is a dict ``name -> (low, high, log)``; a trial is a point of it, mapped to and
from the unit cube [0, 1]^d (log dimensions uniform in log). A trial runs through
``make(point, key) -> Resumable`` (``train.resumable(...).then(post)``, ``post`` returning a dict
with the trial's ``"val_loss"``), so

- grid and random search are one compiled program per batch of trials (:func:`evaluate`: a
  ``jax.vmap`` over the trials of ``make``'s whole run; the point's values are traced);
- successive halving and Hyperband (Jamieson & Talwalkar 2016; Li et al. 2018) run on the lanes
  of continuous batching (:class:`phasekit.dynamics.sweep.LanePrograms`: one compiled round,
  shapes never change): n configurations start with budget r; when a rung is complete its best
  floor(n_k / eta) (at least 1) are promoted to budget eta r_k and *continue from their saved
  state* (warm start: a promotion costs only the extra steps). A lane whose run reached its
  budget is refilled at once with the next waiting item of any bracket (:func:`halving`), so no
  lane idles while a configuration waits;
- a Bayesian search by batch GP-UCB (Srinivas et al. 2010) with scikit-learn's
  ``GaussianProcessRegressor`` as the surrogate (:class:`GPUCB`: ask a batch, tell the results;
  the batch is filled by the "kriging believer" rule: each pick is added with its predicted mean
  as a pseudo-observation before the next). optuna's TPE would slot in the same way (ask a batch,
  one vmapped program, tell) but optuna is not installed here.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from phasekit.dynamics import sweep

__all__ = [
    "Capped",
    "GPUCB",
    "Halving",
    "check_space",
    "evaluate",
    "from_unit",
    "grid",
    "halving",
    "hyperband_brackets",
    "random",
    "rung_budgets",
    "to_unit",
    "trial_keys",
]

Space = Mapping[str, tuple]  # name -> (low, high, log)


def check_space(space: Space) -> dict:
    """Validate a search space ``{name: (low, high, log)}``: finite low < high, low > 0 on log
    dimensions (ValueError naming the dimension otherwise).

    Returns:
        ``{name: (float low, float high, bool log)}`` in the order of ``space``.
    """
    out = {}
    for name, dim in space.items():
        low, high, log = dim
        if not (np.isfinite(low) and np.isfinite(high) and high > low and (not log or low > 0)):
            raise ValueError(f"space: {name} needs finite low < high (> 0 when log), got {dim!r}")
        out[name] = (float(low), float(high), bool(log))
    return out


def from_unit(space: Space, u) -> dict:
    """Unit-cube points ``u [n, d]`` (columns in the order of ``space``) -> {name: [n]}."""
    u = np.asarray(u, float)
    out = {}
    for j, (name, (low, high, log)) in enumerate(check_space(space).items()):
        out[name] = (
            np.exp(np.log(low) + u[:, j] * np.log(high / low))
            if log
            else low + u[:, j] * (high - low)
        )
    return out


def to_unit(space: Space, points: Mapping) -> np.ndarray:
    """{name: [n]} -> unit-cube points [n, d].

    Args:
      space: {name: (low, high, log)}; points: {name: [n]} (every name of ``space``).
    """
    cols = []
    for name, (low, high, log) in check_space(space).items():
        v = np.asarray(points[name], float)
        cols.append(np.log(v / low) / np.log(high / low) if log else (v - low) / (high - low))
    return np.stack(cols, -1)


def grid(space: Space, per_dim: int) -> dict:
    """The full grid with ``per_dim`` values per dimension (cell centres of the unit cube, so a
    grid never sits on the edges): per_dim^d points, {name: [per_dim^d]}.

    Args:
      space: {name: (low, high, log)}; per_dim: values per dimension.
    """
    c = (np.arange(per_dim) + 0.5) / per_dim
    u = np.stack(np.meshgrid(*[c] * len(space), indexing="ij"), -1).reshape(-1, len(space))
    return from_unit(space, u)


def random(space: Space, n: int, seed: int) -> dict:
    """``n`` points drawn uniformly from the unit cube (log-uniform on log dimensions).

    Args:
      space: {name: (low, high, log)}; n: the number of points; seed: numpy generator seed.
    Returns:
      {name: [n]}.
    """
    return from_unit(space, np.random.default_rng(seed).random((n, len(space))))


def trial_keys(base_seed: int, n: int) -> jax.Array:
    """One PRNG key per trial: fold_in(key(base_seed), i).

    Args:
      base_seed: the base key's seed; n: the number of trials.
    Returns:
      [n] PRNG keys.
    """
    return jax.vmap(lambda i: jax.random.fold_in(jax.random.key(base_seed), i))(jnp.arange(n))


def _plain(make):
    def one(point, key):
        r = make(point, key)
        return r.finish(r.advance(r.init(), r.steps))

    return one


_PROGRAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # make -> its compiled programs


def _programs(make) -> dict:
    if make not in _PROGRAMS:
        one = _plain(make)
        _PROGRAMS[make] = {
            "vmap": jax.jit(jax.vmap(one)),
            "map": jax.jit(lambda p, k: jax.lax.map(lambda a: one(*a), (p, k))),
        }
    return _PROGRAMS[make]


def evaluate(make: Callable, points: Mapping, keys, vectorize: bool = True) -> dict:
    """Every trial of ``points {name: [n]}`` run to its end as ONE compiled program (``jax.vmap``,
    or ``lax.map`` with ``vectorize=False``): {output: [n, ...]} of ``make``'s finish. The program
    is compiled once per ``make`` and batch shape (later batches of the same size reuse it).

    Args:
      make: ``make(point, key) -> Resumable`` (``.then(post)`` returning a dict).
      points: {name: [n]} trial values; keys: [n] PRNG keys (:func:`trial_keys`).
      vectorize: ``jax.vmap`` (True) or ``lax.map`` (False) over the trials.
    Returns:
      {output: [n, ...]} as numpy arrays.
    """
    pts = {k: jnp.asarray(v, jnp.float32) for k, v in points.items()}
    return jax.device_get(_programs(make)["vmap" if vectorize else "map"](pts, keys))


# ----------------------------------------------------------------------------- successive halving


class Capped:
    """A Resumable that stops at a traced step ``budget``: ``advance(s, n)`` takes at most
    min(n, budget - iters) steps. A capped run continued with a larger budget picks up where
    it stopped (its state carries everything)."""

    def __init__(self, r, budget):
        self._r, self.budget, self.steps = r, budget, r.steps
        self.init, self.finish = r.init, r.finish

    def advance(self, s, n):
        room = jnp.maximum(jnp.asarray(self.budget, s.iters.dtype) - s.iters, 0)
        return self._r.advance(s, jnp.minimum(jnp.asarray(n, s.iters.dtype), room))


def rung_budgets(min_steps: int, max_steps: int, eta: int) -> list[int]:
    """min_steps, eta min_steps, ..., up to max_steps (the last rung is max_steps)."""
    if not (isinstance(eta, int) and eta >= 2):
        raise ValueError(f"eta: an integer >= 2, got {eta!r}")
    if not (0 < min_steps <= max_steps):
        raise ValueError(f"min_steps: in [1, max_steps={max_steps}], got {min_steps!r}")
    out = [int(min_steps)]
    while out[-1] * eta < max_steps:
        out.append(out[-1] * eta)
    if out[-1] < max_steps:
        out.append(int(max_steps))
    return out


def hyperband_brackets(n_max: int, max_steps: int, eta: int) -> list[tuple[int, int]]:
    """Hyperband's brackets (n configs, min budget) for s = s_max, ..., 0 with s_max =
    floor(log_eta n_max) (Li et al. 2018): n_s = ceil((s_max + 1) eta^s / (s + 1)), r_s = max_steps eta^-s."""
    s_max = int(np.floor(np.log(n_max) / np.log(eta) + 1e-9))
    return [
        (int(np.ceil((s_max + 1) * eta**s / (s + 1))), max(1, int(max_steps // eta**s)))
        for s in range(s_max, -1, -1)
    ]


class Halving(NamedTuple):
    """Result of :func:`halving`.

    rungs:      per bracket, a list of rungs, each {"budget", "ids" [n_k], "val_loss" [n_k]}
    best_id:    the configuration with the lowest val_loss at its bracket's last rung (over brackets)
    best_loss:  its val_loss
    events:     [E, 3] (run-steps computed so far, config id, val_loss) at each finished rung item
    steps:      total run-steps computed (the search's budget)
    rounds:     [R, 3] per round (lanes busy, lanes, items still waiting once free lanes were filled)
    utilization: busy lane-steps / computed lane-steps
    """

    rungs: list
    best_id: int
    best_loss: float
    events: np.ndarray
    steps: int
    rounds: np.ndarray
    utilization: float


def halving(
    make: Callable,
    points: Mapping,
    keys,
    *,
    brackets,
    max_steps: int,
    eta: int = 3,
    lanes: int = 8,
    round_steps: int = 16,
    metric: str = "val_loss",
) -> Halving:
    """Successive halving over ``brackets`` [(config ids, min_steps), ...] sharing ``lanes`` lanes
    (one bracket: successive halving; :func:`hyperband_brackets`: Hyperband).

    ``make(point, key) -> Resumable`` (steps >= ``max_steps``); ``points {name: [n]}`` and ``keys
    [n]`` index every configuration. A rung keeps the best max(1, floor(n_k / eta)) by ``metric``
    (lowest) for the next budget; promoted runs continue from their saved state. Waiting items
    (first rungs of every bracket, then promotions as rungs complete) fill free lanes in order.

    Args:
      make: ``make(point, key) -> Resumable``; points: {name: [n]}; keys: [n] PRNG keys.
      brackets: [(config ids, min_steps), ...]; max_steps: the largest budget; eta: the
        reduction factor.
      lanes: runs advanced together; round_steps: steps per lane per round (a lane whose run
        reaches its budget is refilled after the round).
      metric: the finish output ranked (lowest first).
    Returns:
      :class:`Halving`.
    """
    pts = {k: np.asarray(v, np.float32) for k, v in points.items()}
    keys = jnp.asarray(keys)

    def fn(d, k):
        return Capped(make({n: d[n] for n in pts}, k), d["budget"])

    progs = _programs(make)
    if "lanes" not in progs:
        progs["lanes"] = sweep.LanePrograms(fn)
        # saved states live on the device, one slot per configuration: fixed shapes, compiled once
        progs["save"] = jax.jit(
            lambda bank, st, slot: jax.tree_util.tree_map(
                lambda b, a: b.at[slot].set(a, mode="drop"), bank, st
            )
        )
        progs["load"] = jax.jit(
            lambda bank, st, slot, use: jax.tree_util.tree_map(
                lambda b, a: jnp.where(
                    use.reshape((-1,) + (1,) * (a.ndim - 1)),
                    b[jnp.clip(slot, 0, b.shape[0] - 1)],
                    a,
                ),
                bank,
                st,
            )
        )
    lanes_prog = progs["lanes"]
    n_cfg = len(next(iter(pts.values())))
    plan = [(list(map(int, ids)), rung_budgets(int(r0), max_steps, eta)) for ids, r0 in brackets]
    rungs: list[list[dict[str, Any]]] = [
        [{"budget": b[0], "ids": list(ids), "val_loss": {}}] for ids, b in plan
    ]
    queue = [(bi, 0, c) for bi, (ids, _) in enumerate(plan) for c in ids]  # (bracket, rung, config)
    has_saved = np.zeros(n_cfg, bool)  # the bank holds this configuration's state
    lane_item: list[tuple[int, int, int] | None] = [None] * lanes  # (bracket, rung, config)
    budget = np.zeros(lanes, np.int32)
    cfg_of = np.zeros(lanes, np.int64)
    events, rounds = [], []
    steps_done = busy_steps = lane_steps = 0
    state = bank = None

    def put_args():
        d = {n: jnp.asarray(v[cfg_of]) for n, v in pts.items()}
        d["budget"] = jnp.asarray(budget)
        return d, keys[cfg_of]

    while queue or any(it is not None for it in lane_item):
        fresh = np.zeros(lanes, bool)
        restore = np.zeros(lanes, bool)
        for lane in range(lanes):
            if lane_item[lane] is None and queue:
                bi, k, c = queue.pop(0)
                lane_item[lane] = (bi, k, c)
                cfg_of[lane], budget[lane] = c, rungs[bi][k]["budget"]
                restore[lane] = has_saved[c]
                fresh[lane] = not has_saved[c]
        waiting = len(queue)  # items still waiting after the free lanes were filled
        d, k = put_args()
        if state is None:
            state = lanes_prog.empty(d, k)
            bank = jax.tree_util.tree_map(
                lambda a: (
                    jnp.zeros((n_cfg,) + a.shape[1:], a.dtype)
                    if not jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key)
                    else jax.random.split(jax.random.key(0), n_cfg)
                ),
                state,
            )
            fresh[:] = True
        if restore.any():
            state = progs["load"](bank, state, jnp.asarray(cfg_of), jnp.asarray(restore))
        live = np.array([it is not None for it in lane_item])
        before = np.where(fresh, 0, np.asarray(state.iters))
        n = np.where(live, round_steps, 0).astype(np.int32)
        state, outs = lanes_prog.round(d, k, state, jnp.asarray(fresh), jnp.asarray(n))
        iters, done = (np.asarray(a) for a in jax.device_get((state.iters, state.done)))
        delta = np.where(live, iters - before, 0)
        steps_done += int(delta.sum())
        busy_steps += int(delta.sum())
        lane_steps += lanes * int(delta.max(initial=0))
        rounds.append((int(live.sum()), lanes, waiting))
        finished = [
            (lane, item)
            for lane, item in enumerate(lane_item)  # a live lane holds an item
            if item is not None and (iters[lane] >= budget[lane] or done[lane])
        ]
        if finished:
            vals = np.asarray(outs[metric])
            keep_state = np.full(lanes, n_cfg)  # n_cfg: dropped by the scatter
            for lane, (bi, ki, c) in finished:
                rung = rungs[bi][ki]
                rung["val_loss"][c] = float(vals[lane])
                events.append((steps_done, c, float(vals[lane])))
                if ki + 1 < len(plan[bi][1]):  # it may be promoted: keep its state
                    keep_state[lane] = c
                    has_saved[c] = True
                lane_item[lane] = None
                if len(rung["val_loss"]) == len(rung["ids"]) and ki + 1 < len(plan[bi][1]):
                    order = sorted(rung["ids"], key=lambda i: rung["val_loss"][i])
                    keep = order[: max(1, len(order) // eta)]
                    rungs[bi].append({"budget": plan[bi][1][ki + 1], "ids": keep, "val_loss": {}})
                    queue.extend((bi, ki + 1, c2) for c2 in keep)
            bank = progs["save"](bank, state, jnp.asarray(keep_state))
    out_rungs = [
        [
            {
                "budget": r["budget"],
                "ids": np.asarray(r["ids"]),
                "val_loss": np.asarray([r["val_loss"][i] for i in r["ids"]]),
            }
            for r in br
        ]
        for br in rungs
    ]
    finals = [
        (br[-1]["val_loss"].min(), int(br[-1]["ids"][np.argmin(br[-1]["val_loss"])]))
        for br in out_rungs
    ]
    best_loss, best_id = min(finals)
    return Halving(
        out_rungs,
        best_id,
        float(best_loss),
        np.asarray(events, float),
        steps_done,
        np.asarray(rounds, int),
        busy_steps / max(lane_steps, 1),
    )


# ----------------------------------------------------------------------------- batch GP-UCB


class GPUCB:
    """Batch GP-UCB on the unit cube with scikit-learn's Gaussian process (Matern 5/2 + white
    noise, hyperparameters by marginal likelihood). Minimizes: the acquisition is
    mu(x) - beta sigma(x) over ``candidates`` random points; a batch is filled by the kriging
    believer rule (the pick is added with y = mu(pick) before the next).

        bo = GPUCB(d, seed); u = bo.ask(9); ...; bo.tell(u, losses)
    """

    def __init__(self, dim: int, seed: int = 0, beta: float = 2.0, candidates: int = 2048):
        self.dim, self.beta, self.candidates = dim, beta, candidates
        self.rng = np.random.default_rng(seed)
        self.x = np.zeros((0, dim))
        self.y = np.zeros((0,))

    def tell(self, u, y):
        self.x = np.concatenate([self.x, np.asarray(u, float)])
        self.y = np.concatenate([self.y, np.asarray(y, float)])

    def ask(self, batch: int) -> np.ndarray:
        if len(self.y) < 2:
            return self.rng.random((batch, self.dim))
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        kernel = ConstantKernel(1.0) * Matern(
            length_scale=np.full(self.dim, 0.3), nu=2.5
        ) + WhiteKernel(1e-3)
        gp = GaussianProcessRegressor(
            kernel, normalize_y=True, random_state=int(self.rng.integers(2**31))
        )
        y = np.where(
            np.isfinite(self.y), self.y, np.nanmax(np.where(np.isfinite(self.y), self.y, -np.inf))
        )
        with (
            warnings.catch_warnings()
        ):  # a kernel bound reached on few points is expected, not an error
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(self.x, y)
        x, yy, picks = self.x, y, []
        cand = self.rng.random((self.candidates, self.dim))
        for _ in range(batch):
            mu, sd = gp.predict(cand, return_std=True)
            i = int(np.argmin(mu - self.beta * sd))
            picks.append(cand[i])
            x, yy = np.concatenate([x, cand[i : i + 1]]), np.concatenate([yy, mu[i : i + 1]])
            cand = np.delete(cand, i, 0)
            gp = GaussianProcessRegressor(gp.kernel_, normalize_y=True, optimizer=None).fit(x, yy)
        return np.asarray(picks)
