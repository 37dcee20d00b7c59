"""``dan classic``: features -> a classical method (dan.classic) -> classifier -> target accuracy,
written as result.json in a run folder with the rules of ``dan train``'s (dan.runs.folder: an
existing run is refused unless --overwrite).

The features come from a ``dan features`` folder (--features DIR), or are extracted (and cached)
from --source/--target/--backbone as ``dan features`` does: into --features DIR when given, else
into $DAN_CACHE/features/<a digest of those flags>, where a rerun reuses them.

Rows are L2-normalised first by default (--normalize l2), as the published scripts of TCA, JDA and
BDA do; --normalize none keeps them as extracted."""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Optional

import numpy as np

from dan.commands import classic_params as P
from dan.data import feature_cache as cache

EXTRACT_FLAGS = ("source", "target", "backbone", "weights", "checkpoint", "layer", "image_size")
HOW_FLAGS = ("cache_dir", "workers", "device")  # how extraction runs (not what it gives): None = its default


def default_features_dir(extract: dict) -> Path:
    """$DAN_CACHE/features/<digest of the extraction flags>: folders and files by absolute path."""
    from dan.data.domains import default_cache_dir

    def absolute(value):
        if isinstance(value, str) and value.startswith("folder:"):
            return ",".join("folder:" + os.path.abspath(p[len("folder:"):]) for p in value.split(","))
        if isinstance(value, str) and os.path.exists(value):  # a weights or checkpoint file
            return os.path.abspath(value)
        return value

    cache_dir = extract.get("cache_dir")
    plain = {k: absolute(extract.get(k)) for k in EXTRACT_FLAGS}
    name = hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir if cache_dir is not None else default_cache_dir()) / "features" / name


def features_folder(features: Optional[str], extract: dict, progress: bool) -> Path:
    """The folder to read: --features as given, or the one extraction writes (or reuses)."""
    if extract.get("source") is None and extract.get("target") is None:
        stray = [k for k in EXTRACT_FLAGS + HOW_FLAGS if extract.get(k) is not None]
        if stray:  # it would be ignored: the folder's features are read as they are
            flag = "--" + stray[0].replace("_", "-")
            raise ValueError(f"{flag}: applies only when extracting features (with --source and --target); the "
                             f"features of --features are read as they were written")
        if features is None:
            raise ValueError("--features: give a folder written by dan features, or --source and --target (with "
                             "--backbone) to extract the features")
        return Path(features)
    if extract.get("source") is None or extract.get("target") is None:
        raise ValueError(f"--{'source' if extract.get('source') is None else 'target'}: extracting features needs "
                         "both --source and --target")
    from dan.commands.features import extract_features

    folder = Path(features) if features is not None else default_features_dir(extract)
    done = extract_features(out=folder, progress=progress, **{k: v for k, v in extract.items() if v is not None})
    for role, d in done.items():
        print(f"{role} {d['domain']}: {'reused' if d['reused'] else 'extracted'} {d['rows']} x {d['width']} "
              f"{d['layer']} features ({d['why']}) in {folder}", flush=True)
    return folder


