"""A run's configuration is resolved and validated once (config.checked): not again by train()'s
Trainer, nor by dan ablate's grid and then each run; and a setting changed after the check is
checked again."""
import dataclasses

import pytest

import dan.config
from cli_helpers import FAST
from dan.commands.cli import main as dan_main
from dan.config import TrainConfig, checked


@pytest.fixture
def validations(monkeypatch):
    calls = []
    real = dan.config.validate

    def counting(cfg, *args, **kw):
        calls.append(cfg.method)
        return real(cfg, *args, **kw)

    monkeypatch.setattr(dan.config, "validate", counting)
    return calls


def test_dan_train_checks_its_configuration_once(tmp_path, validations):
    assert dan_main(["train", *FAST, "--epochs", "1", "--out", str(tmp_path / "run"),
                     "--cache-dir", str(tmp_path / "c")]) == 0
    assert validations == ["dan"]


def test_dan_ablate_checks_each_run_once(tmp_path, validations):
    assert dan_main(["ablate", *FAST, "--seeds", "1", "--methods", "ddc,dan", "--epochs", "1",
                     "--out", str(tmp_path / "abl"), "--cache-dir", str(tmp_path / "c")]) == 0
    assert sorted(validations) == ["dan", "ddc"]


def test_a_setting_changed_after_the_check_is_checked_again(validations):
    cfg = checked(TrainConfig(out="x"))
    assert checked(cfg) is cfg and len(validations) == 1
    cfg.lr = -1.0
    with pytest.raises(ValueError, match="--lr must be a finite number > 0"):
        checked(cfg)
    other = dataclasses.replace(checked(TrainConfig(out="y")), seed=3)  # a copy is a new configuration
    assert checked(other) is not other and len(validations) == 4
    # a check for passed-in domains does not stand for one that loads them by name
    loose = checked(TrainConfig(source="nope", out="z"), load_source=False)
    with pytest.raises(ValueError, match="unknown domain 'nope'"):
        checked(loose)


def test_an_equal_value_of_another_type_is_checked_again(validations):
    """epochs 100.0 equals 100 but a checkpoint's configuration refuses it: it must not ride on
    the first check into the run's checkpoints."""
    cfg = checked(TrainConfig(out="x"))
    cfg.epochs = float(cfg.epochs)
    with pytest.raises(ValueError, match="--epochs must be an integer"):
        checked(cfg)
    cfg = checked(TrainConfig(out="x"))
    cfg.lam_ramp = 1
    with pytest.raises(ValueError, match="--lam-ramp must be true or false"):
        checked(cfg)
