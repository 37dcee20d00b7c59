"""--workers is bounded by the cores this process may run on (each worker is a process; --workers
1000 forked hundreds, +3.5 GB in 24 s), in dan train and dan predict: refused in one line that
names the allowed range. A stored configuration from a larger machine still loads."""
import os

import pytest

from cli_helpers import FAST, run_dan

from dan.config import TrainConfig, checked, stored_config

CORES = max(len(os.sched_getaffinity(0)), 2)  # 2, the default, is always allowed


def _refusal(r, command):
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, (r.returncode, r.stderr)
    assert lines[0] == (f"dan {command}: error: --workers must be an integer >= 0 (0 decodes in this process) and "
                        f"at most {CORES} (the cores this machine gives the process; each worker is a process), "
                        "got 1000")


def test_train_refuses_more_workers_than_cores(tmp_path):
    r = run_dan(tmp_path, "train", *FAST, "--epochs", "1", "--iters-per-epoch", "1", "--batch-size", "8",
                "--workers", "1000", "--out", tmp_path / "run")
    _refusal(r, "train")
    assert not (tmp_path / "run").exists()


def test_predict_refuses_more_workers_than_cores(tmp_path):
    (tmp_path / "imgs").mkdir()
    r = run_dan(tmp_path, "predict", "--checkpoint", tmp_path / "none.pt", "--images", tmp_path / "imgs",
                "--out", tmp_path / "p.csv", "--workers", "1000")
    _refusal(r, "predict")


@pytest.mark.parametrize("workers", [0, 2, CORES])
def test_up_to_the_cores_is_allowed(workers):
    checked(TrainConfig(workers=workers))


def test_a_stored_configuration_from_a_larger_machine_still_loads():
    assert stored_config({"workers": 10 * CORES}).workers == 10 * CORES
