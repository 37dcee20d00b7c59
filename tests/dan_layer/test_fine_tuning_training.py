"""--freeze and --unfreeze-every in training (dan.models.freezing through the trainer): frozen
parameters and BatchNorm statistics do not move while the rest learn, the stages unfreeze on
schedule, a resume mid-schedule is bit for bit the run straight through, and a resume with another
--freeze is refused while a checkpoint that predates the settings resumes."""
import dataclasses

import pytest
import torch
from torch import nn

from dan.commands.cli import main as dan_main
from dan.config import TrainConfig
from dan.models.backbones import BACKBONES, Backbone, Parts, Stage
from dan.runs.checkpoint import CHECKPOINT, load_checkpoint
from dan.runs.atomic import atomic_write
from dan.trainer import Trainer, train
from dan_helpers import straight_and_resumed, toy_domains


def _tiny_bn(spec, num_classes, weights, dropout):
    """A 1 x 8 x 8 body of two conv + BatchNorm stages: small enough for seconds, with the norms
    whose statistics a frozen stage must keep."""
    body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return Parts(body, [("feat", nn.Linear(8, 16)), ("out", nn.Linear(16, num_classes))], ("backbone.",))


TINY_BN = Backbone("tiny_bn", _tiny_bn, channels=1, min_size=8, adapted=("feat", "out"), digits=True,
                   stages=(Stage("a", ("backbone.0", "backbone.1")), Stage("b", ("backbone.3", "backbone.4"))))


@pytest.fixture
def tiny_bn(monkeypatch):
    monkeypatch.setitem(BACKBONES, "tiny_bn", TINY_BN)


def _cfg(out, **kw):
    base = dict(source="toy", target="toy", method="source_only", backbone="tiny_bn", epochs=2, batch_size=32,
                iters_per_epoch=3, out=str(out))
    return TrainConfig(**{**base, **kw})


def _moved(before: dict, after: dict, prefix: str) -> dict:
    """{name: changed?} for the state entries (parameters and BatchNorm buffers) under ``prefix``."""
    return {k: not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix)}


@pytest.mark.parametrize("method", ["source_only", "dan"])
def test_a_frozen_stage_does_not_move_and_the_rest_learn(tmp_path, tiny_bn, method):
    src, tgt = toy_domains()
    tr = Trainer(_cfg(tmp_path, method=method, freeze="a"), src, tgt, progress=False)
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    tr.fit()
    after = tr.model.state_dict()
    frozen = {**_moved(before, after, "backbone.0."), **_moved(before, after, "backbone.1.")}
    assert "backbone.1.running_mean" in frozen and not any(frozen.values()), frozen  # weights and statistics
    trained = {**_moved(before, after, "backbone.3."), **_moved(before, after, "backbone.4."),
               **_moved(before, after, "feat."), **_moved(before, after, "out.")}
    assert all(trained.values()), trained
    # SGD kept no momentum for them: the optimizer never stepped them (nor decayed their weights)
    stepped = {id(p) for p in tr.opt.state}
    assert not any(id(p) in stepped for p in tr.model.backbone[:2].parameters())


def test_a_frozen_body_leaves_only_the_new_layers_training(tmp_path, tiny_bn):
    src, tgt = toy_domains()
    tr = Trainer(_cfg(tmp_path, freeze="body"), src, tgt, progress=False)
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    tr.fit()
    moved = _moved(before, tr.model.state_dict(), "")
    assert not any(v for k, v in moved.items() if k.startswith("backbone."))
    assert all(v for k, v in moved.items() if not k.startswith("backbone."))


def test_stages_unfreeze_from_the_top_every_n_epochs(tmp_path, tiny_bn):
    src, tgt = toy_domains()
    tr = Trainer(_cfg(tmp_path, epochs=3, unfreeze_every=1), src, tgt, progress=False)
    states = [{k: v.clone() for k, v in tr.model.state_dict().items()}]
    for epoch in range(3):
        tr.fit(stop_after_epoch=epoch + 1)
        states.append({k: v.clone() for k, v in tr.model.state_dict().items()})
    assert [r["frozen_up_to"] for r in tr.history] == ["b", "a", "none"]
    for epoch, moving in enumerate([(), ("backbone.3.",), ("backbone.0.", "backbone.3.")]):
        for prefix in ("backbone.0.", "backbone.3."):  # stage a's and b's convolutions
            changed = _moved(states[epoch], states[epoch + 1], prefix)
            assert all(changed.values()) if prefix in moving else not any(changed.values()), (epoch, prefix)


@pytest.mark.parametrize("settings", [dict(unfreeze_every=1), dict(freeze="a")])
def test_a_resume_mid_schedule_is_bit_for_bit(tmp_path, tiny_bn, settings):
    # stopped after epoch 1 (body frozen) and resumed into epoch 2 (stage b unfrozen): the same run
    straight, resumed, a, b = straight_and_resumed(tmp_path, "dan", backbone="tiny_bn", **settings)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert a["history"] == b["history"] and straight["target_accuracy"] == resumed["target_accuracy"]
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]  # momentum only for what has trained
    assert sa.keys() == sb.keys() and all(torch.equal(sa[i]["momentum_buffer"], sb[i]["momentum_buffer"]) for i in sa)


