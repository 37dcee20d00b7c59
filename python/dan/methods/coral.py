"""Deep CORAL (Sun and Saenko, "Deep CORAL: Correlation Alignment for Deep Domain Adaptation",
ECCV 2016 workshops), as a method of the trainer: the distance between the second-order
statistics of source and target features,

    CORAL = || C_S - C_T ||_F^2 / (4 d^2),   C = (X^T X - (1^T X)^T (1^T X) / n) / (n - 1),

on the last adapted layer (the logits; the paper aligns AlexNet's fc8), weighted by lambda
(--lam, default 1; the paper picks it so that the CORAL and classification losses end up of the
same size). Under torchrun the sums behind each covariance (n, 1^T X, X^T X) are all-reduced with
autograd (torch.distributed.nn), so every rank computes the global batch's CORAL, and DDP's
averaged gradients equal one process's.
"""
from __future__ import annotations

import math
from typing import Dict, Sequence

import torch

from dan.distributed import process_group
from dan.methods.penalty import Method, Penalty


class _SumOverRanks(torch.autograd.Function):
    """A sum over ranks that autograd follows: the gradient of each rank's input is the sum over
    ranks of the gradients of the output (every rank's loss depends on every rank's rows)."""

    @staticmethod
    def forward(ctx, x):
        import torch.distributed as dist

        out = x.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        import torch.distributed as dist

        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def covariance(x: torch.Tensor, info=None) -> torch.Tensor:
    """The unbiased covariance of the rows of x [n, d] (over every rank's rows under DDP).

    One pass of sums (what ranks can add up), taken about the detached mean: the covariance and
    its gradient do not depend on that shift, and without it X^T X - t t^T / n cancels
    catastrophically in float32 when the features share a large offset."""
    distributed = info is not None and info.active
    n = torch.tensor(float(x.shape[0]), dtype=x.dtype, device=x.device)
    centre = x.detach().sum(0)
    if distributed:
        import torch.distributed as dist

        dist.all_reduce(n)  # counts and the centre carry no gradient
        dist.all_reduce(centre)
    xc = x - centre / n
    total, outer = xc.sum(0), xc.T @ xc
    if distributed:
        total, outer = _SumOverRanks.apply(total), _SumOverRanks.apply(outer)
    return (outer - torch.outer(total, total) / n) / (n - 1)


# CORAL's memory grows with the square of the layer's width d (the logits: the class count), not
# with the batch: forward and backward hold about CORAL_MATRICES d x d matrices at once (measured:
# 10.5 at d = 2000, float32, peak RSS). 12,000 classes took over 3.5 GB and 100,000 died in the
# allocator asking for 40 GB. CORAL_MAX_BYTES, 2 GiB, lets d reach about 7,000 in float32 (the
# paper aligns fc8: 31 to 1,000 classes) and refuses what would crowd out the rest of the run.
CORAL_MATRICES = 11
CORAL_MAX_BYTES = 2 << 30


def check_width(d: int, dtype: torch.dtype) -> None:
    """Refuse, before allocating, a layer whose covariances would need more than CORAL_MAX_BYTES."""
    need = CORAL_MATRICES * d * d * torch.empty((), dtype=dtype).element_size()
    if need > CORAL_MAX_BYTES:
        raise ValueError(f"CORAL aligns the {d} x {d} covariance of a {d}-wide layer (the logits: one column per "
                         f"class), which would need about {need / 2**30:.1f} GiB; at most {CORAL_MAX_BYTES / 2**30:g} "
                         f"GiB is allowed (about {math.isqrt(CORAL_MAX_BYTES // (CORAL_MATRICES * 4))} columns in "
                         "float32): use fewer classes, or a method linear in the width (dan, ddc)")


def coral(source: torch.Tensor, target: torch.Tensor, info=None) -> torch.Tensor:
    """CORAL between two feature batches [n_s, d] and [n_t, d] (computed in float32 at least);
    d at most what CORAL_MAX_BYTES allows."""
    dtype = torch.promote_types(source.dtype, torch.float32)
    check_width(source.shape[1], dtype)
    cs, ct = covariance(source.to(dtype), info), covariance(target.to(dtype), info)
    d = source.shape[1]
    return (cs - ct).pow(2).sum() / (4 * d * d)


class CORAL(Penalty):
    def __init__(self, layers: Sequence[str]):
        super().__init__()
        self.layers = tuple(layers)

    def forward(self, source, target, progress=None) -> torch.Tensor:
        info = process_group()
        total = self._zero.clone()
        self._log = {}
        for name in self.layers:
            value = coral(source[name], target[name], info)
            total = total + value.float()
            self._log[f"coral_{name}"] = float(value.detach())  # the same on every rank
        return total

    def result_columns(self, last_row) -> Dict[str, object]:
        return {"final_coral": {k[6:]: v for k, v in last_row.items() if k.startswith("coral_")}}


METHOD = Method("coral", "Deep CORAL: covariance alignment of the logits (Sun and Saenko 2016)",
                lambda cfg, network: CORAL(network.adapted[-1:]))
