"""A second hostile-user round on run folders, checkpoints and outputs: each probe below was found
by trying the first round's fixes as an attacker would, and each test failed on that code."""
import json
import os

import pytest
import torch

from cli_helpers import FAST
from dan.runs.checkpoint import CHECKPOINT, load_checkpoint
from dan.commands.cli import main as dan_main
from dan.runs.output_files import check_output


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    out = tmp_path_factory.mktemp("good") / "run"
    assert dan_main(["train", *FAST, "--epochs", "1", "--out", str(out),
                     "--cache-dir", str(out.parent / "cache")]) == 0
    return out


def _craft(good, tmp_path, edit, name="crafted"):
    ck = torch.load(good / CHECKPOINT, weights_only=True)
    edit(ck)
    path = tmp_path / name / CHECKPOINT
    path.parent.mkdir(parents=True)
    torch.save(ck, path)
    return path


def _one_line(capsys, rc, needle, code=2):
    err = capsys.readouterr().err.strip()
    assert rc == code and err.count("\n") == 0 and needle in err, (rc, err)


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != ".lock"}


@pytest.mark.parametrize("edit, needle", [
    # a zero-stride view: 4 bytes on disk, 900 MB once used
    (lambda ck: ck["penalty"]["_extra_state"]["solvers"]["fc6"].update(Q=torch.zeros(1).expand(15000, 15000)),
     "larger than its stored data"),
    (lambda ck: ck.update(data="garbage"), "'data' record (what the run trained on) is malformed"),
    (lambda ck: ck["data"].update(target=[ck["data"]["target"]]), "'data' record"),
    (lambda ck: ck["history"][0].update(x=torch.zeros(2)), "'history' is not plain JSON data"),
    (lambda ck: ck["history"][0].update(target_accuracy=float("nan")), "'history' is not plain JSON data"),
    (lambda ck: ck["config"].update(batch_size=2 * 10 ** 9), "--batch-size must be an integer >= 2 and <= 65536"),
    (lambda ck: ck["config"].update(dist_timeout=1e308), "--dist-timeout must be a finite number >= 1"),
])
def test_crafted_checkpoints_are_refused_on_load(good, tmp_path, edit, needle):
    with pytest.raises(ValueError) as err:
        load_checkpoint(_craft(good, tmp_path, edit))
    assert needle in str(err.value)


@pytest.mark.parametrize("missing", ["rng", "optimizer", "penalty"])
def test_a_checkpoint_missing_training_state_is_one_line(good, tmp_path, capsys, missing):
    path = _craft(good, tmp_path, lambda ck: ck.pop(missing))
    rc = dan_main(["train", *FAST, "--epochs", "2", "--out", str(path.parent), "--resume",
                   "--cache-dir", str(good.parent / "cache")])
    _one_line(capsys, rc, f"cannot restore the run's training state (no '{missing}')")


def test_plot_trains_its_before_model_no_longer_than_the_checkpoint_did(good, tmp_path, capsys):
    path = _craft(good, tmp_path, lambda ck: ck["config"].update(iters_per_epoch=10 ** 12))
    assert dan_main(["plot", "--checkpoint", str(path), "--quiet"]) == 0, capsys.readouterr().err
    before = load_checkpoint(path.parent / "before_source_only" / CHECKPOINT)
    assert before["step"] <= load_checkpoint(path)["step"]


def test_overwrite_refuses_a_run_file_that_is_a_folder_before_deleting_anything(good, tmp_path, capsys):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(good, out)
    (out / "log.csv").unlink()
    (out / "log.csv").mkdir()
    kept = _files(out)
    rc = dan_main(["train", *FAST, "--epochs", "1", "--out", str(out), "--overwrite",
                   "--cache-dir", str(good.parent / "cache")])
    _one_line(capsys, rc, "log.csv is not a file")
    assert _files(out) == kept


def test_a_hard_linked_lock_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    os.link(notes, out / ".lock")
    rc = dan_main(["train", *FAST, "--epochs", "1", "--out", str(out)])
    _one_line(capsys, rc, "hard links")
    assert notes.read_text() == "mine"


def test_train_and_ablate_do_not_share_folders(good, tmp_path, capsys):
    table = tmp_path / "abl"
    table.mkdir()
    (table / "results.json").write_text("{}")
    rc = dan_main(["train", *FAST, "--epochs", "1", "--out", str(table)])
    _one_line(capsys, rc, "holds an ablation's or benchmark's table (results.json)")
    rc = dan_main(["ablate", *FAST, "--methods", "ddc", "--seeds", "1", "--epochs", "1", "--out", str(good)])
    _one_line(capsys, rc, "holds a dan train run")


def test_outputs_never_replace_a_tables_own_files_nor_their_input(good, tmp_path, capsys):
    table = tmp_path / "abl"
    table.mkdir()
    for name in ("results.json", "results.md"):
        (table / name).write_text("mine")
    with pytest.raises(ValueError, match="never replaced"):
        check_output(table / "results.md", "--out", overwrite=True)
    for out in (good / CHECKPOINT, good / "sub" / "p.png"):
        rc = dan_main(["predict", "--checkpoint", str(good / CHECKPOINT), "--images", str(good), "--out", str(out),
                       "--overwrite", "--quiet"])
        _one_line(capsys, rc, "--out")
    rc = dan_main(["predict", "--checkpoint", str(good / CHECKPOINT), "--images", str(tmp_path), "--out",
                   str(tmp_path / "newresults") + "/", "--quiet"])
    _one_line(capsys, rc, "names a folder")
    assert not (tmp_path / "newresults").exists()


def test_a_refused_start_removes_the_parent_folders_it_made(tmp_path, capsys):
    rc = dan_main(["train", *FAST, "--epochs", "1", "--out", str(tmp_path / "a" / "b" / "c"), "--resume"])
    assert rc == 2
    capsys.readouterr()
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("args, needle", [(["--out", ""], "--out must name a folder"),
                                          (["--dist-timeout", "1e-300"], "--dist-timeout must be a finite number >= 1"),
                                          (["--dist-timeout", "1e14"], "<= 604800")])
def test_bad_train_settings(tmp_path, capsys, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    rc = dan_main(["train", *FAST, "--epochs", "1", *args])
    _one_line(capsys, rc, needle)
    assert list(tmp_path.iterdir()) == []


def test_plot_betas_names_an_unreadable_log(good, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(good, run)
    (run / "log.json").write_text(json.dumps([{"epoch": 1, "beta_fc6": 3}]))
    rc = dan_main(["plot-betas", "--run", str(run), "--out", str(tmp_path / "b.png")])
    _one_line(capsys, rc, "log.json is not a dan run's log")
    (run / "result.json").write_text("[]")
    rc = dan_main(["plot-betas", "--run", str(run), "--out", str(tmp_path / "b.png")])
    _one_line(capsys, rc, "cannot read result.json")