def test_a_resume_with_another_freeze_is_refused_and_an_older_checkpoint_resumes(tmp_path, tiny_bn):
    src, tgt = toy_domains()
    train(_cfg(tmp_path, freeze="a"), progress=False, source=src, target=tgt, stop_after_epoch=1)
    for other in (dict(freeze="b"), dict(freeze=None), dict(freeze="a", unfreeze_every=1)):
        with pytest.raises(ValueError, match=r"different run; differing settings .*'(freeze|unfreeze_every)'"):
            train(_cfg(tmp_path, **other), resume=True, progress=False, source=src, target=tgt)
    # a checkpoint written before the settings existed: no freezing, which is what today's default is
    old = tmp_path / "old"
    train(_cfg(old), progress=False, source=src, target=tgt, stop_after_epoch=1)
    ck = load_checkpoint(old / CHECKPOINT)
    del ck["config"]["freeze"], ck["config"]["unfreeze_every"]
    atomic_write(old / CHECKPOINT, lambda f: torch.save(ck, f))
    with pytest.raises(ValueError, match="'freeze': \\(None, 'a'\\)"):
        train(_cfg(old, freeze="a"), resume=True, progress=False, source=src, target=tgt)
    assert train(_cfg(old), resume=True, progress=False, source=src, target=tgt)["epochs"] == 2


def test_the_cli_names_a_bad_stage_in_one_line(tmp_path, capsys):
    rc = dan_main(["train", "--freeze", "layer4", "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert "--freeze must be body (the whole body) or a stage of the digits_cnn backbone, from input to output: " \
           "conv1 or conv2; got 'layer4'" in err
    assert not (tmp_path / "run").exists()


def test_the_help_lists_each_backbones_stages(capsys):
    with pytest.raises(SystemExit):
        dan_main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--freeze FREEZE" in text and "efficientnet_lite0: stem, stage1," in text and "--unfreeze-every" in text


def test_the_default_changes_nothing_in_the_network(tmp_path, tiny_bn):
    """No --freeze and no --unfreeze-every: every parameter trains and every norm is in train mode."""
    src, tgt = toy_domains()
    tr = Trainer(_cfg(tmp_path), src, tgt, progress=False)
    tr.fit(stop_after_epoch=1)
    assert tr.freezer.frozen == () and tr.model.frozen_modules == ()
    assert all(p.requires_grad for p in tr.model.parameters())
    assert all(m.training for m in tr.model.modules()) and "frozen_up_to" not in tr.history[0]
    assert dataclasses.asdict(TrainConfig())["freeze"] is None


def test_the_configuration_checks_the_stage_against_the_backbone():
    from dan.config import resolve, validate

    def check(**kw):
        cfg = TrainConfig(source="folder:a", target="folder:b", backbone="efficientnet_lite0", weights="none", **kw)
        validate(resolve(cfg), load_source=False, load_target=False, check_out=False)

    check(freeze="stage3", unfreeze_every=2)
    with pytest.raises(ValueError, match=r"^--freeze must be body .* stage7 or conv_head; got 'conv2'$"):
        check(freeze="conv2")  # a digits_cnn stage, not this backbone's
    with pytest.raises(ValueError, match=r"^--unfreeze-every must be an integer >= 1"):
        check(unfreeze_every=0)


def _ddp_worker(rank, world, port, out, src, tgt):
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank))
    torch.set_num_threads(1)
    train(_ddp_cfg(out), progress=False, source=src, target=tgt)
    torch.distributed.destroy_process_group()
    os._exit(0)  # as test_dan_training's DDP worker: no interpreter teardown with gloo's threads


def _ddp_cfg(out):
    # digits_cnn (no BatchNorm: two ranks then equal one process), no dropout, a small lr, 4 steps
    return TrainConfig(source="toy", target="toy", method="source_only", epochs=2, iters_per_epoch=2, batch_size=32,
                       dropout=0.0, lr=0.001, unfreeze_every=1, out=str(out))


def test_two_ranks_unfreeze_as_one_process_does(tmp_path):
    """Under torchrun the frozen set changes between epochs (conv1 and conv2, then conv1 alone):
    DDP is rebuilt for the parameters that now need gradients, and the run ends where one process
    ends (without the rebuild DDP waits for gradients frozen parameters never get)."""
    import torch.multiprocessing as mp
    from dan_helpers import free_port

    src, tgt = toy_domains(n=128)
    train(_ddp_cfg(tmp_path / "single"), progress=False, source=src, target=tgt)
    mp.spawn(_ddp_worker, args=(2, free_port(), tmp_path / "ddp", src, tgt), nprocs=2, join=True)
    a, b = load_checkpoint(tmp_path / "single" / CHECKPOINT), load_checkpoint(tmp_path / "ddp" / CHECKPOINT)
    assert [r["frozen_up_to"] for r in b["history"]] == ["conv2", "conv1"]
    for k in a["model"]:
        torch.testing.assert_close(b["model"][k], a["model"][k], rtol=1e-4, atol=1e-5)
