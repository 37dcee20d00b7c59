"""Image folders as users have them on disk: the list of image files and their labels, never the
pixels (those are decoded by DataLoader workers as batches need them, see image_data.py).

Layouts recognised under ``folder:PATH``:

    PATH/CLASS/IMAGE            Office-Home, DomainNet, VisDA-2017 (PATH = train or validation),
                                and any ImageFolder tree
    PATH/images/CLASS/IMAGE     Office-31 (PATH = amazon, dslr or webcam)
    PATH/IMAGE                  an unlabelled folder (no class sub-folders): a target domain whose
                                accuracy cannot be reported, or images to predict

A folder holding both class folders with images and images of its own is ambiguous (a stray
thumbnail.png beside cat/ and dog/ would otherwise turn a labelled domain into an unlabelled one
of 1 image) and is refused. A class folder without images is not a class; when the other domain
has that class, the error names the empty folder. Class names are compared in Unicode NFC, so "café" written by macOS
(NFD) and by Linux (NFC) is one class; the paths on disk are kept as they are.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
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
    empty: List[Path] = field(default_factory=list)  # class folders without images: not classes

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def labelled(self) -> bool:
        return self.labels is not None


def _images(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _walk_images(folder: Path) -> List[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def class_name(folder_name: str) -> str:
    """A class folder's name as a class: Unicode NFC, so the same name written in NFC or NFD (macOS
    file systems decompose accents) is one class; labels follow the sorted NFC names."""
    return unicodedata.normalize("NFC", folder_name)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def discover(path, name: Optional[str] = None) -> ImageList:
    """The images under ``path`` in one of the layouts above, sorted (stable labels and order)."""
    root = Path(path).expanduser()
    name = name or f"folder:{path}"
    if not root.is_dir():
        raise ValueError(f"{name}: {root} is not a directory")
    if (root / "images").is_dir() and not _images(root):  # Office-31: PATH/images/CLASS/IMAGE
        root = root / "images"
    class_dirs = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                        key=lambda p: (class_name(p.name), p.name))
    loose = _images(root)
    classes, folders, paths, labels, empty = [], [], [], [], []
    for d in class_dirs:
        files = _walk_images(d)
        if not files:
            empty.append(d)  # not a class; kept to name it when the other domain has that class
            continue
        if classes and classes[-1] == class_name(d.name):
            raise ValueError(f"{name}: class folders {folders[-1].name!r} and {d.name!r} in {root} are the same "
                             "name in two Unicode forms (NFC and NFD); merge them into one folder")
        classes.append(class_name(d.name))
        folders.append(d)
        paths += files
        labels += [len(classes) - 1] * len(files)
    if paths and loose:
        raise ValueError(f"{name}: ambiguous layout: {_count(len(classes), 'class folder')} holding "
                         f"{_count(len(paths), 'image')} and {_count(len(loose), 'image')} directly in {root}; "
                         "move the loose image(s) into a class folder or away")
    if paths:
        return ImageList(name, root, paths, labels, classes, empty)
    if loose:
        return ImageList(name, root, loose, None, [])
    if class_dirs:
        raise ValueError(f"{name}: no images under {root} (looked for {', '.join(IMAGE_EXTENSIONS)} in its "
                         "class folders)")
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
    return ImageList(",".join(lst.name for lst in lists), first.root, paths, labels, first.classes,
                     [d for lst in lists for d in lst.empty])


def empty_class_folder(images: Optional[ImageList], missing: Sequence[str], role: str,
                       remedy: str = "put its images there, or remove the class from both domains") -> Optional[str]:
    """A one-line explanation when a class MISSING from IMAGES (of ROLE, e.g. "the source") is one
    of its class folders that holds no images, or None: "only in the target: 3" would hide that
    the source's folder 3 exists and is empty."""
    for folder in (images.empty if images is not None else []):
        if class_name(folder.name) in missing:
            return (f"{role}'s class folder {folder} is empty (no images with the extensions "
                    f"{', '.join(IMAGE_EXTENSIONS)}), so {role} has no class {class_name(folder.name)!r}; {remedy}")
    return None


def check_same_classes(a: ImageList, b: ImageList) -> None:
    """Class names must match exactly, in NFC as discover gives them (labels are positions in the
    sorted names)."""
    if not (a.labelled and b.labelled) or a.classes == b.classes:
        return
    only_a, only_b = sorted(set(a.classes) - set(b.classes)), sorted(set(b.classes) - set(a.classes))
    empty = empty_class_folder(a, only_b, a.name) or empty_class_folder(b, only_a, b.name)
    if empty:
        raise ValueError(empty)

    def show(names):
        return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "") or "none"

    raise ValueError(f"{a.name} and {b.name} have different classes: only in the first: {show(only_a)}; only in "
                     f"the second: {show(only_b)}")
