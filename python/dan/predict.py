"""``dan predict``: a trained checkpoint's predictions for a folder of images, one CSV row per
image (path, predicted class, its probability). On a labelled folder it also reports the accuracy;
it uses the same evaluation batches as dan train, so on the training target it equals the
target_accuracy that dan train reported."""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Optional

import torch

from . import batches
from .checkpoint import load_checkpoint
from .config import TrainConfig, check_device
from .image_data import ImageDomain
from .image_folder import discover
from .models import build_model


def predict(checkpoint: Path, images: str, out: Path, workers: int = 2, device: str = "cpu",
            overwrite: bool = False, progress: bool = True) -> dict:
    ck = load_checkpoint(checkpoint)
    cfg = TrainConfig(**ck["config"])
    if cfg.backbone == "digits_cnn":
        raise ValueError(f"{checkpoint} is a digits_cnn run on 8x8 digit arrays; dan predict takes image backbones "
                         "(efficientnet_lite0, resnet50, resnet101, alexnet)")
    if out.exists() and not overwrite:
        raise ValueError(f"--out {out} exists; pass --overwrite to replace it, or choose another --out")
    dev = check_device(device)
    classes = list(ck["classes"])
    listing = discover(images, f"--images {images}")
    if listing.labelled and listing.classes != classes:
        missing = sorted(set(listing.classes) - set(classes))
        raise ValueError(f"--images {images}: its class folders are not the checkpoint's classes"
                         f"{' (unknown: ' + ', '.join(missing[:8]) + ')' if missing else ''}; "
                         "put the images in one folder without class sub-folders to predict them unlabelled")
    model = build_model(cfg.backbone, len(classes), None, cfg.dropout)
    model.load_state_dict(ck["model"])
    model.to(dev)
    domain = ImageDomain(listing, size=cfg.image_size or 224, fixed=cfg.image_size is not None, workers=workers)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(domain), desc=f"predict {images}", unit="img", leave=False)
    labels = torch.tensor(listing.labels) if listing.labelled else None
    correct = seen = 0
    skipped = []
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.tmp{os.getpid()}")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "predicted", "probability"] + (["label"] if labels is not None else []))
        for idx, probs, failed in batches.predict(model, domain, dev):
            skipped += [str(listing.paths[i]) for i in failed]
            if probs is not None:
                p, k = probs.max(1)
                for i, pi, ki in zip(idx.tolist(), p.tolist(), k.tolist()):
                    row = [str(listing.paths[i]), classes[ki], f"{pi:.6f}"]
                    w.writerow(row + ([classes[int(labels[i])]] if labels is not None else []))
                if labels is not None:
                    correct += int((k == labels[idx]).sum())
                    seen += len(idx)
            if bar is not None:
                bar.update(len(idx) + len(failed))
    os.replace(tmp, out)
    if bar is not None:
        bar.close()
    accuracy: Optional[float] = correct / seen if seen else None
    return {"images": len(listing), "predicted": len(listing) - len(skipped), "skipped": skipped,
            "accuracy": accuracy, "csv": str(out)}
