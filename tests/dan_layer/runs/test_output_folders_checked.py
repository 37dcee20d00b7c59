"""Where a command writes, for real: a read-only --out folder for dan predict (a read-only tmpfs),
a full disk under dan digit-folders (a small tmpfs, as tests/test_disk_full.py mounts it), and a
--cache-dir or --out whose folder is a file. Each used to end in a bare errno message ([Errno 30]
naming a temporary file, [Errno 28] naming nothing, [Errno 17] File exists); each is now one line
that names the path and what is wrong with it, and leaves nothing behind."""

import pytest

from cli_helpers import FAST, run_dan
from dan.runs.checkpoint import CHECKPOINT
from dan.runs.output_files import write_outputs
from image_helpers import write_unlabelled
from disk_fixtures import _dan, _fill


def _one_line(r, rc):
    assert r.returncode == rc and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    return r.stderr


def test_predict_to_a_read_only_folder_names_it(tmp_path, model, read_only):
    images = write_unlabelled(tmp_path / "imgs", n=3)
    out = read_only / "p.csv"
    r = run_dan(tmp_path, "predict", "--checkpoint", model / "run" / CHECKPOINT, "--images", images, "--out", out,
                "--workers", "0", "--quiet")
    err = _one_line(r, 2)
    assert f"--out {out}: the folder {read_only} is not writable (" in err and ".tmp" not in err
    assert list(read_only.iterdir()) == []


def test_a_write_into_a_read_only_folder_names_the_file(read_only):
    """The same at write time (the folder turned read-only after the check): the file, not its
    temporary name."""
    from dan.runs.atomic import NotWritableError

    out = read_only / "p.csv"
    with pytest.raises(NotWritableError, match=f"cannot write {out}: its folder {read_only} is not writable"):
        write_outputs({out: lambda f: f.write(b"x")}, overwrite=False)


def test_digit_folders_onto_a_full_disk_names_the_folder(tmp_path, disk):
    folder, kind = disk
    out = folder / "digits32"
    if kind == "tmpfs":
        _fill(folder, leave=100_000)  # the 1,797 PNGs take about 2 MB
        r = _dan(tmp_path, "digit-folders", "--domain", "digits", "--out", out, "--quiet")
        needle = f"no space left on the disk of {folder} writing the digits images for --out {out}"
    else:
        r = _dan(tmp_path, "digit-folders", "--domain", "digits", "--out", out, "--quiet", fsize=300)
        needle = f"file too large on the disk of {folder} writing the digits images for --out {out}"
    err = _one_line(r, 1)
    assert needle in err and "partial folder was removed" in err
    assert sorted(p.name for p in folder.iterdir()) == (["filler"] if kind == "tmpfs" else [])


def test_a_cache_dir_that_is_a_file_is_named(tmp_path):
    blocker = tmp_path / "afile.txt"
    blocker.write_text("mine")
    r = run_dan(tmp_path, "train", *FAST, "--epochs", "1", "--cache-dir", blocker, "--out", tmp_path / "run")
    err = _one_line(r, 2)
    assert f"the cache folder (--cache-dir or $DAN_CACHE) {blocker} is a file, not a folder" in err
    assert blocker.read_text() == "mine"


def test_plot_betas_out_under_a_file_is_named(tmp_path):
    run = tmp_path / "run"
    first = run_dan(tmp_path, "train", *FAST, "--epochs", "1", "--cache-dir", tmp_path / "cache", "--out", run)
    assert first.returncode == 0, first.stderr
    blocker = tmp_path / "afile.txt"
    blocker.write_text("mine")
    for out, needle in ((blocker / "x.png", f"its folder {blocker} is a file, not a folder"),
                        (blocker / "sub" / "x.png", f"its folder {blocker / 'sub'} cannot be created: {blocker} is a "
                                                    "file, not a folder")):
        r = run_dan(tmp_path, "plot-betas", "--run", run, "--out", out)
        assert f"--out {out}: {needle}" in _one_line(r, 2)
    assert blocker.read_text() == "mine"


def test_digit_folders_out_under_a_file_is_named(tmp_path):
    blocker = tmp_path / "afile.txt"
    blocker.write_text("mine")
    r = run_dan(tmp_path, "digit-folders", "--domain", "digits", "--out", blocker / "d", "--quiet")
    err = _one_line(r, 2)
    assert f"--out {blocker / 'd'}: its parent folder {blocker} is a file, not a folder" in err


def test_digit_folders_into_a_read_only_folder_is_refused_first(tmp_path, read_only):
    r = run_dan(tmp_path, "digit-folders", "--domain", "digits", "--out", read_only / "d", "--quiet")
    err = _one_line(r, 2)
    assert f"--out {read_only / 'd'}: the folder {read_only} is not writable (" in err


@pytest.mark.parametrize("kind, word", [("fifo", "a pipe, socket or device"), ("broken link", "a broken link")])
def test_a_cache_dir_that_is_another_kind_of_file_is_named(tmp_path, kind, word):
    import os

    blocker = tmp_path / "cache"
    if kind == "fifo":
        os.mkfifo(blocker)
    else:
        blocker.symlink_to(tmp_path / "gone")
    r = run_dan(tmp_path, "train", *FAST, "--epochs", "1", "--cache-dir", blocker, "--out", tmp_path / "run",
                timeout=120)
    assert f"the cache folder (--cache-dir or $DAN_CACHE) {blocker} is {word}, not a folder" in _one_line(r, 2)
