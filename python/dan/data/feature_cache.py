"""The files ``dan features`` writes for one domain, and when they may be reused.

Per domain ROLE (source or target), in the features folder:

    ROLE.npy          float32 [rows, width]: one row per image that decoded, in the domain's order
    ROLE_labels.npy   int64 [rows]: class index per row (-1 for an unlabelled target)
    ROLE.json         what made them ("key"), the classes, the file of each row (image folders),
                      the images that did not decode, and a SHA-256 over both arrays

The folder is a cache: the files are reused when the key computed now equals the stored one and
the arrays still match their digest, and are recomputed (and replaced) otherwise. The key holds
everything the features depend on: backbone, weights (a file by its SHA-256), checkpoint (by its
SHA-256), layer, image size and the data. The data's identity (data/identity.py) names the images
by path and label only, so the key adds each file's size and modification time: an image replaced
in place (same name, other pixels) changes it, as it does for make. Reading the file list and
stat() costs a moment even for 150,000 images; hashing their bytes would cost a full read.

ROLE.json is written last, after both arrays, each atomically: a run killed in between leaves a
JSON whose digest does not match, so the next run recomputes. Files of these names that dan features
did not write (no JSON saying so) are never replaced."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from dan.data.identity import identity
from dan.runs.atomic import atomic_write, atomic_write_text

WRITTEN_BY = "dan features"
FORMAT = 1  # bumped when what a row means changes, so older caches are recomputed
ROLES = ("source", "target")


def paths(folder: Path, role: str) -> Tuple[Path, Path, Path]:
    """(features, labels, json) of ROLE in FOLDER."""
    folder = Path(folder)
    return folder / f"{role}.npy", folder / f"{role}_labels.npy", folder / f"{role}.json"


def file_digest(path) -> str:
    """SHA-256 of a file's bytes (weights and checkpoints: tens of MB, read once per run)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def contents_digest(domain) -> Optional[str]:
    """SHA-256 over each image file's path, size and modification time (image folders); None for a
    domain held in memory, whose identity already hashes its pixels."""
    images = getattr(domain, "images", None)
    if images is None:
        return None
    digest = hashlib.sha256()
    for path in images.paths:
        st = os.stat(path)
        try:  # relative, so that the same folder reached from another working directory is the same
            name = path.relative_to(images.root)
        except ValueError:  # several source folders joined: each under its own root
            name = path
        digest.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def data_key(domain) -> dict:
    """What the features depend on in the data: classes, image count, the domain's fingerprint and
    the files' sizes and times (not its name: the same folder spelled another way is the same data)."""
    ident = identity(domain)
    return {"classes": ident["classes"], "images": ident["images"], "fingerprint": ident["fingerprint"],
            "contents": contents_digest(domain)}


def arrays_digest(features: np.ndarray, labels: np.ndarray) -> str:
    digest = hashlib.sha256()
    for a in (features, labels):
        digest.update(f"{a.dtype.str}{a.shape}\0".encode())
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()


def read_record(folder: Path, role: str) -> Optional[dict]:
    """ROLE.json as written by dan features, or None when there is none; a ValueError naming the
    file when ROLE's files exist but dan features did not write them (they are the user's)."""
    feats, labels, record = paths(folder, role)
    if not record.exists():
        present = [p.name for p in (feats, labels) if p.exists() or p.is_symlink()]
        if present:
            raise ValueError(f"{folder} holds {', '.join(present)} without the {record.name} that dan features "
                             "writes beside them: they are not dan features' files and are kept; choose another "
                             "features folder or move them away")
        return None
    try:
        data = json.loads(record.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{record}: unreadable ({err}); remove it, or choose another features folder") from None
    if not isinstance(data, dict) or data.get("written_by") != WRITTEN_BY:
        raise ValueError(f"{record} was not written by dan features; it is kept: choose another features folder")
    return data


def load_arrays(folder: Path, role: str, record: dict) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """ROLE's arrays when they are what RECORD says (shapes, dtypes, digest), else None."""
    from dan.data.feature_files import npy_header

    feats, labels, _ = paths(folder, role)
    rows, width = record.get("rows"), record.get("width")
    want = {feats: ((rows, width), np.dtype(np.float32)), labels: ((rows,), np.dtype(np.int64))}
    try:
        for path, expected in want.items():  # the headers first: a cut or planted file is not read whole
            with open(path, "rb") as f:
                if npy_header(f, str(path)) != expected:
                    return None
        x, y = np.load(feats, allow_pickle=False), np.load(labels, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if record.get("features_sha256") != arrays_digest(x, y):
        return None
    return x, y


def differs(stored: dict, key: dict) -> Optional[str]:
    """What differs between a stored key and the one computed now, in words (None: nothing)."""
    for name, value in key.items():
        if stored.get(name) != value:
            if name == "data":
                old = stored.get("data") or {}
                for part in ("classes", "images", "fingerprint", "contents"):
                    if old.get(part) != value[part]:
                        return {"classes": "the classes changed", "images": "the number of images changed",
                                "fingerprint": "the image files are others",
                                "contents": "image files were changed in place"}[part]
            return f"the {name.replace('_', ' ')} changed ({stored.get(name)!r} -> {value!r})"
    return None


def write(folder: Path, role: str, features: np.ndarray, labels: np.ndarray, key: dict, info: dict) -> dict:
    """Write ROLE's arrays and then its JSON (module docstring); returns the JSON record."""
    feats, lab, record_path = paths(folder, role)
    features = np.ascontiguousarray(features, dtype=np.float32)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    atomic_write(feats, lambda f: np.save(f, features, allow_pickle=False))
    atomic_write(lab, lambda f: np.save(f, labels, allow_pickle=False))
    record = {"written_by": WRITTEN_BY, "role": role, "key": key, **info, "rows": int(features.shape[0]),
              "width": int(features.shape[1]), "features_sha256": arrays_digest(features, labels)}
    atomic_write_text(record_path, json.dumps(record, indent=1) + "\n")
    return record
