"""Sphinx glue for phasekit's docstrings (no change to the library's text is needed).

phasekit's docstrings are written to be read in a terminal: formulas in plain text with
``|x|``, ``a*b`` and ``w_``, and layouts (file trees, examples, tables of values) as indented
blocks. Under reStructuredText those are markup (substitutions, emphasis, references, block
quotes), so a strict build would stop at each. Before napoleon reads a docstring
(``autodoc-process-docstring``, priority 400) this extension:

- turns an indented block that follows a blank line into a literal block (it is a layout or
  an example, shown as written), unless it belongs to a directive, a list, a field list or a
  napoleon section, and ends every indented run with a blank line;
- escapes, outside inline literals, roles and literal blocks, the characters that would start
  markup the docstrings never mean: ``|`` (substitutions), a ``*`` that does not close an
  ``*emphasis*`` pair, a trailing ``_`` after a word (a reference).

It also resolves the docstrings' abbreviated cross-references: ``:func:`train.run``` written
inside :mod:`phasekit.dynamics` means :func:`phasekit.dynamics.train.run`. A reference whose
target is not found as written is looked up by suffix among the documented phasekit objects
and resolved when exactly one matches; otherwise it stays broken (and fails the build).
"""

from __future__ import annotations

import re

from sphinx.util.nodes import make_refnode

SECTION = re.compile(
    r"^\s*(Args|Arguments|Parameters|Params|Returns?|Yields?|Raises|Attributes|Examples?|Notes?|"
    r"Warnings?|See Also|References|Keyword Args|Keyword Arguments|Other Parameters|Methods|"
    r"Todo)\s*:\s*$"
)
LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)]|#\.|\([a-z0-9]+\))\s+")
FIELD = re.compile(r"^\s*:[^:]+:")
# inline spans left untouched: ``literal``, :role:`text`, `text`, $math$
PROTECTED = re.compile(r"``.+?``|:[\w:.+-]+:`[^`]*`|`[^`]*`_{0,2}|\$[^$\n]+\$")
ITEM = re.compile(r"^\s*\*{0,2}[\w.]+(\s*[,/]\s*\*{0,2}[\w.]+)*\s*(\([^)]*\))?\s*:(\s|$)")
NAMES = re.compile(r"^(\s*)([\w*]+(?:\s*[,/]\s*[\w*]+)+)(?=\s*(\(.*?\))?\s*:)")
EMPHASIS = re.compile(r"(?<![\w*\\])(\*\*?)(?=\S)([^*\n]*?\S)\1(?![\w*])")


def _one_name(names: str) -> str:
    """Several argument names as one field name without whitespace (reST field lists split a
    name at whitespace into "type name"): "a / b" -> "a/b", "a, b" -> "a,<zero-width space>b"."""
    names = re.sub(r"\s*/\s*", "/", names)
    return re.sub(r"\s*,\s*", ",\u200b", names)


def _join_name_lists(lines: list[str]) -> list[str]:
    """Join an argument item whose list of names runs onto the next line(s):
    "a, b,\n    c: text" -> "a, b, c: text"."""
    out: list[str] = []
    for line in lines:
        if out and re.fullmatch(r"\s*[\w*]+(\s*,\s*[\w*]+)*\s*,", out[-1]) and line.strip():
            out[-1] = out[-1].rstrip() + " " + line.strip()
        else:
            out.append(line)
    return out


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _escape_text(text: str) -> str:
    """Escape ``|``, stray ``*`` and trailing ``_`` in a run of plain text."""
    keep: list[str] = []

    def hold(m):
        keep.append(m.group(0))
        return f"\x00{len(keep) - 1}\x00"

    text = EMPHASIS.sub(hold, text)  # real *emphasis* / **strong** pairs stay markup
    text = text.replace("|", r"\|").replace("*", r"\*")
    text = re.sub(r"(?<=[\w)\]])_(?=\W|$)", r"\\_", text)
    return re.sub("\x00(\\d+)\x00", lambda m: keep[int(m.group(1))], text)


