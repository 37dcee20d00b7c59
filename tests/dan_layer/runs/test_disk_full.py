"""A full disk, for real: the run folder lives on a small tmpfs mounted for the test (the machine
and CI run as root); where mounting is not allowed, the child gets a real file-size limit instead
(RLIMIT_FSIZE, EFBIG: 'file too large'). Either way: the write fails with one line naming the
file, the previous file is unchanged, no temporary file is left, the logs never run ahead of the
checkpoint, and the run resumes once there is room."""
import json

import pytest

from cli_helpers import FAST
from disk_fixtures import _dan, _fill
from dan.runs.atomic import DiskFullError, atomic_write_text
from dan.runs.checkpoint import CHECKPOINT, load_checkpoint


def test_full_disk_during_a_checkpoint(tmp_path, disk):
    folder, kind = disk
    out = folder / "run"
    common = ["train", *FAST, "--cache-dir", tmp_path / "cache", "--out", out]
    first = _dan(tmp_path, *common, "--epochs", "1")
    assert first.returncode == 0, first.stderr
    good = {p.name: p.read_bytes() for p in out.iterdir() if p.name != ".lock"}
    if kind == "tmpfs":
        _fill(folder, leave=200_000)  # less than one checkpoint (1.4 MB)
        second = _dan(tmp_path, *common, "--epochs", "2", "--resume")
        needle = "no space left writing"
    else:
        second = _dan(tmp_path, *common, "--epochs", "2", "--resume", fsize=200_000)
        needle = "file too large writing"
    err = second.stderr.strip()
    assert second.returncode == 1 and err.count("\n") == 0, err
    assert needle in err and str(out / CHECKPOINT) in err, err
    # nothing half-written, nothing ahead of the checkpoint
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != ".lock"} == good
    assert load_checkpoint(out / CHECKPOINT)["epoch"] == 1 and len(json.loads((out / "log.json").read_text())) == 1
    if kind == "tmpfs":
        (folder / "filler").unlink()
    third = _dan(tmp_path, *common, "--epochs", "2", "--resume")
    assert third.returncode == 0, third.stderr
    assert [r["epoch"] for r in json.loads((out / "log.json").read_text())] == [1, 2]


def test_atomic_text_keeps_the_old_file(disk):
    folder, kind = disk
    if kind != "tmpfs":
        pytest.skip("needs the tmpfs (the file-size limit case is covered by the test above)")
    path = folder / "result.json"
    path.write_text('{"old": true}')
    _fill(folder, leave=0)
    with pytest.raises(DiskFullError, match=f"no space left writing {path}"):
        atomic_write_text(path, json.dumps({"new": "x" * 100_000}))
    assert path.read_text() == '{"old": true}' and sorted(p.name for p in folder.iterdir()) == ["filler", "result.json"]


def test_ablate_resume_names_an_unreadable_result(tmp_path, capsys):
    from dan.commands.cli import main as dan_main

    args = ["ablate", *FAST, "--seeds", "1", "--methods", "ddc", "--epochs", "1", "--out", str(tmp_path / "a"),
            "--cache-dir", str(tmp_path / "cache")]
    assert dan_main(args) == 0
    done = tmp_path / "a" / "ddc" / "seed0" / "result.json"
    done.write_text("")  # what a non-atomic write on a full disk used to leave
    capsys.readouterr()
    assert dan_main(args + ["--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"cannot read {done}" in err and "--overwrite" in err
