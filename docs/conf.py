"""Sphinx configuration of the phasekit documentation site.

Build (strict: every warning, broken cross-reference and failing notebook cell is an error):

    JAX_PLATFORMS=cpu python -m sphinx -W --keep-going -n -b html docs docs/_build/html

or ``docs/build.sh``. The API pages are generated from every module's ``__all__`` by
``docs/_ext/apigen.py`` at the start of each build; the tutorials (MyST-Markdown notebooks
under ``docs/tutorials/``) are executed by myst-nb on every build.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))  # the phasekit of this checkout, installed or not

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import phasekit  # noqa: E402

project = "phasekit"
author = "the phasekit authors"
copyright = "the phasekit authors"
release = version = phasekit.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinxarg.ext",
    "myst_nb",
    "apigen",
    "pkdocs",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "_ext",
    "**.ipynb_checkpoints",
]
templates_path: list[str] = []

# ---------------------------------------------------------------- strictness
nitpicky = True
# Without network there are no intersphinx inventories: names of other packages (and the
# stdlib's private / typing internals) cannot be resolved, so they are exempted by prefix.
# Every reference into phasekit itself must resolve.
_external = (
    "jax",
    "jaxlib",
    "np",
    "numpy",
    "jnp",
    "xr",
    "xarray",
    "optax",
    "flax",
    "nn",
    "scipy",
    "sklearn",
    "matplotlib",
    "plt",
    "pathlib",
    "collections",
    "typing",
    "types",
    "os",
    "argparse",
    "dataclasses",
    "enum",
    "concurrent",
    "threading",
    "contextlib",
    "functools",
    "abc",
    "io",
)
nitpick_ignore_regex = [
    (r"py:.*", rf"({'|'.join(_external)})(\..*)?"),
    (
        r"py:.*",
        r"(Array|ArrayLike|PyTree|DTypeLike|Path|Callable|Sequence|Mapping|Iterable|Iterator|Any|NDArray|ndarray|Dataset|DataArray|Figure|Axes|Module|PRNGKey|KeyArray|GradientTransformation|Self|TypeAlias|NamedTuple)",
    ),
]

# ---------------------------------------------------------------- autodoc
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
python_use_unqualified_type_names = True
add_module_names = False
suppress_warnings = [
    "myst.header",
]

# ---------------------------------------------------------------- notebooks (myst-nb)
nb_execution_mode = "force"  # every tutorial cell runs in every build
nb_execution_raise_on_error = True  # a failing cell fails the build
nb_execution_timeout = 240
nb_execution_show_tb = True
nb_merge_streams = True
nb_execution_excludepatterns: list[str] = []
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# ---------------------------------------------------------------- HTML
html_theme = "furo"
html_title = f"phasekit {release}"
# MathJax 3 from the sphinx-mathjax-offline package, copied into _static/mathjax: math renders
# with no network at build or view time (its Sphinx extension is not used: it does not declare
# itself safe for parallel builds, which -j 2 would report as a warning).
_mathjax = importlib.util.find_spec("sphinx-mathjax-offline")
if _mathjax is None or not _mathjax.submodule_search_locations:
    raise RuntimeError("pip install sphinx-mathjax-offline: the site renders math from local files")
html_static_path = [str(Path(list(_mathjax.submodule_search_locations)[0]) / "static")]
mathjax_path = "mathjax/tex-chtml.js"
html_last_updated_fmt = None
