"""Several processes under torchrun: which rank this is, and the mean of a statistic over ranks
(gloo on the CPU). Each rank takes an equal slice of every global batch (epoch_data.py); gradients are
averaged by DDP, and the bandwidths' mean distance and the beta statistics d and Q by all_mean, so
two ranks compute what one process computes on the same global batches. BatchNorm layers are the
exception on the CPU (batchnorm_mode).

Every collective must be entered by every rank for the same step, or the ranks wait on each other
forever: decisions that one rank could take alone (skip a batch whose images did not decode) are
made global with agree(). The process group has a timeout (--dist-timeout), so a rank that stalls
ends the whole job with an error instead of a hang; a rank that dies ends it at once (its peers'
collectives fail, and torchrun stops the others)."""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Optional

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1

    @property
    def active(self) -> bool:
        return self.world > 1


class CollectiveFailed(RuntimeError):
    """A collective timed out or lost a peer: the job cannot continue on this rank."""


def init_distributed(timeout: float = 1800.0) -> DistInfo:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=timeout))
    return DistInfo(dist.get_rank(), dist.get_world_size())


def process_group() -> DistInfo:
    """This process's rank and the world size when a process group is running (torchrun, or a
    user's own DDP loop), else a single process: what a penalty reduces over."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return DistInfo(dist.get_rank(), dist.get_world_size())
    return DistInfo()


def all_mean(t: torch.Tensor, info: DistInfo, contract: Optional[str] = None) -> torch.Tensor:
    """The mean of ``t`` over ranks. ``contract``: what every rank must do for this collective to
    complete, named in the one-line CollectiveFailed that replaces the backend's error when it times
    out or loses a peer (a rank that never makes the call is seen only as the group's timeout)."""
    if info.active:
        t = t.clone()
        all_reduce(t, contract)
        t /= info.world
    return t


def all_reduce(t: torch.Tensor, contract: Optional[str] = None) -> None:
    """dist.all_reduce (a sum, in place); with ``contract``, its failure is a CollectiveFailed naming it."""
    if contract is None:
        dist.all_reduce(t)
        return
    try:
        dist.all_reduce(t)
    except RuntimeError as err:  # gloo's timeout or a lost peer: DistBackendError, a RuntimeError
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CollectiveFailed(f"{contract} (the all-reduce failed after the process group's timeout or on a "
                               f"lost peer: {first})") from None


def all_sum(value: int, info: DistInfo) -> int:
    """An integer summed over ranks (counts such as skipped images)."""
    if not info.active:
        return value
    t = torch.tensor([value], dtype=torch.int64)
    dist.all_reduce(t)
    return int(t)


def agree(ok: bool, info: DistInfo) -> bool:
    """True only when ``ok`` holds on every rank: one rank's local decision made global."""
    if not info.active:
        return ok
    t = torch.tensor([1 if ok else 0], dtype=torch.int64)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t)


def batchnorm_mode(model: torch.nn.Module, device: torch.device, info: DistInfo) -> str:
    """How a run's BatchNorm layers see the batch: "none" (a single process, or no BatchNorm),
    "sync" (several CUDA ranks: converted to SyncBatchNorm, statistics over the global batch as one
    process would have them) or "per-rank" (several CPU ranks: PyTorch's SyncBatchNorm runs on GPUs
    only, so each rank normalises over its own slice and the run equals the single-process run in
    distribution, not number for number)."""
    has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if not (info.active and has_bn):
        return "none"
    return "sync" if device.type == "cuda" else "per-rank"
