"""--seed is refused in one line naming its range, 0 to 2**32 - 1 (numpy's np.random.seed takes no
more; torch.manual_seed and random.seed take it), instead of "Overflow when unpacking long long"
from torch after the data loaded. dan test's --seed the same."""
import numpy as np
import pytest

from cli_helpers import FAST, run_dan

from dan.config import TrainConfig, checked

HUGE = "99999999999999999999"
RANGE = "--seed must be an integer >= 0 and <= 4294967295"


@pytest.mark.parametrize("seed", [HUGE, str(2**32)])
def test_train_refuses_a_seed_out_of_range_in_one_line(tmp_path, seed):
    r = run_dan(tmp_path, "train", *FAST, "--epochs", "1", "--iters-per-epoch", "1", "--batch-size", "8",
                "--seed", seed, "--out", tmp_path / "run")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr == f"dan train: error: {RANGE}, got {seed}\n"


def test_dan_test_refuses_a_seed_out_of_range_in_one_line(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.normal(size=(16, 3)))
    np.save(tmp_path / "b.npy", rng.normal(size=(16, 3)))
    r = run_dan(tmp_path, "test", tmp_path / "a.npy", tmp_path / "b.npy", "--seed", HUGE)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr == f"dan test: error: {RANGE}, got {HUGE}\n"


def test_the_largest_seed_is_allowed():
    checked(TrainConfig(seed=2**32 - 1))
