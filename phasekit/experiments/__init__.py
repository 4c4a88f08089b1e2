"""The book's experiments as library functions: one registry, one CLI, resumable results.

    from phasekit import experiments
    experiments.names()                                   # every registered experiment
    res = experiments.execute("phase-diagram", preset="tiny", out="results/pd")
    res.ds                                                # xarray.Dataset (config + version in attrs)
    for c in res.claims: print(c.statement, c.measured, c.verdict)

Each area module (phase, condensation, embedding, dropout, rank, frequency, landscape, ntk,
course, phenomena: grokking, lottery, scaling, double_descent, collapse, connectivity; anchor, pde
where present) defines its experiments once: a frozen config dataclass with presets tiny / quick /
paper, ``run(cfg, store=None, shard=None)`` through :func:`phasekit.dynamics.sweep.run`,
``claims(ds)`` and figures drawn by :mod:`phasekit.viz` from the Dataset alone; see
:mod:`phasekit.experiments.base`. Area modules are found automatically: every module of this
package other than base, runner and cli registers its experiments on import.
"""

from __future__ import annotations

import importlib
import pkgutil

from phasekit.experiments.base import (
    HELD,
    NOT_APPLICABLE,
    NOT_HELD,
    PRESETS,
    REGISTRY,
    Claim,
    Config,
    Experiment,
    claim,
    describe,
    param,
    register,
)
from phasekit.experiments.runner import Result, execute, get, load, report, reproduce, save

__all__ = [
    "Claim",
    "Config",
    "Experiment",
    "HELD",
    "NOT_APPLICABLE",
    "NOT_HELD",
    "PRESETS",
    "Result",
    "claim",
    "describe",
    "execute",
    "get",
    "load",
    "names",
    "param",
    "register",
    "registry",
    "report",
    "reproduce",
    "save",
]

_INFRASTRUCTURE = {"base", "runner", "cli"}


def registry() -> dict[str, Experiment]:
    """All registered experiments by name (imports every area module once)."""
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _INFRASTRUCTURE and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    return dict(sorted(REGISTRY.items(), key=lambda kv: (kv[1].area, kv[0])))


def names() -> list[str]:
    """The registered experiments' names, ordered by area then name (as :func:`registry`)."""
    return list(registry())
