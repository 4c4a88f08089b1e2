"""Sweeps: resume after kill -9 is bit-exact, keys depend on coordinates only, sharding over
processes and devices gives the single-process result."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from phasekit.dynamics import sweep

JOB = str(Path(__file__).with_name("sweep_job.py"))


def _job(*args, env=None, wait=True):
    env = {**os.environ, **(env or {})}
    if wait:
        subprocess.run([sys.executable, JOB, *map(str, args)], check=True, env=env, timeout=600)
        return None
    return subprocess.Popen([sys.executable, JOB, *map(str, args)], env=env)


def test_resume_after_kill_is_bit_identical(tmp_path):
    """kill -9 a sweep after its first chunk is on disk, rerun the same command: the Dataset
    equals an uninterrupted run's, bit for bit."""
    _job("-", tmp_path / "reference.nc")
    store = tmp_path / "store"
    proc = _job(store, tmp_path / "never.nc", wait=False)
    deadline = time.time() + 300
    while time.time() < deadline and not list(store.glob("chunk-*.npz")):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = len(list(store.glob("chunk-*.npz")))
    assert n_before >= 1 and not (tmp_path / "never.nc").exists(), "the kill came too late"
    _job(store, tmp_path / "resumed.nc")
    ref, res = sweep.load(tmp_path / "reference.nc"), sweep.load(tmp_path / "resumed.nc")
    assert ref.attrs["complete"] == 1
    xr.testing.assert_identical(ref.drop_attrs(), res.drop_attrs())
    assert ref.attrs["config"] == res.attrs["config"]


def test_two_devices_shard_and_match_one_device(tmp_path):
    """XLA_FLAGS=--xla_force_host_platform_device_count=2: chunks are split over 2 devices
    (shard_map) and every run gives the same bits as on one device."""
    _job("-", tmp_path / "one.nc", env={"PHASEKIT_CPU_DEVICES": "1"})
    _job("-", tmp_path / "two.nc", env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    one, two = sweep.load(tmp_path / "one.nc"), sweep.load(tmp_path / "two.nc")
    assert one.attrs["device_count"] == 1 and two.attrs["device_count"] == 2
    xr.testing.assert_identical(one.drop_attrs(), two.drop_attrs())


def _fn(pt, key):
    x = jax.random.normal(key, (pt["width"],))
    return {"v": pt["g"] * jnp.mean(x**2), "first": x[0] * jnp.ones(2)}


def test_keys_depend_on_coordinates_so_growing_the_grid_keeps_points():
    small = sweep.run(
        _fn, {"g": [0.5, 1.0], "width": [4, 8], "seed": [0, 1]}, static=("width",), progress=False
    )
    grown = sweep.run(
        _fn,
        {"g": [0.25, 0.5, 1.0, 3.0], "width": [4, 8, 16], "seed": [0, 1, 2]},
        static=("width",),
        progress=False,
    )
    xr.testing.assert_equal(small["v"], grown["v"].sel(g=[0.5, 1.0], width=[4, 8], seed=[0, 1]))
    assert small["v"].dims == ("g", "width", "seed") and small["first"].shape == (2, 2, 2, 2)
    # key_axes: every g shares the key of its (width, seed)
    shared = sweep.run(
        _fn,
        {"g": [0.5, 1.0], "width": [4], "seed": [0, 1]},
        static=("width",),
        key_axes=("width", "seed"),
        progress=False,
    )
    np.testing.assert_array_equal(shared["first"].sel(g=0.5), shared["first"].sel(g=1.0))


def test_shards_fill_one_store(tmp_path):
    axes = {"g": [0.5, 1.0, 2.0], "width": [4, 8], "seed": [0, 1, 2]}
    parts = [
        sweep.run(_fn, axes, static=("width",), store=tmp_path, shard=f"{i}/3", progress=False)
        for i in range(3)
    ]
    assert parts[0].attrs["complete"] == parts[1].attrs["complete"] == 0
    assert np.isnan(parts[0]["v"].values).sum() == 12  # 6 of 18 points are shard 0's
    assert parts[2].attrs["complete"] == 1  # the last shard sees the others' chunks
    merged = sweep.run(_fn, axes, static=("width",), store=tmp_path, progress=False)
    full = sweep.run(_fn, axes, static=("width",), progress=False)
    assert merged.attrs["complete"] == 1
    xr.testing.assert_equal(merged, full)


def test_bad_sweeps_raise_value_error_naming_the_field(tmp_path):
    with pytest.raises(ValueError, match="axes"):
        sweep.run(_fn, {"g": []}, progress=False)
    with pytest.raises(ValueError, match="axes"):
        sweep.run(_fn, {"g": [1.0, 1.0], "width": [4]}, static=("width",), progress=False)
    with pytest.raises(ValueError, match="static"):
        sweep.run(_fn, {"g": [1.0]}, static=("width",), progress=False)
    with pytest.raises(ValueError, match="shard"):
        sweep.run(_fn, {"g": [1.0], "width": [4]}, static=("width",), shard="3/2", progress=False)
    sweep.run(
        _fn,
        {"g": [1.0], "width": [4]},
        static=("width",),
        store=tmp_path,
        config={"lr": 1},
        progress=False,
    )
    with pytest.raises(ValueError, match="store"):
        sweep.run(
            _fn,
            {"g": [1.0], "width": [4]},
            static=("width",),
            store=tmp_path,
            config={"lr": 2},
            progress=False,
        )


def test_auto_chunk_size_is_memory_bounded():
    """vmap: runs per chunk = budget // (bytes of one compiled run); map: 32 per device."""
    one = lambda d, k: {"v": jnp.sum(jax.random.normal(k, (1000,)) * d["g"])}
    args = ({"g": np.float32(1.0)}, jax.random.key(0))
    small = sweep.auto_chunk_size(one, args, "vmap", n_dev=1, memory_budget=40_000)
    large = sweep.auto_chunk_size(one, args, "vmap", n_dev=1, memory_budget=400_000)
    assert 1 <= small < large <= 4096 and large >= 5 * small
    assert sweep.auto_chunk_size(one, args, "map", n_dev=2) == 64
    auto = sweep.run(
        _fn,
        {"g": [0.5, 1.0], "width": [4, 8], "seed": [0, 1]},
        static=("width",),
        batching="vmap",
        progress=False,
    )
    fixed = sweep.run(
        _fn,
        {"g": [0.5, 1.0], "width": [4, 8], "seed": [0, 1]},
        static=("width",),
        batching="vmap",
        chunk_size=2,
        progress=False,
    )
    xr.testing.assert_allclose(auto, fixed)