def read_features(folder: Path) -> dict:
    """Both domains' arrays and records from a dan features folder, checked together: one-line
    errors naming --features."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"--features {folder}: no such folder (write one with dan features --out {folder})")
    out = {}
    for role in cache.ROLES:
        try:
            record = cache.read_record(folder, role)
        except ValueError as err:
            raise ValueError(f"--features {folder}: {err}") from None
        if record is None:
            raise ValueError(f"--features {folder}: no {role}.json there; write the features with dan features "
                             f"--out {folder}")
        if record.get("role") != role:  # another role's files copied or renamed here: the domains swapped
            raise ValueError(f"--features {folder}: {role}.json holds the {record.get('role')} features "
                             f"({record.get('domain')}), not the {role}'s; write them again with dan features")
        arrays = cache.load_arrays(folder, role, record)
        if arrays is None:
            raise ValueError(f"--features {folder}: {role}.npy or {role}_labels.npy do not match {role}.json (changed "
                             "or cut since dan features wrote them); run dan features again")
        bad = ~np.isfinite(arrays[0]).all(axis=1)
        if bad.any():  # sklearn's "Input contains NaN." would name neither the folder nor the rows
            first = int(np.flatnonzero(bad)[0])
            name = (record.get("files") or [])[first:first + 1]
            raise ValueError(f"--features {folder}: {int(bad.sum())} of the {len(bad)} rows of {role}.npy hold NaN or "
                             f"infinite values (the first: row {first}{f', {name[0]}' if name else ''}); the network "
                             "that extracted them diverged or the images are broken")
        out[role] = (arrays, record)
    (xs, ys), rs = out["source"]
    (xt, yt), rt = out["target"]
    if xs.shape[1] != xt.shape[1]:
        raise ValueError(f"--features {folder}: the source has {xs.shape[1]} features per row ({rs.get('layer')} of "
                         f"{rs.get('backbone')}) and the target {xt.shape[1]} ({rt.get('layer')} of "
                         f"{rt.get('backbone')}); extract both with one dan features call")
    if (yt >= 0).any() and rs.get("classes") != rt.get("classes"):
        raise ValueError(f"--features {folder}: the source's classes ({', '.join(rs.get('classes', [])[:8])}) are "
                         f"not the target's ({', '.join(rt.get('classes', [])[:8])})")
    return {"xs": xs, "ys": ys, "xt": xt, "yt": yt if (yt >= 0).all() else None, "folder": str(folder),
            "records": {"source": rs, "target": rt}}


def prepared(data: dict, normalize: str) -> tuple:
    """(Xs, Xt) as float64, L2-normalised per row for --normalize l2 (zero rows stay zero)."""
    if normalize not in P.NORMALISATIONS:
        raise ValueError(f"--normalize must be one of {', '.join(P.NORMALISATIONS)}, got {normalize!r}")
    xs, xt = data["xs"].astype(np.float64), data["xt"].astype(np.float64)
    if normalize == "l2":
        from sklearn.preprocessing import normalize as l2

        xs, xt = l2(xs), l2(xt)
    return xs, xt


def run_one(method: str, data: dict, values: dict, classifier: str, normalize: str, seed: int) -> dict:
    """One method on the features: run_classic's result, without the predictions, plus what ran."""
    from dan.classic import run_classic

    params, record = P.estimator_params(method, values, classifier, seed)
    xs, xt = prepared(data, normalize)
    try:
        result = run_classic(method, (xs, data["ys"]), (xt, data["yt"]), params,
                             classifier=P.CLASSIFIERS[classifier][0](seed))
    except ValueError as err:
        raise P.flag_error(err, method) from None
    result.pop("predictions")
    result["params"] = record
    return {**result, "classifier": classifier, "normalize": normalize, "seed": seed}


def features_summary(data: dict) -> dict:
    """What the features were, for result.json and tables."""
    keep = ("domain", "backbone", "weights", "checkpoint", "layer", "image_size", "image_transform", "rows", "width",
            "features_sha256")
    return {"folder": data["folder"], **{role: {k: r.get(k) for k in keep} for role, r in data["records"].items()}}


def check_seed(seed) -> int:
    from dan.config import MAX_SEED

    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"--seed must be an integer from 0 to {MAX_SEED}, got {seed!r}")
    return seed


def classic(method: str, out, features: Optional[str] = None, extract: Optional[dict] = None,
            values: Optional[dict] = None, classifier: str = "1nn", normalize: str = "l2", seed: int = 0,
            overwrite: bool = False, progress: bool = True) -> dict:
    """Run METHOD on the features and write OUT/result.json; returns the result dict."""
    from dan.runs.atomic import atomic_write_text
    from dan.runs.folder import RunFolder

    values, extract = dict(values or {}), dict(extract or {})
    P.check_method(method)
    P.check_classifier(classifier)
    check_seed(seed)
    P.refuse_unused(values, [method])
    if normalize not in P.NORMALISATIONS:
        raise ValueError(f"--normalize must be one of {', '.join(P.NORMALISATIONS)}, got {normalize!r}")
    with RunFolder(out, "overwrite" if overwrite else "new", what="--out", kind="run",
                   resumable=False) as folder:
        data = read_features(features_folder(features, extract, progress))
        start = time.perf_counter()
        # before accept(): a setting the estimator refuses leaves the folder as it was (or removes it)
        result = run_one(method, data, values, classifier, normalize, seed)
        folder.accept()
        config = {"method": method, "features": features, **{k: extract.get(k) for k in EXTRACT_FLAGS},
                  **{p: P.flag_value(values, p) for p in P.FLAGS}, "classifier": classifier, "normalize": normalize,
                  "seed": seed}
        result = {"command": "dan classic", **result, "seconds": round(time.perf_counter() - start, 3),
                  "features": features_summary(data), "config": config}
        atomic_write_text(Path(out) / "result.json", json.dumps(result, indent=2) + "\n")
    return result
