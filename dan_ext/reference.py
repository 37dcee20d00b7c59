"""The linear-time MK-MMD of DAN and joint MMD of JAN in plain PyTorch, written for clarity, not speed.

This is the specification the compiled kernels are tested against, the fallback when the
compiled module is missing, and the baseline of every benchmark. It materialises the
[P, 4, m] kernel values, which the fused kernels never do.
"""
from __future__ import annotations

import torch

from dan_ext._checks import check_inputs, default_bandwidths
from dan_ext._constants import DEFAULT_KERNEL_MUL, DEFAULT_KERNEL_NUM, MIN_BANDWIDTH, num_tuples  # not _backend: no _C here
from dan_ext.joint.checks import check_joint_inputs
from dan_ext.stats import JMMDStats, MKMMDStats


def quad_tuple_sqdists(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[P, 4] squared distances of the disjoint quad-tuples (s[2i], s[2i+1], t[2i], t[2i+1]),
    columns ``|a-b|^2, |c-e|^2, |a-e|^2, |b-c|^2`` for (a, b, c, e) the tuple. Rows past
    n = 2 * (min(n_s, n_t) // 2) are not used."""
    n = 2 * num_tuples(source.shape[0], target.shape[0])
    a, b = source[0:n:2], source[1:n:2]
    c, e = target[0:n:2], target[1:n:2]

    def sq(x, y):
        return ((x - y) ** 2).sum(dim=1)

    D = torch.stack([sq(a, b), sq(c, e), sq(a, e), sq(b, c)], dim=1)
    # An infinite distance counts as NaN, as in the kernels: Inf inputs give a NaN estimate.
    return torch.where(torch.isinf(D), torch.full_like(D, float("nan")), D)


def mkmmd_linear_stats(source, target, bandwidths=None, betas=None, *, kernel_num=DEFAULT_KERNEL_NUM,
                       kernel_mul=DEFAULT_KERNEL_MUL, covariance=True) -> MKMMDStats:
    """Reference for dan_ext.mkmmd_linear_stats: same arguments, same results."""
    chk = check_inputs(source, target, bandwidths, betas, kernel_num, kernel_mul)
    source, target = chk.source, chk.target
    if source.dtype in (torch.float16, torch.bfloat16):  # accumulate half inputs in float32
        source, target = source.float(), target.float()
    D = quad_tuple_sqdists(source, target)                       # [P, 4]
    gammas = chk.bandwidths.clone() if chk.bandwidths is not None else default_bandwidths(D.mean(), chk.m, kernel_mul)
    K = torch.exp(-D.unsqueeze(-1) / gammas.to(D.dtype))          # [P, 4, m]
    g = K[:, 0] + K[:, 1] - K[:, 2] - K[:, 3]                     # [P, m]
    per_kernel = g.mean(dim=0)                                     # d_u
    loss = (per_kernel * chk.betas.to(D.dtype)).sum().to(chk.source.dtype)
    tuples = g.shape[0]
    pairs = tuples // 2
    if covariance:
        if pairs > 0:
            h = (g[0:2 * pairs:2] - g[1:2 * pairs:2]).detach().double()
            Q = h.T @ h / pairs
        else:
            Q = torch.full((chk.m, chk.m), float("nan"), dtype=torch.float64, device=g.device)
    else:
        Q = None
    return MKMMDStats(loss, per_kernel.detach().double(), Q, gammas.detach(), tuples)


def mkmmd_linear(source, target, bandwidths=None, betas=None, *, kernel_num=DEFAULT_KERNEL_NUM,
                 kernel_mul=DEFAULT_KERNEL_MUL) -> torch.Tensor:
    """Reference for dan_ext.mkmmd_linear: the linear-time unbiased MK-MMD^2 estimate."""
    return mkmmd_linear_stats(source, target, bandwidths, betas, kernel_num=kernel_num, kernel_mul=kernel_mul,
                              covariance=False).loss


def mean_pair_sqdist(source, target) -> torch.Tensor:
    """Reference for dan_ext.mean_pair_sqdist: gbar of the default bandwidths, detached, float64."""
    chk = check_inputs(source, target, None, None, 1, 1.0)
    D = quad_tuple_sqdists(chk.source.detach().double(), chk.target.detach().double())
    return D.mean().clamp_min(MIN_BANDWIDTH)


def jmmd_linear_stats(sources, targets, bandwidths=None, betas=None, *, kernel_nums=None,
                      kernel_muls=None) -> JMMDStats:
    """Reference for dan_ext.jmmd_linear_stats, straight from JAN's formula with DAN's quad-tuples:
    per layer l the [P, 4] squared distances D_l of the tuples' pairs (ab, ce, ae, bc) and the kernel
    mixture k_l = sum_u beta_{l,u} exp(-D_l / gamma_{l,u}); the joint kernel K = prod_l k_l; per tuple
    g = K_ab + K_ce - K_ae - K_bc; JMMD^2 = mean over the tuples of g. Same arguments, same results."""
    chk = check_joint_inputs(sources, targets, bandwidths, betas, kernel_nums, kernel_muls)
    K, used = None, []
    for s, t, bw, beta, m, mul in zip(chk.sources, chk.targets, chk.bandwidths, chk.betas, chk.kernel_nums,
                                      chk.kernel_muls):
        if s.dtype in (torch.float16, torch.bfloat16):  # accumulate half inputs in float32
            s, t = s.float(), t.float()
        D = quad_tuple_sqdists(s, t)                                              # [P, 4]
        gammas = bw if bw is not None else default_bandwidths(D.mean(), m, mul)   # the layer's own gbar
        k = (beta.to(D.dtype) * torch.exp(-D.unsqueeze(-1) / gammas.to(D.dtype))).sum(dim=-1)  # [P, 4]
        K = k if K is None else K * k
        used.append(gammas.detach())
    g = K[:, 0] + K[:, 1] - K[:, 2] - K[:, 3]                                     # [P]
    return JMMDStats(g.mean().to(chk.sources[0].dtype), tuple(used), g.shape[0])


def jmmd_linear(sources, targets, bandwidths=None, betas=None, *, kernel_nums=None, kernel_muls=None) -> torch.Tensor:
    """Reference for dan_ext.jmmd_linear: the linear-time joint MMD^2 estimate of JAN."""
    return jmmd_linear_stats(sources, targets, bandwidths, betas, kernel_nums=kernel_nums,
                             kernel_muls=kernel_muls).loss
