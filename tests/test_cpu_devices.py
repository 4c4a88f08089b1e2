"""phasekit's CPU devices: one per core, and a thread pool that batched linear algebra on every
device at once cannot deadlock.

jaxlib 0.10's batched LAPACK kernels split a batch over XLA's CPU intra-op pool and block the
calling pool thread until the pieces finish; with one pool thread per core and one device per
core, a vmapped ``eigh`` or ``solve`` sharded over the devices left every thread waiting (0% CPU,
forever). This reproduction hung on jaxlib 0.10.2 with 2 devices on 2 cores whenever
``PJRT_NPROC`` was left at the core count; importing phasekit must make it finish.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

REPRO = textwrap.dedent(
    """
    import os, sys
    import phasekit  # sets the CPU devices and the pool before the backend starts
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    assert jax.device_count() == 2, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("d",))
    a = jax.random.normal(jax.random.key(0), (16, 200, 200))
    a = jax.device_put(a + jnp.swapaxes(a, 1, 2), NamedSharding(mesh, P("d")))
    eigh = jax.jit(jax.vmap(lambda x: jnp.linalg.eigh(x)[0]))
    solve = jax.jit(jax.vmap(lambda x: jnp.linalg.solve(x, jnp.ones(x.shape[0]))))
    for _ in range(20):
        w = eigh(a).block_until_ready()
        s = solve(a).block_until_ready()
    # the batched kernels still compute what one matrix at a time computes
    w0 = np.linalg.eigvalsh(np.asarray(a[3], np.float64))
    assert np.allclose(np.asarray(w[3]), w0, rtol=1e-3, atol=1e-2), "eigh"
    s0 = np.linalg.solve(np.asarray(a[5], np.float64), np.ones(200))
    assert np.allclose(np.asarray(s[5]), s0, rtol=1e-2, atol=1e-2), "solve"
    print("pool", os.environ.get("PJRT_NPROC"), "ok")
    """
)


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("PJRT_NPROC", "NPROC", "XLA_FLAGS")}
    env.update(JAX_PLATFORMS="cpu", PHASEKIT_CPU_DEVICES="2", **extra)
    return env


def test_batched_linear_algebra_on_every_device_at_once_does_not_deadlock():
    out = subprocess.run(
        [sys.executable, "-c", REPRO], env=_env(), capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    cores = len(os.sched_getaffinity(0))
    assert out.stdout.split() == ["pool", str(max(cores, 2) + 1), "ok"]


def test_a_pool_size_set_by_the_user_is_kept():
    code = "import os, phasekit; print(os.environ['PJRT_NPROC'])"
    out = subprocess.run(
        [sys.executable, "-c", code], env=_env(PJRT_NPROC="7"), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "7"
