"""Every subcommand and flag of ``dan`` says what it does (the CLI reference page is generated from
this help), and ``dan --version`` names the installed version."""
import argparse

import pytest

import dan_ext
from dan.commands.cli import build_parser, main as dan_main
from dan.runs.grid import MAX_SEEDS


def _walk(parser: argparse.ArgumentParser, path: str):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{path} {name}", helps.get(name)
                yield from _walk(sub, f"{path} {name}")
        else:
            yield f"{path} {'/'.join(action.option_strings) or action.dest}", action.help


ENTRIES = list(_walk(build_parser(), "dan"))


@pytest.mark.parametrize("where,text", ENTRIES, ids=[w for w, _ in ENTRIES])
def test_every_subcommand_and_flag_has_help(where, text):
    assert text and text != argparse.SUPPRESS and text.strip(), f"{where} has no help text"


def test_the_walk_sees_every_subcommand():
    commands = {w.split()[1] for w, _ in ENTRIES if len(w.split()) == 2 and not w.split()[1].startswith("-")}
    assert {"train", "ablate", "benchmark", "plot", "plot-betas", "test", "predict", "convert-checkpoint",
            "digit-folders"} <= commands


def test_seeds_help_names_the_bound_the_grid_enforces():
    helps = dict(ENTRIES)
    assert f"from 1 to {MAX_SEEDS}" in helps["dan ablate --seeds"]


def test_version_prints_the_installed_version(capsys):
    with pytest.raises(SystemExit) as stop:
        dan_main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"dan (dan_ext) {dan_ext.__version__}"
