"""Every public name of dan_ext and dan has a docstring and an entry in the API reference
(docs/api/*.rst), so a new public function without either fails here before the site is built."""
import functools
import importlib
import inspect
import re

import pytest

from docs_blocks import DOCS
from docs_public import public_names

DIRECTIVE = re.compile(r"^\.\. (?:auto(?:function|class|data|module|exception)|py:data)::\s*(\S+)", re.M)
CURRENT = re.compile(r"^\.\. currentmodule::\s*(\S+)", re.M)
MEMBERS = re.compile(r"^\.\. automodule::\s*(\S+)\n\s+:members:\s*(.+)$", re.M)


@functools.lru_cache(maxsize=None)
def documented() -> frozenset:
    """The full names the reference pages document: each directive's target, read under the page's
    currentmodule, and the members an automodule lists."""
    names = set()
    for page in sorted((DOCS / "api").glob("*.rst")):
        text = page.read_text(encoding="utf-8")
        current = CURRENT.search(text)
        for target in DIRECTIVE.findall(text):
            names.add(target)
            if current and "." not in target:
                names.add(f"{current.group(1)}.{target}")
        for module, members in MEMBERS.findall(text):
            names.update(f"{module}.{m.strip()}" for m in members.split(","))
    return frozenset(names)


def _ours(obj) -> bool:
    return (getattr(obj, "__module__", "") or "").split(".")[0] in ("dan", "dan_ext")


PUBLIC = sorted(public_names(), key=lambda item: item[0])


@pytest.mark.parametrize("full,obj", PUBLIC, ids=[full for full, _ in PUBLIC])
def test_a_public_name_has_a_reference_entry(full, obj):
    names = documented()
    resolved = {n: _resolve(n) for n in names}
    # a re-export (dan.methods.DANLoss is dan.DANLoss) counts where the same object is documented
    same = inspect.ismodule(obj) or any(o is obj and (callable(obj) or n.rpartition(".")[2] == full.rpartition(".")[2])
                                        for n, o in resolved.items())
    assert full in names or same, f"{full} is public but no page of docs/api documents it"


@pytest.mark.parametrize("full,obj", [(f, o) for f, o in PUBLIC if callable(o) or inspect.ismodule(o)],
                         ids=[f for f, o in PUBLIC if callable(o) or inspect.ismodule(o)])
def test_a_public_callable_and_its_methods_have_docstrings(full, obj):
    assert (inspect.getdoc(obj) or "").strip(), f"{full} has no docstring"
    if inspect.isclass(obj) and _ours(obj):
        for name, member in vars(obj).items():
            if name.startswith("_") or not (inspect.isfunction(member) or isinstance(member, property)):
                continue
            assert (inspect.getdoc(getattr(obj, name)) or "").strip(), f"{full}.{name} has no docstring"


def _resolve(full: str):
    module, _, name = full.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        try:
            return importlib.import_module(full)
        except ImportError:
            return None
