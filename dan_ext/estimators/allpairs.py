"""Driver of the estimators that compare every pair of rows: "block" (the B-test), "unbiased"
(the U-statistic) and "biased" (the V-statistic). The formulas are in dan_ext/estimators/op.py and
../shared/notes; this file turns them into BLAS calls and the compiled pass of csrc/allpairs.h.

A *problem* is one pooled set of rows z = [source; target] (the whole batch for unbiased/biased,
one block for block). Per problem the rows are centred (distances do not change, the inner
products shrink, so |z_i|^2 + |z_j|^2 - 2 z_i.z_j loses less to cancellation) and then, a stripe of
rows at a time:
  G = z[stripe] z^T                       (BLAS: torch.matmul)
  compiled pass: per-row kernel sums over the own domain and the other, and the gradient
                 coefficients c_ij written over G in place
  grad[stripe] = 4 (rowsum(c) z[stripe] - c z)   (BLAS), only when a gradient is wanted.
So the forward computes the gradient too (saved for the backward, which only scales it): every
pair is visited once and the m kernels never exist as a matrix. The estimates d and their variance
are O(N m) sums of the per-row kernel sums, in float64.

Memory, per pooled row of width d: its centred copy in the work dtype (4 d bytes in float32, 8 d in
float64) and, when a gradient is wanted, its gradient (as much again), plus O(m) float64 sums;
beyond that, bounded scratch whatever d is: the float64 centring and the bandwidths' sums run a
chunk of columns at a time (CENTRE_BYTES), a stripe's inner products are at most STRIPE_ELEMS
values and its gradient temporaries at most STRIPE_BYTES. At n = 64 rows per domain and d = 10^6
(256 MB per float32 input) that is +0.4 GB without a gradient, +0.8 GB with one.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch

from dan_ext.linear import backend as _backend
from dan_ext._checks import default_bandwidths
from dan_ext._constants import DTYPE_CODES, num_tuples

# Inner products held at once (per stripe, over a batch of problems): 4M values, 16 MB in float32.
STRIPE_ELEMS = 1 << 22
# Bytes of rows a stripe's gradient step may hold in temporaries (about three [rows, d] tensors in the
# work dtype: rowsum * z, c z and their difference). Bounding the stripe by rows alone let d = 10^6
# hold every row's temporaries at once (n = 64 per domain: 512 MB each); 64 MB keeps them a small
# share of the O(N d) the pass must hold anyway, and stripes of thousands of values per row stay
# long enough for BLAS.
STRIPE_BYTES = 64 << 20
# Bytes of float64 scratch while the rows are centred, a chunk of columns at a time: centring all of
# them at once held two float64 copies of every row (16 d bytes per row: 2 GB at n = 64, d = 10^6).
CENTRE_BYTES = 32 << 20

BLOCK, UNBIASED, BIASED = "block", "unbiased", "biased"


class AllPairsResult(NamedTuple):
    loss: torch.Tensor               # 0-d float64
    per_kernel: torch.Tensor         # [m] float64
    covariance: Optional[torch.Tensor]   # [m, m] float64, or None
    gammas: torch.Tensor             # [m] float64
    grad_source: Optional[torch.Tensor]  # [n_s, d] in the work dtype, gradient of loss, or None
    grad_target: Optional[torch.Tensor]


def work_dtype(dtype: torch.dtype) -> torch.dtype:
    # Half inputs are computed in float32: a float16 Gram matrix would lose the distances.
    return torch.float64 if dtype == torch.float64 else torch.float32


def problems(estimator: str, source: torch.Tensor, target: torch.Tensor, block_size: int):
    """(z [batch, N, d], n_source): the pooled rows of each problem; rows past the last whole
    block are not used."""
    if estimator == BLOCK:
        B = block_size
        nb = min(source.shape[0], target.shape[0]) // B
        d = source.shape[1]
        s = source[:nb * B].reshape(nb, B, d)
        t = target[:nb * B].reshape(nb, B, d)
        return torch.cat([s, t], dim=1), B
    return torch.cat([source, target], dim=0).unsqueeze(0), source.shape[0]


def mean_sqdist(estimator: str, source: torch.Tensor, target: torch.Tensor, block_size: Optional[int]) -> torch.Tensor:
    """gbar, the mean squared distance over the pairs the estimator evaluates, float64, detached,
    in O(n d) from sums of squared deviations (sum_{i<j} |x_i - x_j|^2 = n sum_i |x_i - mean|^2).
    Every sum is over columns, so it runs a chunk of columns at a time: the float64 copies stay
    within CENTRE_BYTES whatever the width."""
    rows = source.shape[0] + target.shape[0]
    cols = max(1, CENTRE_BYTES // (8 * rows))
    d = source.shape[1]
    if cols >= d:  # one chunk: every column at once
        sums = _mean_sqdist_sums(estimator, source, target, block_size)
    else:
        sums = sum(_mean_sqdist_sums(estimator, source[:, c0:c0 + cols], target[:, c0:c0 + cols], block_size)
                   for c0 in range(0, d, cols))
    return _gbar(estimator, sums, source, target, block_size)


def _mean_sqdist_sums(estimator: str, source: torch.Tensor, target: torch.Tensor, block_size: Optional[int]):
    """The column sums behind gbar, float64: block, (within, cross_all, cross_paired); else the
    pooled rows' squared deviations."""
    s, t = source.detach().double(), target.detach().double()
    if estimator == BLOCK:
        B = block_size
        nb = min(s.shape[0], t.shape[0]) // B
        s = s[:nb * B].reshape(nb, B, -1)
        t = t[:nb * B].reshape(nb, B, -1)
        ms, mt = s.mean(dim=1, keepdim=True), t.mean(dim=1, keepdim=True)
        dev_s, dev_t = (s - ms).square().sum(), (t - mt).square().sum()
        within = B * dev_s + B * dev_t                                          # s-s and t-t pairs, i < j
        cross_all = B * dev_s + B * dev_t + B * B * (ms - mt).square().sum()    # every s_i, t_j
        cross_paired = (s - t).square().sum()                                  # the left-out s_i, t_i
        return torch.stack([within, cross_all, cross_paired])
    z = torch.cat([s, t], dim=0)
    return (z - z.mean(dim=0)).square().sum(dim=1)


