"""The digit domains written as image folders (PATH/DIGIT/NNNNN.png, RGB), so that digits can be
trained through exactly the folder: path that real image data takes (streaming, transforms, a
pretrained backbone): ``dan digit-folders --domain printed --size 32 --out PATH``.

Every domain is brought to MNIST's geometry before it is resized to S x S: the ink's bounding box
scaled to fit 20 x 20 (aspect kept) and placed in a 28 x 28 frame with its centre of mass at the
centre. MNIST digits already are; printed digits are rendered at 96 x 96 (data.py) and brought
there; the 8 x 8 UCI digits are upsampled. White ink on black, as MNIST, copied to three channels.

Every folder written carries a marker file, PATH/.dan-digit-folder (JSON: domain, size, images).
--overwrite replaces only a folder that holds it: anything else at PATH (a folder of your own, a
file, a folder written before the marker existed) is refused with one line and kept. An --out
under a file or in a read-only folder is refused before any image is made; a disk that fills while
the images are written is named with --out, and the partial folder removed.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np

from dan.runs.atomic import DiskFullError, no_space_reason, other_process_running
from dan.runs.output_files import check_folder, check_writable

DIGIT_FOLDER_DOMAINS = ("printed", "mnist", "digits")
MARKER = ".dan-digit-folder"  # in every folder write_digit_folder writes; --overwrite needs it


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
        from dan.data.domains import mnist_images

        return mnist_images()
    if domain == "printed":
        from dan.data.domains import render_printed_canvases

        canvases, y = render_printed_canvases()
        return np.stack([mnist_frame(c) for c in canvases]), y
    if domain == "digits":
        from PIL import Image

        from dan.data.domains import load_digits_domain

        d = load_digits_domain()  # [N, 1, 8, 8] in [0, 1]
        # 8x8 counts upsampled to the 20x20 box, then framed as MNIST
        big = [np.asarray(Image.fromarray((255 * img[0]).astype(np.uint8)).resize((20, 20), Image.BILINEAR))
               for img in d.x.numpy()]
        return np.stack([mnist_frame(b.astype(np.float64), threshold=32.0) for b in big]), d.y.numpy()
    raise ValueError(f"--domain must be one of {', '.join(DIGIT_FOLDER_DOMAINS)}, got {domain!r}")


def _remove_stale_partials(out: Path) -> None:
    """Folders a killed earlier writer left beside OUT (.OUT.partial<pid>), its pid no longer running."""
    if not out.parent.is_dir():
        return
    prefix = f".{out.name}.partial"
    for p in out.parent.iterdir():
        pid = p.name[len(prefix):] if p.name.startswith(prefix) else ""
        if pid.isdigit() and p.is_dir() and not p.is_symlink() and not other_process_running(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


def is_digit_folder(path: Path) -> bool:
    """PATH is a folder that write_digit_folder wrote (a real folder, not a link, with the marker)."""
    path = Path(path)
    return path.is_dir() and not path.is_symlink() and (path / MARKER).is_file()


def _check_out(given, out: Path, overwrite: bool) -> None:
    """One-line ValueErrors for an --out that may not be written (module docstring)."""
    cwd = Path(os.path.abspath(os.getcwd()))
    if not out.name or out == cwd or out in cwd.parents:
        raise ValueError(f"--out {given} is the current folder or holds it; give a new folder's path, e.g. "
                         "--out digits32")
    if not (out.exists() or out.is_symlink()):
        check_folder(out.parent, f"--out {given}", "its parent folder")
        check_writable(out.parent, f"--out {given}")
        return
    if not overwrite:
        raise ValueError(f"--out {given} already exists: pass --overwrite to replace it (only a folder that dan "
                         "digit-folders wrote), or choose another --out")
    if not is_digit_folder(out):
        what = ("a symbolic link" if out.is_symlink() else "a folder that dan digit-folders did not write (it has no "
                f"{MARKER} marker)" if out.is_dir() else "a file, not a folder that dan digit-folders wrote")
        raise ValueError(f"--out {given} is {what}; --overwrite replaces only a folder this command wrote, so it is "
                         "kept: remove it yourself or choose another --out")


def write_digit_folder(domain: str, out, size: int = 32, overwrite: bool = False, progress: bool = True) -> dict:
    """Write DOMAIN as OUT/DIGIT/NNNNN.png at SIZE x SIZE, RGB, with the marker OUT/.dan-digit-folder.
    The folder is built beside OUT and renamed into place when complete, so OUT never holds half a
    domain. An existing OUT is kept, unless ``overwrite`` and it is a folder this function wrote
    (it holds the marker); anything else is refused."""
    from PIL import Image

    if domain not in DIGIT_FOLDER_DOMAINS:
        raise ValueError(f"--domain must be one of {', '.join(DIGIT_FOLDER_DOMAINS)}, got {domain!r}")
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 1024:
        raise ValueError(f"--size must be an integer from 8 to 1024, got {size!r}")
    given = out
    out = Path(os.path.abspath(out))  # "." and ".." resolved: the folder has a name to write beside
    _check_out(given, out, overwrite)
    frames, labels = digit_frames(domain)
    _remove_stale_partials(out)
    tmp = out.with_name(f".{out.name}.partial{os.getpid()}")
    try:
        for digit in range(10):
            (tmp / str(digit)).mkdir(parents=True)
        items = range(len(labels))
        if progress:
            from tqdm.auto import tqdm

            items = tqdm(items, desc=f"writing {domain} at {size} px", unit="image", leave=False)
        for i in items:
            img = Image.fromarray(frames[i]).resize((size, size), Image.BILINEAR).convert("RGB")
            img.save(tmp / str(int(labels[i])) / f"{i:05d}.png")
        (tmp / MARKER).write_text(json.dumps({"written_by": "dan digit-folders", "domain": domain, "size": size,
                                              "images": int(len(labels))}) + "\n")
        _check_out(given, out, overwrite)  # again: OUT may have appeared or changed while the images were written
        if out.exists():
            old = out.with_name(f".{out.name}.old{os.getpid()}")
            os.replace(out, old)
            try:
                os.replace(tmp, out)
            except BaseException:
                os.replace(old, out)  # the earlier folder back in place
                raise
            shutil.rmtree(old)
        else:
            os.rename(tmp, out)  # fails if OUT appeared since the check (unless it is an empty folder)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        reason = no_space_reason(err)
        if reason:
            code = err.errno if isinstance(err, OSError) and err.errno else errno.ENOSPC
            raise DiskFullError(code, f"{reason} on the disk of {out.parent} writing the {domain} images for --out "
                                f"{given}; the partial folder was removed and nothing kept: free space or choose "
                                "another --out") from None
        raise
    counts = np.bincount(labels, minlength=10).tolist()
    return {"domain": domain, "out": str(out), "size": size, "images": int(len(labels)), "per_class": counts}
