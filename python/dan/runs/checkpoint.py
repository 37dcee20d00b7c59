"""Checkpoint files: written atomically, read without executing anything.

A checkpoint is data that people share ("here is my adapted model"), so it is loaded with
``torch.load(weights_only=True)``: only tensors, numbers, strings, lists, tuples and dicts are
rebuilt, and a file that asks for anything else (a pickled ``os.system`` call, a numpy object) is
refused with an error that names what it asked for. What the trainer stores is made of those
types only: random-number-generator states and the method's arrays (DAN's beta solvers) as
tensors, the configuration as a plain dict.

Checkpoints written before this rule (dan_ext 0.1) hold numpy arrays and are refused too; a user
who trusts such a file converts it once with ``dan convert-checkpoint --trust FILE``.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, List

import numpy as np
import torch

from dan.runs.atomic import atomic_write

CHECKPOINT = "checkpoint.pt"


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
    """Serialise in memory, then write atomically (atomic.py): a crash or a full disk mid-write
    never leaves a truncated checkpoint in place of the last good one, and a full disk is reported
    as such (torch's zip writer would only say 'unexpected pos')."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write(path, lambda f: f.write(buf.getbuffer()))


def check_archive(path: Path) -> None:
    """Refuse, before torch.load reads a byte of it, a file that is not the zip archive torch.save
    writes: torch stores every entry uncompressed, so a compressed entry (a checkpoint re-zipped
    with deflate, which can expand a megabyte into gigabytes) is not ours, and the entries can
    never add up to more than the file itself."""
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as z:
            entries = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise ValueError(f"checkpoint {path} is corrupt or not a dan checkpoint (not a torch.save zip archive: "
                         f"{err})") from None
    packed = [e.filename for e in entries if e.compress_type != zipfile.ZIP_STORED]
    if packed:
        raise ValueError(f"checkpoint {path} is not a dan checkpoint: {len(packed)} compressed entr"
                         f"{'y' if len(packed) == 1 else 'ies'} (e.g. {packed[0]}), which torch.save never writes; "
                         "not loaded (a compressed entry can expand far beyond the file's size)")
    total = sum(e.file_size for e in entries)
    if total > size:
        raise ValueError(f"checkpoint {path} is corrupt: its entries claim {total} bytes in a {size}-byte file")


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
    if not path.is_file():
        raise ValueError(f"checkpoint {path} is not a file")
    check_archive(path)
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise _refusal(path, err) from None
    except Exception as err:
        raise ValueError(f"checkpoint {path} is corrupt or not a dan checkpoint: "
                         f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    check_contents(ck, path)
    return upgrade(ck)


def upgrade(ck: dict) -> dict:
    """A checkpoint in today's layout. Before methods became plug-ins (dan_ext 0.2) the only
    method state was the MK-MMD penalty's beta solvers, stored as ck["solvers"]; it is now the
    penalty's state_dict (DANLoss keeps them in its extra state), ck["penalty"]."""
    if "penalty" not in ck and isinstance(ck.get("solvers"), dict):
        ck["penalty"] = {"_extra_state": {"solvers": ck.pop("solvers")}}
    return ck


def check_contents(ck, path: Path) -> None:
    """A checkpoint is untrusted input: its structure, its configuration (validated exactly as the
    command line's, config.stored_config) and its counters are checked before anything acts on
    them; a one-line ValueError names the first problem."""
    if not isinstance(ck, dict):
        raise ValueError(f"checkpoint {path} is not a dan checkpoint (holds a {type(ck).__name__}, not a dict)")
    missing = [k for k in ("model", "config", "classes", "epoch", "step", "history") if k not in ck]
    if missing:
        raise ValueError(f"checkpoint {path} is not a dan checkpoint: no {', '.join(missing)}")
    from dan.config import stored_config

    try:
        cfg = stored_config(ck["config"])
    except ValueError as err:
        raise ValueError(f"checkpoint {path}: its configuration is invalid: {err}") from None
    classes = ck["classes"]
    if (not isinstance(classes, (list, tuple)) or not classes or not all(isinstance(c, str) for c in classes)
            or len(set(classes)) != len(classes)):
        raise ValueError(f"checkpoint {path}: 'classes' must be a non-empty list of distinct names")
    epoch, step, history = ck["epoch"], ck["step"], ck["history"]
    for name, v in (("epoch", epoch), ("step", step)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"checkpoint {path}: {name!r} must be an integer >= 0, got {v!r}")
    if epoch > cfg.epochs:
        raise ValueError(f"checkpoint {path}: epoch {epoch} is beyond the run's {cfg.epochs} epochs")
    if not isinstance(history, list) or len(history) != epoch or not all(isinstance(r, dict) for r in history):
        raise ValueError(f"checkpoint {path}: 'history' must hold one row per epoch done ({epoch})")
    if not isinstance(ck["model"], dict):
        raise ValueError(f"checkpoint {path}: 'model' is not a state dict")
    try:  # the logs are rewritten from the history: it must be plain JSON (numbers finite)
        json.dumps(history, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"checkpoint {path}: 'history' is not plain JSON data ({err})") from None
    if "data" in ck:
        _check_data_record(ck["data"], path)
    _check_tensor_sizes(ck, path)


def _check_data_record(data, path: Path) -> None:
    """The data identity (data_identity.py) must be well formed: a malformed one would switch off
    --resume's check that the data is the same."""
    ok = isinstance(data, dict) and set(data) == {"source", "target"}
    for part in data.values() if ok else ():
        ok = ok and isinstance(part, dict) and isinstance(part.get("classes"), list) and all(
            isinstance(c, str) for c in part["classes"]) and isinstance(part.get("images"), int) and isinstance(
            part.get("fingerprint"), str) and isinstance(part.get("name"), str)
    if not ok:
        raise ValueError(f"checkpoint {path}: its 'data' record (what the run trained on) is malformed")


def _check_tensor_sizes(obj, path: Path) -> None:
    """No tensor may be larger than the data stored for it: a view with zero strides (a 4-byte
    storage expanded to 15000 x 15000) passes the archive check and then costs gigabytes."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            if item.numel() * item.element_size() > item.untyped_storage().nbytes():
                raise ValueError(f"checkpoint {path}: a tensor of shape {tuple(item.shape)} is larger than its "
                                 f"stored data ({item.untyped_storage().nbytes()} bytes); not a dan checkpoint")
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


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
