"""The data of a training epoch: which samples each step takes (EpochPlan), the batches it feeds
the network (epoch), and the evaluation over a domain after it (accuracy; predict, which dan
predict shares). Domains are read through their one interface (domain_interface.py) only, so
in-memory digit domains and streamed image folders go through the same code.

The index order of every epoch comes from the trainer's sampler generator (saved in checkpoints);
for domains that need them (image folders) each sample also gets an augmentation seed from it.
Nothing here draws from a global random state, so --resume is bit for bit and the number of
workers does not matter. An epoch's batches are drawn lazily (EpochPlan): memory does not grow
with --iters-per-epoch.
"""
from __future__ import annotations

import math
from typing import Iterator, List, NamedTuple, Optional, Tuple

import torch

from dan.data.interface import DomainInterface, Draw

_SEED_HIGH = 2 ** 62       # augmentation seeds are drawn in [0, 2^62)
_SKIP_CHUNK = 4096         # steps' worth of seeds drawn (and dropped) at a time while fast-forwarding


class TrainBatch(NamedTuple):
    xs: Optional[torch.Tensor]  # None when this rank cannot form a quad-tuple from what was read
    ys: Optional[torch.Tensor]
    xt: Optional[torch.Tensor]
    skipped: List[str]          # samples that could not be read (dropped from this batch)


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
    (one source pass per epoch means exactly one shuffle of the source), and with ``seeds`` (see
    needs_seeds) one augmentation seed per sample. Drawn lazily, yet from ``gen`` in exactly the
    order the earlier eager version drew them (every source shuffle, then every target shuffle,
    then the seeds), so runs and checkpoints are unchanged: the constructor fast-forwards ``gen``
    once, drawing and dropping, and keeps the generator state at each of those three points.
    Iterating the plan (as often as needed: the source and the target side each walk it) replays
    from those states."""

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


def needs_seeds(*domains: DomainInterface) -> bool:
    """Whether a plan for these domains draws augmentation seeds (whether any of them needs them)."""
    return any(d.needs_seeds for d in domains)


def _rank_slice(idx: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    per = len(idx) // world
    return idx[rank * per:(rank + 1) * per]


class _Draws:
    """One domain's side of every step (0 source, 1 target), this rank's slice: what the domain's
    train_batches reads, lazily, as the plan is walked."""

    def __init__(self, plan, side: int, rank: int, world: int):
        self.plan, self.side, self.rank, self.world = plan, side, rank, world

    def __len__(self) -> int:
        return len(self.plan)

    def __iter__(self) -> Iterator[Draw]:
        for step in self.plan:
            seeds = None if step.seeds is None else _rank_slice(step.seeds[self.side], self.rank, self.world)
            yield Draw(_rank_slice(step[self.side], self.rank, self.world), seeds)


def epoch(source: DomainInterface, target: DomainInterface, plan, rank: int = 0, world: int = 1
          ) -> Iterator[TrainBatch]:
    """The training batches of one epoch (an EpochPlan or a list of Steps), this rank's slice of
    each global batch."""
    labels = source.labels()
    for bs, bt in zip(source.train_batches(_Draws(plan, 0, rank, world)),
                      target.train_batches(_Draws(plan, 1, rank, world))):
        skipped = [source.sample_name(i) for i in bs.failed] + [target.sample_name(i) for i in bt.failed]
        if bs.x is None or bt.x is None or len(bs.x) < 2 or len(bt.x) < 2:
            yield TrainBatch(None, None, None, skipped)  # too little left to form a quad-tuple
            continue
        yield TrainBatch(bs.x, labels[bs.index], bt.x, skipped)


@torch.no_grad()
def predict(model, domain: DomainInterface, device, indices: Optional[List[int]] = None, amp: bool = False
            ) -> Iterator[Tuple[torch.Tensor, torch.Tensor, List[int]]]:
    """(indices, softmax probabilities, failed indices) per evaluation batch; the model in eval mode."""
    was_training = model.training
    model.eval()
    try:
        for b in domain.eval_batches(indices):
            if b.x is None:
                yield torch.zeros(0, dtype=torch.int64), None, b.failed
                continue
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp and domain.amp_evaluation):
                logits, _ = model(b.x.to(device))
            yield b.index, logits.float().softmax(1).cpu(), b.failed
    finally:
        model.train(was_training)


class Accuracy(NamedTuple):
    value: Optional[float]  # over the samples read; None for an unlabelled domain or none read
    evaluated: int          # samples read and scored
    skipped: int            # samples that could not be read


def accuracy(model, domain: DomainInterface, device, indices: Optional[List[int]] = None, amp: bool = False
             ) -> Accuracy:
    """Accuracy over the samples that can be read, with how many were scored and how many skipped."""
    if not domain.labelled:
        return Accuracy(None, 0, 0)
    labels = domain.labels()
    correct = seen = skipped = 0
    for idx, probs, failed in predict(model, domain, device, indices, amp):
        skipped += len(failed)
        if probs is not None:
            correct += int((probs.argmax(1) == labels[idx]).sum())
            seen += len(idx)
    return Accuracy(correct / seen if seen else None, seen, skipped)
