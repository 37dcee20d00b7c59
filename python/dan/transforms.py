"""Image transforms of the published protocol, in PIL and torch alone (no torchvision, so the
main environment and CI run them), with every random draw taken from an explicit generator.

    train   random resized crop to S (area 8%-100%, aspect 3/4-4/3), horizontal flip, normalise
    eval    resize the shorter side to S * 256/224, centre crop S, normalise
    fixed   resize to S x S, normalise (--image-size S: small images such as digits; no crop, no flip)

Normalisation is ImageNet's mean and standard deviation; a backbone pretrained with another
convention converts inside its forward (efficientnet_lite.py). Each sample gets its own seed
from the trainer's sampler, so augmentations do not depend on the number of DataLoader workers
and --resume stays bit for bit.
"""
from __future__ import annotations

import math

import numpy as np
import torch

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
MODES = ("train", "eval", "fixed")


def _uniform(gen: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=gen, dtype=torch.float64))


def _randint(gen: torch.Generator, high_inclusive: int) -> int:
    return int(torch.randint(0, high_inclusive + 1, (), generator=gen))


def random_resized_box(width: int, height: int, gen: torch.Generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """(left, top, w, h) of a crop covering a random share of the area with a random aspect ratio;
    after 10 misses, the largest centred crop whose aspect ratio is in range."""
    area = width * height
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * _uniform(gen, *scale)
        aspect = math.exp(_uniform(gen, log_lo, log_hi))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return _randint(gen, width - w), _randint(gen, height - h), w, h
    aspect = width / height
    if aspect < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif aspect > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def to_tensor(img) -> torch.Tensor:
    """RGB PIL image -> float32 [3, H, W], ImageNet-normalised."""
    arr = (np.asarray(img, dtype=np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def apply(img, mode: str, size: int, gen: torch.Generator = None) -> torch.Tensor:
    """One RGB PIL image -> normalised [3, size, size]; ``gen`` is needed for mode "train"."""
    from PIL import Image

    if mode == "fixed":
        return to_tensor(img.resize((size, size), Image.BILINEAR))
    if mode == "eval":
        short = round(size * 256 / 224)
        w, h = img.size
        scale = short / min(w, h)
        img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
        w, h = img.size
        left, top = (w - size) // 2, (h - size) // 2
        return to_tensor(img.crop((left, top, left + size, top + size)))
    if mode != "train":
        raise ValueError(f"transform mode must be one of {MODES}, got {mode!r}")
    left, top, w, h = random_resized_box(*img.size, gen)
    img = img.resize((size, size), Image.BILINEAR, box=(left, top, left + w, top + h))
    if float(torch.rand((), generator=gen)) < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return to_tensor(img)
