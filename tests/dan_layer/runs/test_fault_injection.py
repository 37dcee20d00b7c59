"""Real faults: a real ``dan train`` process is killed with SIGKILL, once in the middle of writing a
checkpoint and once at an arbitrary point of a later epoch, and ``--resume`` then finishes a run
equal bit for bit to one that was never interrupted, leaving no temporary file behind.

To stop the child half-way through a checkpoint write, a small driver script wraps the checkpoint's
atomic write in the child: at the chosen save it writes half of the bytes to the real temporary
file, flushes, tells the test, and waits to be killed. Everything else is the real command."""
import json
import signal
import textwrap

import torch

from cli_helpers import FAST, run_dan, start_dan, wait_for
from dan.runs.checkpoint import CHECKPOINT, load_checkpoint

EPOCHS = 4

DRIVER = textwrap.dedent('''
    import io, os, sys, time
    import dan.runs.checkpoint
    from dan.runs.atomic import temporary_name

    real_write, calls = dan.runs.checkpoint.atomic_write, [0]

    def half_written(path, write):
        calls[0] += 1
        if calls[0] != int(os.environ["HANG_AT_SAVE"]):
            return real_write(path, write)
        buf = io.BytesIO()
        write(buf)
        with open(temporary_name(path), "wb") as f:  # the real temporary file, half written
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
            f.flush()
            open(os.environ["HANG_MARKER"], "w").close()
            time.sleep(600)  # killed here

    dan.runs.checkpoint.atomic_write = half_written
    from dan.commands.cli import main
    sys.exit(main(sys.argv[1:]))
''')


def _temporaries(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_sigkill_mid_checkpoint_and_mid_epoch_then_resume_is_bit_for_bit(tmp_path):
    cache = tmp_path / "cache"
    args = ["train", *FAST, "--epochs", EPOCHS, "--cache-dir", cache]
    straight = run_dan(tmp_path, *args, "--out", tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr

    out = tmp_path / "killed"
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    marker = tmp_path / "hanging"

    # 1. Killed while writing the epoch-2 checkpoint: the epoch-1 checkpoint stays whole.
    child = start_dan(tmp_path, *args, "--out", out, script=driver, HANG_AT_SAVE="2", HANG_MARKER=str(marker))
    wait_for(marker.exists, proc=child, what="the child to hang inside the checkpoint write")
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert _temporaries(out) == [f"{CHECKPOINT}.tmp{child.pid}"]  # half a checkpoint, left by the kill
    assert load_checkpoint(out / CHECKPOINT)["epoch"] == 1

    # 2. Resumed, then killed at an arbitrary point once epoch 3 is logged (mid-epoch 4 or mid-save).
    child = start_dan(tmp_path, *args, "--out", out, "--resume")
    wait_for(lambda: (out / "log.json").exists() and '"epoch": 3' in (out / "log.json").read_text(), proc=child,
             what="epoch 3 to be logged")
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL

    # 3. Resumed to the end.
    done = run_dan(tmp_path, *args, "--out", out, "--resume")
    assert done.returncode == 0, done.stderr
    assert _temporaries(out) == []

    a, b = load_checkpoint(tmp_path / "straight" / CHECKPOINT), load_checkpoint(out / CHECKPOINT)
    assert a["epoch"] == b["epoch"] == EPOCHS
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for name in ("log.json", "log.csv"):
        assert (tmp_path / "straight" / name).read_text() == (out / name).read_text(), name
    ra, rb = (json.loads((d / "result.json").read_text()) for d in (tmp_path / "straight", out))
    for r in (ra, rb):  # all but the wall time and the folder name
        r.pop("seconds"), r["config"].pop("out")
    assert ra == rb
