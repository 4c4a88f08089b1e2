"""Grid sweeps: vmapped, chunked, sharded over devices, stored atomically, resumable.

    ds = sweep.run(fn, {"gamma": [...], "gamma_prime": [...], "width": [...], "seed": range(4)},
                   static=("width",), store="results/pd")

``fn(point, key) -> dict[str, array]`` computes one grid point: ``point`` maps axis name to
its value, a traced scalar for the vmapped axes and a Python value for ``static`` axes (those
that change array shapes, like width). Points sharing static values form a group; a group
runs in chunks of ``chunk_size`` points (memory bound), one compiled program per chunk
shape, each chunk sharded over all local devices along the run axis (``jax.sharding``,
``shard_map``); on each device the runs are ``jax.vmap``-ed (accelerators) or ``lax.map``-ped
(CPU), see :func:`batched`.

Continuous batching (``batching="continuous"``, or "auto" per group, see :func:`_choose`): when
``fn`` returns a resumable run (``train.resumable(...).then(outputs)``: init / advance / finish),
a group runs as a fixed batch of lanes; each round is one compiled program in which the lanes
advance in short blocks and a lane whose run stopped takes the next point of its device's
queue on the device, without the host; between rounds (a few seconds) the host writes the
finished points to the store and hands out the next queue (:func:`run_continuous`). Runs
that stop early (a loss tolerance) then no longer wait for the slowest run of their chunk. A
lane's result depends on its point and the lane count only (not on its lane or neighbours);
resumed sweeps restart in-flight runs from their initial state.

Reliability:
- Each finished chunk is written to ``store`` as its own file (temp file + atomic rename);
  rerunning the same call skips finished points, so a sweep killed at any moment resumes with
  nothing lost, and the result equals an uninterrupted run bit for bit on the same machine.
- Each point's PRNG key is ``fold_in(fold_in(key(base_seed), w0), w1)`` with (w0, w1) two
  32-bit words of a 128-bit hash of its coordinates on ``key_axes`` (:func:`point_key`):
  growing the grid never changes existing points, and keys do not collide in practice.
- Chunks are self-describing: each carries the fingerprint of the sweep that computed it
  (:func:`fingerprint`: axis names, key axes, base seed, key scheme, ``config``; not the axis
  values). A chunk of another fingerprint is never used; an unreadable chunk is moved to
  ``STORE/corrupt/`` with a warning and its points are recomputed. So a grid can grow or
  shrink in any axis and every finished point is reused, while a changed config is refused
  with the differing fields named.
- ``shard=(i, n)`` (CLI ``--shard i/n``) computes every n-th point only, so many processes or
  hosts fill one store; with ``jax.distributed`` the default is (process_index, process_count).

Returns an ``xarray.Dataset`` whose dims are the axes (plus each output's own dims), with the
config and the package version in ``attrs``; points not computed (other shards) are NaN.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
import xarray as xr
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

import phasekit
from phasekit.dynamics import store as store_lib
from phasekit.dynamics.store import fingerprint  # noqa: F401  (public name)
from phasekit.typing import Axes

__all__ = [
    "BATCHING",
    "KEY_SCHEME",
    "LanePrograms",
    "LaneStats",
    "RefillPrograms",
    "auto_chunk_size",
    "auto_lanes",
    "batched",
    "fingerprint",
    "initialize_distributed",
    "load",
    "open",
    "point_hash",
    "point_key",
    "run",
    "run_continuous",
    "save",
    "vectorize_lanes",
]

Point = tuple


def _canonical(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"axes: boolean coordinate {value!r} is not supported")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.12g}"


KEY_SCHEME = 2  # 1: one 31-bit word (collides at ~10^5 points); 2: two 32-bit words


def point_hash(names: Sequence[str], values: Sequence) -> tuple[int, int]:
    """Two 32-bit words of a 128-bit BLAKE2b digest of named coordinates (independent of the
    grid they sit in). Folded into the base key one after the other, they give a point key
    whose collision probability is ~ P^2 / 2^65 for P points (negligible at 10^8).

    Args:
      names: the coordinates' axis names; values: their values (same order; pairs are sorted by
        name before hashing, so the order of the axes does not matter).
    Returns:
      ``(w0, w1)``: two Python ints in [0, 2^32) (:func:`point_key` folds them in).
    """
    text = ",".join(f"{n}={_canonical(v)}" for n, v in sorted(zip(names, values)))
    digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
    return int.from_bytes(digest[:4], "big"), int.from_bytes(digest[4:8], "big")


def point_key(base_key, words) -> jax.Array:
    """The PRNG key of a point: ``fold_in(fold_in(base_key, w0), w1)``; ``words``: [2] or [P, 2]
    uint32 (vmapped over P)."""
    words = jnp.asarray(words, jnp.uint32)
    one = lambda w: jax.random.fold_in(jax.random.fold_in(base_key, w[0]), w[1])
    return one(words) if words.ndim == 1 else jax.vmap(one)(words)


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'i/n' -> (i, n) with 0 <= i < n."""
    if text is None:
        return None
    try:
        i, n = (int(t) for t in text.split("/"))
    except ValueError:
        raise ValueError(f"shard: expected 'i/n', got {text!r}") from None
    if not 0 <= i < n:
        raise ValueError(f"shard: need 0 <= i < n, got {text!r}")
    return i, n


def _check_axes(axes: Axes, static: Sequence[str]) -> dict[str, np.ndarray]:
    if not axes:
        raise ValueError("axes: need at least one axis")
    out = {}
    for name, values in axes.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"axes: axis names must be identifiers, got {name!r}")
        arr = np.asarray(values)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"axes: {name!r} needs a non-empty 1-D list of values")
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"axes: {name!r} needs numbers, got {values!r}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"axes: {name!r} has non-finite values {values!r}")
        if len({_canonical(v) for v in arr}) != arr.size:
            raise ValueError(f"axes: {name!r} has repeated values")
        out[name] = arr
    for s in static:
        if s not in out:
            raise ValueError(f"static: {s!r} is not an axis")
    return out


def local_mesh() -> Mesh:
    """A 1-D mesh ("runs",) over all local devices."""
    return Mesh(np.array(jax.local_devices()), ("runs",))


