"""Generate the API reference: one page per public phasekit module, from its ``__all__``.

At the start of every Sphinx build (``builder-inited``) this writes ``docs/api/<module>.rst``
for every importable module of the package whose name has no component starting with ``_``,
and ``docs/api/index.rst`` with their toctree. A page documents, with ``automodule``:

- every name of the module's ``__all__`` that is defined there (or that no other documented
  module documents);
- names re-exported from another documented module as links to the page that documents them
  (so each object has one entry, and ``-n`` resolves every link).

A module without ``__all__`` falls back to its public functions and classes defined in it.
:func:`plan` is the pure part (used by ``tests/test_docs.py``): module -> (own names,
re-exported names with their target).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

PACKAGE = "phasekit"
SKIP = {"phasekit.__main__"}


def modules(package: str = PACKAGE) -> list[str]:
    """Names of the public modules of ``package`` (the package itself included), sorted."""
    pkg = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(pkg.__path__, prefix=package + "."):
        if info.name in SKIP or any(part.startswith("_") for part in info.name.split(".")):
            continue
        names.append(info.name)
    return sorted(names)


def public_names(mod) -> list[str]:
    """``mod.__all__``, or its public functions and classes defined in it when it has none."""
    if hasattr(mod, "__all__"):
        return [str(n) for n in mod.__all__]
    try:
        source = inspect.getsource(mod)
    except (OSError, TypeError):
        source = ""
    return [
        n
        for n, v in vars(mod).items()
        if not n.startswith("_")
        and (
            (inspect.isfunction(v) or inspect.isclass(v))
            and getattr(v, "__module__", None) == mod.__name__
            or n.isupper()
            and re.search(rf"^{n}\s*[:=]", source, re.M)
        )
    ]


def _home(obj):
    """The module a function or class (or other callable) says it was defined in, else None."""
    if inspect.ismodule(obj) or not (inspect.isclass(obj) or callable(obj)):
        return None
    home = getattr(obj, "__module__", None)
    return home if isinstance(home, str) else None


def plan(package: str = PACKAGE) -> dict[str, dict]:
    """For each public module: ``own`` (names documented on its page) and ``links``
    (name -> the ``module.name`` target documenting it elsewhere)."""
    mods = {m: importlib.import_module(m) for m in modules(package)}
    names = {m: public_names(mod) for m, mod in mods.items()}
    # the page documenting an object: its home module when that page lists it, else the first
    # module (in name order, packages before their submodules) that exports it
    where: dict[int, str] = {}
    for m, mod in mods.items():
        for n in names[m]:
            obj = getattr(mod, n)
            home = _home(obj)
            if home in mods and n in names[home] and getattr(mods[home], n, None) is obj:
                where[id(obj)] = home
    out: dict[str, dict] = {}
    for m, mod in mods.items():
        own, links = [], {}
        for n in names[m]:
            obj = getattr(mod, n)
            if _home(obj) is None:  # data, aliases, modules: on the deepest module exporting them
                deeper = [
                    s
                    for s in mods
                    if s.startswith(m + ".") and n in names[s] and getattr(mods[s], n, None) is obj
                ]
                if deeper and _kind(obj) != "module":
                    links[n] = f"{max(deeper, key=len)}.{n}"
                else:
                    own.append(n)
                continue
            target = where.setdefault(id(obj), m)
            if target == m:
                own.append(n)
            else:
                links[n] = f"{target}.{n}"
        out[m] = {
            "own": own,
            "links": links,
            "kinds": {n: _kind(getattr(mod, n)) for n in own},
            "values": {n: _value(getattr(mod, n)) for n in own},
            "docs": _attr_docs(m, own),
        }
    return out


def _value(obj) -> str:
    """A short one-line value to show for a data member ('' when long or multi-line)."""
    text = getattr(obj, "__name__", None) if isinstance(obj, type) else None
    text = text or repr(obj)
    return text if len(text) <= 100 and "\n" not in text else ""


def _attr_docs(modname: str, names) -> dict[str, list[str]]:
    """The documentation strings of module-level assignments, made reST-safe."""
    import pkdocs
    from sphinx.pycode import ModuleAnalyzer

    try:
        docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
    except Exception:  # no source (compiled module)
        return {}
    out = {}
    for n in names:
        lines = docs.get(("", n))
        if lines:
            out[n] = pkdocs.fix_docstring([line.rstrip("\n") for line in lines])
    return out


def _kind(obj) -> str:
    """class / function (defined in phasekit: documented by automodule) / module / data."""
    if inspect.ismodule(obj):
        return "module"
    if not str(getattr(obj, "__module__", "")).startswith(PACKAGE):
        return "data"  # constants, type aliases, objects of other packages
    if inspect.isclass(obj):
        return "class"
    return "function" if callable(obj) else "data"


def _role(obj_kind: str) -> str:
    return {"class": "class", "function": "func", "module": "mod"}.get(obj_kind, "obj")


def render(m: str, entry: dict) -> str:
    """The reST of the page of module ``m``."""
    title = f"``{m}``"
    lines = [title, "=" * len(title), "", f".. automodule:: {m}"]
    own = [n for n in entry["own"] if entry["kinds"][n] in ("class", "function")]
    if own:
        lines.append("   :members: " + ", ".join(own))
    else:
        lines.append("   :no-members:")
    others = [n for n in entry["own"] if n not in own] + list(entry["links"])
    if own and others:  # documented below or on their own module's page
        lines.append("   :exclude-members: " + ", ".join(others))
    lines.append("")
    for n in entry["own"]:  # data and aliases: their "#:" or following-string docs
        if entry["kinds"][n] == "data":
            lines += [f".. py:data:: {n}", f"   :module: {m}"]
            if entry["values"].get(n):
                lines.append(f"   :value: {entry['values'][n]}")
            lines.append("")
            lines += ["   " + line if line.strip() else "" for line in entry["docs"].get(n, [])]
            lines.append("")
    submods = [n for n in entry["own"] if entry["kinds"][n] == "module"]
    if submods:
        lines += ["Submodules exported here: " + ", ".join(f":mod:`{m}.{n}`" for n in submods), ""]
    if entry["links"]:
        lines += [
            "Re-exported here",
            "----------------",
            "",
            ".. list-table::",
            "   :header-rows: 0",
            "",
        ]
        for n, target in entry["links"].items():
            lines += [f"   * - ``{n}``", f"     - :py:obj:`{target}`"]
        lines.append("")
    return "\n".join(lines)


def write(outdir: Path, package: str = PACKAGE) -> dict[str, dict]:
    """Write one page per module and the index into ``outdir``; return the plan."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    p = plan(package)
    keep = set()
    for m, entry in p.items():
        path = outdir / f"{m}.rst"
        text = render(m, entry)
        if not path.exists() or path.read_text() != text:  # unchanged pages keep their mtime
            path.write_text(text)
        keep.add(path.name)
    groups: dict[str, list[str]] = {}
    for m in p:
        parts = m.split(".")
        groups.setdefault(".".join(parts[:2]) if len(parts) > 1 else m, []).append(m)
    idx = [
        "API reference",
        "=============",
        "",
        "Generated from the docstrings: one page per public module, covering every name of its",
        "``__all__`` (re-exported names link to the page of the module that defines them).",
        "",
    ]
    for g, ms in groups.items():
        idx += [f"``{g}``", "-" * (len(g) + 4), "", ".. toctree::", "   :maxdepth: 1", ""]
        idx += [f"   {m}" for m in ms]
        idx.append("")
    text = "\n".join(idx)
    index = outdir / "index.rst"
    if not index.exists() or index.read_text() != text:
        index.write_text(text)
    keep.add("index.rst")
    for stale in outdir.glob("*.rst"):
        if stale.name not in keep:
            stale.unlink()
    return p


def _on_builder_inited(app):
    write(Path(app.srcdir) / "api")


def setup(app):
    app.connect("builder-inited", _on_builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
