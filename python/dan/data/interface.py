"""The one interface of a domain, whatever holds its samples. The in-memory digit domains
(data.Domain) and the image folders streamed from disk (image_data.ImageDomain) both implement
it, and the trainer, its batches (epoch_data.py), the data record of its checkpoints
(data_identity.py) and dan plot use nothing else of a domain. A new kind of domain implements DomainInterface
and trains with no change to the trainer or epoch_data.py (tests/dan_layer/data/test_domain_interface.py trains
one).

A sample is named by its index in range(len(domain)). A domain may fail to read a sample (an
image that does not decode): it drops it from its batch and names it in ``Batch.failed``; the
trainer counts it and goes on.
"""
from __future__ import annotations

from typing import Iterator, List, NamedTuple, Optional, Protocol, Sequence, Tuple, runtime_checkable

import torch


class Batch(NamedTuple):
    """Samples of a domain, as read: the rows of ``x`` are the samples ``index``, in order."""
    x: Optional[torch.Tensor]   # [k, C, H, W]; None when no sample of the batch could be read
    index: torch.Tensor         # [k] int64: the domain's indices of the rows of x
    failed: List[int]           # indices that could not be read (not in x)


class Draw(NamedTuple):
    """What one training step takes from a domain on this rank: the trainer's sampler drew both."""
    index: torch.Tensor            # [k] int64 indices
    seeds: Optional[torch.Tensor]  # [k] int64 augmentation seeds, one per index; None when no domain
                                   # of the run needs them (needs_seeds)


@runtime_checkable
class DomainInterface(Protocol):
    name: str
    classes: List[str]  # class names, in label order
    labelled: bool      # False: a target without labels (labels() is None; no target accuracy)
    needs_seeds: bool   # training draws an augmentation seed per sample from the trainer's sampler
                        # (saved in checkpoints), so an augmentation depends on the sample and the
                        # step only; the draws are part of the run's random stream either way
    amp_evaluation: bool  # evaluation runs under --amp's bfloat16 autocast like training (the
                          # digit domains' evaluation never has: kept so that their runs are unchanged)

    @property
    def input_shape(self) -> Tuple[int, ...]:
        """(C, H, W) of every sample."""

    def __len__(self) -> int:
        """The number of samples."""

    def labels(self) -> Optional[torch.Tensor]:
        """[len] int64: the label of every sample; None when the domain is unlabelled."""

    def sample_name(self, index: int) -> str:
        """How a warning names sample ``index`` (an image's path)."""

    def train_batches(self, draws: Sequence[Draw]) -> Iterator[Batch]:
        """One training batch per Draw, in order, augmented as the draw's seeds say. ``draws`` is
        re-iterable and has a len(), but may be drawn lazily: iterate it as the batches are needed."""

    def eval_batches(self, indices: Optional[Sequence[int]] = None) -> Iterator[Batch]:
        """The samples ``indices`` (default: all, in index order) in order, unaugmented, in
        batches of the domain's own fixed size (so every evaluation of them gives equal results)."""

    def fingerprint(self) -> str:
        """A hex digest that changes when the samples or their labels change (what --resume
        compares, data_identity.py); the same for the same data in every process."""

    def accuracy_sample(self, seed: int) -> Optional[List[int]]:
        """The indices a run's source accuracy is measured on every epoch, fixed by ``seed`` (the
        run's --seed); None: all of them."""
