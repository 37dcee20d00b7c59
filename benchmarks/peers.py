"""What other DAN users run, written here (or imported) for comparison. Named as what they are.

- ``quadratic_mkmmd``: the multi-kernel MMD most DAN code in PyTorch computes today
  (Transfer-Learning-Library / transferlearning style): a full (n_s+n_t)^2 Gaussian kernel matrix
  for each of m bandwidths around the mean pairwise distance, biased V-statistic. Not the same
  statistic as ours (quadratic-time, all pairs); compared for speed and memory only.
- ``pytorch_adapt_linear``: pytorch-adapt's ``MMDLoss`` in its linear mode with the same kernel
  scales, when the package is installed (it needs torchvision; skipped otherwise).
"""
from __future__ import annotations

import torch


def quadratic_mkmmd(source: torch.Tensor, target: torch.Tensor, kernel_num: int = 5, kernel_mul: float = 2.0):
    n_s = source.shape[0]
    total = torch.cat([source, target], dim=0)
    d2 = torch.cdist(total, total).pow(2)
    bw = d2.detach().sum() / (total.shape[0] ** 2 - total.shape[0])
    bw = bw / (kernel_mul ** (kernel_num // 2))
    kernels = sum(torch.exp(-d2 / (bw * kernel_mul ** i)) for i in range(kernel_num))
    xx = kernels[:n_s, :n_s].mean()
    yy = kernels[n_s:, n_s:].mean()
    xy = kernels[:n_s, n_s:].mean()
    return xx + yy - 2 * xy


def pytorch_adapt_linear():
    """pytorch-adapt's MMDLoss(mmd_type='linear') as a callable(source, target, kernel_num), or None."""
    try:
        from pytorch_adapt.layers import MMDLoss  # type: ignore
    except Exception:  # not installed, or its torchvision does not import beside this torch
        return None

    def run(source, target, kernel_num=5, kernel_mul=2.0):
        scales = [kernel_mul ** (u - kernel_num // 2) for u in range(kernel_num)]
        return MMDLoss(kernel_scales=torch.tensor(scales, device=source.device), mmd_type="linear")(source, target)

    return run
