"""Several processes under torchrun: which rank this is, and the mean of a statistic over ranks
(gloo on the CPU). Each rank takes an equal slice of every global batch (batches.py); gradients are
averaged by DDP, and the bandwidths' mean distance and the beta statistics d and Q by all_mean, so
two ranks compute what one process computes on the same global batches."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1

    @property
    def active(self) -> bool:
        return self.world > 1


def init_distributed() -> DistInfo:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size())


def all_mean(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.active:
        t = t.clone()
        dist.all_reduce(t)
        t /= info.world
    return t
