"""dan ablate and dan benchmark refuse --seeds beyond a documented maximum in one line, before
building the grid (--seeds 100000 reached 3 GB while still configuring runs)."""
import pytest

from cli_helpers import FAST, run_dan

from dan.runs.grid import check_seeds

MESSAGE = ("--seeds must be an integer from 1 to 1000 (runs are seeds 0 to N - 1 of every row, each configured "
           "before the first trains), got 100000")


def test_ablate_refuses_too_many_seeds_at_once(tmp_path):
    r = run_dan(tmp_path, "ablate", *FAST, "--seeds", "100000", "--epochs", "1", "--out", tmp_path / "abl", timeout=60)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert r.stderr == f"dan ablate: error: {MESSAGE}\n"
    assert not (tmp_path / "abl").exists()


def test_benchmark_refuses_too_many_seeds_at_once(tmp_path):
    (tmp_path / "office").mkdir()
    r = run_dan(tmp_path, "benchmark", "office31", "--root", tmp_path / "office", "--seeds", "100000", "--quiet",
                "--out", tmp_path / "bench", timeout=60)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert r.stderr == f"dan benchmark: error: {MESSAGE}\n"


@pytest.mark.parametrize("seeds", [1, 3, 1000])
def test_the_seed_counts_in_use_are_allowed(seeds):
    assert check_seeds(seeds) == seeds
