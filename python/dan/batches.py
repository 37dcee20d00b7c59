"""What the trainer feeds the network, for both kinds of domain: in-memory digit domains (indexed
directly) and streaming image folders (decoded by DataLoader workers), and the evaluation over a
whole domain that dan train and dan predict share.

The index order of every epoch comes from the trainer's sampler generator (saved in checkpoints);
for image folders each sample also gets an augmentation seed from it. Nothing here draws from a
global random state, so --resume is bit for bit and the number of workers does not matter.
An epoch's batches are drawn lazily (EpochPlan): memory does not grow with --iters-per-epoch.
"""
from __future__ import annotations

import math
from typing import Iterator, List, NamedTuple, Optional, Tuple

import torch

from .image_data import ImageDomain, batches, eval_batches

SOURCE_EVAL_IMAGES = 1000  # source accuracy of an image folder: on this many fixed source images
_SEED_HIGH = 2 ** 62       # augmentation seeds are drawn in [0, 2^62)
_SKIP_CHUNK = 4096         # steps' worth of seeds drawn (and dropped) at a time while fast-forwarding


class TrainBatch(NamedTuple):
    xs: Optional[torch.Tensor]  # None when this rank cannot form a quad-tuple from what decoded
    ys: Optional[torch.Tensor]
    xt: Optional[torch.Tensor]
    skipped: List[str]          # images that could not be decoded (dropped from this batch)


class Step(NamedTuple):
    source: torch.Tensor            # [batch] global source indices
    target: torch.Tensor            # [batch] global target indices
    seeds: Optional[torch.Tensor]   # [2, batch] augmentation seeds (source row, target row), or None


def _clone(gen: torch.Generator) -> torch.Generator:
    g = torch.Generator()
    g.set_state(gen.get_state())
    return g


def _index_stream(gen: torch.Generator, n: int, batch: int, steps: int) -> Iterator[torch.Tensor]:
    """``steps`` batches of ``batch`` indices from consecutive shuffles of range(n), one shuffle
    drawn at a time."""
    buf = torch.zeros(0, dtype=torch.int64)
    for _ in range(steps):
        while len(buf) < batch:
            buf = torch.cat([buf, torch.randperm(n, generator=gen)])
        yield buf[:batch]
        buf = buf[batch:]


class EpochPlan:
    """The global index batches of one epoch, each domain cycled through fresh shuffles as needed
    (one source pass per epoch means exactly one shuffle of the source), and for image folders one
    augmentation seed per sample. Drawn lazily, yet from ``gen`` in exactly the order the earlier
    eager version drew them (every source shuffle, then every target shuffle, then the seeds), so
    runs and checkpoints are unchanged: the constructor fast-forwards ``gen`` once, drawing and
    dropping, and keeps the generator state at each of those three points. Iterating the plan (as
    often as needed: the source and target loaders each walk it) replays from those states."""

    def __init__(self, gen: torch.Generator, n_source: int, n_target: int, batch: int, steps: int,
                 seeds: bool = False):
        self.n_source, self.n_target, self.batch, self.steps = n_source, n_target, batch, steps
        self._source = _clone(gen)
        for _ in range(math.ceil(steps * batch / n_source)):
            torch.randperm(n_source, generator=gen)
        self._target = _clone(gen)
        for _ in range(math.ceil(steps * batch / n_target)):
            torch.randperm(n_target, generator=gen)
        self._seeds = _clone(gen) if seeds else None
        if seeds:
            for k in range(0, steps, _SKIP_CHUNK):
                torch.randint(0, _SEED_HIGH, (min(_SKIP_CHUNK, steps - k), 2, batch), generator=gen)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[Step]:
        src = _index_stream(_clone(self._source), self.n_source, self.batch, self.steps)
        tgt = _index_stream(_clone(self._target), self.n_target, self.batch, self.steps)
        seed_gen = _clone(self._seeds) if self._seeds is not None else None
        for s, t in zip(src, tgt):
            seeds = torch.randint(0, _SEED_HIGH, (2, self.batch), generator=seed_gen) if seed_gen else None
            yield Step(s, t, seeds)


