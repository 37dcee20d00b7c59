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
- ``tllib_mkmmd``: Transfer-Learning-Library's MultipleKernelMaximumMeanDiscrepancy with its five
  GaussianKernel(alpha) kernels, written here from its published behaviour: linear=False is exactly
  5 x dan_ext.mkmmd(estimator="unbiased") + 2/(n-1), linear=True 5 x estimator="shifted" + 2/(n-1), at
  bandwidths 2 alpha mean(D) (passed explicitly; tests/ops/estimators/test_estimator_benchmarks.py).
- ``deepda_mmd``: DeepDA's (jindongwang/transferlearning) MMDLoss(kernel_type='rbf'), written here from its
  published behaviour: exactly kernel_num x dan_ext.mkmmd(estimator="biased") at dan_ext's default
  bandwidths. The peers of benchmarks/test_bench_estimators.py and benchmarks/estimator_table.py.
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


# ---------------------------------------------------------------------------------------------
# Materialised peers of the non-linear estimators (dan_ext.mkmmd(estimator=...)), written here from the
# published behaviour of the two libraries most DAN code in PyTorch uses, not copied from them.

TLLIB_ALPHAS = (0.125, 0.25, 0.5, 1.0, 2.0)  # tllib's DAN recipe: GaussianKernel(alpha=2**k), k = -3..1

_TLLIB_INDEX = {}


def _tllib_index_matrix(n: int, linear: bool, device, dtype) -> torch.Tensor:
    """The [2n, 2n] weight matrix tllib's MK-MMD multiplies the kernel matrix by (built once per batch
    size and kept, as tllib keeps it). Rows/columns 0..n-1 are source, n..2n-1 target.

    linear=False: 1/(n(n-1)) on the off-diagonal source-source and target-target entries, -1/n^2 on
    every source-target and target-source entry (the diagonal 0).
    linear=True: for each i, j = (i+1) mod n: 1/n at (s_i, s_j) and (t_i, t_j), -1/n at (s_i, t_j) and
    (s_j, t_i); all else 0."""
    key = (n, linear, torch.device(device), dtype)
    index = _TLLIB_INDEX.get(key)
    if index is None:
        index = torch.zeros(2 * n, 2 * n, dtype=torch.float64)
        if linear:
            i = torch.arange(n)
            j = (i + 1) % n
            index[i, j] = 1.0 / n
            index[i + n, j + n] = 1.0 / n
            index[i, j + n] = -1.0 / n
            index[j, i + n] = -1.0 / n
        else:
            within = torch.full((n, n), 1.0 / (n * (n - 1)), dtype=torch.float64).fill_diagonal_(0.0)
            index[:n, :n] = within
            index[n:, n:] = within
            index[:n, n:] = -1.0 / (n * n)
            index[n:, :n] = -1.0 / (n * n)
        index = _TLLIB_INDEX[key] = index.to(device=device, dtype=dtype)
    return index


def tllib_mkmmd(source: torch.Tensor, target: torch.Tensor, linear: bool = False, alphas=TLLIB_ALPHAS):
    """Transfer-Learning-Library's ``MultipleKernelMaximumMeanDiscrepancy`` with one ``GaussianKernel(alpha)``
    per alpha (its DAN recipe), reproduced from its documented behaviour, materialised as it does:

    - features z = cat(source, target), equal batch sizes n (tllib requires them equal);
    - each Gaussian kernel, as tllib's GaussianKernel module does on every call, forms the full
      [2n, 2n, d] difference tensor z_j - z_i, squares it and sums over d to get the squared distances
      D (so m kernels materialise m such tensors, each kept by autograd for the backward);
    - sigma^2 = alpha * mean(D) over the whole (2n)^2 matrix, zero diagonal included, detached;
      k = exp(-D / (2 sigma^2));
    - the kernels are summed (weight 1 each), multiplied by the index matrix (_tllib_index_matrix: the
      unbiased all-pairs weights for linear=False, the n cyclic pairs (i, i+1 mod n) for linear=True)
      and summed; loss = that sum + 2/(n-1), the constant tllib adds in both modes.

    So with gamma_u = 2 alpha_u mean(D) = 2 alpha_u (2n-1)/(2n) gbar (gbar = sum(D)/((2n)^2 - 2n), dan_ext's
    all-pairs rule): linear=False is sum_u d_u^unbiased(gamma) + 2/(n-1), linear=True is
    sum_u d_u^shifted(gamma) + 2/(n-1) (tests/ops/estimators/test_estimator_benchmarks.py checks both).
    O(m (2n)^2 d) time and memory."""
    n = source.shape[0]
    if target.shape[0] != n:
        raise ValueError(f"tllib's MK-MMD takes equal batch sizes, got {n} and {target.shape[0]}")
    z = torch.cat([source, target], dim=0)
    kernel_matrix = 0
    for alpha in alphas:
        D = ((z.unsqueeze(0) - z.unsqueeze(1)) ** 2).sum(2)
        sigma_square = alpha * torch.mean(D.detach())
        kernel_matrix = kernel_matrix + torch.exp(-D / (2 * sigma_square))
    index = _tllib_index_matrix(n, linear, z.device, z.dtype)
    return (kernel_matrix * index).sum() + 2.0 / float(n - 1)


def deepda_mmd(source: torch.Tensor, target: torch.Tensor, kernel_num: int = 5, kernel_mul: float = 2.0):
    """DeepDA's (jindongwang/transferlearning) ``MMDLoss(kernel_type='rbf')``, reproduced from its
    documented behaviour, materialised as it does:

    - total = cat(source, target), N rows; the [N, N, d] difference tensor of the two expanded copies of
      total, squared and summed over d: D (all N^2 squared distances);
    - bandwidth = sum(D) / (N^2 - N) (detached), divided by kernel_mul ** (kernel_num // 2);
    - K = sum_i exp(-D / (bandwidth * kernel_mul ** i)), i = 0..kernel_num-1;
    - loss = mean(XX) + mean(YY) - mean(XY) - mean(YX), blocks of K cut at the source batch size.

    That is the biased (V-statistic) all-pairs estimate summed over the kernels, with dan_ext's all-pairs
    bandwidths gamma_u = gbar * kernel_mul ** (u - kernel_num // 2), gbar = sum(D) / (N^2 - N): exactly
    kernel_num * dan_ext.mkmmd(source, target, estimator="biased", kernel_num=kernel_num, kernel_mul=kernel_mul)
    (uniform betas 1/kernel_num; tests/ops/estimators/test_estimator_benchmarks.py checks it). O((N^2) d) time and memory."""
    b = source.shape[0]
    total = torch.cat([source, target], dim=0)
    N, d = total.shape
    total0 = total.unsqueeze(0).expand(N, N, d)
    total1 = total.unsqueeze(1).expand(N, N, d)
    D = ((total0 - total1) ** 2).sum(2)
    bandwidth = torch.sum(D.detach()) / (N * N - N)
    bandwidth = bandwidth / (kernel_mul ** (kernel_num // 2))
    K = sum(torch.exp(-D / (bandwidth * kernel_mul ** i)) for i in range(kernel_num))
    XX, YY = K[:b, :b], K[b:, b:]
    XY, YX = K[:b, b:], K[b:, :b]
    return XX.mean() + YY.mean() - XY.mean() - YX.mean()