def _gbar(estimator: str, sums: torch.Tensor, source, target, block_size) -> torch.Tensor:
    if estimator == BLOCK:
        B = block_size
        nb = min(source.shape[0], target.shape[0]) // B
        within, cross_all, cross_paired = sums
        return (within + cross_all - cross_paired) / (2 * B * (B - 1) * nb)
    return pooled_mean_sqdist(sums)


def pooled_mean_sqdist(norms: torch.Tensor) -> torch.Tensor:
    """The mean squared distance over the distinct pairs of N pooled rows, from their squared norms
    after centring (float64 [N] or [1, N]): 2 sum_i |z_i - mean|^2 / (N - 1)."""
    return 2.0 * norms.sum() / (norms.shape[-1] - 1)


def _weights(estimator: str, ns: int, nt: int, nb: int):
    """Weight of one ordered entry (i, j) of the pooled matrix, by region (source-source,
    target-target, cross), so that the estimate is sum_{i != j} w_ij k(D_ij) (+ a constant)."""
    if estimator == BLOCK:
        w = 1.0 / (ns * (ns - 1) * nb)   # ns = nt = B here
        return w, w, -w
    if estimator == UNBIASED:
        return 1.0 / (ns * (ns - 1)), 1.0 / (nt * (nt - 1)), -1.0 / (ns * nt)
    return 1.0 / (ns * ns), 1.0 / (nt * nt), -1.0 / (ns * nt)