def one_step(gen: torch.Generator, idx_s: torch.Tensor, idx_t: torch.Tensor, seeds: bool) -> List[Step]:
    """A single given step (Trainer.train_step), with its augmentation seeds drawn from ``gen``."""
    drawn = torch.randint(0, _SEED_HIGH, (1, 2, len(idx_s)), generator=gen)[0] if seeds else None
    return [Step(torch.as_tensor(idx_s), torch.as_tensor(idx_t), drawn)]


def _rank_slice(idx: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    per = len(idx) // world
    return idx[rank * per:(rank + 1) * per]


class _Keys:
    """One domain's (index, seed) keys per step, this rank's slice, for a DataLoader's batch_sampler
    (iterated lazily by the loader)."""

    def __init__(self, plan, side: int, rank: int, world: int):
        self.plan, self.side, self.rank, self.world = plan, side, rank, world

    def __len__(self) -> int:
        return len(self.plan)

    def __iter__(self):
        for step in self.plan:
            idx = _rank_slice(step[self.side], self.rank, self.world)
            yield list(zip(idx.tolist(), _rank_slice(step.seeds[self.side], self.rank, self.world).tolist()))


def epoch(source, target, plan, rank: int = 0, world: int = 1) -> Iterator[TrainBatch]:
    """The training batches of one epoch (an EpochPlan or a list of Steps), this rank's slice of
    each global batch."""
    if not isinstance(source, ImageDomain):
        for step in plan:
            idx_s, idx_t = _rank_slice(step.source, rank, world), _rank_slice(step.target, rank, world)
            yield TrainBatch(source.x[idx_s], source.y[idx_s], target.x[idx_t], [])
        return
    labels = torch.tensor(source.images.labels, dtype=torch.int64)
    for bs, bt in zip(batches(source, _Keys(plan, 0, rank, world), train=True),
                      batches(target, _Keys(plan, 1, rank, world), train=True)):
        skipped = [str(source.images.paths[i]) for i in bs.failed] + [str(target.images.paths[i]) for i in bt.failed]
        if bs.x is None or bt.x is None or len(bs.x) < 2 or len(bt.x) < 2:
            yield TrainBatch(None, None, None, skipped)  # too little left to form a quad-tuple
            continue
        yield TrainBatch(bs.x, labels[bs.index], bt.x, skipped)


@torch.no_grad()
def predict(model, domain, device, indices: Optional[List[int]] = None, amp: bool = False
            ) -> Iterator[Tuple[torch.Tensor, torch.Tensor, List[int]]]:
    """(indices, softmax probabilities, failed indices) per evaluation batch; the model in eval mode."""
    was_training = model.training
    model.eval()
    try:
        if isinstance(domain, ImageDomain):
            for b in eval_batches(domain, indices):
                if b.x is None:
                    yield torch.zeros(0, dtype=torch.int64), None, b.failed
                    continue
                with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp):
                    logits, _ = model(b.x.to(device))
                yield b.index, logits.float().softmax(1).cpu(), b.failed
        else:
            order = torch.arange(len(domain)) if indices is None else torch.as_tensor(indices)
            for k in range(0, len(order), 1024):
                idx = order[k:k + 1024]
                logits, _ = model(domain.x[idx].to(device))
                yield idx, logits.float().softmax(1).cpu(), []
    finally:
        model.train(was_training)


class Accuracy(NamedTuple):
    value: Optional[float]  # over the images that decoded; None for an unlabelled domain or none decoded
    evaluated: int          # images that decoded and were scored
    skipped: int            # images that could not be decoded


def accuracy(model, domain, device, indices: Optional[List[int]] = None, amp: bool = False) -> Accuracy:
    """Accuracy over the images that decode, with how many were scored and how many skipped."""
    if not domain.labelled:
        return Accuracy(None, 0, 0)
    labels = domain.y if not isinstance(domain, ImageDomain) else torch.tensor(domain.images.labels)
    correct = seen = skipped = 0
    for idx, probs, failed in predict(model, domain, device, indices, amp):
        skipped += len(failed)
        if probs is not None:
            correct += int((probs.argmax(1) == labels[idx]).sum())
            seen += len(idx)
    return Accuracy(correct / seen if seen else None, seen, skipped)
