"""Streaming image domains: files are opened by DataLoader workers as batches need them, so
memory does not grow with the number of images (tests/dan_layer/data/test_image_streaming.py measures the peak RSS).

Every item is keyed by (index, seed): the trainer draws the seeds from its own sampler, so an
augmentation depends on the sample and the step, never on which worker decoded it. Every image
is decoded by transforms.decode_rgb (EXIF orientation, 16/32-bit greyscale scaled by its bit
depth) for training, evaluation and dan predict alike. An image that cannot be decoded, or is
beyond transforms.MAX_PIXELS or MAX_ASPECT (checked from its header, before decoding), is dropped
from its batch and counted (the trainer warns once per epoch); it never stops training.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

import torch
from torch.utils.data import DataLoader, Dataset

from dan.data import transforms
from dan.data.interface import Batch, Draw
from dan.data.image_folder import ImageList

EVAL_BATCH = 64  # dan train's evaluation and dan predict use the same batches: identical results
ACCURACY_SAMPLE = 1000  # a run's source accuracy is measured on this many fixed source images


@dataclass
class ImageDomain:
    """A domain read from disk, a DomainInterface (domain_interface.py). ``size``: the network's
    input size; ``fixed``: resize to size x size with no crop or flip (--image-size)."""
    images: ImageList
    size: int = transforms.CROP
    fixed: bool = False
    workers: int = 2
    needs_seeds = True      # also when fixed (no augmentation): the run's random stream is the same
    amp_evaluation = True

    @property
    def name(self) -> str:
        return self.images.name

    @property
    def classes(self) -> List[str]:
        return self.images.classes

    @property
    def labelled(self) -> bool:
        return self.images.labelled

    @property
    def input_shape(self) -> Tuple[int, int, int]:
        return (3, self.size, self.size)

    def __len__(self) -> int:
        return len(self.images)

    def mode(self, train: bool) -> str:
        return "fixed" if self.fixed else ("train" if train else "eval")

    def labels(self) -> Optional[torch.Tensor]:
        return torch.tensor(self.images.labels, dtype=torch.int64) if self.labelled else None

    def sample_name(self, index: int) -> str:
        return str(self.images.paths[index])

    def fingerprint(self) -> str:
        """SHA-256 over the image paths relative to the folder and their labels; the files' contents
        are not read (an image edited in place keeps it)."""
        images, digest = self.images, hashlib.sha256()
        labels = images.labels if images.labels is not None else [-1] * len(images.paths)
        for path, label in zip(images.paths, labels):
            try:
                rel = path.relative_to(images.root)
            except ValueError:  # several source folders joined: each under its own root
                rel = path
            digest.update(f"{rel.as_posix()}\0{label}\n".encode("utf-8", "surrogateescape"))
        return digest.hexdigest()

    def train_batches(self, draws: Sequence[Draw]) -> Iterator[Batch]:
        return decode_batches(self, _Keys(draws), train=True)

    def eval_batches(self, indices: Optional[Sequence[int]] = None) -> Iterator[Batch]:
        indices = list(range(len(self))) if indices is None else list(indices)
        keys = [[(i, 0) for i in indices[k:k + EVAL_BATCH]] for k in range(0, len(indices), EVAL_BATCH)]
        return decode_batches(self, keys, train=False)

    def accuracy_sample(self, seed: int) -> List[int]:
        """ACCURACY_SAMPLE images drawn by ``seed`` (a whole VisDA source is 152k images)."""
        pick = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        return sorted(pick[:ACCURACY_SAMPLE].tolist())


class _Keys:
    """The (index, seed) keys of each Draw, for a DataLoader's batch_sampler (which iterates it
    lazily and asks its len())."""

    def __init__(self, draws: Sequence[Draw]):
        self.draws = draws

    def __len__(self) -> int:
        return len(self.draws)

    def __iter__(self):
        for draw in self.draws:
            yield list(zip(draw.index.tolist(), draw.seeds.tolist()))


class _Files(Dataset):
    def __init__(self, domain: ImageDomain, mode: str):
        self.paths, self.labels = domain.images.paths, domain.images.labels
        self.size, self.mode = domain.size, mode

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, key):
        from PIL import Image, UnidentifiedImageError

        index, seed = key
        gen = torch.Generator().manual_seed(seed) if self.mode == "train" else None
        try:
            with warnings.catch_warnings():
                # Pillow warns from 89.5 M pixels; decode_rgb refuses from MAX_PIXELS, lower, anyway
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im = Image.open(self.paths[index])
            with im:
                x = transforms.apply(transforms.decode_rgb(im), self.mode, self.size, gen)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            return None, index
        return x, index


def _collate(items) -> Batch:
    ok = [(x, i) for x, i in items if x is not None]
    failed = [i for x, i in items if x is None]
    if not ok:
        return Batch(None, torch.zeros(0, dtype=torch.int64), failed)
    return Batch(torch.stack([x for x, _ in ok]), torch.tensor([i for _, i in ok], dtype=torch.int64), failed)


def decode_batches(domain: ImageDomain, keys: Iterable[Sequence[Tuple[int, int]]], train: bool) -> Iterator[Batch]:
    """Decode the given batches of (index, seed) keys in order, with domain.workers processes. ``keys``
    is iterated lazily by the loader (a re-iterable with len(), such as _Keys, or a list)."""
    loader = DataLoader(_Files(domain, domain.mode(train)), batch_sampler=keys,  # iterated lazily
                        num_workers=domain.workers, collate_fn=_collate,
                        # its own generator: creating the workers must not draw from torch's global RNG
                        generator=torch.Generator().manual_seed(0), persistent_workers=False)
    yield from loader
