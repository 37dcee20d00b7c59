"""`pip install dan_ext` with no extras, into a fresh virtual environment, gives a working `dan`:
the default training runs, every --help works, and a command that needs an extra names it in one
line (exit 1, no traceback).

It installs the wheel named by DAN_EXT_WHEEL (.ci/run builds one and sets it) plus this process's
torch version from the package index: about a minute and a half on 2 cores. Without DAN_EXT_WHEEL
it is skipped, visibly (build one with `pip wheel --no-deps -w dist .`)."""
import os
import subprocess
import venv

import numpy as np
import pytest
import torch

WHEEL = os.environ.get("DAN_EXT_WHEEL")
pytestmark = pytest.mark.skipif(not WHEEL, reason="set DAN_EXT_WHEEL to a built wheel (.ci/run does)")


@pytest.fixture(scope="module")
def plain_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("plain")
    venv.create(root / "venv", with_pip=True)
    bin_dir = root / "venv" / "bin"
    torch_version = torch.__version__.split("+")[0]
    subprocess.run([bin_dir / "python", "-m", "pip", "install", "-q", f"torch=={torch_version}", WHEEL],
                   check=True, timeout=1200)
    return root, bin_dir


def _dan(plain_env, *args):
    root, bin_dir = plain_env
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DAN_DEBUG", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([bin_dir / "dan", *map(str, args)], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)


def test_no_optional_package_is_installed(plain_env):
    _, bin_dir = plain_env
    probe = "import importlib.util as u; print([m for m in ('mlxtend', 'torchvision', 'pytest') if u.find_spec(m)])"
    out = subprocess.run([bin_dir / "python", "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_help_works_for_every_command(plain_env):
    for args in ([], ["train"], ["ablate"], ["plot"], ["test"], ["convert-checkpoint"]):
        r = _dan(plain_env, *args, "--help")
        assert r.returncode == 0 and "usage: dan" in r.stdout, (args, r.stderr)


def test_default_training_runs(plain_env):
    root, _ = plain_env
    r = _dan(plain_env, "train", "--epochs", "1", "--out", root / "run", "--cache-dir", root / "cache", "--quiet")
    assert r.returncode == 0, r.stderr
    assert (root / "run" / "result.json").exists() and "target accuracy" in r.stdout


def test_two_sample_test_runs(plain_env):
    root, _ = plain_env
    rng = np.random.default_rng(0)
    np.save(root / "a.npy", rng.normal(size=(200, 3)))
    np.save(root / "b.npy", rng.normal(size=(200, 3)) + 1)
    r = _dan(plain_env, "test", root / "a.npy", root / "b.npy")
    assert r.returncode == 0 and '"reject": true' in r.stdout, r.stderr


@pytest.mark.parametrize("args, extra", [
    (["--source", "mnist"], "mnist"),
    (["--source", "folder:imgs", "--target", "folder:imgs", "--backbone", "resnet50"], "torchvision"),
])
def test_optional_pieces_name_their_extra(plain_env, args, extra):
    root, _ = plain_env
    out = root / f"refused-{extra}"
    r = _dan(plain_env, "train", *args, "--epochs", "1", "--out", out)
    err = r.stderr.strip()
    assert r.returncode == 1 and "Traceback" not in err and err.count("\n") == 0, err
    assert f'pip install "dan_ext[{extra}]"' in err
    assert not out.exists()
