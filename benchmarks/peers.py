"""What other DAN users run, written here (or imported) for comparison. Named as what they are.

- ``quadratic_mkmmd``: the multi-kernel MMD most DAN code in PyTorch computes today
  (Transfer-Learning-Library / transferlearning style): a full (n_s+n_t)^2 Gaussian kernel matrix
  for each of m bandwidths around the mean pairwise distance, biased V-statistic. Not the same
  statistic as ours (quadratic-time, all pairs); compared for speed and memory only.
- ``pytorch_adapt_linear``: pytorch-adapt's ``MMDLoss`` in its linear mode with the same kernel
  scales, when the package is installed (it needs torchvision; skipped otherwise).
- ``joint_quadratic_mmd``: the joint MMD of JAN as Transfer-Learning-Library's
  JointMultipleKernelMaximumMeanDiscrepancy computes it, written here from its description: per layer a
  full (n_s+n_t)^2 matrix of Gaussian kernel mixtures, the layers' matrices multiplied elementwise, and
  the quadratic-time unbiased statistic over all pairs. Not the same estimator as ours (all pairs,
  not disjoint quad-tuples); compared for speed and memory only.
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


def joint_quadratic_mmd(sources, targets, kernel_nums=(5, 1), kernel_mul: float = 2.0):
    """JMMD^2 over all pairs: K = prod_l k_l on the stacked batch z_l = [s_l; t_l], with k_l the mean of
    m_l Gaussian kernels exp(-D / gamma_u) whose bandwidths are the layer's mean squared distance times
    kernel_mul**(u - m_l//2) (detached); then mean(K_ss) + mean(K_tt) - 2 mean(K_st), the diagonals left
    out of the within-domain means. O((n_s+n_t)^2 (sum d_l + sum m_l)) time, (n_s+n_t)^2 memory per matrix."""
    n_s, n_t = sources[0].shape[0], targets[0].shape[0]
    K = None
    for s, t, m in zip(sources, targets, kernel_nums):
        z = torch.cat([s, t], dim=0)
        sq = (z * z).sum(dim=1)
        d2 = (sq[:, None] + sq[None, :] - 2.0 * (z @ z.T)).clamp_min(0)  # (2n)^2 squared distances, by matmul
        gbar = d2.detach().mean()
        k = sum(torch.exp(-d2 / (gbar * kernel_mul ** (u - m // 2))) for u in range(m)) / m
        K = k if K is None else K * k
    k_ss, k_tt, k_st = K[:n_s, :n_s], K[n_s:, n_s:], K[:n_s, n_s:]
    ss = (k_ss.sum() - k_ss.diagonal().sum()) / (n_s * (n_s - 1))
    tt = (k_tt.sum() - k_tt.diagonal().sum()) / (n_t * (n_t - 1))
    return ss + tt - 2 * k_st.mean()
