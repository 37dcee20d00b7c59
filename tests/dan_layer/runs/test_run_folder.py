"""A run folder belongs to one run: no silent overwrite, one process at a time (a real OS lock,
tested with real processes), stale temporaries removed, no resume backwards."""
import json
import os
import signal
import subprocess
import sys

import pytest

from cli_helpers import FAST, run_dan, start_dan, wait_for
from dan.runs.checkpoint import CHECKPOINT, load_checkpoint
from dan.commands.cli import main as dan_main
from dan.runs.folder import LOCK


def _train(tmp_path, out, *args):
    return dan_main(["train", *FAST, "--cache-dir", str(tmp_path / "cache"), "--out", str(out), *args])


def test_finished_run_is_not_overwritten_without_a_flag(tmp_path, capsys):
    out = tmp_path / "R"
    assert _train(tmp_path, out, "--epochs", "2") == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != LOCK}
    assert _train(tmp_path, out, "--epochs", "1") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != LOCK} == before  # untouched

    assert _train(tmp_path, out, "--epochs", "1", "--overwrite") == 0  # explicit: replaced
    assert json.loads((out / "result.json").read_text())["epochs"] == 1
    assert load_checkpoint(out / CHECKPOINT)["epoch"] == 1


def test_resume_refuses_fewer_epochs_and_result_tells_the_truth(tmp_path, capsys):
    out = tmp_path / "R"
    assert _train(tmp_path, out, "--epochs", "2") == 0
    capsys.readouterr()
    assert _train(tmp_path, out, "--epochs", "1", "--resume") == 2
    assert "already done 2 epochs; pass --epochs 2 or more" in capsys.readouterr().err
    assert json.loads((out / "result.json").read_text())["epochs"] == 2
    assert _train(tmp_path, out, "--epochs", "3", "--resume") == 0
    r = json.loads((out / "result.json").read_text())
    assert r["epochs"] == 3 and load_checkpoint(out / CHECKPOINT)["epoch"] == 3
    with pytest.raises(SystemExit) as exit_:  # argparse: mutually exclusive flags
        _train(tmp_path, out, "--resume", "--overwrite")
    assert exit_.value.code == 2 and "not allowed with argument --resume" in capsys.readouterr().err


def test_second_process_fails_at_once_naming_the_holder(tmp_path):
    out = tmp_path / "R"
    first = start_dan(tmp_path, "train", *FAST, "--epochs", "500", "--out", out, "--cache-dir", tmp_path / "cache")
    try:
        wait_for(lambda: (out / LOCK).exists() and str(first.pid) in (out / LOCK).read_text(), proc=first,
                 what="the first run to take the lock")
        second = run_dan(tmp_path, "train", *FAST, "--epochs", "1", "--out", out, "--overwrite",
                         "--cache-dir", tmp_path / "cache", timeout=60)
        assert second.returncode == 1, second
        err = second.stderr.strip()
        assert err.count("\n") == 0 and "Traceback" not in err
        assert f"run folder {out} is in use by process {first.pid}" in err
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # The kernel dropped the dead process's lock: the folder is usable at once, no clean-up needed.
    third = run_dan(tmp_path, "train", *FAST, "--epochs", "1", "--out", out, "--overwrite",
                    "--cache-dir", tmp_path / "cache")
    assert third.returncode == 0, third.stderr


def _dead_pid():
    """A pid that no process has now (a child that has exited and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_are_removed_only_by_exact_name_and_only_once_accepted(tmp_path, capsys):
    out = tmp_path / "R"
    out.mkdir()
    dead = _dead_pid()
    stale = [out / f"{CHECKPOINT}.tmp{dead}", out / f"log.json.tmp{dead}"]
    for p in stale:
        p.write_bytes(b"half a checkpoint")
    # a user's files that merely look like temporaries, and a live process's temporary
    users = [out / "thesis.tmp2024", out / "photos.tmp1.npz", out / "notes.tmp.txt", out / f"result.json.tmp{os.getpid()}x",
             out / f"{CHECKPOINT}.tmp1"]  # pid 1 (init) is alive
    for p in users:
        p.write_text("mine")
    # a refused start (a typo in --source) deletes nothing, not even our own stale files
    assert _train(tmp_path, out, "--epochs", "1", "--source", "folder:" + str(tmp_path / "nope")) == 2
    capsys.readouterr()
    assert all(p.exists() for p in stale + users)
    assert _train(tmp_path, out, "--epochs", "1") == 0
    assert not any(p.exists() for p in stale)
    assert all(p.read_text() == "mine" for p in users)


def test_overwrite_checks_everything_before_deleting_the_old_run(tmp_path, capsys):
    out = tmp_path / "R"
    assert _train(tmp_path, out, "--epochs", "1") == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != LOCK}
    capsys.readouterr()
    # a typo in --source: refused, and the old run is all still there
    assert _train(tmp_path, out, "--epochs", "1", "--overwrite", "--source", f"folder:{tmp_path / 'typo'}") == 2
    assert "typo" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != LOCK} == before


def test_a_refused_start_leaves_no_folder_behind(tmp_path, capsys):
    out = tmp_path / "new_run"
    assert _train(tmp_path, out, "--epochs", "1", "--source", f"folder:{tmp_path / 'typo'}") == 2
    capsys.readouterr()
    assert not out.exists()


def test_lock_is_never_opened_through_a_symlink(tmp_path, capsys):
    out = tmp_path / "R"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (out / LOCK).symlink_to(victim)
    assert _train(tmp_path, out, "--epochs", "1") == 2
    err = capsys.readouterr().err
    assert "symbolic link" in err and err.strip().count("\n") == 0
    assert victim.read_text() == "precious"


def test_ablate_follows_the_same_rules(tmp_path, capsys):
    out = tmp_path / "A"
    args = ["ablate", *FAST, "--seeds", "1", "--methods", "ddc", "--epochs", "1", "--out", str(out),
            "--cache-dir", str(tmp_path / "cache")]
    assert dan_main(args) == 0
    mtime = (out / "ddc" / "seed0" / CHECKPOINT).stat().st_mtime_ns
    assert dan_main(args) == 2 and "already holds an ablation" in capsys.readouterr().err
    assert (out / "ddc" / "seed0" / CHECKPOINT).stat().st_mtime_ns == mtime
    # An interrupted run (checkpoint, no result.json) continues from its checkpoint under --resume.
    (out / "ddc" / "seed0" / "result.json").unlink()
    assert dan_main([*args[:-6], "--epochs", "2", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
                     "--resume"]) == 0
    assert load_checkpoint(out / "ddc" / "seed0" / CHECKPOINT)["epoch"] == 2
    assert [r["epoch"] for r in json.loads((out / "ddc" / "seed0" / "log.json").read_text())] == [1, 2]
    assert dan_main(args + ["--overwrite"]) == 0
    assert load_checkpoint(out / "ddc" / "seed0" / CHECKPOINT)["epoch"] == 1


@pytest.mark.parametrize("command", ["train", "ablate"])
def test_unwritable_out_is_a_one_line_error(tmp_path, capsys, command):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = dan_main([command, *FAST, "--epochs", "1", "--out", str(blocker / "sub")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and f"--out {blocker / 'sub'}: cannot create the run folder" in err
