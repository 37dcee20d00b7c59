"""The CLI's help shows the values config.resolve() applies (its protocol dicts) and the backbone
specs' defaults, generated when the parser is built, not a copy that could drift from them."""
import dataclasses

import pytest

from dan import config
from dan.models.backbones import BACKBONES
from dan.commands.cli import main as dan_main
from dan.config import TrainConfig, resolve


def _help(capsys, command="train") -> str:
    with pytest.raises(SystemExit):
        dan_main([command, "--help"])
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines at the terminal's width


def test_help_shows_the_protocol_values(capsys, monkeypatch):
    d, i = config.DIGIT_PROTOCOL, config.IMAGE_PROTOCOL
    text = _help(capsys)
    assert f"(default: {d['epochs']} for digit domains, {i['epochs']} for image folders)" in text
    assert f"(default: {d['batch_size']} for digit domains, {i['batch_size']} for image folders; per domain)" in text
    assert f"(default: {d['lr']} for digit domains, {i['lr']} for image folders; new layers at 10x)" in text
    assert f"one pass over the source for digit domains, {i['iters_per_epoch']} for image folders" in text
    # another protocol value: the help (a fresh parser) and resolve() both follow it
    monkeypatch.setitem(config.DIGIT_PROTOCOL, "epochs", 7)
    monkeypatch.setitem(config.IMAGE_PROTOCOL, "lr", 0.125)
    monkeypatch.setitem(config.IMAGE_PROTOCOL, "iters_per_epoch", 99)
    text = _help(capsys)
    assert f"(default: 7 for digit domains, {i['epochs']} for image folders)" in text
    assert f"(default: {d['lr']} for digit domains, 0.125 for image folders; new layers at 10x)" in text
    assert "one pass over the source for digit domains, 99 for image folders" in text
    assert resolve(TrainConfig()).epochs == 7


def test_help_shows_the_backbones_default_weights(capsys, monkeypatch):
    text = _help(capsys, "benchmark")
    assert "imagenet for efficientnet_lite0, none (random) otherwise; or a state-dict file" in text
    assert "one of digits_cnn, efficientnet_lite0, resnet50, resnet101, alexnet (default efficientnet_lite0)" in text
    monkeypatch.setitem(BACKBONES, "resnet50", dataclasses.replace(BACKBONES["resnet50"], default_weights="imagenet"))
    assert "imagenet for efficientnet_lite0, resnet50, none (random) otherwise" in _help(capsys, "benchmark")
    assert resolve(TrainConfig(backbone="resnet50")).weights == "imagenet"
