"""pyproject.toml lists the packages explicitly (dan lives under python/): a subpackage left off the
list would be missing from every wheel, and only a plain install would notice."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for name, base in (("dan_ext", ROOT / "dan_ext"), ("dan", ROOT / "python" / "dan")):
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base).parts
            found.add(".".join((name,) + rel))
    assert found == listed, f"in the tree, not listed: {sorted(found - listed)}; listed, not in the tree: {sorted(listed - found)}"
