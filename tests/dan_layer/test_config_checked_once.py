"""A run's configuration is resolved and validated once, where the run starts (config.check):
train() hands its Trainer the CheckedConfig, dan ablate's grid checks every run before the first
trains and hands each to train(). A TrainConfig is always checked in full: there is no hidden
stamp to trust, and a CheckedConfig keeps its own copy, so changing the object it came from
afterwards cannot slip past the check."""
import dataclasses

import pytest

import dan.config
from cli_helpers import FAST
from dan.commands.cli import main as dan_main
from dan.config import CheckedConfig, TrainConfig, check, checked
from dan.trainer import Trainer


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


def test_a_trainer_built_by_hand_checks_its_configuration(tmp_path, validations):
    with pytest.raises(ValueError, match="--lr must be a finite number > 0"):
        Trainer(TrainConfig(lr=-1.0, out=str(tmp_path / "r")), progress=False)
    assert validations == ["dan"]


def test_a_checked_configuration_keeps_its_own_copy(validations):
    cfg = TrainConfig(out="x")
    run = check(cfg)
    cfg.lr = -1.0                      # the user's object changes after the check ...
    assert run.config.lr == 0.01       # ... the checked settings do not (the protocol's lr, resolved)
    run.config.lr = -1.0               # nor through the copy .config hands out
    assert run.config.lr == 0.01
    with pytest.raises(dataclasses.FrozenInstanceError):
        run._config = cfg
    with pytest.raises(ValueError, match="--lr must be a finite number > 0"):
        check(cfg)                     # the changed object is a new configuration: checked in full
    assert check(run) is run and len(validations) == 2


def test_every_trainconfig_is_checked_in_full(validations):
    """No stamp on the object: the same TrainConfig given twice is validated twice, and a value of
    another type (100.0 for 100, 1 for True) is refused, since a checkpoint's stored configuration
    would refuse it."""
    cfg = checked(TrainConfig(out="x"))
    checked(cfg)
    assert len(validations) == 2
    cfg.epochs = float(cfg.epochs)
    with pytest.raises(ValueError, match="--epochs must be an integer"):
        checked(cfg)
    cfg = checked(TrainConfig(out="x"))
    cfg.lam_ramp = 1
    with pytest.raises(ValueError, match="--lam-ramp must be true or false"):
        checked(cfg)


def test_a_check_for_passed_in_domains_does_not_cover_loading_them(validations):
    loose = check(TrainConfig(source="nope", out="z"), load_source=False)
    assert isinstance(loose, CheckedConfig) and check(loose, load_source=False) is loose
    with pytest.raises(ValueError, match="unknown domain 'nope'"):
        check(loose)  # asked to load the source by name: checked again, and refused


def test_a_check_in_one_process_does_not_cover_a_rank(monkeypatch, validations):
    run = check(TrainConfig(out="x"))
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert check(run) is not run and len(validations) == 2


def test_a_checked_configuration_is_made_only_by_check():
    """The constructor is public in the API docs: built by hand, a CheckedConfig would carry an
    unchecked configuration (lr -1) into train() and its Trainer, which trust the type."""
    with pytest.raises(TypeError, match=r"made by dan.config.check"):
        CheckedConfig(TrainConfig(lr=-1.0, out="x"), True, True, 1)
    run = check(TrainConfig(out="x"))
    assert dataclasses.replace(run) == run and check(run) is run
