"""The stages of each backbone spec and what freezing them does to a network (dan.models.freezing):
the stages hold the whole body, the schedule of --unfreeze-every, the one-line errors, and a frozen
efficientnet_lite0 body that keeps its BatchNorm layers in eval mode and gets no gradient."""
import dataclasses

import pytest
import torch

from dan.models.backbones import BACKBONES, Stage
from dan.models.freezing import BODY, Freezer, check_freezing, frozen_stages
from dan.models.networks import build_model

EFFNET = BACKBONES["efficientnet_lite0"]


def test_every_backbone_names_its_stages_from_input_to_output():
    names = {n: [s.name for s in spec.stages] for n, spec in BACKBONES.items()}
    assert names["digits_cnn"] == ["conv1", "conv2"]
    assert names["efficientnet_lite0"] == ["stem", *(f"stage{i}" for i in range(1, 8)), "conv_head"]
    assert names["resnet50"] == names["resnet101"] == ["stem", "layer1", "layer2", "layer3", "layer4"]
    assert names["alexnet"] == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"]
    assert all(BODY not in n for n in names.values())  # the word for the whole body is no stage's name


@pytest.mark.parametrize("backbone", ["digits_cnn", "efficientnet_lite0"])  # the others need torchvision
def test_the_stages_hold_every_body_parameter_once(backbone):
    model = build_model(backbone, 10)  # build_model checks the spec's stages (check_stages)
    owners = {}
    for stage in BACKBONES[backbone].stages:
        for n, _ in model.named_parameters():
            if any(n == m or n.startswith(m + ".") for m in stage.modules):
                owners.setdefault(n, []).append(stage.name)
    body = [n for n, _ in model.named_parameters() if n.startswith("backbone.")]
    assert sorted(owners) == sorted(body) and all(len(v) == 1 for v in owners.values())


def test_a_spec_whose_stages_miss_a_module_or_a_parameter_is_caught(monkeypatch):
    short = dataclasses.replace(BACKBONES["digits_cnn"], stages=BACKBONES["digits_cnn"].stages[:1])
    monkeypatch.setitem(BACKBONES, "digits_cnn", short)
    with pytest.raises(AssertionError, match=r"stages leave 2 body parameter\(s\) out, e.g. backbone.body.2.weight"):
        build_model("digits_cnn", 10)
    wrong = dataclasses.replace(short, stages=(Stage("conv1", ("backbone.conv1",)),))
    monkeypatch.setitem(BACKBONES, "digits_cnn", wrong)
    with pytest.raises(AssertionError, match="stage conv1 names backbone.conv1, which its network lacks"):
        build_model("digits_cnn", 10)


def test_the_unfreezing_schedule_is_a_function_of_the_epoch():
    names = [s.name for s in EFFNET.stages]
    assert frozen_stages(EFFNET, None, None, 5) == ()
    assert frozen_stages(EFFNET, BODY, None, 5) == tuple(names)
    assert frozen_stages(EFFNET, "stage4", None, 5) == ("stem", "stage1", "stage2", "stage3", "stage4")
    # from the whole body (no --freeze), one stage from the top every 2 epochs
    tops = [(frozen_stages(EFFNET, None, 2, e) or ("none",))[-1] for e in range(20)]
    assert tops == ["conv_head"] * 2 + ["stage7"] * 2 + ["stage6"] * 2 + ["stage5"] * 2 + ["stage4"] * 2 + \
        ["stage3"] * 2 + ["stage2"] * 2 + ["stage1"] * 2 + ["stem"] * 2 + ["none"] * 2
    # from --freeze stage2: stage2, then stage1, then stem, then nothing
    assert [len(frozen_stages(EFFNET, "stage2", 1, e)) for e in range(6)] == [3, 2, 1, 0, 0, 0]


def test_bad_freezing_settings_are_one_line_errors():
    check_freezing(EFFNET, "stage3", 2)
    check_freezing(EFFNET, BODY, None)
    with pytest.raises(ValueError, match=r"^--freeze must be body \(the whole body\) or a stage of the "
                                         r"efficientnet_lite0 backbone, from input to output: stem, stage1, stage2, "
                                         r"stage3, stage4, stage5, stage6, stage7 or conv_head; got 'layer4'$"):
        check_freezing(EFFNET, "layer4", None)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=r"^--unfreeze-every must be an integer >= 1 .*, got "):
            check_freezing(EFFNET, None, bad)
    bare = dataclasses.replace(EFFNET, name="tiny", stages=())
    with pytest.raises(ValueError, match=r"^--freeze: the tiny backbone names no stages"):
        check_freezing(bare, BODY, None)


def test_a_frozen_body_keeps_its_norms_in_eval_mode_and_gets_no_gradient():
    torch.manual_seed(0)
    model = build_model("efficientnet_lite0", 10)
    freezer = Freezer(model, EFFNET)
    assert freezer.set(frozen_stages(EFFNET, "stage6", None, 0)) and not freezer.set(freezer.frozen)
    model.train()
    norms = {n: m.training for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert not norms["backbone.1._bn0"] and not norms["backbone.1._blocks.14._bn1"]  # stem, stage6
    assert norms["backbone.1._blocks.15._bn1"] and norms["backbone.1._bn1"] and model.bottleneck[1].training
    logits, _ = model(torch.rand(4, 3, 32, 32))
    logits.sum().backward()
    grads = {n: p.grad is not None for n, p in model.named_parameters()}
    assert not grads["backbone.1._conv_stem.weight"] and not grads["backbone.1._blocks.14._project_conv.weight"]
    assert grads["backbone.1._blocks.15._project_conv.weight"] and grads["backbone.1._conv_head.weight"]
    assert grads["bottleneck.0.weight"] and grads["logits.weight"]
    freezer.set(())  # unfrozen: back to what the builder made trainable, norms in train mode again
    assert all(p.requires_grad for p in model.parameters()) and model.backbone[1]._bn0.training


def test_unfreezing_gives_back_only_what_the_builder_left_trainable():
    """As AlexNet's conv1-conv3, which its builder freezes (the paper's recipe): no schedule turns them on."""
    model = build_model("digits_cnn", 10)
    model.backbone.body[0].weight.requires_grad_(False)  # as a builder would
    freezer = Freezer(model, BACKBONES["digits_cnn"])
    freezer.set(("conv1", "conv2"))
    assert not any(p.requires_grad for p in model.backbone.parameters())
    freezer.set(())
    assert not model.backbone.body[0].weight.requires_grad
    assert model.backbone.body[0].bias.requires_grad and model.backbone.body[2].weight.requires_grad
