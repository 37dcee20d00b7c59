"""``dan predict``: a trained checkpoint's predictions for a folder of images, one CSV row per
image (path, predicted class, its probability). On a labelled folder it also reports the accuracy;
it uses the same evaluation batches as dan train, so on the training target it equals the
target_accuracy that dan train reported.

The CSV is safe to open in a spreadsheet: class names come from the checkpoint (which may come
from anyone) and paths from the file system, so a cell that starts with =, +, -, @, a tab or a
carriage return, which a spreadsheet would run as a formula, is written with a single quote in
front (OWASP's advice against CSV injection): a class "=HYPERLINK(...)" is written
"'=HYPERLINK(...)". Other cells are written as they are.

--out is checked before any work (not a directory, not one of a run's own files, not an existing
file unless --overwrite); the rows go to a temporary file beside it, which is removed on any
failure. Without --overwrite the finished file is placed with a hard link, which fails if --out
appeared meanwhile (say, a second predict to the same file), so it never replaces another file.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Optional

import torch

from dan.data import epoch_plan as epoch_data
from dan.models.backbones import BACKBONES, names as backbone_names
from dan.runs.checkpoint import load_checkpoint
from dan.config import TrainConfig, check_device, check_workers
from dan.data.image_data import ImageDomain
from dan.data.image_folder import IMAGE_EXTENSIONS, class_name, discover, empty_class_folder
from dan.models.networks import build_model
from dan.runs.output_files import check_output, write_outputs
from dan.data.transforms import CROP

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell starting so as a formula


def csv_cell(text: str) -> str:
    """TEXT as a CSV cell a spreadsheet shows as text: a leading single quote when it starts like a
    formula (FORMULA_START)."""
    text = str(text)
    return "'" + text if text.startswith(FORMULA_START) else text


def predict(checkpoint: Path, images: str, out: Path, workers: int = 2, device: str = "cpu",
            overwrite: bool = False, progress: bool = True) -> dict:
    check_workers(workers)  # each worker is a process: no more than the cores
    out = check_output(out, "--out", overwrite)
    target = out.resolve()  # never one of our own inputs: the checkpoint, or an image of --images
    if target == Path(checkpoint).expanduser().resolve():
        raise ValueError(f"--out {out} is the --checkpoint it reads; choose another --out")
    if Path(images).expanduser().resolve() in target.parents and target.suffix.lower() in IMAGE_EXTENSIONS:
        raise ValueError(f"--out {out} would be an image inside the --images {images} it reads; choose another --out")
    ck = load_checkpoint(checkpoint)
    cfg = TrainConfig(**ck["config"])
    backbone = BACKBONES[cfg.backbone]  # a known one: load_checkpoint validated the config
    if backbone.digits:  # its domains are arrays, not images a folder could hold
        side = backbone.min_size
        raise ValueError(f"{checkpoint} is a {cfg.backbone} run on {side}x{side} digit arrays; dan predict takes "
                         f"image backbones ({', '.join(backbone_names(digits=False))})")
    dev = check_device(device)
    classes = [class_name(c) for c in ck["classes"]]  # NFC, as folder names are read (image_folder.py)
    listing = discover(images, f"--images {images}")
    if listing.labelled and listing.classes != classes:
        empty = empty_class_folder(listing, classes, f"--images {images}", "put its images there, or put all the "
                                   "images in one folder without class sub-folders to predict them unlabelled")
        if empty:
            raise ValueError(empty)
        missing = sorted(set(listing.classes) - set(classes))
        raise ValueError(f"--images {images}: its class folders are not the checkpoint's classes"
                         f"{' (unknown: ' + ', '.join(missing[:8]) + ')' if missing else ''}; "
                         "put the images in one folder without class sub-folders to predict them unlabelled")
    model = build_model(cfg.backbone, len(classes), None, cfg.dropout)
    model.load_state_dict(ck["model"])
    model.to(dev)
    domain = ImageDomain(listing, size=cfg.image_size or CROP, fixed=cfg.image_size is not None, workers=workers)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(domain), desc=f"predict {images}", unit="img", leave=False)
    labels = torch.tensor(listing.labels) if listing.labelled else None
    correct = seen = 0
    skipped = []
    names = [csv_cell(c) for c in classes]

    def write(binary) -> None:
        nonlocal correct, seen
        f = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        w = csv.writer(f)
        w.writerow(["path", "predicted", "probability"] + (["label"] if labels is not None else []))
        for idx, probs, failed in epoch_data.predict(model, domain, dev):
            skipped.extend(str(listing.paths[i]) for i in failed)
            if probs is not None:
                p, k = probs.max(1)
                for i, pi, ki in zip(idx.tolist(), p.tolist(), k.tolist()):
                    row = [csv_cell(listing.paths[i]), names[ki], f"{pi:.6f}"]
                    w.writerow(row + ([names[int(labels[i])]] if labels is not None else []))
                if labels is not None:
                    correct += int((k == labels[idx]).sum())
                    seen += len(idx)
            if bar is not None:
                bar.update(len(idx) + len(failed))
        f.flush()
        f.detach()  # the caller flushes and closes the binary file

    try:
        write_outputs({out: write}, overwrite)
    finally:
        if bar is not None:
            bar.close()
    accuracy: Optional[float] = correct / seen if seen else None
    return {"images": len(listing), "predicted": len(listing) - len(skipped), "skipped": skipped,
            "accuracy": accuracy, "csv": str(out)}