def escape_inline(line: str) -> str:
    """Escape one line outside its protected spans."""
    out, pos = [], 0
    for m in PROTECTED.finditer(line):
        out.append(_escape_text(line[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_escape_text(line[pos:]))
    return "".join(out)


def fix_docstring(lines: list[str]) -> list[str]:
    """The reST-safe version of a plain-text docstring (list of lines, as autodoc gives)."""
    lines = _join_name_lists(lines)
    out: list[str] = []
    section_kind, item_indent = "", None
    literal_indent = None  # inside a literal block / directive body: its base indent
    section_indent = None  # inside a napoleon section: the header's indent
    prev = ""  # previous non-blank line (as output)
    prev_blank = True
    for line in lines:
        if not line.strip():
            out.append(line)
            prev_blank = True
            continue
        ind = _indent(line)
        if literal_indent is not None:
            if ind > literal_indent:
                out.append(line)
                prev, prev_blank = line, False
                continue
            literal_indent = None
            if not prev_blank:
                out.append("")
                prev_blank = True
        if section_indent is not None and ind <= section_indent and not SECTION.match(line):
            section_indent = None
            if not prev_blank:
                out.append("")
                prev_blank = True
        pind = _indent(prev) if prev else 0
        if SECTION.match(line):
            section_indent = ind
            section_kind = SECTION.match(line).group(1)
            item_indent = None
        elif section_indent is not None:
            if item_indent is None:
                item_indent = ind
            if section_kind in ("Args", "Arguments", "Parameters", "Params", "Attributes"):
                if ind == item_indent and not ITEM.match(line) and not prev_blank:
                    line = " " * (ind + 2) + line.lstrip()  # a continuation, not an item
                elif ind == item_indent:  # "a / b: ..." or "a, b: ..." names several arguments
                    line = NAMES.sub(lambda m: m.group(1) + _one_name(m.group(2)), line)
            elif section_kind.startswith(("Return", "Yield")) and ind > item_indent:
                # a layout inside the returned value's description: show it as written
                if not prev.rstrip().endswith("::"):
                    out[-1] = out[-1].rstrip() + (":" if out[-1].rstrip().endswith(":") else " ::")
                out.append("")
                literal_indent = item_indent
                out.append(line)
                prev, prev_blank = line, False
                continue
        elif section_indent is None and prev and ind > pind:
            starts_body = (
                prev.rstrip().endswith("::")
                or prev.lstrip().startswith("..")
                or LIST_ITEM.match(prev)
                or FIELD.match(prev)
            )
            if starts_body:
                if prev.rstrip().endswith("::") or prev.lstrip().startswith(".."):
                    literal_indent = pind
                    out.append(line)
                    prev, prev_blank = line, False
                    continue
            elif prev_blank:  # a layout or an example: show it as written
                out.append(" " * pind + "::")
                out.append("")
                literal_indent = pind
                out.append(line)
                prev, prev_blank = line, False
                continue
            else:  # a continuation indented deeper: join it to its paragraph's indent
                line = " " * pind + line.lstrip()
                ind = pind
        elif section_indent is None and prev and ind < pind and not prev_blank:
            out.append("")  # close the indented run
        elif (
            section_indent is None
            and prev
            and not prev_blank
            and ind == pind
            and LIST_ITEM.match(line)
            and not LIST_ITEM.match(prev)
        ):
            out.append("")  # a list right under its heading line
        out.append(escape_inline(line) if not line.lstrip().startswith("..") else line)
        prev, prev_blank = out[-1], False
    return out


def _process_docstring(app, what, name, obj, options, lines):
    fixed = fix_docstring(list(lines))
    if what in ("data", "attribute") and fixed and fixed[0].strip():
        # napoleon reads "X: text" on an attribute's first line as "type: description";
        # phasekit's attribute docstrings are prose ("A pytree of arrays: ...")
        fixed.insert(0, "")
    lines[:] = fixed


def _canonical(target: str) -> str | None:
    """``module.name`` where a dotted phasekit path's object is defined (re-exports)."""
    import importlib
    import inspect

    parts = target.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        if inspect.isclass(obj) or inspect.isfunction(obj):
            return f"{obj.__module__}.{obj.__qualname__}"
        return None
    return None


def _module_constant(node, target: str) -> bool:
    """Whether ``target`` names an existing constant of the referring (or a named) module."""
    import importlib

    mod, _, name = target.rpartition(".")
    for modname in filter(None, (mod, node.get("py:module"))):
        try:
            if hasattr(importlib.import_module(modname), name):
                return True
        except ImportError:
            continue
    return False


def _missing_reference(app, env, node, contnode):
    """Resolve abbreviated (``train.run``) and re-exported (``phasekit.data.digits``) targets;
    a private name (``_choose``) is not part of the API: shown as text, without a link."""
    if node.get("refdomain") != "py":
        return None
    target = re.sub(r"\s+", "", node.get("reftarget", ""))
    if not target:
        return None
    if target.split(".")[-1].startswith("_") and not target.endswith("__"):
        return contnode
    domain = env.get_domain("py")
    hits = _lookup(domain, target)
    if not hits and target.split(".")[-1].isupper() and _module_constant(node, target):
        return contnode  # a module constant outside the API (not in __all__): text, no link
    if not hits and "." in target:  # an instance attribute (``Resumable.advance``): its class
        parent = _lookup(domain, target.rsplit(".", 1)[0])
        hits = [h for h in parent if domain.objects[h].objtype == "class"]
    if len(hits) != 1:
        return None
    obj = domain.objects[hits[0]]
    return make_refnode(app.builder, node["refdoc"], obj.docname, obj.node_id, contnode, hits[0])


def _lookup(domain, target: str) -> list[str]:
    """Documented phasekit objects a (full, re-exported or abbreviated) target may mean."""
    if target.startswith("phasekit."):
        canon = _canonical(target)
        if canon in domain.objects:
            hits = [canon]
        else:
            hits = [target] if target in domain.objects else []
    else:
        suffix = "." + target.lstrip(".")
        hits = [f for f in domain.objects if f.startswith("phasekit") and f.endswith(suffix)]
    return hits


def setup(app):
    app.connect("autodoc-process-docstring", _process_docstring, priority=400)
    app.connect("missing-reference", _missing_reference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
