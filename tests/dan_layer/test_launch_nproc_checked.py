"""``python -m dan.launch --nproc_per_node 0`` (or a negative count) ended with "dan.launch: error:
AssertionError (AssertionError)", from an assert deep in torchrun's agent: it is refused in one line
naming --nproc_per_node and what it takes, with argparse's status 2, before anything starts."""
import subprocess
import sys

import pytest

from cli_helpers import child_env


@pytest.mark.parametrize("count", ["0", "-3"])
def test_a_process_count_below_one_is_refused_in_one_line(tmp_path, count):
    done = subprocess.run([sys.executable, "-m", "dan.launch", "--nproc_per_node", count, "-m", "dan", "--help"],
                          cwd=tmp_path, env=child_env(OMP_NUM_THREADS="1"), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (f"dan.launch: error: --nproc_per_node must be an integer >= 1 (or auto, cpu, gpu), "
                           f"got {count}\n")
    assert done.stdout == ""  # dan --help never ran
