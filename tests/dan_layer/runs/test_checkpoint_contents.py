"""A checkpoint's contents are untrusted input: the archive must be the uncompressed zip torch.save
writes (a re-zipped file with deflate expands a megabyte into a gigabyte before torch.load fails),
and its configuration, classes and counters are validated as the command line's are, before any
command acts on them (a crafted image_size, epoch or missing class list)."""
import zipfile

import pytest
import torch

from cli_helpers import FAST
from dan.runs.checkpoint import CHECKPOINT, load_checkpoint
from dan.commands.cli import main as dan_main


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    out = tmp_path_factory.mktemp("good") / "run"
    assert dan_main(["train", *FAST, "--epochs", "1", "--out", str(out),
                     "--cache-dir", str(out.parent / "cache")]) == 0
    return out / CHECKPOINT


def _edited(good, tmp_path, edit):
    ck = torch.load(good, weights_only=True)
    edit(ck)
    path = tmp_path / "crafted" / CHECKPOINT
    path.parent.mkdir()
    torch.save(ck, path)
    return path


def test_a_deflated_archive_is_refused_before_loading(good, tmp_path):
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        dst.writestr("archive/data/999", b"\0" * (64 << 20))  # 64 MB inside, 64 KB on disk
    assert bomb.stat().st_size < good.stat().st_size
    with pytest.raises(ValueError, match="compressed entr.*which torch.save never writes"):
        load_checkpoint(bomb)


@pytest.mark.parametrize("edit, needle", [
    (lambda ck: ck["config"].update(image_size=-5), "--image-size must be an integer >= 8 and <= 4096, got -5"),
    (lambda ck: ck["config"].update(epochs="3"), "--epochs must be an int or null, got '3'"),
    (lambda ck: ck["config"].update(evil=1), "unknown setting(s) evil"),
    (lambda ck: ck.update(epoch=-3), "'epoch' must be an integer >= 0, got -3"),
    (lambda ck: ck.update(epoch=7), "epoch 7 is beyond the run's 1 epochs"),
    (lambda ck: ck.pop("classes"), "is not a dan checkpoint: no classes"),
    (lambda ck: ck.update(classes=["a", "a"]), "'classes' must be a non-empty list of distinct names"),
    (lambda ck: ck.update(history=[]), "'history' must hold one row per epoch done (1)"),
])
def test_crafted_contents_are_refused_by_every_command(good, tmp_path, capsys, edit, needle):
    path = _edited(good, tmp_path, edit)
    with pytest.raises(ValueError, match=None) as err:
        load_checkpoint(path)
    assert needle in str(err.value) and str(path) in str(err.value)
    for args in (["plot", "--checkpoint", str(path), "--quiet"],
                 ["train", *FAST, "--epochs", "3", "--out", str(path.parent), "--resume"]):
        assert dan_main(args) == 2
        printed = capsys.readouterr().err.strip()
        assert printed.count("\n") == 0 and needle in printed, printed
    assert sorted(p.name for p in path.parent.iterdir()) in ([CHECKPOINT], [".lock", CHECKPOINT])


def test_plot_takes_no_folder_and_no_schedule_from_a_checkpoint(good, tmp_path, capsys):
    """A checkpoint naming a cache folder and a million epochs: dan plot caches where the user
    caches and trains its 'before' model for the epochs the checkpoint's model has trained (1)."""
    evil = tmp_path / "planted"
    path = _edited(good, tmp_path, lambda ck: ck["config"].update(cache_dir=str(evil), epochs=1_000_000))
    assert dan_main(["plot", "--checkpoint", str(path), "--quiet"]) == 0, capsys.readouterr().err
    assert not evil.exists()
    kept = path.parent / "before_source_only"
    assert load_checkpoint(kept / CHECKPOINT)["epoch"] == 1


def test_a_checkpoint_cannot_ask_for_giant_images(good, tmp_path):
    path = _edited(good, tmp_path, lambda ck: ck["config"].update(image_size=100_000))
    with pytest.raises(ValueError, match="--image-size must be an integer >= 8 and <= 4096, got 100000"):
        load_checkpoint(path)
