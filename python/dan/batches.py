"""What the trainer feeds the network, for both kinds of domain: in-memory digit domains (indexed
directly) and streaming image folders (decoded by DataLoader workers), and the evaluation over a
whole domain that dan train and dan predict share.

The index order of every epoch comes from the trainer's sampler generator (saved in checkpoints);
for image folders each sample also gets an augmentation seed from it. Nothing here draws from a
global random state, so --resume is bit for bit and the number of workers does not matter.
"""
from __future__ import annotations

import math
from typing import Iterator, List, NamedTuple, Optional, Tuple

import torch

from .image_data import ImageDomain, batches, eval_batches

SOURCE_EVAL_IMAGES = 1000  # source accuracy of an image folder: on this many fixed source images


class TrainBatch(NamedTuple):
    xs: torch.Tensor
    ys: torch.Tensor
    xt: torch.Tensor
    skipped: List[str]   # images that could not be decoded (dropped from this batch)


def epoch_indices(gen: torch.Generator, n_source: int, n_target: int, batch: int, steps: int):
    """``steps`` pairs of index batches: each domain cycled through fresh shuffles as needed (with
    one source pass per epoch, exactly one shuffle of the source)."""
    def stream(n):
        return torch.cat([torch.randperm(n, generator=gen) for _ in range(math.ceil(steps * batch / n))])

    perm_s, perm_t = stream(n_source), stream(n_target)
    return [(perm_s[k * batch:(k + 1) * batch], perm_t[k * batch:(k + 1) * batch]) for k in range(steps)]


def _rank_slice(idx: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    per = len(idx) // world
    return idx[rank * per:(rank + 1) * per]


def epoch(source, target, pairs, gen: torch.Generator, rank: int = 0, world: int = 1) -> Iterator[TrainBatch]:
    """The training batches of one epoch, this rank's slice of each global batch."""
    images = isinstance(source, ImageDomain)
    if not images:
        for idx_s, idx_t in pairs:
            idx_s, idx_t = _rank_slice(idx_s, rank, world), _rank_slice(idx_t, rank, world)
            yield TrainBatch(source.x[idx_s], source.y[idx_s], target.x[idx_t], [])
        return
    # one augmentation seed per sample of the global batch, drawn whether or not this rank uses it
    seeds = torch.randint(0, 2 ** 62, (len(pairs), 2, len(pairs[0][0])), generator=gen)
    keys_s = [list(zip(_rank_slice(s, rank, world).tolist(), _rank_slice(seeds[k, 0], rank, world).tolist()))
              for k, (s, _) in enumerate(pairs)]
    keys_t = [list(zip(_rank_slice(t, rank, world).tolist(), _rank_slice(seeds[k, 1], rank, world).tolist()))
              for k, (_, t) in enumerate(pairs)]
    labels = torch.tensor(source.images.labels, dtype=torch.int64)
    for bs, bt in zip(batches(source, keys_s, train=True), batches(target, keys_t, train=True)):
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


def accuracy(model, domain, device, indices: Optional[List[int]] = None, amp: bool = False
             ) -> Tuple[Optional[float], int]:
    """(accuracy over the images that decode, or None for an unlabelled domain; images skipped)."""
    if not domain.labelled:
        return None, 0
    labels = domain.y if not isinstance(domain, ImageDomain) else torch.tensor(domain.images.labels)
    correct = seen = skipped = 0
    for idx, probs, failed in predict(model, domain, device, indices, amp):
        skipped += len(failed)
        if probs is not None:
            correct += int((probs.argmax(1) == labels[idx]).sum())
            seen += len(idx)
    return (correct / seen if seen else None), skipped

