"""Every ```python block of the guides and README runs, page by page in a fresh interpreter, and
every ``>>>`` example in a docstring of the documented modules passes: a wrong example fails CI."""
import doctest
import importlib
import inspect
import subprocess
import sys

import pytest

from cli_helpers import child_env
from docs_blocks import pages, python_blocks, script
from docs_public import public_names

RUNNING = [p for p in pages() if any(not b.skip for b in python_blocks(p))]


def test_the_guides_have_examples_to_run():
    # the harness finds blocks at all: a change of fence syntax would otherwise pass silently
    names = {p.name for p in RUNNING}
    assert {"getting-started.md", "own-loop.md", "estimators.md", "classical.md", "coming-from.md", "README.md"} <= names


@pytest.mark.parametrize("page", RUNNING, ids=lambda p: p.name)
def test_a_pages_python_blocks_run_in_order(page, tmp_path):
    code = script(python_blocks(page))
    # cwd outside the repository: the source tree's dan_ext has no compiled module
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=child_env(MPLBACKEND="Agg"),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{page.name}: a python block failed\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"


# the modules that define the documented public names: their docstrings are what the reference shows
DOCTEST_MODULES = sorted({getattr(obj, "__module__", None) or name for name, obj in public_names()
                          if callable(obj) or inspect.ismodule(obj)})


def test_docstring_examples_pass():
    attempted = 0
    for name in DOCTEST_MODULES:
        result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, verbose=False)
        assert result.failed == 0, f"{name}: {result.failed} docstring example(s) failed (output above)"
        attempted += result.attempted
    assert attempted >= 10, f"only {attempted} docstring examples found: were they removed?"