def _stripe_rows(batch: int, N: int, row_bytes: int = 0) -> tuple:
    """(problems per chunk, rows per stripe) keeping chunk * rows * N <= STRIPE_ELEMS and, with
    ``row_bytes`` (what one row of the gradient's temporaries takes), chunk * rows * row_bytes <=
    STRIPE_BYTES."""
    most = STRIPE_ELEMS // N if row_bytes == 0 else min(STRIPE_ELEMS // N, STRIPE_BYTES // (3 * row_bytes))
    if N <= most:
        return max(1, most // N), N
    return 1, max(1, most)


def _centred_rows(estimator: str, source: torch.Tensor, target: torch.Tensor, block_size: int, wd: torch.dtype):
    """(zc [batch, N, d] in ``wd``, norms [batch, N] float64, n_source): each problem's pooled rows
    centred in float64, then stored in the work dtype, with their squared norms. A chunk of columns
    at a time (the mean and the centring are per column), so that the float64 scratch stays within
    CENTRE_BYTES whatever the width: only zc itself is O(N d)."""
    d = source.shape[1]
    z, n_src = problems(estimator, source[:, :1], target[:, :1], block_size)  # the shape, from one column
    batch, N = z.shape[0], z.shape[1]
    cols = max(1, CENTRE_BYTES // (8 * batch * N))
    if cols >= d:  # one chunk: every column at once
        return (*_centre(problems(estimator, source, target, block_size)[0], wd), n_src)
    zc = torch.empty((batch, N, d), dtype=wd, device=source.device)
    norms = torch.zeros((batch, N), dtype=torch.float64, device=source.device)
    for c0 in range(0, d, cols):
        c1 = min(d, c0 + cols)
        part, part_norms = _centre(problems(estimator, source[:, c0:c1], target[:, c0:c1], block_size)[0], wd)
        zc[:, :, c0:c1] = part
        norms += part_norms
    return zc, norms, n_src


def _centre(z: torch.Tensor, wd: torch.dtype):
    z64 = z.double()
    z64 = z64 - z64.mean(dim=1, keepdim=True)
    return z64.to(wd).contiguous(), z64.square().sum(dim=2).contiguous()


def _matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # One problem: a 2-D matmul (measured on our 2-core CPU: batched matmul of [1, 64, 256] by
    # [1, 256, 64] costs 0.029 ms alone but 1.4 ms when the other core is busy; torch.mm 0.03 ms).
    if a.shape[0] == 1:
        return torch.mm(a[0], b[0]).unsqueeze(0)
    return torch.matmul(a, b)


def _call_pass(G, row0, n_source, norms, paired, w, gammas, betas, same, cross, rowsum):
    """The compiled pass over one stripe; with ``rowsum`` (gradient wanted) it writes the
    coefficients over G."""
    coeff = rowsum is not None
    args = dict(dtype=DTYPE_CODES[G.dtype], gram=G.data_ptr(), coeff=G.data_ptr() if coeff else 0,
                batch=G.shape[0], rows=G.shape[1], cols=G.shape[2], row0=row0, n_source=n_source,
                norms=norms.data_ptr(), paired=paired, w_source=w[0], w_target=w[1], w_cross=w[2],
                gammas=gammas.data_ptr(), betas=betas.data_ptr(), m=gammas.shape[0], same=same.data_ptr(),
                cross=cross.data_ptr(), coeff_rowsum=rowsum.data_ptr() if coeff else 0)
    if G.device.type == "cuda":
        _backend._C.allpairs_cuda_stripe(device=G.device.index, stream=_backend._stream(G.device), **args)
    else:
        _backend._C.allpairs_cpu_stripe(num_threads=torch.get_num_threads(), **args)


def run(estimator: str, source: torch.Tensor, target: torch.Tensor, bandwidths: Optional[torch.Tensor],
        betas: torch.Tensor, kernel_mul: float, block_size: Optional[int], need_q: bool, need_source: bool,
        need_target: bool) -> AllPairsResult:
    """The estimate, d, Q, the bandwidths and (when asked) the gradients of the loss, for inputs
    already checked (2-D, same dtype/device/width, at least 2 rows each; block_size valid)."""
    wd = work_dtype(source.dtype)
    device = source.device
    ns, nt = source.shape[0], target.shape[0]
    m = betas.shape[0]
    betas = betas.to(device=device, dtype=torch.float64).contiguous()

    # no autograd graph, and no autocast: a bfloat16 Gram matrix would lose the distances
    with torch.no_grad(), torch.autocast(device.type, enabled=False):
        # centred rows in the work dtype [batch, N, d], their squared norms [batch, N] float64
        zc, norms, n_src = _centred_rows(estimator, source.detach(), target.detach(), block_size, wd)
        if bandwidths is not None:  # returned to the caller: a copy, never the caller's own tensor
            gammas = bandwidths.clone()
        elif estimator == BLOCK:  # the blocks' pairs, from each block's domain means
            gammas = default_bandwidths(mean_sqdist(estimator, source, target, block_size), m, kernel_mul)
        else:  # all pairs of the one pooled problem: from the norms just computed, not a second pass
            gammas = default_bandwidths(pooled_mean_sqdist(norms), m, kernel_mul)
        gammas = gammas.to(device=device, dtype=torch.float64).contiguous()
        batch, N, _ = zc.shape
        nb = batch if estimator == BLOCK else 1
        w = _weights(estimator, n_src, N - n_src, nb)
        paired = estimator == BLOCK
        want_grad = need_source or need_target
        same = _backend._empty((batch, N, m), torch.float64, device)
        cross = _backend._empty((batch, N, m), torch.float64, device)
        grad = torch.empty_like(zc) if want_grad else None
        chunk, rows = _stripe_rows(batch, N, zc.shape[2] * zc.element_size() if want_grad else 0)
        for b0 in range(0, batch, chunk):
            b1 = min(batch, b0 + chunk)
            zb = zc[b0:b1]
            for r0 in range(0, N, rows):
                r1 = min(N, r0 + rows)
                G = _matmul(zb[:, r0:r1], zb.transpose(1, 2))           # [bc, rows, N]
                # A stripe is either whole problems or part of one problem, so these views are dense.
                rowsum = _backend._empty((b1 - b0, r1 - r0), torch.float64, device) if want_grad else None
                _call_pass(G, r0, n_src, norms[b0:b1], paired, w, gammas, betas, same[b0:b1, r0:r1],
                           cross[b0:b1, r0:r1], rowsum)
                if want_grad:  # G now holds the coefficients c: dL/dz_i = 4 sum_j c_ij (z_i - z_j)
                    grad[b0:b1, r0:r1] = 4.0 * (rowsum.to(wd).unsqueeze(-1) * zb[:, r0:r1] - _matmul(G, zb))
        per_kernel, per_problem = _estimates(estimator, same, cross, n_src, N - n_src)
        covariance = _covariance(estimator, per_problem, same, cross, n_src, N - n_src,
                                 num_tuples(ns, nt)) if need_q else None
        loss = (per_kernel * betas).sum()
        gs = gt = None
        if want_grad:
            if estimator == BLOCK:
                used = batch * n_src
                if need_source:
                    gs = torch.zeros((ns, source.shape[1]), dtype=wd, device=device)
                    gs[:used] = grad[:, :n_src].reshape(used, -1)
                if need_target:
                    gt = torch.zeros((nt, target.shape[1]), dtype=wd, device=device)
                    gt[:used] = grad[:, n_src:].reshape(used, -1)
            else:
                gs = grad[0, :ns] if need_source else None
                gt = grad[0, ns:] if need_target else None
    return AllPairsResult(loss, per_kernel, covariance, gammas, gs, gt)


def _estimates(estimator, same, cross, ns, nt):
    """(d [m], the per-problem estimates [batch, m]) from the per-row kernel sums."""
    s_same, t_same = same[:, :ns].sum(dim=1), same[:, ns:].sum(dim=1)    # [batch, m]
    s_cross = cross[:, :ns].sum(dim=1)
    if estimator == BIASED:
        per_problem = (s_same + ns) / (ns * ns) + (t_same + nt) / (nt * nt) - 2.0 * s_cross / (ns * nt)
    elif estimator == UNBIASED:
        per_problem = s_same / (ns * (ns - 1)) + t_same / (nt * (nt - 1)) - 2.0 * s_cross / (ns * nt)
    else:  # block: the paired U-statistic of each block (ns = nt = B)
        per_problem = (s_same + t_same - 2.0 * s_cross) / (ns * (ns - 1))
    return per_problem.mean(dim=0), per_problem


def _covariance(estimator, per_problem, same, cross, ns, nt, P):
    """Q, scaled as the linear estimator's: the variance of beta^T d is beta^T Q beta / (2P)."""
    m = per_problem.shape[1]
    if estimator == BLOCK:
        nb = per_problem.shape[0]
        J = nb // 2
        if J == 0:
            return torch.full((m, m), math.nan, dtype=torch.float64, device=per_problem.device)
        h = per_problem[0:2 * J:2] - per_problem[1:2 * J:2]
        return (2.0 * P / nb) * 0.5 * (h.T @ h) / J
    # First-order (Hoeffding) variance of the two-sample statistic: 4/ns Cov(f_s) + 4/nt Cov(f_t),
    # f the per-row projections.
    f_s = same[0, :ns] / (ns - 1) - cross[0, :ns] / nt
    f_t = same[0, ns:] / (nt - 1) - cross[0, ns:] / ns
    cov = 4.0 / ns * _cov_rows(f_s) + 4.0 / nt * _cov_rows(f_t)
    return 2.0 * P * cov


def _cov_rows(f: torch.Tensor) -> torch.Tensor:
    c = f - f.mean(dim=0)
    return c.T @ c / (f.shape[0] - 1)
