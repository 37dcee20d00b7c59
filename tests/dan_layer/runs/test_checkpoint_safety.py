"""A checkpoint is data, not code: a crafted file that would run a command on unpickling is
refused by every command that reads checkpoints, and runs nothing. Each test fails if the load
goes back to weights_only=False (the sentinel file then exists)."""
import json
import os

import numpy as np
import pytest
import torch

from dan.runs.checkpoint import CHECKPOINT, load_checkpoint
from dan.commands.cli import main as dan_main
from dan.config import TrainConfig
from dan.trainer import train
from cli_helpers import FAST


class _Payload:
    def __init__(self, sentinel):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (os.system, (f"echo owned > {self.sentinel}",))


def _crafted(path, sentinel):
    """What someone else might hand over as 'my adapted model'."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 1, "config": {}, "model": {}, "x": _Payload(sentinel)}, path)
    return path


def _refused(capsys, rc, path, sentinel):
    err = capsys.readouterr().err.strip()
    assert not sentinel.exists(), "the checkpoint ran a command"
    assert rc == 2 and err.count("\n") == 0, err
    assert f"checkpoint {path} contains objects that are not allowed: posix.system" in err


def test_loader_refuses_and_runs_nothing(tmp_path):
    sentinel = tmp_path / "owned.txt"
    path = _crafted(tmp_path / CHECKPOINT, sentinel)
    with pytest.raises(ValueError, match="contains objects that are not allowed: posix.system"):
        load_checkpoint(path)
    assert not sentinel.exists()


def test_resume_refuses(tmp_path, capsys):
    sentinel = tmp_path / "owned.txt"
    path = _crafted(tmp_path / "run" / CHECKPOINT, sentinel)
    rc = dan_main(["train", *FAST, "--epochs", "2", "--out", str(path.parent), "--resume"])
    _refused(capsys, rc, path, sentinel)


def test_plot_refuses(tmp_path, capsys):
    sentinel = tmp_path / "owned.txt"
    path = _crafted(tmp_path / CHECKPOINT, sentinel)
    _refused(capsys, dan_main(["plot", "--checkpoint", str(path), "--quiet"]), path, sentinel)
    # ... and as the --before checkpoint too
    good = tmp_path / "good"
    assert dan_main(["train", *FAST, "--epochs", "1", "--out", str(good), "--cache-dir", str(tmp_path / "c")]) == 0
    rc = dan_main(["plot", "--checkpoint", str(good / CHECKPOINT), "--before", str(path), "--quiet"])
    _refused(capsys, rc, path, sentinel)


def test_ablate_resume_refuses(tmp_path, capsys):
    sentinel = tmp_path / "owned.txt"
    out = tmp_path / "abl"
    path = _crafted(out / "ddc" / "seed0" / CHECKPOINT, sentinel)  # an "interrupted" run
    rc = dan_main(["ablate", *FAST, "--seeds", "1", "--methods", "ddc", "--epochs", "1", "--out", str(out),
                   "--cache-dir", str(tmp_path / "c"), "--resume"])
    _refused(capsys, rc, path, sentinel)


def _as_version_0_1(path):
    """Rewrite a checkpoint the way dan_ext 0.1 stored it: numpy arrays for the numpy generator
    state and the beta solvers, which were ck["solvers"] (now the penalty's state)."""
    ck = torch.load(path, weights_only=True)
    ck["solvers"] = ck.pop("penalty")["_extra_state"]["solvers"]
    name, keys, pos, has_gauss, cached = ck["rng"]["numpy"]
    ck["rng"]["numpy"] = (name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached)
    for state in ck["solvers"].values():
        for k in ("betas", "d", "Q"):
            state[k] = np.asarray(state[k])
    torch.save(ck, path)


def test_old_checkpoints_are_refused_then_converted_only_when_trusted(tmp_path, capsys):
    cache = str(tmp_path / "c")
    straight, old = tmp_path / "straight", tmp_path / "old"
    assert dan_main(["train", *FAST, "--epochs", "3", "--out", str(straight), "--cache-dir", cache]) == 0
    # the same 3-epoch run, stopped after epoch 2 (as an interruption would)
    train(TrainConfig(epochs=3, out=str(old), cache_dir=cache), progress=False, stop_after_epoch=2)
    _as_version_0_1(old / CHECKPOINT)
    capsys.readouterr()

    assert dan_main(["train", *FAST, "--epochs", "3", "--out", str(old), "--cache-dir", cache, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "holds numpy objects" in err and f"dan convert-checkpoint --trust {old / CHECKPOINT}" in err

    assert dan_main(["convert-checkpoint", str(old / CHECKPOINT)]) == 2  # not without --trust
    assert "pass --trust only" in capsys.readouterr().err
    assert dan_main(["convert-checkpoint", "--trust", str(old / CHECKPOINT)]) == 0
    assert (old / f"{CHECKPOINT}.unsafe-backup").exists()
    assert dan_main(["convert-checkpoint", "--trust", str(old / CHECKPOINT)]) == 2  # backup kept, never replaced
    assert "already exists" in capsys.readouterr().err

    # The converted run resumes bit for bit.
    assert dan_main(["train", *FAST, "--epochs", "3", "--out", str(old), "--cache-dir", cache, "--resume"]) == 0
    a, b = load_checkpoint(straight / CHECKPOINT), load_checkpoint(old / CHECKPOINT)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["history"] == b["history"]
    ra, rb = (json.loads((d / "result.json").read_text()) for d in (straight, old))
    assert ra["target_accuracy"] == rb["target_accuracy"] and ra["betas"] == rb["betas"]


def test_predict_refuses(tmp_path, capsys):
    from image_helpers import write_unlabelled

    sentinel = tmp_path / "owned.txt"
    path = _crafted(tmp_path / CHECKPOINT, sentinel)
    images = write_unlabelled(tmp_path / "imgs", n=2)
    rc = dan_main(["predict", "--checkpoint", str(path), "--images", str(images), "--out", str(tmp_path / "p.csv")])
    _refused(capsys, rc, path, sentinel)
    assert not (tmp_path / "p.csv").exists()
