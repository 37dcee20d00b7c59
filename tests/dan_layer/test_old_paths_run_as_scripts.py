"""``python -m dan.cli ...`` ran the CLI before the modules moved into subpackages (dan/cli.py ends
in ``if __name__ == "__main__"``); after the move the old path imported but ``python -m`` stopped
with runpy's raw "AttributeError: 'OldPaths' object has no attribute 'get_code'". An old path run
with ``python -m`` runs the moved module as __main__, as before. For real, in a fresh process."""
import subprocess
import sys

from cli_helpers import child_env


def _run_module(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", *args], cwd=tmp_path, env=child_env(OMP_NUM_THREADS="1"),
                          capture_output=True, text=True, timeout=120)


def test_python_m_dan_cli_runs_the_cli(tmp_path):
    old, new = _run_module(tmp_path, "dan.cli", "--help"), _run_module(tmp_path, "dan.commands.cli", "--help")
    assert old.returncode == 0, old.stderr
    assert old.stdout == new.stdout and "usage:" in old.stdout


def test_python_m_dan_cli_refuses_like_the_cli(tmp_path):
    done = _run_module(tmp_path, "dan.cli", "train", "--epochs", "0", "--out", str(tmp_path / "run"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("dan train: error: --epochs")