def batched(fn: Callable, how: str = "auto", mesh: Mesh | None = None) -> Callable:
    """``fn(*args)`` of one run -> a function of stacked runs (leading axis), sharded over
    ``mesh``'s "runs" axis.

    how: "vmap" (one vectorized program: best on accelerators, where a batch of runs fills
    the device), "map" (``lax.map``: runs one after another inside one compiled program;
    best on CPU, where a single run already saturates the cache and vectorizing runs only
    adds memory traffic, and where each run stops at its own step instead of waiting for the
    slowest run of its batch), "auto" ("map" on CPU, "vmap" elsewhere).
    """
    how = _resolve(how)
    local = jax.vmap(fn) if how == "vmap" else (lambda *a: jax.lax.map(lambda t: fn(*t), a))
    if mesh is None or mesh.size == 1:
        return local
    spec = PartitionSpec("runs")
    return jax.shard_map(local, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)


BATCHING = ("auto", "map", "vmap", "continuous")


def _resolve(how: str) -> str:
    """'map' / 'vmap' for a chunked (non-resumable) batch: 'auto' and 'continuous' (whose points
    are not resumable) fall back to the backend's default."""
    how = _requested(how)
    return (
        ("map" if jax.default_backend() == "cpu" else "vmap")
        if how in ("auto", "continuous")
        else how
    )


def _requested(how: str) -> str:
    if how not in BATCHING:
        raise ValueError(f"batching: one of {', '.join(map(repr, BATCHING))}, got {how!r}")
    if how == "auto" and os.environ.get("PHASEKIT_BATCHING"):
        how = os.environ["PHASEKIT_BATCHING"]
        if how not in BATCHING[1:]:
            raise ValueError(f"PHASEKIT_BATCHING: 'vmap', 'map' or 'continuous', got {how!r}")
    return how


def initialize_distributed(
    coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None
):
    """Join a multi-process run through JAX's own runtime (``jax.distributed.initialize``).

    Without arguments JAX detects the cluster from its scheduler's environment (SLURM, Open MPI,
    Kubernetes, ...); otherwise give the coordinator ``host:port`` (process 0's address), the
    number of processes and this process's id (also read from ``PHASEKIT_COORDINATOR``,
    ``PHASEKIT_NUM_PROCESSES`` and ``PHASEKIT_PROCESS_ID``). Every process then computes its
    share of each sweep (points ``i mod process_count == process_index``) into the shared store
    (which must live on a file system all processes see), waits for the others and reads their
    chunks, so each returns the complete result. On CPU, cross-process collectives use gloo.
    Call it before any JAX computation.

    Args:
      coordinator: ``host:port`` of process 0 (None: ``PHASEKIT_COORDINATOR`` or autodetect).
      num_processes, process_id: the process count and this process's index (None: the
        environment variables above, or autodetect). Bad values raise ValueError naming them.
    Returns:
      ``(jax.process_index(), jax.process_count())``.
    """
    env = os.environ
    coordinator = coordinator or env.get("PHASEKIT_COORDINATOR")
    given: dict[str, int | str | None] = {
        "num_processes": (
            num_processes if num_processes is not None else env.get("PHASEKIT_NUM_PROCESSES")
        ),
        "process_id": process_id if process_id is not None else env.get("PHASEKIT_PROCESS_ID"),
    }
    kwargs: dict[str, int] = {}
    for name, value in given.items():
        if value is not None:
            try:
                kwargs[name] = int(value)
            except ValueError:
                raise ValueError(f"{name}: must be an integer, got {value!r}") from None
    if "num_processes" in kwargs and kwargs["num_processes"] < 1:
        raise ValueError(f"num_processes: must be >= 1, got {kwargs['num_processes']}")
    if "process_id" in kwargs and not 0 <= kwargs["process_id"] < kwargs.get(
        "num_processes", 2**31
    ):
        raise ValueError(f"process_id: must be in [0, num_processes), got {kwargs['process_id']}")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator,
        num_processes=kwargs.get("num_processes"),
        process_id=kwargs.get("process_id"),
    )
    return jax.process_index(), jax.process_count()


