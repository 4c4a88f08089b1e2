"""The store under concurrent writers, changed layouts, duplicates, a reader during a run, a
full disk and SIGTERM (see phasekit.dynamics.store for the rules)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from phasekit.data import authors_three_points
from phasekit.dynamics import phase, sweep
from phasekit.dynamics import store as store_lib

JOB = str(Path(__file__).with_name("store_job.py"))
AXES = {"g": [0.5, 1.0, 2.0], "width": [4, 8], "seed": [0, 1, 2]}


def _fn(pt, key):
    x = jax.random.normal(key, (pt["width"],))
    return {"v": pt["g"] * jnp.mean(jnp.tanh(x) ** 2), "first": x[0] * jnp.ones(2)}


def _run(store, **kw):
    kw = {"chunk_size": 2, "config": {"lr": 0.1}, "progress": False} | kw
    return sweep.run(_fn, kw.pop("axes", AXES), static=("width",), store=store, **kw)


def _job(*args, env=None):
    return subprocess.Popen(
        [sys.executable, JOB, *map(str, args)],
        env=os.environ | (env or {}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("n_proc", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_processes_sharing_a_store_split_the_work(tmp_path, n_proc):
    """Same grid, same store, no --shard (a resubmitted job): every point is computed once
    (no duplicate in the store) and every process returns the single-process result."""
    ref = _job("-", tmp_path / "ref.nc")
    assert ref.wait() == 0
    store = tmp_path / "store"
    procs = [_job(store, tmp_path / f"p{i}.nc") for i in range(n_proc)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
    report = store_lib.check(store)
    assert report["duplicates"] == 0 and report["points"] == 32 and not report["leases"]
    assert report["chunks"] == 16  # 32 points in chunks of 2: nothing computed twice
    reference = sweep.load(tmp_path / "ref.nc")
    for i in range(n_proc):
        xr.testing.assert_identical(
            reference.drop_attrs(), sweep.load(tmp_path / f"p{i}.nc").drop_attrs()
        )


def test_a_dead_writers_lease_is_taken_over(tmp_path):
    store = tmp_path / "store"
    _run(store, axes={"g": [0.5], "width": [4], "seed": [0, 1]})  # creates the store
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    st = store_lib.Store(store, json.loads((store / "meta.json").read_text()))
    assert st.claim("abc")
    (store / "lease-abc.json").write_text(
        json.dumps({"host": store_lib.HOST, "pid": int(dead), "time": 0})
    )
    assert st.claim("abc")  # its writer is gone: taken over
    st.release("abc")
    assert not (store / "lease-abc.json").exists()


def test_a_lease_being_written_is_not_taken_over(tmp_path):
    """The race CI hit: writer A's lease existed, empty, for an instant before its body was
    written; writer B, starting then, read it as garbage, took it over and computed the chunk a
    second time. A lease now appears whole (hard link of a finished file); an unreadable lease
    is stale only once it is a minute old, and a starting writer leaves a fresh one alone."""
    store = tmp_path / "store"
    _run(store, axes={"g": [0.5], "width": [4], "seed": [0, 1]})
    meta = json.loads((store / "meta.json").read_text())
    st = store_lib.Store(store, meta)
    assert st.claim("whole")
    info = json.loads((store / "lease-whole.json").read_text())  # whole the moment it exists
    assert info["pid"] == os.getpid() and info["host"] == store_lib.HOST
    assert not list(store.glob(".tmp-*"))
    st.release("whole")
    lease = store / "lease-young.json"
    lease.write_bytes(b"")  # another writer's lease, mid-write (a file system without links)
    assert not st.claim("young")
    store_lib.Store(store, meta)  # a writer starting now
    assert lease.exists()
    old = time.time() - 120
    os.utime(lease, (old, old))  # the same garbage, two minutes old: its writer is gone
    assert st.claim("young")
    assert json.loads(lease.read_text())["pid"] == os.getpid()
    st.release("young")


def test_map_path_chunks_are_interchangeable_across_chunk_sizes(tmp_path):
    """lax.map compiles each run's body alone: a store made with chunks of 2 resumed with chunks
    of 6 (or on another device count, test_sweep.py) gives the same bits, so its chunks are
    reused without a word."""
    store = tmp_path / "store"
    _run(store, batching="map")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resumed = _run(store, batching="map", chunk_size=6)
    xr.testing.assert_identical(
        _run(None, batching="map", chunk_size=6).drop_attrs(), resumed.drop_attrs()
    )


def test_a_vmap_store_resumed_under_another_layout_is_never_silently_mixed(tmp_path):
    store = tmp_path / "store"
    _run(store, batching="vmap")
    for p in sorted(store.glob("chunk-*.npz"))[::2]:
        p.unlink()  # a sweep cut after some chunks
    clean_map = _run(None, batching="map")
    with pytest.warns(UserWarning, match="another layout"):
        resumed = _run(store, batching="map")  # default rule: recompute
    xr.testing.assert_identical(clean_map.drop_attrs(), resumed.drop_attrs())
    assert [json.loads(resumed.attrs["layouts"])[0]["batching"]] == ["map"]
    with pytest.raises(ValueError, match="another layout"):
        _run(store, batching="vmap", chunk_size=4, on_layout_change="refuse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # copies of both layouts; any disagreement is reported
        mixed = _run(store, batching="vmap", chunk_size=4, on_layout_change="reuse")
    assert {lay["batching"] for lay in json.loads(mixed.attrs["layouts"])} == {"map", "vmap"}


def test_repeated_loads_are_identical_and_planted_duplicates_resolve_by_one_rule(tmp_path):
    store = tmp_path / "store"
    first = _run(store, batching="map")  # chunks of chunk_size points (continuous flushes differ)

    # plant a later copy of two points with other values (as a crash or an old version could)
    def points_in(path):
        with np.load(path) as z:
            return len(z["out__v"])

    # a chunk of two points (a group of 9 points in chunks of 2 also has a 1-point chunk, and
    # chunk names are random: taking the first by name made this test fail 2 times in 9)
    ch = next(p for p in sorted(store.glob("chunk-*.npz")) if points_in(p) == 2)
    with np.load(ch) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["out__v"] = arrays["out__v"] + 1.0
    arrays["created"] = np.asarray(time.time_ns(), np.int64)
    with open(store / "chunk-0000-planted.npz", "wb") as f:  # sorts first by name
        np.savez(f, **arrays)
    loads = []
    for _ in range(3):
        with pytest.warns(UserWarning, match="2 point\\(s\\).*disagree"):
            loads.append(sweep.open(store))
    for ds in loads:
        xr.testing.assert_identical(first.drop_attrs(), ds.drop_attrs())  # the earliest copy wins
    report = store_lib.check(store)
    assert report["duplicates"] == 2 and len(report["disagreeing"]) == 2


def test_read_only_open_of_a_half_finished_store_computes_nothing(tmp_path):
    store = tmp_path / "pd"
    x, y = authors_three_points()
    cfg = phase.PhaseConfig(
        gammas=(0.5, 1.75), gamma_primes=(0.0,), widths=(100, 200, 400), seeds=2, max_steps=3000
    )
    phase.phase_diagram(x, y, cfg, store=store, shard="0/2", progress=False)
    before = {p: p.stat().st_mtime_ns for p in store.rglob("*")}
    ds = sweep.open(store)
    assert {p: p.stat().st_mtime_ns for p in store.rglob("*")} == before  # no new or changed file
    assert ds.attrs["complete"] == 0 and ds.attrs["fraction_complete"] == 0.5
    fit = phase.add_scaling_exponent(ds)
    assert bool(fit["S_w_poor_fit"].all()) and int(fit["S_w_missing_runs"].sum()) == 6
    assert json.loads(fit.attrs["incomplete_widths"]) == [100, 200, 400]


def _tmpfs(tmp_path, size="300k"):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "full"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    return mnt


def test_full_disk_raises_oserror_and_leaves_no_temporary_file(tmp_path):
    mnt = _tmpfs(tmp_path)
    try:
        big = lambda pt, key: {"v": jax.random.normal(key, (20_000,))}  # 80 kB per point
        with pytest.raises(OSError, match=str(mnt)):
            sweep.run(
                big,
                {"g": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]},
                store=mnt / "store",
                chunk_size=2,
                progress=False,
            )
        assert not list(mnt.rglob(".tmp-*"))
        ds = xr.Dataset({"a": ("x", np.random.default_rng(0).normal(size=200_000))})
        with pytest.raises(OSError, match="results.nc"):
            sweep.save(ds, mnt / "results.nc")
        assert not list(mnt.rglob(".tmp-*")) and not (mnt / "results.nc").exists()
        # an unwritable (full) store is refused before anything is computed
        (mnt / "filler").write_bytes(b"\0" * (os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize))
        with pytest.raises(OSError, match="not writable"):
            sweep.run(
                lambda pt, key: pytest.fail("computed"),
                {"g": [1.0]},
                store=mnt / "store2",
                progress=False,
            )
    finally:
        subprocess.run(["umount", str(mnt)])


def test_sigterm_during_a_sweep_leaves_no_temporary_file_or_lease(tmp_path):
    store = tmp_path / "store"
    proc = _job(store, tmp_path / "never.nc")
    deadline = time.time() + 300
    while time.time() < deadline and not list(store.glob("chunk-*.npz")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0 and not (tmp_path / "never.nc").exists()
    assert not list(store.glob(".tmp-*")) and not list(store.glob("lease-*"))


def test_stale_temporary_files_are_removed_at_the_next_start(tmp_path):
    store = tmp_path / "store"
    _run(store)
    dead = int(
        subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
        ).stdout
    )
    stale = store / f".tmp-{dead}.{store_lib.HOST_ID}.deadbeef-chunk-x.npz"
    stale.write_bytes(b"partial")
    old_format = store / ".tmp-0123abcd-chunk-y.npz"
    old_format.write_bytes(b"partial")
    _run(store)
    assert not stale.exists() and not old_format.exists()


def test_store_check_and_report_of_a_run_in_progress(tmp_path, capsys):
    from phasekit.experiments import cli

    out = tmp_path / "pd"
    assert (
        cli.main(
            [
                "run",
                "phase-diagram",
                "--preset",
                "tiny",
                "--out",
                str(out),
                "--shard",
                "0/2",
                "--no-progress",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert cli.main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert "no results.nc yet" in text and "50% of 4 points" in text
    assert cli.main(["store", "check", str(out / "store" / "grid")]) == 0
    text = capsys.readouterr().out
    assert "2 points in" in text and "duplicated points: 0" in text
