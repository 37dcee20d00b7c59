"""A run whose weights blew up, or whose accuracy fell back to chance, ends with TrainingDiverged
instead of a result.json (the loss is checked before each step, so the last steps' update, or a
finite loss over huge weights, went unseen: --lam 1e30 exited 0 with weights of 1e19-1e27); and
--lam is bounded where no penalty can be weighed against the labels."""
import json

import pytest
import torch

from cli_helpers import FAST, run_dan
from dan_helpers import toy_domains

from dan.config import TrainConfig, checked
from dan.trainer import Trainer, TrainingDiverged

TINY = ["--epochs", "1", "--iters-per-epoch", "2", "--batch-size", "8"]


@pytest.mark.parametrize("method", ["coral", "jan"])
def test_a_lam_beyond_any_meaningful_weight_is_refused_in_one_line(tmp_path, method):
    r = run_dan(tmp_path, "train", *FAST, *TINY, "--method", method, "--lam", "1e30", "--out", tmp_path / "run")
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dan train: error: --lam must be at most 1e+12"), r.stderr
    assert "stops learning from the labels" in lines[0]  # says why
    assert not (tmp_path / "run" / "result.json").exists()


@pytest.mark.parametrize("lam", [0.0, 0.1, 1.0, 10.0, 1e9, 1e12])
def test_the_weights_readme_and_tests_use_are_allowed(lam):
    checked(TrainConfig(method="coral", lam=lam))  # raises if refused


def test_weights_blown_up_by_the_last_steps_are_not_a_result(tmp_path):
    # JAN weighed by the largest --lam allowed: two steps (lambda ramped to 5e11 at the second) take
    # the weights to about 7e9 with a finite loss; before, the run exited 0 with chance accuracy
    r = run_dan(tmp_path, "train", *FAST, *TINY, "--method", "jan", "--lam", "1e12", "--out", tmp_path / "run")
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "dan train: error: training diverged in epoch 1: the largest weight is" in r.stderr, r.stderr
    assert "lower --lam" in r.stderr
    assert not (tmp_path / "run" / "result.json").exists()
    assert not (tmp_path / "run" / "checkpoint.pt").exists()  # the blown-up epoch is not checkpointed


def test_accuracy_back_at_chance_after_an_epoch_above_it_is_not_a_result(tmp_path):
    src, tgt = toy_domains()
    cfg = TrainConfig(source="toy", target="toy", method="source_only", epochs=2, batch_size=32, iters_per_epoch=20,
                      lr=0.05, dropout=0.0, out=str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    trainer = Trainer(cfg, src, tgt, progress=False)
    trainer.fit(stop_after_epoch=1)
    chance = float(torch.bincount(src.labels()).max()) / len(src)
    assert trainer.history[-1]["source_accuracy"] >= 2 * chance  # the first epoch did learn
    # the classifier undone for real: one class scored for every input, and kept so
    last = [m for m in trainer.model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    last.requires_grad_(False)
    with pytest.raises(TrainingDiverged, match=r"collapsed in epoch 2: source accuracy fell from 0\.\d+ to 0\.1"):
        trainer.fit()
    # neither the result nor the logs of the first epoch were replaced by the collapsed one's
    assert json.loads((tmp_path / "run" / "result.json").read_text())["epochs"] == 1
    assert json.loads((tmp_path / "run" / "log.json").read_text())[-1]["epoch"] == 1
