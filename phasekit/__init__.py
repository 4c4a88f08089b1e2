"""phasekit: a JAX/Flax toolkit for the science of how neural networks train.

Subpackages follow one dependency direction: models <- theory <- dynamics <- experiments <- cli/viz.

On import, phasekit asks JAX for one CPU device per available core (when the process has not
configured its CPU devices itself and no JAX computation has run yet): sweeps shard their
runs over all local devices, so on a CPU machine every core trains runs in parallel.
Set ``PHASEKIT_CPU_DEVICES=N`` to choose the number (1 turns this off). With several CPU
devices it also widens XLA's CPU thread pool (``PJRT_NPROC``), so that batched linear algebra
on every device at once cannot deadlock it (see ``_widen_intra_op_pool``).
"""

import os
import re
from importlib.metadata import PackageNotFoundError, version

import jax

try:  # one source for the version: pyproject.toml, read from the installed package's metadata
    __version__ = version("phasekit")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]


def _one_cpu_device_per_core():
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    forced = re.search(
        r"xla_force_host_platform_device_count=(\d+)", os.environ.get("XLA_FLAGS", "")
    )
    if forced:
        devices = int(forced.group(1))
    elif jax.config.jax_num_cpu_devices not in (-1, None):
        devices = int(jax.config.jax_num_cpu_devices)
    else:
        devices = max(int(os.environ.get("PHASEKIT_CPU_DEVICES", cores)), 1)
        try:
            jax.config.update("jax_num_cpu_devices", devices)
        except RuntimeError:  # a JAX backend is already running: keep the caller's devices
            return
    _widen_intra_op_pool(devices, cores)


def _widen_intra_op_pool(devices: int, cores: int) -> None:
    """Give XLA's CPU intra-op thread pool ``max(cores, devices) + 1`` threads when there are
    several CPU devices (unless ``PJRT_NPROC`` or ``NPROC`` is set; XLA reads it when the CPU
    client starts).

    jaxlib 0.10's batched LAPACK kernels (its ``ParallelBatchMap``: a batched ``eigh`` and
    ``solve`` hung here; ``svd``, ``qr`` and ``cholesky`` did not in the same test) split the
    batch over that pool and block the calling pool thread until the pieces finish. The pool has
    one thread per core, so when every device runs such a kernel at once (a vmapped ``eigh`` in a
    sweep sharded over one device per core) every thread waits for pieces that no thread is left
    to run: the process hangs at 0% CPU (``tests/test_cpu_devices.py`` has the reproduction).
    One thread more than the devices leaves one free to run the pieces. More threads than that
    cost time: ``cores + devices`` (this rule's first form) made the anchor Transformer's
    sweep 1.5x slower on 2 cores (92 s against 62 s with 2 threads and 69 s with 3), with a
    third of the CPU time in the kernel. jaxlib 0.9 has no such path.
    """
    if devices > 1 and "PJRT_NPROC" not in os.environ and "NPROC" not in os.environ:
        os.environ["PJRT_NPROC"] = str(max(cores, devices) + 1)


_one_cpu_device_per_core()