def auto_chunk_size(
    one_run: Callable, example_args, how: str, n_dev: int, memory_budget: int | None = None
) -> int:
    """Runs per chunk: 32 per device with ``lax.map`` (memory is one run's whatever the chunk);
    with ``vmap``, as many runs per device as fit in ``memory_budget`` bytes (default: half of
    the device's memory when it reports it, else 2 GiB), from XLA's memory analysis of one
    compiled run (arguments + outputs + temporaries).

    Args:
      one_run: a function of one run's arguments; example_args: one run's arguments (traced
        only, for the memory analysis); how: the batching path ("vmap", "map" or "auto");
      n_dev: local devices; memory_budget: bytes per device (see above).
    Returns:
      runs per chunk, a multiple of ``n_dev``.
    """
    if _resolve(how) == "map":
        return 32 * n_dev
    if memory_budget is None:
        stats = jax.local_devices()[0].memory_stats() or {}
        memory_budget = stats.get("bytes_limit", 4 * 2**30) // 2
    mem = jax.jit(one_run).lower(*example_args).compile().memory_analysis()
    if mem is None:
        raise RuntimeError(
            "the backend reports no memory analysis of the compiled run: give a fixed "
            "chunk_size or use batching='map'"
        )
    per_run = max(mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes, 1)
    return int(np.clip(memory_budget // per_run, 1, 4096)) * n_dev


# -- continuous batching ---------------------------------------------------------------------


def is_resumable(out) -> bool:
    """Whether a point function's output is a resumable run (an object with ``init()``,
    ``advance(state, n)``, ``finish(state)`` and ``steps``, e.g. :class:`phasekit.dynamics.train.Resumable`)
    rather than a dict of arrays."""
    return all(hasattr(out, a) for a in ("init", "advance", "finish", "steps"))


def _plain(fn: Callable) -> Callable:
    """``fn`` as a point function returning a dict: a resumable run is run to its end."""

    def one(point, key):
        out = fn(point, key)
        if is_resumable(out):
            return out.finish(out.advance(out.init(), out.steps))
        return out

    return one


def _returns_resumable(fn: Callable, args) -> bool:
    found = []

    def probe(*a):
        found.append(is_resumable(fn(*a)))
        return ()

    jax.eval_shape(probe, *args)
    return found[0]


class LanePrograms:
    """The compiled round of continuous batching for one static group, over a fixed batch of
    lanes (leading axis, sharded over ``mesh``'s "runs" axis like :func:`batched`):

        round(d, k, state, fresh, n) -> (state, outputs)

    lanes with ``fresh`` = True first restart from ``init()`` of their point, then every lane
    advances at most ``n[lane]`` steps; ``outputs`` is every lane's ``finish(state)`` (pulled to
    the host only when some run finished). ``d``: dict of the dynamic coordinates [lanes];
    ``k``: point keys [lanes]. The point function is called inside the program: its setup (e.g.
    the learning rate from the initial parameters) is recomputed from the point's coordinates
    and key, so a lane carries only its run's state. One program, one compile; shapes never
    change. ``empty(d, k)``: a placeholder state (zeros) to start from, every lane fresh.
    """

    def __init__(self, fn: Callable, mesh: Mesh | None = None):
        def one(d, k, st, fresh, n):
            r = fn(d, k)
            # init inside a while_loop run at most once: under vmap it executes only in rounds
            # where some lane is refilled (a batched cond would evaluate init every round)
            _, st = jax.lax.while_loop(
                lambda c: c[0], lambda c: (jnp.zeros((), bool), r.init()), (fresh, st)
            )
            st = r.advance(st, n)
            return st, r.finish(st)

        self.round = _jit_lanes(jax.vmap(one), mesh)
        self.empty = _jit_lanes(_empty_states(lambda d, k: fn(d, k).init()), mesh)


def _jit_lanes(f: Callable, mesh: Mesh | None) -> Callable:
    """``jax.jit`` of ``f`` over lanes (leading axis), sharded over ``mesh``'s "runs" axis when
    it has several devices (each device runs ``f`` on its own lanes)."""
    if mesh is None or mesh.size == 1:
        return jax.jit(f)
    spec = PartitionSpec("runs")
    return jax.jit(jax.shard_map(f, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False))


def _empty_states(init: Callable) -> Callable:
    """``(d, k) -> `` placeholder run states (zeros) for lanes [L]: ``init(d, k)`` per lane, from
    shapes alone."""

    def empty(d, k):
        shapes = jax.eval_shape(jax.vmap(init), d, k)
        return jax.tree_util.tree_map(_zeros_like_shape, shapes)

    return empty


def _zeros_like_shape(x):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        data = jax.eval_shape(jax.random.key_data, jax.ShapeDtypeStruct((), x.dtype))
        return jax.random.wrap_key_data(jnp.zeros(x.shape + data.shape, data.dtype))
    return jnp.zeros(x.shape, x.dtype)


CPU_LANE_BYTES = 1 << 20  # CPU: lanes per core whose states fit in ~1 MiB of cache (see auto_lanes)


def state_bytes(fn: Callable, example_args) -> int:
    """Bytes of one run's resumable state (``fn(*example_args).init()``), from shapes alone."""
    shapes = jax.eval_shape(lambda *a: fn(*a).init(), *example_args)
    return int(
        sum(
            np.prod(x.shape) * x.dtype.itemsize
            for x in jax.tree_util.tree_leaves(shapes)
            if hasattr(x, "dtype") and not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
        )
    )


RUNS_PER_LANE = 30  # auto lanes: each lane runs >= ~30 runs in turn, so the drain is a small share


# continuous batching's lanes: vmapped (True) or one after another (False); None: see vectorize_lanes
VECTORIZE_LANES: bool | None = None


def vectorize_lanes() -> bool:
    """Whether continuous batching advances a device's lanes as one vectorized batch (``vmap``) or
    one after another (``lax.map``). ``VECTORIZE_LANES`` when set, else vectorized on accelerators
    (a batch of lanes is how a device fills) and one after another on CPU. Measured on 2 CPU
    cores, quick phase grid: a vmapped lane's step carries a select over its whole state (the
    lanes stop at different steps), 60 -> 125 us per step for one lane at width 10,000; at width
    100 vectorized and sequential lanes finish the grid in the same time (1.0 s warm)."""
    if VECTORIZE_LANES is not None:
        return bool(VECTORIZE_LANES)
    return jax.default_backend() != "cpu"


def auto_lanes(
    fn: Callable,
    example_args,
    n_dev: int,
    n_points: int | None = None,
    memory_budget: int | None = None,
) -> int:
    """Lanes of continuous batching (a multiple of ``n_dev``). Per device, the least of

    - the memory bound: on accelerators that of :func:`auto_chunk_size` for ``vmap`` (one
      vectorized run per lane); on CPU as many lanes as fit their states in ``CPU_LANE_BYTES``
      (vectorizing beyond the cache only adds memory traffic), at most 64;
    - the drain bound ``ceil(n_points / n_dev / RUNS_PER_LANE)`` (CPU): once no point is pending, lanes
      empty one by one while the slowest runs finish; with ~30 runs per lane the drain costs
      a few percent of the lane-steps even when a run takes ~15x the mean (the quick phase
      grid at width 100, 220 runs, 3 at the 20,000-step cap and a mean of 1,171, simulated from
      its step counts on 2 devices: utilization 98% at 4 lanes per device, 80% at 6, 65% at 8).

    Args:
      fn: a point function returning a resumable run; example_args: one point's arguments;
      n_dev: local devices; n_points: the group's points (None: no drain bound);
      memory_budget: bytes per device for the accelerator bound (see :func:`auto_chunk_size`).
    Returns:
      the lane count, a multiple of ``n_dev``.
    """
    if not vectorize_lanes():
        return n_dev  # lanes one after another: one per device keeps the device busy
    if jax.default_backend() != "cpu":
        per = auto_chunk_size(_plain(fn), example_args, "vmap", n_dev, memory_budget) // n_dev
    else:
        per = int(np.clip(CPU_LANE_BYTES // max(state_bytes(fn, example_args), 1), 1, 64))
    if n_points is not None:
        # accelerators: idle lanes cost little wall time until the device fills, so the drain
        # bound is looser there (4 runs per lane; not measured on a GPU yet)
        runs = RUNS_PER_LANE if jax.default_backend() == "cpu" else 4
        per = min(per, max(1, -(-n_points // (n_dev * runs))))
    return max(per, 1) * n_dev


def _choose(requested: str, resumable: bool) -> str:
    """The batching path of one static group. 'auto': continuous for resumable runs on
    accelerators (a batch of lanes is how a device fills, and plain vmap keeps only 6-8% of its
    lanes busy on the phase grid against 83-97% for continuous batching); 'map' on CPU, where
    each run of a ``lax.map`` already fills a core: on 2 CPU cores the quick phase grid takes
    27 s with 'map' against 36 s continuous (0.62-0.85x at every width 100-10,000, the gap
    mostly the round's compile time, twice a chunk's) and 584 s with plain vmap
    (``benchmarks/phase_sweep.py``). Points that are not resumable: 'map' on CPU, 'vmap' elsewhere."""
    if not resumable or requested in ("map", "vmap"):
        return _resolve(requested)
    if requested == "continuous":
        return "continuous"
    return "map" if jax.default_backend() == "cpu" else "continuous"


class LaneStats:
    """Lane utilization of continuous batching: useful run-steps / computed lane-steps."""

    def __init__(self):
        self.useful = 0
        self.computed = 0

    @property
    def utilization(self) -> float:
        return self.useful / self.computed if self.computed else float("nan")


REFILL_EVERY = 16  # continuous batching: first steps per block (between a lane's stop and refill)
BLOCKS_PER_RUN = (
    32  # "auto": a block is ~1/32 of the mean run length seen so far (see run_continuous)
)
ROUND_S = 2.0  # "auto" round length: a round of continuous batching lasts about this long
OUT_BYTES = 8 << 20  # outputs one round may hold per device (bounds the points queued per round)


class RefillPrograms:
    """The compiled round of continuous batching for one static group, with the refill on the
    device: a fixed batch of lanes per device (leading axis, sharded over ``mesh``'s "runs" axis)
    and a queue of pending points per device,

        round(lanes, queue, n_queue, more, K, J) -> (lanes, head, out_ids, outs, useful, computed)

    Inside one compiled ``while_loop`` every live lane advances ``J`` steps at a time (a block);
    after each block a lane whose run stopped hands its ``finish`` outputs to the round's output
    buffer and takes the next point of its device's queue (restarting from that point's
    ``init()``), so a lane idles less than ``J`` steps between runs and the host is not involved.
    A round ends after ``K`` steps, when every lane is idle, or (``more``: the host has points beyond this
    queue) when the queue is used up and a lane is idle. The host then stores the finished
    points and hands the next queue. ``lanes`` = (coordinates, key data, point id or -1 when
    idle, run states) stays on the device between rounds; ``head``: queue entries taken;
    ``useful`` / ``computed``: run-steps done and lane-steps computed (lanes x the most steps any
    lane did, per block). One program per (lanes, queue) shape; shapes never change.

    The point function is called inside the program from the lane's coordinates and key. A lane
    carries its run's state and the run's setup: the values ``advance`` computes from the point
    alone (e.g. the initial parameters drawn from the key, the learning rate), computed once at
    the lane's refill (``jax.closure_convert`` hoists them). ``vectorize``: advance a device's
    lanes as one ``vmap`` batch, else one after another (``lax.map``; see :func:`vectorize_lanes`).
    """

    def __init__(self, fn: Callable, impl, mesh: Mesh | None = None, vectorize: bool = True):
        wrap_key = lambda kd: jax.random.wrap_key_data(kd, impl=impl)
        lane_fn = lambda d, kd: fn(d, wrap_key(kd))
        pick = lambda m, a, b: jax.tree_util.tree_map(
            lambda x, y: jnp.where(m.reshape(m.shape + (1,) * (x.ndim - 1)), x, y), a, b
        )

        def only(mask, f, args, default):
            """``f`` of each lane where ``mask`` (one lane at a time: a refill's init and a stopped
            run's finish are computed for those lanes only), ``default`` elsewhere."""
            return jax.lax.map(
                lambda a: jax.lax.cond(a[0], lambda: f(*a[1]), lambda: a[2]),
                (mask, args, default),
            )

        def converted(r, s):
            """``r.advance`` as a function of (state, n, *setup), and the setup: the values it
            computes from the point alone (e.g. the initial parameters drawn from the key, the
            learning rate), hoisted by ``jax.closure_convert``. A lane computes its setup once,
            at its refill, and carries it: recomputed every block, the setup cost ~1 ms per block
            at width 10,000 (drawing the initial parameters). The copy traced in each block has
            no use and XLA removes it."""
            return jax.closure_convert(lambda s, n: r.advance(s, n), s, jnp.int32(0))

        def init_one(d, k, s):
            r = lane_fn(d, k)
            st = r.init()
            return st, converted(r, st)[1]

        def advance_one(d, k, s, n):
            st, setup = s
            return converted(lane_fn(d, k), st)[0](st, n, *setup), setup

        finish_one = lambda d, k, s: lane_fn(d, k).finish(s[0])

        def device_round(ld, lk, lid, st, qd, qk, qid, n_q, more, K, J):
            n_q, more, K, every = n_q[0], more[0], K[0], J[0]
            per, Q = lid.shape[0], qid.shape[0]
            F = Q + per
            fin_shapes = jax.eval_shape(jax.vmap(finish_one), ld, lk, st)
            outs = jax.tree_util.tree_map(
                lambda s: jnp.zeros((F,) + s.shape[1:], s.dtype), fin_shapes
            )
            fin_zero = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), fin_shapes)
            c0 = (ld, lk, lid, st, jnp.int32(0), jnp.int32(0), outs, jnp.full((F,), -1, jnp.int32))
            c0 += (jnp.int32(0), jnp.int32(0), jnp.int32(0))  # t, useful, computed

            def cond(c):
                lid, head, t = c[2], c[4], c[8]
                idle = lid < 0
                more_here = head < n_q
                return (t < K) & (jnp.any(~idle) | more_here) & ~(more & ~more_here & jnp.any(idle))

            def body(c):
                ld, lk, lid, st, head, f, outs, oid, t, useful, computed = c
                # refill the idle lanes, in lane order, from the queue
                idle = lid < 0
                rank = jnp.cumsum(idle) - 1
                take = idle & (head + rank < n_q)
                qi = jnp.clip(head + rank, 0, Q - 1)
                ld = pick(take, jax.tree_util.tree_map(lambda q: q[qi], qd), ld)
                lk = pick(take, qk[qi], lk)
                lid = jnp.where(take, qid[qi], lid)
                head = head + jnp.sum(take, dtype=head.dtype)
                st = jax.lax.cond(
                    jnp.any(take),
                    lambda st: only(take, init_one, (ld, lk, st), st),
                    lambda st: st,
                    st,
                )
                # advance every live lane up to `every` steps
                live = lid >= 0
                before = st[0].iters
                n_lane = jnp.where(live, every, 0).astype(jnp.int32)
                if vectorize:
                    st = jax.vmap(advance_one)(ld, lk, st, n_lane)
                else:
                    st = jax.lax.map(lambda a: advance_one(*a), (ld, lk, st, n_lane))
                delta = (st[0].iters - before).astype(useful.dtype)
                useful = useful + jnp.sum(delta)
                computed = computed + (per * jnp.max(delta) if vectorize else jnp.sum(delta))
                # hand the stopped runs' outputs to the buffer; their lanes go idle
                done = live & st[0].done
                pos = jnp.where(done, f + jnp.cumsum(done) - 1, F)
                outs = jax.lax.cond(
                    jnp.any(done),
                    lambda o: jax.tree_util.tree_map(
                        lambda b, v: b.at[pos].set(v, mode="drop"),
                        o,
                        only(done, finish_one, (ld, lk, st), fin_zero),
                    ),
                    lambda o: o,
                    outs,
                )
                oid = oid.at[pos].set(lid, mode="drop")
                f = f + jnp.sum(done, dtype=f.dtype)
                lid = jnp.where(done, -1, lid)
                return ld, lk, lid, st, head, f, outs, oid, t + every, useful, computed

            c = jax.lax.while_loop(cond, body, c0)
            ld, lk, lid, st, head, _, outs, oid, _, useful, computed = c
            return ld, lk, lid, st, head[None], oid, outs, useful[None], computed[None]

        def point_bytes(d, kd):
            shapes = jax.eval_shape(
                jax.vmap(lambda d, k: lane_fn(d, k).finish(lane_fn(d, k).init())), d, kd
            )
            return int(
                sum(np.prod(s.shape) * s.dtype.itemsize for s in jax.tree_util.tree_leaves(shapes))
            )

        self.round = _jit_lanes(device_round, mesh)
        self.empty = _jit_lanes(_empty_states(lambda d, kd: init_one(d, kd, None)), mesh)
        self.point_bytes = point_bytes


def run_continuous(
    progs: RefillPrograms,
    d_all: dict,
    kd_all: np.ndarray,
    lanes: int,
    n_dev: int,
    sharding,
    on_finish: Callable,
    *,
    round_steps: int | str = "auto",
    stats: LaneStats | None = None,
    on_round: Callable | None = None,
):
    """Run every point of ``d_all`` / ``kd_all`` (coordinates [P] and key data [P, ...], in
    order) through ``lanes`` lanes until every one is done (:class:`RefillPrograms`).

    Each round hands each device a queue of pending points (dealt round-robin: neighbours on the
    grid cost alike), runs the compiled round (lanes refill on the device as their runs stop),
    pulls the finished points' outputs and passes them to ``on_finish(ids, outputs)`` (ids:
    positions in ``d_all``). A device's queue holds at most ``OUT_BYTES`` of outputs; a round
    lasts ``round_steps`` steps, or with "auto" about ``ROUND_S`` seconds (so the store is
    written and the progress bar moves every few seconds, and a kill loses at most that much of
    the finished work plus the runs in flight).

    Args:
      progs: the group's compiled rounds; d_all, kd_all: the points (see above); lanes: lanes in
        all (a multiple of ``n_dev``); n_dev: local devices; sharding: the lanes' sharding;
      on_finish: ``on_finish(ids, outputs)`` with the finished points' outputs (host arrays);
      round_steps: K (see above); stats: a :class:`LaneStats` to accumulate into (None: a new
        one); on_round: called after every round (e.g. a progress bar), or None.
    """
    stats = stats if stats is not None else LaneStats()
    n = len(kd_all)
    if n == 0:
        return stats
    per = lanes // n_dev
    first = lambda a: np.repeat(a[:1], lanes, axis=0)
    put = lambda tree: jax.tree_util.tree_map(lambda a: jax.device_put(a, sharding), tree)
    ld, lk = put({k: first(v) for k, v in d_all.items()}), put(first(kd_all))
    lid = put(np.full(lanes, -1, np.int32))
    st = progs.empty(ld, lk)
    Q = int(min(-(-n // n_dev), max(per, OUT_BYTES // max(progs.point_bytes(ld, lk) // lanes, 1))))
    pending = list(range(n))[::-1]  # pop() from the end: points in their order
    auto_k = round_steps == "auto"
    K = 4096 if auto_k else int(round_steps)
    J, n_done, done_steps = REFILL_EVERY, 0, 0
    live = 0
    while pending or live:
        take = [pending.pop() for _ in range(min(len(pending), n_dev * Q))]
        per_dev = [take[d::n_dev] for d in range(n_dev)]
        n_q = np.array([len(q) for q in per_dev], np.int32)
        grid_q = np.zeros((n_dev, Q), np.int64)
        for d, q in enumerate(per_dev):
            grid_q[d, : len(q)] = q
        qidx = grid_q.ravel()
        t0 = time.perf_counter()
        ld, lk, lid, st, head, oid, outs, useful, computed = progs.round(
            ld,
            lk,
            lid,
            st,
            put({k: v[qidx] for k, v in d_all.items()}),
            put(kd_all[qidx]),
            put(qidx.astype(np.int32)),
            put(n_q),
            put(np.full(n_dev, bool(pending))),
            put(np.full(n_dev, K, np.int32)),
            put(np.full(n_dev, J, np.int32)),
        )
        head, oid, lid_h, useful, computed = jax.device_get((head, oid, lid, useful, computed))
        t_round = time.perf_counter() - t0
        # queue entries a device did not take go back, first in line
        for d in range(n_dev - 1, -1, -1):
            pending.extend(per_dev[d][int(head[d]) :][::-1])
        stats.useful += int(np.sum(useful, dtype=np.int64))
        stats.computed += int(np.sum(computed, dtype=np.int64))
        fin = np.flatnonzero(oid >= 0)
        if fin.size:
            if not isinstance(outs, dict):
                raise ValueError("fn: a resumable run's finish must return a dict of arrays")
            outs = jax.device_get(outs)
            on_finish(oid[fin].tolist(), {k: np.asarray(v)[fin] for k, v in outs.items()})
        live = int((lid_h >= 0).sum())
        if on_round is not None:
            on_round(stats)
        if auto_k:
            K = int(np.clip(K * ROUND_S / max(t_round, 1e-3), REFILL_EVERY, 1 << 24))
        if fin.size:
            # a block costs a fixed overhead (building each lane's run, the refill checks) and
            # a lane idles J/2 steps per run on average: J ~ mean run length / BLOCKS_PER_RUN
            # keeps the idling near 1.5% (measured idle on 2 cores, 4 lanes at width 100: a step
            # costs 14.2 us in 16-step blocks, 8.2 us in 128-step ones, 4.6 us in one block)
            n_done += int(fin.size)
            done_steps += int(useful.sum())
            J = int(np.clip(done_steps / n_done / BLOCKS_PER_RUN, REFILL_EVERY, 1024))
    return stats


def run(
    fn: Callable[[dict, jax.Array], dict],
    axes: Axes,
    *,
    static: Sequence[str] = (),
    store=None,
    chunk_size: int | str = "auto",
    key_axes=None,
    base_seed: int = 0,
    shard: tuple[int, int] | str | None = None,
    config: dict | None = None,
    dims: Mapping[str, Sequence[str]] | None = None,
    coords: Mapping | None = None,
    batching: str = "auto",
    progress: bool = True,
    desc: str = "sweep",
    on_layout_change: str = "recompute",
    lanes: int | str = "auto",
    round_steps: int | str = "auto",
) -> xr.Dataset:
    """Evaluate ``fn`` at every grid point; see the module docstring.

    Args:
      fn: ``(point: dict, key) -> dict[str, array]``; outputs must have the same shapes in
        every static group. Or ``fn(point, key) -> resumable run`` (an object with ``init()``,
        ``advance(state, n)``, ``finish(state) -> dict`` and ``steps``, whose state has ``done``
        and ``iters``: :class:`phasekit.dynamics.train.Resumable`, e.g.
        ``train.resumable(...).then(outputs)``): then every batching path works, continuous
        batching included; ``map`` / ``vmap`` run it as ``finish(advance(init(), steps))``.
      axes: ordered mapping axis name -> values (the Dataset's dims, in this order).
      static: axes passed to ``fn`` as Python values (each value compiles its own program).
      store: directory for resumable results (None: in memory only).
      chunk_size: runs per compiled call (rounded up to a multiple of the device count), or
        "auto" (:func:`auto_chunk_size`: memory-bounded for ``vmap``; the environment variable
        ``PHASEKIT_CHUNK_SIZE`` overrides "auto", e.g. to cut a sweep into small resumable chunks).
      key_axes: axes that feed the per-point key (default: all). E.g. ("width", "seed") gives
        every (gamma, gamma') the same unit-scale init, so scale is the only difference.
      base_seed: the seed of the base key ``jax.random.key(base_seed)`` that every point key
        (:func:`point_key`) is folded from.
      shard: (i, n) or "i/n": compute only points whose flat grid index is i mod n.
      config: JSON-able description of everything else that determines the results; stored and
        checked on resume.
      dims / coords: names and coordinates of each output's own axes, e.g.
        ``dims={"loss": ("record",)}, coords={"record": steps}``.
      batching: how a chunk's runs share a device: "vmap", "map" (see :func:`batched`),
        "continuous" (resumable runs: a fixed batch of lanes refilled on the device with
        pending points as their runs stop, see :func:`run_continuous`; points that are not
        resumable fall back to "auto"), or "auto"
        (per static group, :func:`_choose`). Lane utilization (useful run-steps / computed
        lane-steps) goes to ``attrs["lane_utilization"]`` and the progress bar.
      lanes: lanes of continuous batching ("auto": ``chunk_size`` when it is a number, else
        :func:`auto_lanes`), rounded up to a multiple of the device count and at most the group.
      round_steps: steps per round of continuous batching, between the host's store writes
        ("auto": rounds of about ``ROUND_S`` seconds, see :func:`run_continuous`).
      on_layout_change: what to do with stored chunks computed under a layout that does not give
        this run's bits (another batching path, or for ``vmap`` another device count, kind or
        chunk size): "recompute" (default), "refuse" or "reuse" (see :mod:`phasekit.dynamics.store`).
      progress, desc: show a tqdm progress bar, with this label.
    Returns:
      ``xr.Dataset`` with one dim per axis (in the order of ``axes``, coordinates their values)
      plus each output's own ``dims``; one variable per output of ``fn``; the config and the
      package version in ``attrs``; points not computed (other shards) are NaN.
    """
    static = tuple(static)
    axes = _check_axes(axes, static)
    names = list(axes)
    key_axes = tuple(names if key_axes is None else key_axes)
    if any(k not in axes for k in key_axes):
        raise ValueError(f"key_axes: {key_axes} must be axes of {names}")
    if chunk_size == "auto" and os.environ.get("PHASEKIT_CHUNK_SIZE"):
        chunk_size = _env_chunk_size()
    if chunk_size != "auto" and not (isinstance(chunk_size, int) and chunk_size > 0):
        raise ValueError(f"chunk_size: must be a positive integer or 'auto', got {chunk_size!r}")
    if isinstance(shard, str):
        shard = parse_shard(shard)
    if shard is None and jax.process_count() > 1:
        shard = (jax.process_index(), jax.process_count())
    config = json.loads(json.dumps(config or {}))
    meta = {
        "axes": names,
        "static": list(static),
        "key_axes": list(key_axes),
        "base_seed": base_seed,
        "key_scheme": KEY_SCHEME,
        "config": config,
        "version": phasekit.__version__,
    }
    meta["fingerprint"] = store_lib.fingerprint(meta)
    meta |= {
        "grid": {n: axes[n].tolist() for n in names},
        "dims": {k: list(v) for k, v in (dims or {}).items()},
        "coords": _jsonable_coords(coords or {}),
    }

    grid = list(itertools.product(*(axes[n] for n in names)))
    canon = [tuple(_canonical(v) for v in p) for p in grid]
    results: dict[tuple, dict[str, np.ndarray]] = {}
    origins: dict[tuple, dict] = {}
    requested = _requested(batching)
    if lanes != "auto" and not (
        isinstance(lanes, int) and not isinstance(lanes, bool) and lanes > 0
    ):
        raise ValueError(f"lanes: must be a positive integer or 'auto', got {lanes!r}")
    if round_steps != "auto" and not (
        isinstance(round_steps, int) and not isinstance(round_steps, bool) and round_steps > 0
    ):
        raise ValueError(f"round_steps: must be a positive integer or 'auto', got {round_steps!r}")
    mesh = local_mesh()
    base_layout = {
        "devices": mesh.size,
        "device_kind": jax.local_devices()[0].device_kind,
        "backend": jax.default_backend(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "process_count": jax.process_count(),
    }
    wanted = set(canon)

    mine = [i for i in range(len(grid)) if shard is None or i % shard[1] == shard[0]]
    groups: dict[tuple, list[int]] = {}
    for i in mine:
        groups.setdefault(tuple(_canonical(grid[i][names.index(s)]) for s in static), []).append(i)

    n_dev, sharding = mesh.size, NamedSharding(mesh, PartitionSpec("runs"))
    dyn = [n for n in names if n not in static]
    base_key = jax.random.key(base_seed)
    hashes = np.array(
        [point_hash(key_axes, [p[names.index(k)] for k in key_axes]) for p in grid], np.uint32
    ).reshape(len(grid), 2)

    def point_args(i):
        return (
            {n: np.asarray(grid[i][names.index(n)], axes[n].dtype) for n in dyn},
            point_key(base_key, hashes[i]),
        )

    def group_fn(svals):
        return lambda d, k: fn({**svals, **d}, k)

    default_layout = {"batching": _resolve(requested), **base_layout, "chunk_size": chunk_size}
    # the store first: an unwritable store fails before anything is traced or computed
    st = (
        store_lib.Store(store, meta, layout=default_layout, on_layout_change=on_layout_change)
        if store is not None
        else None
    )
    # each static group's path, batch size and layout (a pure function of the group and the
    # machine: a resumed sweep makes the same choices)
    paths, gsize, layouts = {}, {}, {}
    for gk, members in groups.items():
        svals = {s: grid[members[0]][names.index(s)].item() for s in static}
        gfn, example = group_fn(svals), point_args(members[0])
        paths[gk] = path = _choose(requested, _returns_resumable(gfn, example))
        # lanes and chunk_size were validated above: each is a positive int or "auto"
        if path == "continuous":
            want = (
                lanes
                if isinstance(lanes, int)
                else chunk_size
                if isinstance(chunk_size, int)
                else auto_lanes(gfn, example, n_dev, len(members))
            )
        else:
            want = (
                chunk_size
                if isinstance(chunk_size, int)
                else auto_chunk_size(_plain(gfn), example, path, n_dev)
            )
        gsize[gk] = -(-min(want, len(members)) // n_dev) * n_dev
        layouts[gk] = {
            "batching": path,
            **base_layout,
            "chunk_size": gsize[gk] if path == "continuous" else chunk_size,
        }
    static_pos = [names.index(s_) for s_ in static]
    layout_of = lambda c: layouts.get(tuple(c[j] for j in static_pos), default_layout)

    def read_store(force: bool = False):
        if st is None or (not st.refresh() and not force):
            return  # no store, or nothing new from other writers: results are current
        found, _ = st.points(names, _canonical, wanted, layout_of=layout_of)
        for c, (row, lay) in found.items():
            if c not in results:
                results[c], origins[c] = row, lay

    if st is not None:
        read_store(force=True)

    # Chunks are cut from each group's full point list (not from its pending points), so a
    # resumed sweep evaluates exactly the batches an uninterrupted one would: same shapes, same
    # neighbours, same bits. A continuous group is one item: its pending points in order.
    plan = []
    for gk, members in groups.items():
        size = gsize[gk]
        if paths[gk] == "continuous":
            if any(canon[i] not in results for i in members):
                plan.append((gk, members, size))
            continue
        for start in range(0, len(members), size):
            idx = members[start : start + size]
            if any(canon[i] not in results for i in idx):
                plan.append((gk, idx, size))
    if st is not None and progress:
        n_stored = sum(canon[i] in results for i in mine)
        if n_stored:
            tqdm.write(
                f"{desc}: {n_stored} of {len(mine)} points loaded from the store {st.path}; "
                f"{len(mine) - n_stored} to compute"
            )
    compiled = {}
    lane_stats = LaneStats()

    def store_points(idx, outs, layout):
        """Keep (and write to the store as one chunk) the points ``idx`` with outputs [len(idx), ...]."""
        new = [j for j, i in enumerate(idx) if canon[i] not in results]  # one stored copy per point
        if st is not None and new:
            st.write(
                {n: np.asarray([grid[idx[j]][names.index(n)] for j in new]) for n in names},
                {k: v[new] for k, v in outs.items()},
                layout=layout,
            )
        for j, i in enumerate(idx):
            if canon[i] not in results:
                results[canon[i]], origins[canon[i]] = {k: v[j] for k, v in outs.items()}, layout

    def compute_continuous(gk, members, size, bar):
        first = members[0]
        svals = {s: grid[first][names.index(s)].item() for s in static}
        ckey = (gk, size, "continuous")
        if ckey not in compiled:
            compiled[ckey] = RefillPrograms(
                group_fn(svals), jax.random.key_impl(base_key), mesh, vectorize_lanes()
            )
        todo = [i for i in members if canon[i] not in results]
        if not todo:
            return
        flush_n = chunk_size if chunk_size != "auto" else size
        buffer, last = [], [time.monotonic()]

        def flush():
            if buffer:
                idx = [i for i, _ in buffer]
                outs = {k: np.stack([o[k] for _, o in buffer]) for k in buffer[0][1]}
                store_points(idx, outs, layouts[gk])
                buffer.clear()
            last[0] = time.monotonic()

        def on_finish(ids, outs):
            buffer.extend((todo[i], {k: v[j] for k, v in outs.items()}) for j, i in enumerate(ids))
            if len(buffer) >= flush_n or time.monotonic() - last[0] > _FLUSH_S:
                flush()

        # every point's coordinates and key, once (the device takes them from its queue)
        d_all = {n: np.asarray([grid[i][names.index(n)] for i in todo], axes[n].dtype) for n in dyn}
        kd_all = np.asarray(jax.random.key_data(point_key(base_key, hashes[todo])))
        n_before = len(results)

        def on_round(stats):
            bar.set_postfix_str(
                f"{len(results) - n_before + len(buffer)}/{len(todo)} runs, "
                f"lanes {stats.utilization:.0%} busy",
                refresh=True,
            )

        run_continuous(
            compiled[ckey],
            d_all,
            kd_all,
            size,
            n_dev,
            sharding,
            on_finish,
            round_steps=round_steps,
            stats=lane_stats,
            on_round=on_round,
        )
        flush()

    def compute(gk, idx, size):
        first = idx[0]
        svals = {s: grid[first][names.index(s)].item() for s in static}
        ckey = (gk, size)
        if ckey not in compiled:
            compiled[ckey] = jax.jit(batched(_plain(group_fn(svals)), paths[gk], mesh))
        padded = idx + [idx[-1]] * (size - len(idx))
        # deal the points out to the devices round-robin: neighbours on the grid cost alike,
        # so each device gets a similar share of slow and fast runs
        padded = [i for d in range(n_dev) for i in padded[d::n_dev]]
        dvals = {
            n: jax.device_put(
                np.asarray([grid[i][names.index(n)] for i in padded], axes[n].dtype), sharding
            )
            for n in dyn
        }
        keys = jax.device_put(point_key(base_key, hashes[padded]), sharding)
        outs = compiled[ckey](dvals, keys)
        if not isinstance(outs, dict):
            raise ValueError("fn: must return a dict of arrays")
        first_row = {}
        for j, i in enumerate(padded):
            first_row.setdefault(i, j)
        rows = np.array([first_row[i] for i in idx])
        store_points(idx, {k: np.asarray(v)[rows] for k, v in outs.items()}, layouts[gk])

    def chunk_id(idx):
        text = meta["fingerprint"] + "|" + ";".join(",".join(canon[i]) for i in idx)
        return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()

    def work(gk, idx, size, bar):
        (compute_continuous if paths[gk] == "continuous" else lambda *a: compute(*a[:3]))(
            gk, idx, size, bar
        )

    with (
        tqdm(total=len(plan), desc=desc, disable=not progress, unit="chunk") as bar,
        store_lib.sigterm_as_exception(),
    ):
        pending = plan
        while pending:
            waiting = []
            for gk, idx, size in pending:
                if st is not None:
                    read_store()  # another writer may have finished it meanwhile
                    if all(canon[i] in results for i in idx):
                        bar.update(1)
                        continue
                    cid = chunk_id(idx)
                    if not st.claim(cid):
                        waiting.append((gk, idx, size))
                        continue
                    try:
                        read_store()  # finished by another writer between the check and the claim?
                        if not all(canon[i] in results for i in idx):
                            work(gk, idx, size, bar)
                    finally:
                        st.release(cid)
                else:
                    work(gk, idx, size, bar)
                bar.update(1)
            if (
                waiting
            ):  # chunks leased by live writers: wait for them (or for their lease to go stale)
                bar.set_postfix_str(f"waiting for {len(waiting)} chunk(s) of other writers")
                time.sleep(_POLL_S)
            pending = waiting
    if st is not None and jax.process_count() > 1:
        # every process of a jax.distributed run waits for the others, then reads their chunks
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(f"phasekit sweep {meta['fingerprint']}")
        read_store(force=True)
    meta["layouts"] = [
        dict(t)
        for t in {tuple(sorted((k, str(v)) for k, v in lay.items())) for lay in origins.values()}
    ]
    ds = _dataset(axes, names, canon, results, meta, dims or {}, coords or {})
    ds.attrs["batching"] = json.dumps(sorted(set(paths.values())))
    ds.attrs["lane_utilization"] = lane_stats.utilization  # NaN when no continuous group computed
    return ds


_POLL_S = 0.5
_FLUSH_S = 30.0  # continuous batching writes its finished points at least this often


def _jsonable_coords(coords: Mapping) -> dict:
    out = {}
    for k, v in coords.items():
        try:
            out[k] = json.loads(json.dumps(np.asarray(v).tolist()))
        except (TypeError, ValueError):
            pass
    return out


def open(store) -> xr.Dataset:  # noqa: A001  (the store's read-only counterpart of run)
    """Open a sweep store read-only: never computes and never writes. Returns the Dataset of
    the latest grid run on it, finished points filled in and NaN elsewhere; attrs
    ``complete`` (0/1) and ``fraction_complete``. Chunks of every layout are read (the
    one-copy rule picks among duplicates)."""
    meta = store_lib.read_meta(store)
    if meta is None or "grid" not in meta:
        raise ValueError(
            f"store: {store} has no readable meta.json with a grid (not a phasekit >= 0.2 store)"
        )
    names = meta["axes"]
    axes = {n: np.asarray(meta["grid"][n]) for n in names}
    st = store_lib.Store(store, meta, readonly=True)
    grid = list(itertools.product(*(axes[n] for n in names)))
    canon = [tuple(_canonical(v) for v in p) for p in grid]
    found, _ = st.points(names, _canonical, set(canon))
    results = {c: row for c, (row, _) in found.items()}
    meta["layouts"] = [
        dict(t)
        for t in {tuple(sorted((k, str(v)) for k, v in lay.items())) for _, lay in found.values()}
    ]
    return _dataset(axes, names, canon, results, meta, meta.get("dims", {}), meta.get("coords", {}))


def _env_chunk_size() -> int:
    text = os.environ["PHASEKIT_CHUNK_SIZE"]
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"PHASEKIT_CHUNK_SIZE: must be a positive integer, got {text!r}")
    return value


def _dataset(axes, names, canon, results, meta, dims, coords) -> xr.Dataset:
    shape = tuple(len(axes[n]) for n in names)
    example: Mapping[str, Any] = next(iter(results.values()), {})
    complete = len(results) >= len(canon) and all(c in results for c in canon)
    data_vars = {}
    for var, ex in example.items():
        ex = np.asarray(ex)
        extra = tuple(dims.get(var, [f"{var}_dim{i}" for i in range(ex.ndim)]))
        if len(extra) != ex.ndim:
            raise ValueError(f"dims: {var!r} has {ex.ndim} own axes, got names {extra}")
        dtype = ex.dtype if complete else np.result_type(ex.dtype, np.float32)
        arr = np.full(shape + ex.shape, np.nan if not complete else 0, dtype)
        for flat, c in enumerate(canon):
            if c in results:
                arr[np.unravel_index(flat, shape)] = results[c][var]
        data_vars[var] = (tuple(names) + extra, arr)
    ds = xr.Dataset(data_vars, coords={n: axes[n] for n in names} | dict(coords))
    n_done = sum(c in results for c in canon)
    ds.attrs.update(
        config=json.dumps(meta["config"]),
        phasekit_version=meta["version"],
        fingerprint=meta["fingerprint"],
        layouts=json.dumps(meta.get("layouts", [])),
        fraction_complete=n_done / max(len(canon), 1),
        key_axes=json.dumps(meta["key_axes"]),
        base_seed=meta["base_seed"],
        complete=int(complete),
    )
    return ds


def save(ds: xr.Dataset, path) -> Path:
    """Write a Dataset to netCDF4 (h5netcdf) atomically (temporary file renamed into place,
    removed on failure; a full disk raises ``OSError`` naming the path), with the package
    version in its attrs; returns the path. Every experiment saves through this function.

    Args:
      ds: the Dataset; path: the file to write (missing parent directories are created).
    Returns:
      ``path`` as a ``pathlib.Path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.attrs.setdefault("phasekit_version", phasekit.__version__)
    # serialize in memory first: HDF5 writing straight to a full disk can crash the interpreter;
    # plain Python writes raise OSError instead (and the temporary file is removed)
    data = ds.to_netcdf(engine="h5netcdf")
    return store_lib.atomic_write_bytes(path, data)


def load(path) -> xr.Dataset:
    """Load a Dataset written by :func:`save` (fully into memory).

    Args:
      path: the netCDF file.
    Returns:
      ``xr.Dataset``.
    """
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()
