"""phasekit: a JAX/Flax toolkit for the science of how neural networks train.

Subpackages follow one dependency direction: models <- theory <- dynamics <- experiments <- cli/viz.

On import, phasekit asks JAX for one CPU device per available core (when the process has not
configured its CPU devices itself and no JAX computation has run yet): sweeps shard their
runs over all local devices, so on a CPU machine every core trains runs in parallel.
Set ``PHASEKIT_CPU_DEVICES=N`` to choose the number (1 turns this off).
"""

import os
from importlib.metadata import PackageNotFoundError, version

import jax

try:  # one source for the version: pyproject.toml, read from the installed package's metadata
    __version__ = version("phasekit")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]


def _one_cpu_device_per_core():
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    if jax.config.jax_num_cpu_devices not in (-1, None):
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    count = int(os.environ.get("PHASEKIT_CPU_DEVICES", cores or 1))
    try:
        jax.config.update("jax_num_cpu_devices", max(count, 1))
    except RuntimeError:  # a JAX backend is already running: keep the caller's devices
        pass


_one_cpu_device_per_core()
