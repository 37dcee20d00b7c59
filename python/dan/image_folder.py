"""Image folders as users have them on disk: the list of image files and their labels, never the
pixels (those are decoded by DataLoader workers as batches need them, see image_data.py).

Layouts recognised under ``folder:PATH``:

    PATH/CLASS/IMAGE            Office-Home, DomainNet, VisDA-2017 (PATH = train or validation),
                                and any ImageFolder tree
    PATH/images/CLASS/IMAGE     Office-31 (PATH = amazon, dslr or webcam)
    PATH/IMAGE                  an unlabelled folder (no class sub-folders): a target domain whose
                                accuracy cannot be reported, or images to predict
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass
class ImageList:
    name: str
    root: Path
    paths: List[Path]
    labels: Optional[List[int]]  # None: unlabelled
    classes: List[str]           # [] when unlabelled

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def labelled(self) -> bool:
        return self.labels is not None


def _images(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _walk_images(folder: Path) -> List[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def discover(path, name: Optional[str] = None) -> ImageList:
    """The images under ``path`` in one of the layouts above, sorted (stable labels and order)."""
    root = Path(path).expanduser()
    name = name or f"folder:{path}"
    if not root.is_dir():
        raise ValueError(f"{name}: {root} is not a directory")
    if (root / "images").is_dir() and not _images(root):  # Office-31: PATH/images/CLASS/IMAGE
        root = root / "images"
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = _images(root)
    if class_dirs and not loose:
        classes, paths, labels = [], [], []
        for d in class_dirs:
            files = _walk_images(d)
            if not files:
                continue  # an empty class folder is not a class
            classes.append(d.name)
            paths += files
            labels += [len(classes) - 1] * len(files)
        if not paths:
            raise ValueError(f"{name}: no images under {root} (looked for {', '.join(IMAGE_EXTENSIONS)} in its "
                             "class folders)")
        return ImageList(name, root, paths, labels, classes)
    if loose:
        return ImageList(name, root, loose, None, [])
    raise ValueError(f"{name}: no images under {root} (expected PATH/CLASS/IMAGE, PATH/images/CLASS/IMAGE "
                     "or images directly in PATH)")


def concat(lists: Sequence[ImageList]) -> ImageList:
    """Several labelled source domains as one (multi-source, as tllib): same classes required."""
    first = lists[0]
    for other in lists[1:]:
        check_same_classes(first, other)
    paths, labels = [], []
    for lst in lists:
        paths += lst.paths
        labels += lst.labels
    return ImageList(",".join(lst.name for lst in lists), first.root, paths, labels, first.classes)


def check_same_classes(a: ImageList, b: ImageList) -> None:
    """Class names must match exactly (labels are positions in the sorted names)."""
    if not (a.labelled and b.labelled) or a.classes == b.classes:
        return
    only_a, only_b = sorted(set(a.classes) - set(b.classes)), sorted(set(b.classes) - set(a.classes))

    def show(names):
        return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "") or "none"

    raise ValueError(f"{a.name} and {b.name} have different classes: only in the first: {show(only_a)}; only in "
                     f"the second: {show(only_b)}")
