"""Continuous batching (``sweep.run(batching="continuous")``) and the resumable run under it
(``train.resumable``: init / advance / finish).

What is checked, and how exact it is on CPU (float32):
- a run split into any number of ``advance`` calls gives the bits of ``train.run``;
- a point's result does not depend on its lane or its neighbours: bit-identical among early-
  and among late-stopping neighbours (same lane count), on reruns, after kill -9 and resume,
  whatever the steps per round;
- against the same run alone and against ``lax.map`` it is not always bit-identical: XLA
  vectorizes a batch of lanes differently from one run (fused multiply-adds, the order of a
  reduction over a width), so final parameters can differ by an ulp (the regression below) and
  RD* by ~2e-7 relative (the phase grid at width 1000); stop steps and flags are identical.
  Floats are compared to rtol 1e-5 there, and the phase grid's width 100 is bit-identical;
- every in-process continuous sweep on both lane modes (lanes advanced one after another on
  CPU, vmapped on accelerators);
- refills with more, fewer and exactly as many points as lanes; a run that stops at step 0 and
  one that hits the cap; kill -9 and resume gives the same Dataset; reruns are bit-identical.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import xarray as xr

from phasekit.data import authors_three_points
from phasekit.dynamics import phase, sweep, train

JOB = str(Path(__file__).with_name("continuous_job.py"))
X = jnp.linspace(-1, 1, 24).reshape(12, 2)
Y = jnp.sin(3 * X[:, 0]) + X[:, 1]
CAP = 400


def _point(pt, key):
    """Linear regression by GD: the stop step grows as lr shrinks; ``tol`` above L(w0) stops the
    run at step 0; lr tiny hits the cap."""
    w = jax.random.normal(key, (2,))
    loss = train.mse(lambda w, x: x @ w)
    r = train.resumable(
        loss,
        w,
        (X, Y),
        optax.sgd(pt["lr"]),
        steps=CAP,
        n_records=10,
        stop_loss=pt["tol"],
        observe=lambda w: {"norm": jnp.linalg.norm(w)},
    )
    return r.then(
        lambda t: {
            "loss": t.loss,
            "norm": t.observables["norm"],
            "steps": t.n_steps,
            "converged": t.converged,
            "hit_cap": t.hit_cap,
            "w": t.params,
        }
    )


@pytest.fixture(params=[False, True], ids=["lanes-in-turn", "lanes-vmapped"])
def lane_mode(request, monkeypatch):
    """A test that uses it runs on both ways a device advances its lanes: one after another
    (``lax.map``, the CPU default) and as one vectorized batch (``vmap``, the accelerator
    default). In-process continuous sweeps only: the kill-and-resume test's subprocesses take
    the CPU default."""
    monkeypatch.setattr(sweep, "VECTORIZE_LANES", request.param)
    return request.param


KW = dict(progress=False, dims={"loss": ("record",), "norm": ("record",), "w": ("coef",)})


def _sweep(lrs, tols=(0.3,), **kw):
    return sweep.run(_point, {"lr": list(lrs), "tol": list(tols)}, key_axes=("tol",), **KW, **kw)


def _close(a, b, rtol=1e-5):
    """Same dims, coords, stop steps and flags; floats within ``rtol``."""
    assert a.sizes == b.sizes
    for v in a.data_vars:
        if np.issubdtype(a[v].dtype, np.floating):
            np.testing.assert_allclose(a[v].values, b[v].values, rtol=rtol, atol=1e-7, err_msg=v)
        else:
            np.testing.assert_array_equal(a[v].values, b[v].values, err_msg=v)


def test_advance_in_pieces_equals_train_run_bit_for_bit():
    """Minibatch SGD with a key, lr backoff and an observable: init + advance(3) + advance(50) +
    ... + finish equals train.run exactly (PRNG key, record buffers and stop flags carried)."""
    w0 = jnp.array([0.5, -1.0])
    loss = train.mse(lambda w, x: x @ w)
    kw = dict(
        steps=300,
        n_records=12,
        stop_loss=0.5,
        batch_size=6,
        key=jax.random.key(3),
        lr_backoff=0.5,
        observe=lambda w: {"norm": jnp.linalg.norm(w)},
    )
    ref = jax.jit(lambda w: train.run(loss, w, (X, Y), optax.sgd(0.3), **kw))(w0)

    def pieces(w):
        r = train.resumable(loss, w, (X, Y), optax.sgd(0.3), **kw)
        s = r.init()
        for n in (3, 50, 1, 200, 300):
            s = r.advance(s, n)
        return r.finish(s), s

    got, state = jax.jit(pieces)(w0)
    for a, b in zip(jax.tree_util.tree_leaves(ref), jax.tree_util.tree_leaves(got)):
        np.testing.assert_array_equal(a, b)
    assert bool(state.done) and int(state.n_steps) == int(ref.n_steps) < 300
    assert int(state.iters) == int(ref.n_steps) + 1  # the update that found the stop counts


@pytest.mark.usefixtures("lane_mode")
def test_continuous_equals_lax_map_per_point_on_a_reduced_phase_grid():
    cfg = dict(gammas=(0.5, 1.75), gamma_primes=(0.0,), widths=(100, 1000), seeds=2, max_steps=2000)
    x, y = authors_three_points()
    a = phase.phase_diagram(x, y, phase.PhaseConfig(**cfg, batching="map"), progress=False)
    b = phase.phase_diagram(x, y, phase.PhaseConfig(**cfg, batching="continuous"), progress=False)
    assert b.attrs["batching"] == '["continuous"]' and 0 < b.attrs["lane_utilization"] <= 1
    for v in ("steps", "converged", "diverged", "hit_cap"):
        np.testing.assert_array_equal(a[v].values, b[v].values)
    for v in ("rd_star", "loss_star", "lr", "rd", "loss"):
        np.testing.assert_allclose(b[v].values, a[v].values, rtol=1e-5, atol=0)
    np.testing.assert_allclose(b.S_w.values, a.S_w.values, atol=1e-5)
    # width 100: bit-identical to lax.map
    np.testing.assert_array_equal(a.rd_star.sel(width=100).values, b.rd_star.sel(width=100).values)


@pytest.mark.usefixtures("lane_mode")
def test_a_point_does_not_depend_on_its_lane_or_neighbours():
    """lr=0.2 among early-stopping (large lr) and among late-stopping (small lr) neighbours,
    in lanes of 4: identical bits; the run alone and lax.map: the same to float32 rounding."""
    early = _sweep([0.2, 0.5, 0.6, 0.7, 0.8], lanes=4, batching="continuous")
    late = _sweep([0.01, 0.012, 0.015, 0.2, 0.02], lanes=4, batching="continuous")
    alone = _sweep([0.2], batching="continuous")
    mapped = _sweep([0.2, 0.5, 0.01], batching="map")
    n = lambda ds, lr: int(ds.steps.sel(lr=lr, tol=0.3))
    assert n(early, 0.8) < n(early, 0.2) < n(late, 0.02) <= n(late, 0.01)
    pick = lambda ds: ds.sel(lr=[0.2])
    xr.testing.assert_identical(pick(early).drop_attrs(), pick(late).drop_attrs())
    _close(pick(early), pick(alone))
    _close(pick(early), pick(mapped))


@pytest.mark.usefixtures("lane_mode")
@pytest.mark.parametrize("n_points", [9, 3, 4])  # more, fewer, exactly as many points as lanes
def test_refill_with_more_fewer_and_as_many_points_as_lanes(n_points):
    lrs = list(np.round(np.geomspace(0.02, 0.8, n_points), 4))
    cont = _sweep(lrs, tols=(0.3, 5.0), lanes=4, round_steps=16, batching="continuous")
    ref = _sweep(lrs, tols=(0.3, 5.0), batching="map")
    _close(cont, ref)
    assert cont.attrs["complete"] == 1 and 0 < cont.attrs["lane_utilization"] <= 1


@pytest.mark.usefixtures("lane_mode")
def test_device_queues_shorter_than_the_grid_refill_over_many_rounds(monkeypatch):
    """The device refills its lanes from a queue the host hands out each round; with room for
    one output per device (OUT_BYTES tiny) the queue is a lane's worth and the 9 x 2 points take
    many rounds, the host putting back what a device did not take: same results as lax.map."""
    monkeypatch.setattr(sweep, "OUT_BYTES", 1)
    lrs = list(np.round(np.geomspace(0.02, 0.8, 9), 4))
    cont = _sweep(lrs, tols=(0.3, 5.0), lanes=2, round_steps=40, batching="continuous")
    _close(cont, _sweep(lrs, tols=(0.3, 5.0), batching="map"))
    assert cont.attrs["complete"] == 1


@pytest.mark.usefixtures("lane_mode")
def test_a_run_stopping_at_step_0_and_one_hitting_the_cap():
    """tol above L(w0): converged with 0 updates, every record the initial loss; lr tiny: the
    cap, n_steps == CAP and the last record at step CAP."""
    ds = _sweep([1e-4, 0.3], tols=(1e3, 0.3), lanes=2, batching="continuous")
    ref = _sweep([1e-4, 0.3], tols=(1e3, 0.3), batching="map")
    _close(ds, ref)
    at0 = ds.sel(lr=0.3, tol=1e3)
    assert int(at0.steps) == 0 and bool(at0.converged)
    np.testing.assert_array_equal(at0.loss.values, at0.loss.values[0])
    capped = ds.sel(lr=1e-4, tol=0.3)
    assert int(capped.steps) == CAP and bool(capped.hit_cap)
    assert float(capped.loss[-1]) < float(capped.loss[0])


@pytest.mark.usefixtures("lane_mode")
def test_reruns_are_bit_identical_and_non_resumable_points_fall_back():
    a = _sweep([0.05, 0.1, 0.2], lanes=2, round_steps=7, batching="continuous")
    b = _sweep([0.05, 0.1, 0.2], lanes=2, round_steps=50, batching="continuous")
    xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())
    plain = sweep.run(
        lambda pt, k: {"v": pt["lr"] * 2}, {"lr": [1.0, 2.0]}, batching="continuous", progress=False
    )
    assert plain.attrs["batching"] == '["map"]' and np.isnan(plain.attrs["lane_utilization"])
    np.testing.assert_array_equal(plain.v.values, [2.0, 4.0])
    with pytest.raises(ValueError, match="lanes"):
        _sweep([0.1], lanes=0, batching="continuous")
    with pytest.raises(ValueError, match="batching"):
        _sweep([0.1], batching="lanes")


def _job(*args, wait=True):
    env = os.environ | {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    cmd = [sys.executable, JOB, *map(str, args)]
    if wait:
        subprocess.run(cmd, check=True, env=env, timeout=600)
        return None
    return subprocess.Popen(cmd, env=env)


def test_kill_then_resume_gives_the_same_dataset(tmp_path):
    """Two devices (lanes sharded), 2-point chunks: kill -9 after the first chunk, rerun: the
    in-flight runs restart from their initial state and the Dataset is identical."""
    _job("-", tmp_path / "reference.nc")
    store = tmp_path / "store"
    proc = _job(store, tmp_path / "never.nc", wait=False)
    deadline = time.time() + 300
    while time.time() < deadline and not list(store.glob("chunk-*.npz")):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(store.glob("chunk-*.npz")) and not (tmp_path / "never.nc").exists(), (
        "the kill came too late"
    )
    _job(store, tmp_path / "resumed.nc")
    ref, res = sweep.load(tmp_path / "reference.nc"), sweep.load(tmp_path / "resumed.nc")
    assert ref.attrs["device_count"] == 2 and ref.attrs["complete"] == 1
    xr.testing.assert_identical(ref.drop_attrs(), res.drop_attrs())


@pytest.mark.usefixtures("lane_mode")
def test_recovery_point_as_a_resumable_run_matches_recovery_point():
    """The recovery experiments' point (every (seed, lr) run stacked into one resumable run,
    stopping at stop_loss) gives recovery_point's outputs; through a continuous sweep too."""
    from phasekit.dynamics import recovery as rec

    task = rec.regression_task(
        lambda w, x: x @ w,
        lambda k: jax.random.normal(k, (2,)),
        lambda x, c: x @ jnp.array([1.0, -0.5]),
        lambda k, n: jax.random.normal(k, (n, 2)),
        n_max=6,
        x_test=X,
    )
    kw = dict(lrs=[0.05, 0.2], steps=300, stop_loss=1e-3, n_seeds=2)
    key = jax.random.key(1)
    ref = jax.jit(lambda n: rec.recovery_point(task, {"n": n}, 0.5, key, **kw))(5)

    def staged(n):
        r = rec.recovery_point_run(task, {"n": n}, 0.5, key, **kw)
        return r.finish(r.advance(r.init(), r.steps))

    got = jax.jit(staged)(5)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-8, err_msg=k)
    ds = sweep.run(
        lambda pt, k: rec.recovery_point_run(task, {"n": pt["n"]}, 0.5, k, **kw),
        {"n": [2, 3, 4, 5]},
        batching="continuous",
        lanes=2,
        progress=False,
    )
    mp = sweep.run(
        lambda pt, k: rec.recovery_point(task, {"n": pt["n"]}, 0.5, k, **kw),
        {"n": [2, 3, 4, 5]},
        batching="map",
        progress=False,
    )
    _close(ds, mp)
