"""The public API is declared and documented: every module of ``phasekit`` has ``__all__``, each
name in it exists and carries a docstring (its formula or contract), and the package's version is
read from the installed metadata (one source: pyproject.toml)."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import pkgutil

import pytest

import phasekit


def _modules() -> list[str]:
    """phasekit and every module under it whose own name does not start with ``_``."""
    walk = pkgutil.walk_packages(phasekit.__path__, prefix="phasekit.")
    return ["phasekit"] + sorted(
        info.name for info in walk if not info.name.rsplit(".", 1)[-1].startswith("_")
    )


MODULES = _modules()


def test_the_module_list_is_not_empty():
    assert len(MODULES) > 50 and "phasekit.theory.hessian" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_module_declares_and_documents_its_public_names(name):
    module = importlib.import_module(name)
    assert inspect.getdoc(module), f"{name} has no module docstring"
    assert hasattr(module, "__all__"), f"{name} declares no __all__"
    public = list(module.__all__)
    assert len(public) == len(set(public)), f"{name}.__all__ lists a name twice"
    missing = [n for n in public if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what the module lacks: {missing}"
    undocumented = []
    for n in public:
        obj = getattr(module, n)
        if inspect.ismodule(obj):
            continue
        if callable(
            obj
        ):  # functions, classes and jitted functions (their __doc__ is the wrapped one's)
            doc = obj.__doc__  # its own docstring, not one inherited from a base class
            if inspect.isclass(obj) and doc and tuple in obj.__mro__ and doc.startswith(n + "("):
                doc = None  # a NamedTuple's generated "Name(a, b)" is not documentation
            if not (doc and doc.strip()):
                undocumented.append(n)
    assert not undocumented, f"{name}: public names without a docstring: {undocumented}"


def test_version_is_single_sourced():
    assert phasekit.__version__ == importlib.metadata.version("phasekit")
