"""The digit domains written as image folders (PATH/DIGIT/NNNNN.png, RGB), so that digits can be
trained through exactly the folder: path that real image data takes (streaming, transforms, a
pretrained backbone): ``dan digit-folders --domain printed --size 32 --out PATH``.

Every domain is brought to MNIST's geometry before it is resized to S x S: the ink's bounding box
scaled to fit 20 x 20 (aspect kept) and placed in a 28 x 28 frame with its centre of mass at the
centre. MNIST digits already are; printed digits are rendered at 96 x 96 (data.py) and brought
there; the 8 x 8 UCI digits are upsampled. White ink on black, as MNIST, copied to three channels.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

DIGIT_FOLDER_DOMAINS = ("printed", "mnist", "digits")


def mnist_frame(img: np.ndarray, threshold: float = 127.0) -> np.ndarray:
    """A grey image (ink bright, any size) -> 28 x 28 uint8 in MNIST's geometry (module docstring)."""
    from PIL import Image

    ink = img > threshold
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    frame = np.zeros((28, 28), dtype=np.uint8)
    if rows.size == 0:
        return frame
    crop = img[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.uint8)
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    digit = np.asarray(Image.fromarray(crop).resize((nw, nh), Image.LANCZOS), dtype=np.float64)
    mass = digit.sum()
    cy, cx = ((np.arange(nh) @ digit.sum(axis=1)) / mass, (np.arange(nw) @ digit.sum(axis=0)) / mass) if mass else (
        (nh - 1) / 2, (nw - 1) / 2)
    top = int(np.clip(round(13.5 - cy), 0, 28 - nh))
    left = int(np.clip(round(13.5 - cx), 0, 28 - nw))
    frame[top:top + nh, left:left + nw] = np.clip(digit, 0, 255).astype(np.uint8)
    return frame


def digit_frames(domain: str, cache_dir=None):
    """(frames [N, 28, 28] uint8, labels [N]) of a digit domain in MNIST's geometry."""
    if domain == "mnist":
        from .data import mnist_images

        return mnist_images()
    if domain == "printed":
        from .data import render_printed_canvases

        canvases, y = render_printed_canvases()
        return np.stack([mnist_frame(c) for c in canvases]), y
    if domain == "digits":
        from PIL import Image

        from .data import load_digits_domain

        d = load_digits_domain()  # [N, 1, 8, 8] in [0, 1]
        # 8x8 counts upsampled to the 20x20 box, then framed as MNIST
        big = [np.asarray(Image.fromarray((255 * img[0]).astype(np.uint8)).resize((20, 20), Image.BILINEAR))
               for img in d.x.numpy()]
        return np.stack([mnist_frame(b.astype(np.float64), threshold=32.0) for b in big]), d.y.numpy()
    raise ValueError(f"--domain must be one of {', '.join(DIGIT_FOLDER_DOMAINS)}, got {domain!r}")


def _remove_stale_partials(out: Path) -> None:
    """Folders a killed earlier writer left beside OUT: its pid no longer runs, or is ours (reused)."""
    if not out.parent.is_dir():
        return
    for p in out.parent.glob(f".{out.name}.partial*"):
        pid = p.name.rsplit(".partial", 1)[1]
        if pid.isdigit() and (int(pid) == os.getpid() or not _running(int(pid))):
            shutil.rmtree(p, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def write_digit_folder(domain: str, out, size: int = 32, overwrite: bool = False, progress: bool = True) -> dict:
    """Write DOMAIN as OUT/DIGIT/NNNNN.png at SIZE x SIZE, RGB. The folder is built beside OUT and
    renamed into place when complete, so OUT never holds half a domain; an existing OUT is kept
    unless ``overwrite``."""
    from PIL import Image

    if domain not in DIGIT_FOLDER_DOMAINS:
        raise ValueError(f"--domain must be one of {', '.join(DIGIT_FOLDER_DOMAINS)}, got {domain!r}")
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 1024:
        raise ValueError(f"--size must be an integer from 8 to 1024, got {size!r}")
    out = Path(out)
    if out.exists() and not overwrite:
        raise ValueError(f"--out {out} already exists: pass --overwrite to replace it, or choose another --out")
    frames, labels = digit_frames(domain)
    _remove_stale_partials(out)
    tmp = out.with_name(f".{out.name}.partial{os.getpid()}")
    for digit in range(10):
        (tmp / str(digit)).mkdir(parents=True)
    items = range(len(labels))
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc=f"writing {domain} at {size} px", unit="image", leave=False)
    for i in items:
        img = Image.fromarray(frames[i]).resize((size, size), Image.BILINEAR).convert("RGB")
        img.save(tmp / str(int(labels[i])) / f"{i:05d}.png")
    if out.exists():
        old = out.with_name(f".{out.name}.old{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
    counts = np.bincount(labels, minlength=10).tolist()
    return {"domain": domain, "out": str(out), "size": size, "images": int(len(labels)), "per_class": counts}
