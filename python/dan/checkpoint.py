"""Checkpoint files: written atomically, read without executing anything.

A checkpoint is data that people share ("here is my adapted model"), so it is loaded with
``torch.load(weights_only=True)``: only tensors, numbers, strings, lists, tuples and dicts are
rebuilt, and a file that asks for anything else (a pickled ``os.system`` call, a numpy object) is
refused with an error that names what it asked for. What the trainer stores is made of those
types only: random-number-generator states and the beta solvers' arrays as tensors, the
configuration as a plain dict.

Checkpoints written before this rule (dan_ext 0.1) hold numpy arrays and are refused too; a user
who trusts such a file converts it once with ``dan convert-checkpoint --trust FILE``.
"""
from __future__ import annotations

import io
import os
import pickle
import re
from pathlib import Path
from typing import Any, List

import numpy as np
import torch

CHECKPOINT = "checkpoint.pt"
_TMP_INFIX = ".tmp"  # atomic_save writes NAME.tmp<pid> beside NAME, then renames


class UnsafeCheckpointError(ValueError):
    """The file asks the unpickler for objects other than plain data."""


def to_plain(obj: Any) -> Any:
    """numpy arrays -> tensors (uint32 widened to int64, which torch stores everywhere), numpy
    scalars -> Python numbers, recursively through dicts, lists and tuples: what a
    weights_only load can rebuild."""
    if isinstance(obj, np.ndarray):
        arr = obj.astype(np.int64) if obj.dtype == np.uint32 else obj
        return torch.from_numpy(np.ascontiguousarray(arr))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(to_plain(v) for v in obj)
    return obj


def atomic_save(obj, path: Path) -> None:
    """Write to a temporary file in the same folder, fsync, then rename: a crash mid-write never
    leaves a truncated checkpoint in place of the last good one (remove_stale_temporaries cleans
    the temporary file a killed process leaves)."""
    tmp = path.with_name(f"{path.name}{_TMP_INFIX}{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def remove_stale_temporaries(folder: Path) -> List[Path]:
    """Delete NAME.tmp<pid> files that an atomic_save killed mid-write left in ``folder``. Call
    only while holding the folder's run lock: no other process of ours is writing there then."""
    removed = []
    if folder.is_dir():
        pattern = re.compile(r".+\.tmp\d+(\.npz)?$")
        for p in folder.iterdir():
            if p.is_file() and pattern.fullmatch(p.name):
                p.unlink()
                removed.append(p)
    return removed


def _unsafe_globals(path: Path) -> List[str]:
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception:  # not a zip checkpoint, or an older torch: the caller uses the error text
        return []


def _refusal(path: Path, err: Exception) -> ValueError:
    """UnsafeCheckpointError naming what the file asks for, or a plain 'corrupt' ValueError when
    the refusal names no object (the file is not a pickle at all)."""
    names = _unsafe_globals(path) or re.findall(r"GLOBAL ([\w.]+)", str(err))
    if not names:
        reason = re.findall(r"WeightsUnpickler error: \s*(.+)", str(err))
        return ValueError(f"checkpoint {path} is corrupt or not a dan checkpoint ({(reason or ['unreadable'])[0]})")
    if all(n.startswith("numpy") for n in names):
        return UnsafeCheckpointError(
            f"checkpoint {path} holds numpy objects ({', '.join(names)}): it was written by dan_ext 0.1, and a safe "
            f"load refuses them; if you trust this file, convert it once with: dan convert-checkpoint --trust {path}")
    return UnsafeCheckpointError(
        f"checkpoint {path} contains objects that are not allowed: {', '.join(names)}; nothing in it was run, "
        "and it is not loaded (a dan checkpoint holds only tensors, numbers, strings, lists and dicts)")


def load_checkpoint(path: Path) -> dict:
    """Read a dan checkpoint safely (weights_only=True). Raises FileNotFoundError, or ValueError
    (UnsafeCheckpointError for a file that asks for code or objects) with a one-line message."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise _refusal(path, err) from None
    except Exception as err:
        raise ValueError(f"checkpoint {path} is corrupt or not a dan checkpoint: "
                         f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    if not isinstance(ck, dict) or "model" not in ck or "config" not in ck:
        raise ValueError(f"checkpoint {path} is not a dan checkpoint (missing model/config)")
    return ck


def convert_trusted(path: Path) -> Path:
    """Rewrite an old (numpy-holding) checkpoint that the user trusts in the safe format. The
    original is kept as PATH.unsafe-backup; refuses when that backup already exists. This is the
    only place that unpickles arbitrary objects, and only on the user's explicit --trust."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    backup = path.with_name(path.name + ".unsafe-backup")
    if backup.exists():
        raise ValueError(f"{backup} already exists; move it away first (nothing was changed)")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise ValueError(f"checkpoint {path} is corrupt: {err}") from None
    plain = to_plain(ck)
    buf = io.BytesIO()
    torch.save(plain, buf)
    buf.seek(0)
    try:  # the converted data must pass the safe load before the original is touched
        torch.load(buf, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise _refusal(path, err) from None
    if not isinstance(plain, dict) or "model" not in plain or "config" not in plain:
        raise ValueError(f"checkpoint {path} is not a dan checkpoint (missing model/config); nothing was changed")
    os.replace(path, backup)
    atomic_save(plain, path)
    return backup
