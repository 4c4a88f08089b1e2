"""The declared dependency floors are the ones CI proves: pyproject.toml's ``>=`` bounds equal the
pins of .ci/min-constraints.txt (installed by .ci/min-versions, which runs the core tests on
them), and the environment running these tests satisfies every declared floor."""

from __future__ import annotations

import importlib.metadata as md
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _floors() -> dict[str, Version]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    out = {}
    for text in deps:
        req = Requirement(text)
        lows = [Version(s.version) for s in req.specifier if s.operator == ">="]
        assert len(lows) == 1, f"{text}: every runtime dependency states one floor (>=)"
        out[req.name.lower()] = lows[0]
    return out


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / ".ci" / "min-constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line).groups()
            pins[name.lower()] = Version(version)
    return pins


def test_ci_installs_exactly_the_declared_floors():
    floors, pins = _floors(), _pins()
    assert {k: v for k, v in pins.items() if k in floors} == floors
    assert pins["jaxlib"] == floors["jax"], (
        "jaxlib is pinned with jax (jax requires its own jaxlib)"
    )


def test_this_environment_satisfies_every_declared_floor():
    for name, floor in _floors().items():
        assert Version(md.version(name)) >= floor, (
            f"{name} {md.version(name)} < declared floor {floor}"
        )
