"""Sphinx configuration of the dan_ext documentation.

Why Sphinx and not mkdocs: the reference is generated from the code itself (autodoc reads the
docstrings of every public name, napoleon their sections, sphinx-argparse the CLI's parser as built
by ``dan.commands.cli.build_parser()``), ``-W`` turns a broken cross-reference or a docstring that
does not parse into an error, and MyST lets the guides stay markdown, as README was. The docstrings
are reStructuredText-flavoured prose (``literal``, :func: roles, Google sections), which napoleon
reads as they are. mkdocs with mkdocstrings would do the API, but the CLI reference would rest on a
young plugin (mkdocs-argparse 0.0.1) where sphinx-argparse is the established one.

Build: ``pip install ".[docs]" && sphinx-build -W --keep-going -b html docs docs/_build/html``
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Document the installed package when there is one (CI builds against the wheel, which has the
# compiled module); from a bare source tree fall back to the sources.
try:
    import dan_ext
except ImportError:
    sys.path[:0] = [str(ROOT), str(ROOT / "python")]
    import dan_ext

project = "dan_ext"
author = "dan_ext contributors"
release = version = dan_ext.__version__
copyright = "2026, dan_ext contributors"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",  # the docstrings' .. math:: and :math:, the guides' $$ blocks
    "sphinxarg.ext",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

autodoc_default_options = {}  # each page names the members it documents
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_inherit_docstrings = True
napoleon_google_docstring = True
napoleon_numpy_docstring = True
# The classic estimators' "name : type" lines hold prose types ("float >= 0, default 1.0"): render
# them as text, not as cross-references nitpicky would then report.
napoleon_use_param = False
napoleon_use_rtype = False
napoleon_preprocess_types = False

# Every cross-reference must resolve. No intersphinx: CI has no network to fetch torch's, numpy's
# and scikit-learn's inventories, so their names (and typing's) are not links and are let through here.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|numpy|np|scipy|sklearn|typing|collections|pathlib|argparse)(\..*)?"),
    (r"py:.*", r"(Tensor|Optional|Sequence|Iterable|Union|Dict|List|Tuple|Any|Callable|Path|Mapping|NamedTuple)"),
    (r"py:class", r"(int|float|str|bool|dict|list|tuple|object|None|optional|callable)"),
    (r"py:class", r"(nn|torch\.nn)\.Module|Module"),
    # internal types that public signatures and dataclass fields name (not part of the API)
    (r"py:class", r"dan\.(models\.backbones\.Parts|extras\.Extra)"),
]

html_theme = "furo"
html_title = f"dan_ext {release}"

