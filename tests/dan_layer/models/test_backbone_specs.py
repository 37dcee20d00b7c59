"""A backbone is one spec (dan.models.backbones.BACKBONES): config, check_input_shape, build_model and dan
predict all read it, so a spec registered here (and nothing else) is accepted everywhere."""
import dataclasses

import pytest
import torch
from torch import nn

from dan import backbones
from dan.models.backbones import BACKBONES, PACKAGED, Backbone, Parts
from dan.runs.checkpoint import CHECKPOINT
from dan.commands.cli import main as dan_main
from dan.config import TrainConfig, resolve, validate
from dan.extras import Extra, MissingExtra
from dan.models import build_model, check_input_shape


def _tiny(spec, num_classes, weights, dropout):
    body = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return Parts(body, [("feat", nn.Linear(spec.channels, 4)), ("out", nn.Linear(4, num_classes))],
                 ("backbone.",) if weights else ())


# needs an extra that is not installed, for its ImageNet weights only, which it takes by default
TINY = Backbone("tiny", _tiny, channels=2, min_size=5, adapted=("feat", "out"), weights_from=PACKAGED,
                default_weights="imagenet", weights_extra=Extra("tiny_weights", "dan_no_such_module"))


class _Domain:
    def __init__(self, name, *shape):
        self.name, self.input_shape = name, shape


def test_a_new_backbone_is_one_spec(monkeypatch):
    monkeypatch.setitem(BACKBONES, "tiny", TINY)
    folders = dict(source="folder:a", target="folder:b", backbone="tiny")

    def check(**kw):
        validate(resolve(TrainConfig(**{**folders, **kw})), load_source=False, load_target=False, check_out=False)

    assert resolve(TrainConfig(**folders)).weights == "imagenet"  # its default
    with pytest.raises(MissingExtra, match=r'the tiny ImageNet weights needs dan_no_such_module, .*'
                                           r'"dan_ext\[tiny_weights'):
        check()
    check(weights="none")
    with pytest.raises(ValueError, match="only efficientnet_lite0, resnet50, resnet101, alexnet, tiny do"):
        check(backbone="digits_cnn", weights="imagenet")
    with pytest.raises(ValueError, match="--backbone must be one of digits_cnn, .*, alexnet, tiny, got 'vgg'"):
        check(backbone="vgg")

    check_input_shape("tiny", _Domain("folder:a", 2, 5, 7))
    with pytest.raises(ValueError, match=r"--backbone tiny takes 2-channel images of at least 5 x 5 pixels, but "
                                         r"folder:a gives 2 x 4 x 9; raise --image-size to 5 or more"):
        check_input_shape("tiny", _Domain("folder:a", 2, 4, 9))
    with pytest.raises(ValueError, match="for image folders use --backbone efficientnet_lite0, resnet50, resnet101, "
                                         "alexnet or tiny"):
        check_input_shape("digits_cnn", _Domain("folder:a", 2, 5, 5))

    model = build_model("tiny", 3, "imagenet")
    logits, feats = model(torch.rand(4, 2, 5, 5))
    assert model.adapted == ("feat", "out") and logits.shape == (4, 3) and feats["out"] is logits
    assert [g["lr_mult"] for g in model.param_groups(0.1) if g["params"]] == [10.0]  # no pretrained parameters
    with pytest.raises(ValueError, match="takes no weights"):
        build_model("digits_cnn", 3, "imagenet")


def test_a_spec_that_misstates_its_adapted_layers_is_caught(monkeypatch):
    monkeypatch.setitem(BACKBONES, "tiny", dataclasses.replace(TINY, adapted=("fc7", "fc8")))
    with pytest.raises(AssertionError, match=r"made adapted layers \('feat', 'out'\), its spec says \('fc7', 'fc8'\)"):
        build_model("tiny", 3)


def test_predict_lists_the_image_backbones_from_the_specs(tmp_path, monkeypatch, capsys):
    from dan.trainer import train

    train(TrainConfig(epochs=1, iters_per_epoch=1, batch_size=8, out=str(tmp_path / "run"),
                      cache_dir=str(tmp_path / "cache")), progress=False)
    monkeypatch.setitem(BACKBONES, "tiny", TINY)
    (tmp_path / "images").mkdir()
    rc = dan_main(["predict", "--checkpoint", str(tmp_path / "run" / CHECKPOINT), "--images",
                   str(tmp_path / "images"), "--out", str(tmp_path / "p.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "is a digits_cnn run on 8x8 digit arrays; dan predict takes image backbones " \
                       "(efficientnet_lite0, resnet50, resnet101, alexnet, tiny)" in err, err


def test_the_registry_lists_every_backbone_once():
    assert list(BACKBONES) == ["digits_cnn", "efficientnet_lite0", "resnet50", "resnet101", "alexnet"]
    assert all(name == spec.name for name, spec in BACKBONES.items())
    assert backbones.names(digits=True) == ("digits_cnn",)
