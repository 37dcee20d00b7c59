"""Under torchrun each rank computes its penalty, and the variance Q behind learned beta, on its
own slice of every batch: every batch-size rule applies to that slice. Before, two ranks of
--batch-size 4 (2 rows each, too few for Q) trained to the end with exit 0 and every layer's beta
"kept previous beta: non-finite input", while one process refuses --batch-size 2."""
import json
import socket
import subprocess
import sys

import pytest

from cli_helpers import FAST, child_env, run_dan

from dan.config import TrainConfig, checked, validate


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(tmp_path, *args):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_port()),
           "-m", "dan", "train", *FAST, "--epochs", "1", "--iters-per-epoch", "3", "--beta-every", "1",
           "--out", str(tmp_path / "run"), *args]
    return subprocess.run(cmd, cwd=tmp_path, env=child_env(OMP_NUM_THREADS="1"), capture_output=True, text=True,
                          timeout=300)


def test_two_ranks_whose_slices_cannot_learn_beta_are_refused_in_one_line(tmp_path):
    r = _torchrun(tmp_path, "--batch-size", "4")
    assert r.returncode != 0, r.stderr[-2000:]
    lines = [line for line in r.stderr.splitlines() if line.startswith("dan train:")]
    assert lines == ["dan train: error: --batch-size 4 under torchrun with 2 ranks gives each rank 2 rows per domain: "
                     "method dan learns beta from the variance of the linear estimate, which needs at least 4 rows "
                     "per domain in a batch (per rank under torchrun)"], r.stderr[-2000:]
    assert not (tmp_path / "run" / "log.json").exists()  # refused before anything trained


def test_two_ranks_with_enough_rows_each_do_learn_beta(tmp_path):
    r = _torchrun(tmp_path, "--batch-size", "8")
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["world_size"] == 2
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert log[-1]["beta_fc6"] != pytest.approx([0.2] * 5)  # solved: no longer the uniform start


@pytest.mark.parametrize("settings, message", [
    (dict(batch_size=6), "--batch-size 6 under torchrun with 2 ranks must be a multiple of 2 x 2 = 4"),
    (dict(batch_size=4), "gives each rank 2 rows per domain: method dan learns beta"),
    (dict(batch_size=8, estimator="block", block_size=4),
     "--batch-size 8 under torchrun with 2 ranks gives each rank 4 rows per domain: --block-size 4: method dan"),
    (dict(method="ddc", batch_size=8, estimator="block", block_size=6),
     "--block-size must be an integer from 2 to --batch-size (4)"),
])
def test_every_batch_rule_is_applied_to_the_slice_of_each_rank(settings, message):
    cfg = checked(TrainConfig(**settings))  # one process: allowed
    with pytest.raises(ValueError) as err:
        validate(cfg, world=2)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_world_size_comes_from_torchruns_environment(monkeypatch):
    cfg = checked(TrainConfig(batch_size=4))
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="under torchrun with 2 ranks"):
        checked(cfg)  # checked in one process, checked again for the ranks


def test_a_malformed_world_size_is_named(tmp_path):
    r = run_dan(tmp_path, "train", *FAST, "--epochs", "1", "--iters-per-epoch", "1", "--batch-size", "8",
                "--out", tmp_path / "run", WORLD_SIZE="two")
    assert r.returncode == 2, r.stderr
    assert r.stderr == ("dan train: error: the environment's WORLD_SIZE (the number of ranks, set by torchrun) must "
                        "be an integer >= 1, got 'two'\n")
