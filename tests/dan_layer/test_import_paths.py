"""The import paths README, RESULTS and users' scripts name keep working after the modules moved
into subpackages (data, models, methods, runs, commands), and an old path is the new module itself."""
import importlib

import pytest

import dan
from dan._moved import MOVED

DOCUMENTED = [
    ("dan", "DANLoss"), ("dan", "Penalty"),
    ("dan.methods", "DANLoss"), ("dan.methods", "METHODS"), ("dan.methods", "Method"),
    ("dan.methods.mkmmd", "CONFIGS"),
    ("dan.models", "build_model"),
    ("dan.data", "load_domain"), ("dan.data", "Domain"), ("dan.data", "DIGIT_DOMAINS"),
    ("dan.data", "load_printed_domain"), ("dan.data", "load_mnist_domain"), ("dan.data", "render_printed"),
    ("dan.trainer", "train"), ("dan.trainer", "Trainer"),
    ("dan.config", "TrainConfig"),
    ("dan.checkpoint", "load_checkpoint"),
    ("dan.plot", "plot"),
    ("dan.beta_plot", "plot_betas"), ("dan.beta_plot", "summarise"),
    ("dan.cli", "main"),
]


@pytest.mark.parametrize("module,name", DOCUMENTED)
def test_every_documented_path_imports(module, name):
    assert hasattr(importlib.import_module(module), name)


@pytest.mark.parametrize("old,new", sorted(MOVED.items()))
def test_an_old_path_is_the_moved_module_itself(old, new):
    # the same object, so monkeypatching dan.checkpoint.X patches what dan.runs.checkpoint uses
    assert importlib.import_module(old) is importlib.import_module(new)


def test_the_cli_entry_point_is_the_commands_module():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "dan"]
    assert ep.value == "dan.commands.cli:main"
    assert ep.load() is importlib.import_module("dan.commands.cli").main


def test_every_room_says_what_lives_there():
    for room in ("data", "models", "methods", "runs", "commands"):
        assert importlib.import_module(f"dan.{room}").__doc__, room
    assert dan.__doc__ and "commands" in dan.__doc__
