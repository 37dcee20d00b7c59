"""DAN trained with each MK-MMD estimator (dan train --estimator, DANLoss(estimator=...)): resume
is bit for bit, the estimator is part of the run identity and of DANLoss's state, two ranks
compute what one process does, and dan ablate --estimators trains the grid."""
import json

import pytest
import torch

from dan.methods import DANLoss
from dan_helpers import straight_and_resumed, toy_domains
from test_dan_loss import _layers, assert_two_ranks_equal_one_process


@pytest.mark.parametrize("estimator", ["shifted", "block", "unbiased"])
def test_resumes_bit_for_bit(tmp_path, estimator):
    straight, resumed, a, b = straight_and_resumed(tmp_path, "dan", estimator=estimator)
    assert a["history"] == b["history"] and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert straight["betas"] == resumed["betas"]
    assert straight["config"]["estimator"] == estimator


def test_estimator_is_part_of_the_run(tmp_path):
    from dan.config import TrainConfig
    from dan.trainer import train

    src, tgt = toy_domains()
    base = dict(source="toy", target="toy", method="dan", epochs=2, batch_size=32, iters_per_epoch=2, out=str(tmp_path))
    train(TrainConfig(**base, estimator="unbiased"), progress=False, source=src, target=tgt, stop_after_epoch=1)
    with pytest.raises(ValueError, match=r"differing settings \(checkpoint, now\): \{'estimator': \('unbiased', 'linear'\)\}"):
        train(TrainConfig(**base), resume=True, progress=False, source=src, target=tgt)


def test_dan_loss_state_names_its_estimator():
    unbiased = DANLoss(layers=1, beta_every=1, estimator="unbiased")
    s, t = _layers(16)[0]
    unbiased(s, t)
    unbiased.step()
    with pytest.raises(ValueError, match="estimator 'unbiased' \\(this one: 'linear'\\)"):
        DANLoss(layers=1).load_state_dict(unbiased.state_dict())
    with pytest.raises(ValueError, match="block_size 4 \\(this one: 8\\)"):
        DANLoss(layers=1, estimator="block", block_size=8).load_state_dict(
            DANLoss(layers=1, estimator="block", block_size=4).state_dict())
    # a state saved before the estimators existed is a linear one
    old = DANLoss(layers=1).state_dict()
    settings = old["_extra_state"]["settings"]
    del settings["estimator"], settings["block_size"]
    DANLoss(layers=1).load_state_dict(old)
    with pytest.raises(ValueError, match="estimator 'linear' \\(this one: 'biased'\\)"):
        DANLoss(layers=1, estimator="biased").load_state_dict(old)


def test_dan_loss_uses_the_estimator():
    import dan_ext

    s, t = _layers(24)[0]
    for est in ("shifted", "block", "unbiased", "biased"):
        got = DANLoss(layers=1, betas="uniform", estimator=est)(s, t)
        assert float(got) == pytest.approx(float(dan_ext.mkmmd(s, t, estimator=est)), rel=1e-6)


def test_block_under_ddp_is_the_one_process_block_estimate(tmp_path):
    """Blocks that fit inside each rank's slice: the mean of the ranks' block estimates is the block
    estimate of the whole batch, with the bandwidths of the whole batch's blocks (gbar all-reduced)
    and d and Q averaged, so beta is the same as in one process."""
    assert_two_ranks_equal_one_process(tmp_path, {"estimator": "block", "block_size": 4})


def test_ablate_across_estimators(tmp_path, capsys):
    from dan.commands.cli import main

    out = tmp_path / "abl"
    rc = main(["ablate", "--methods", "dan_uniform", "--estimators", "linear,block", "--block-size", "4",
               "--seeds", "1", "--epochs", "1", "--iters-per-epoch", "2", "--out", str(out), "--quiet"])
    assert rc == 0
    acc = json.loads((out / "results.json").read_text())
    assert list(acc) == ["dan_uniform@linear", "dan_uniform@block"]
    runs = {row: json.loads((out / row / "seed0" / "result.json").read_text())["config"] for row in acc}
    assert (runs["dan_uniform@linear"]["estimator"], runs["dan_uniform@linear"]["block_size"]) == ("linear", None)
    assert (runs["dan_uniform@block"]["estimator"], runs["dan_uniform@block"]["block_size"]) == ("block", 4)
    assert "block estimator" in (out / "results.md").read_text()


def test_refusals_of_estimator_settings(tmp_path, capsys):
    from dan.commands.cli import main

    for args, needle in ((["--method", "source_only", "--estimator", "block"], "method source_only has no MK-MMD estimator"),
                         (["--method", "coral", "--estimator", "unbiased"], "method coral has no MK-MMD estimator"),
                         (["--estimator", "block", "--block-size", "9", "--batch-size", "16"],
                          "needs at least 2 blocks per batch: at most --batch-size / 2 = 8"),
                         (["--estimator", "linear", "--block-size", "4"], "--block-size applies only to --estimator block"),
                         # learned beta needs the variance of each batch's estimate: 4 rows, or 2 blocks
                         (["--batch-size", "2"], "--batch-size 2: method dan learns beta from the variance of the "
                                                 "linear estimate, which needs at least 4 rows per domain"),
                         (["--estimator", "shifted", "--batch-size", "2"], "the variance of the shifted estimate"),
                         (["--estimator", "block", "--batch-size", "2"], "the variance of the block estimate")):
        # tiny runs, so that a setting the code failed to refuse costs a second, not a training run
        assert main(["train", *args, "--epochs", "1", "--iters-per-epoch", "1", "--out", str(tmp_path / "x"),
                     "--quiet"]) != 0
        assert needle in capsys.readouterr().err
        assert not (tmp_path / "x").exists()


def test_small_batches_are_fine_where_beta_is_not_learned(tmp_path):
    from dan.commands.cli import main

    for method in ("dan_uniform", "ddc"):
        rc = main(["train", "--method", method, "--batch-size", "2", "--epochs", "1", "--iters-per-epoch", "1",
                   "--out", str(tmp_path / method), "--quiet"])
        assert rc == 0


@pytest.mark.parametrize("args, needle", [
    (["--estimators", "linear,block", "--estimator", "unbiased"], "--estimator unbiased and --estimators: give one"),
    (["--estimators", "unbiased,linear", "--block-size", "4"], "--estimators unbiased,linear has no block"),
])
def test_ablate_refuses_estimator_flags_it_would_ignore(tmp_path, capsys, args, needle):
    from dan.commands.cli import main

    assert main(["ablate", "--methods", "dan", *args, "--seeds", "1", "--epochs", "1", "--iters-per-epoch", "1",
                 "--out", str(tmp_path / "a"), "--quiet"]) != 0
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_ablate_runs_methods_without_an_estimator_once(tmp_path):
    from dan.commands.cli import main

    out = tmp_path / "abl"
    rc = main(["ablate", "--methods", "source_only,dan_uniform,coral", "--estimators", "linear,unbiased",
               "--seeds", "1", "--epochs", "1", "--iters-per-epoch", "1", "--out", str(out), "--quiet"])
    assert rc == 0
    acc = json.loads((out / "results.json").read_text())
    assert list(acc) == ["source_only", "dan_uniform@linear", "dan_uniform@unbiased", "coral"]
    assert json.loads((out / "coral" / "seed0" / "result.json").read_text())["config"]["estimator"] == "linear"
