"""A run folder belongs to one run: no silent overwrite, one process at a time (a real OS lock,
tested with real processes), stale temporaries removed, no resume backwards."""
import json
import signal

import pytest

from cli_helpers import FAST, run_dan, start_dan, wait_for
from dan.checkpoint import CHECKPOINT, load_checkpoint
from dan.cli import main as dan_main
from dan.run_folder import LOCK


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


def test_stale_temporaries_are_removed_on_start(tmp_path):
    out = tmp_path / "R"
    out.mkdir()
    stale = [out / f"{CHECKPOINT}.tmp4242", out / "results.tmp77.npz"]
    for p in stale:
        p.write_bytes(b"half a checkpoint")
    keep = out / "notes.tmp.txt"  # not one of ours
    keep.write_text("mine")
    assert _train(tmp_path, out, "--epochs", "1") == 0
    assert not any(p.exists() for p in stale) and keep.read_text() == "mine"


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
