"""The five MK-MMD estimators of the docstring of dan_ext/estimators/op.py in plain PyTorch, written straight
from the spec's formulas for clarity, not speed.

This is the reference the fused kernels of the non-linear estimators are tested against. It
materialises every kernel value it uses: the [n, 4, m] tuple kernels of "shifted", the
[nb, B, B, m] block kernel matrices of "block" and the full [ns, ns, m], [nt, nt, m] and
[ns, nt, m] kernel matrices of "unbiased" and "biased" (O(n^2 m) memory). "linear" is
dan_ext.reference.mkmmd_linear_stats, unchanged.

Notation (the spec's): source S [ns, d], target T [nt, d]; k_u(x, y) = exp(-|x - y|^2 / gamma_u),
u < m; loss = sum_u beta_u d_u; P = min(ns, nt) // 2, reported as num_tuples by every estimator;
g_u(a, b, c, e) = k_u(a,b) + k_u(c,e) - k_u(a,e) - k_u(b,c). Derived bandwidths are
gamma_u = max(gbar, 1e-12) * kernel_mul ** (u - m // 2), gbar (detached) defined per estimator.

Conventions, as in dan_ext.reference: the loss and d are computed in the inputs' dtype (float16
and bfloat16 inputs in float32), the loss returned in the inputs' dtype, differentiable w.r.t.
source and target (never through the bandwidths); the terms Q is built from (tuple terms, block
statistics, row projections) are computed in that same dtype from the same kernel values, then
detached and taken to float64 for the outer products and covariances. An infinite squared
distance counts as NaN, as in reference.quad_tuple_sqdists.
"""
from __future__ import annotations

import math

import torch

from dan_ext import reference
from dan_ext._checks import check_inputs, check_integer, default_bandwidths
from dan_ext._constants import DEFAULT_KERNEL_MUL, DEFAULT_KERNEL_NUM, MIN_BANDWIDTH, num_tuples
# the names only: the formulas below are written out here, independently of the op's kernels
from dan_ext.estimators.registry import ESTIMATORS
from dan_ext.stats import MKMMDStats


_CHUNK_ELEMENTS = 1 << 24  # at most this many difference elements [rows, ny, d] alive at once


def default_block_size(n: int) -> int:
    """The block estimator's default block size for n = min(ns, nt) rows: max(2, isqrt(n))."""
    return max(2, math.isqrt(n))


# ----------------------------------------------------------------------------------------------
# argument checks


def _check_estimator(estimator) -> str:
    if not isinstance(estimator, str) or estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(repr(e) for e in ESTIMATORS)}, got {estimator!r}")
    return estimator


def _check_block_size_given(estimator: str, block_size) -> None:
    """block_size belongs to the block estimator only."""
    if block_size is not None and estimator != "block":
        raise ValueError(f"block_size is only taken by estimator='block', got block_size={block_size!r} with "
                         f"estimator={estimator!r}")


def _block_size(block_size, n: int) -> int:
    """B: the default max(2, isqrt(n)) when None, else an integer with 2 <= B <= n = min(ns, nt)."""
    if block_size is None:
        return default_block_size(n)
    try:
        B = check_integer(block_size, "block_size", 2)
    except ValueError:
        B = None
    if B is None or B > n:
        raise ValueError(f"block_size must be an integer with 2 <= block_size <= min(n_source, n_target) = {n}, "
                         f"got {block_size!r}")
    return B


def _compute_dtype(source: torch.Tensor, target: torch.Tensor):
    """The inputs as computed on: half dtypes accumulate in float32, as in dan_ext.reference."""
    if source.dtype in (torch.float16, torch.bfloat16):
        return source.float(), target.float()
    return source, target


# ----------------------------------------------------------------------------------------------
# squared distances


def _inf_as_nan(D: torch.Tensor) -> torch.Tensor:
    """An infinite squared distance counts as NaN (as reference.quad_tuple_sqdists)."""
    return torch.where(torch.isinf(D), torch.full_like(D, float("nan")), D)


def _rowwise_sqdists(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """[k] |x_i - y_i|^2 for paired rows."""
    return ((x - y) ** 2).sum(dim=-1)


def pairwise_sqdists(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """[nx, ny] D[i, j] = |x_i - y_j|^2 from the differences (so a repeated row gives exactly 0),
    an infinite one as NaN. Rows of x are taken in chunks only to bound memory."""
    ny, d = y.shape
    rows = max(1, _CHUNK_ELEMENTS // max(1, ny * d))
    parts = [((x[i:i + rows].unsqueeze(1) - y.unsqueeze(0)) ** 2).sum(dim=-1) for i in range(0, x.shape[0], rows)]
    return _inf_as_nan(torch.cat(parts, dim=0))


def _blockwise_sqdists(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """[nb, B, B] D[b, i, j] = |x_{bB+i} - y_{bB+j}|^2 for x, y [nb, B, d]; infinite as NaN."""
    return _inf_as_nan(((x.unsqueeze(2) - y.unsqueeze(1)) ** 2).sum(dim=-1))


def shifted_tuple_sqdists(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[n, 4] squared distances of the shifted tuples i = 0..n-1, n = min(ns, nt):
    (a, b, c, e) = (s_i, s_{(i+1) % n}, t_i, t_{(i+1) % n}); columns |a-b|^2, |c-e|^2, |a-e|^2, |b-c|^2."""
    n = min(source.shape[0], target.shape[0])
    a, c = source[:n], target[:n]
    nxt = [(i + 1) % n for i in range(n)]
    b, e = source[nxt], target[nxt]
    D = torch.stack([_rowwise_sqdists(a, b), _rowwise_sqdists(c, e), _rowwise_sqdists(a, e),
                     _rowwise_sqdists(b, c)], dim=1)
    return _inf_as_nan(D)


def block_sqdists(source: torch.Tensor, target: torch.Tensor, B: int):
    """(Dss, Dtt, Dst), each [nb, B, B], nb = min(ns, nt) // B: within block b (rows bB..bB+B-1 of each
    domain) Dss[b, i, j] = |s_i - s_j|^2, Dtt[b, i, j] = |t_i - t_j|^2, Dst[b, i, j] = |s_i - t_j|^2.
    Rows past nb * B are not used."""
    nb = min(source.shape[0], target.shape[0]) // B
    s = source[:nb * B].reshape(nb, B, source.shape[1])
    t = target[:nb * B].reshape(nb, B, target.shape[1])
    return _blockwise_sqdists(s, s), _blockwise_sqdists(t, t), _blockwise_sqdists(s, t)


def allpairs_sqdists(source: torch.Tensor, target: torch.Tensor):
    """(Dss [ns, ns], Dtt [nt, nt], Dst [ns, nt]): every squared distance of the batch."""
    return pairwise_sqdists(source, source), pairwise_sqdists(target, target), pairwise_sqdists(source, target)


# ----------------------------------------------------------------------------------------------
# gbar


def _mask(n: int, like: torch.Tensor, upper: bool = False) -> torch.Tensor:
    """[n, n] 0/1 weights in like's dtype: i != j, or i < j with upper. Weights, not boolean
    indexing, so that no shape depends on data (meta tensors, tracing)."""
    ones = torch.ones(n, n, dtype=like.dtype, device=like.device)
    return torch.triu(ones, diagonal=1) if upper else ones - torch.eye(n, dtype=like.dtype, device=like.device)


def _gbar_shifted(D: torch.Tensor) -> torch.Tensor:
    """gbar = mean of the 4n squared distances of the shifted tuples."""
    return D.mean()


def _gbar_block(Dss: torch.Tensor, Dtt: torch.Tensor, Dst: torch.Tensor) -> torch.Tensor:
    """gbar = mean over the pairs the blocks evaluate: per block s_i,s_j (i<j), t_i,t_j (i<j) and
    s_i,t_j (i != j), 2 B (B-1) pairs a block."""
    nb, B = Dss.shape[0], Dss.shape[1]
    i_lt_j = _mask(B, Dss, upper=True)
    total = (Dss * i_lt_j).sum() + (Dtt * i_lt_j).sum() + (Dst * _mask(B, Dst)).sum()
    return total / (nb * 2 * B * (B - 1))


def _gbar_allpairs(Dss: torch.Tensor, Dtt: torch.Tensor, Dst: torch.Tensor) -> torch.Tensor:
    """gbar = sum of the pooled [N, N] distance matrix / (N^2 - N), N = ns + nt (DeepDA's rule): the mean
    over the N (N - 1) / 2 distinct pairs of the pooled rows."""
    pooled = torch.cat([torch.cat([Dss, Dst], dim=1), torch.cat([Dst.T, Dtt], dim=1)], dim=0)
    N = pooled.shape[0]
    return pooled.sum() / (N * N - N)


# ----------------------------------------------------------------------------------------------
# the estimators, given the distances and the bandwidths


def _kernels(D: torch.Tensor, gammas: torch.Tensor) -> torch.Tensor:
    """[..., m] k_u = exp(-D / gamma_u)."""
    return torch.exp(-D.unsqueeze(-1) / gammas.to(D.dtype))


def _nan_cov(m: int, device) -> torch.Tensor:
    return torch.full((m, m), float("nan"), dtype=torch.float64, device=device)


def _shifted(D: torch.Tensor, gammas: torch.Tensor, covariance: bool):
    """d_u = (1/n) sum_i g_u(tuple i). Q: G = [g(tuple 0), g(tuple 2), ... (even i), g(tuple 1), g(tuple 3), ...
    (odd i)], h_j = G_{2j} - G_{2j+1} for j < n // 2, Q = mean_j h_j h_j^T; NaN when n < 4."""
    K = _kernels(D, gammas)                                   # [n, 4, m]
    g = K[:, 0] + K[:, 1] - K[:, 2] - K[:, 3]                 # [n, m], g(tuple i)
    d = g.mean(dim=0)
    n, m = g.shape
    Q = None
    if covariance:
        if n < 4:
            Q = _nan_cov(m, g.device)
        else:
            G = torch.cat([g[0::2], g[1::2]], dim=0).detach().double()
            J = n // 2
            h = G[0:2 * J:2] - G[1:2 * J:2]
            Q = h.T @ h / J
    return d, Q


def _block(Dss, Dtt, Dst, gammas: torch.Tensor, P: int, covariance: bool):
    """eta_{b,u} = 1/(B(B-1)) sum_{i != j in block b} [k_u(s_i,s_j) + k_u(t_i,t_j) - k_u(s_i,t_j) - k_u(s_j,t_i)];
    d_u = (1/nb) sum_b eta_{b,u}. Q = 2P * (1/nb) * (1/2) * (1/J) sum_{j<J} h_j h_j^T, h_j = eta_{2j} - eta_{2j+1},
    J = nb // 2; NaN when J == 0."""
    nb, B = Dss.shape[0], Dss.shape[1]
    Kss, Ktt, Kst = _kernels(Dss, gammas), _kernels(Dtt, gammas), _kernels(Dst, gammas)  # [nb, B, B, m]
    # term[b, i, j] = k(s_i,s_j) + k(t_i,t_j) - k(s_i,t_j) - k(s_j,t_i); Kst[b, j, i] = k(s_j, t_i)
    term = Kss + Ktt - Kst - Kst.transpose(1, 2)                # [nb, B, B, m]
    i_ne_j = _mask(B, term).unsqueeze(-1)
    eta = (term * i_ne_j).sum(dim=(1, 2)) / (B * (B - 1))     # [nb, m], summed over the ordered i != j
    d = eta.mean(dim=0)
    m = eta.shape[1]
    Q = None
    if covariance:
        J = nb // 2
        if J == 0:
            Q = _nan_cov(m, eta.device)
        else:
            e = eta.detach().double()
            h = e[0:2 * J:2] - e[1:2 * J:2]
            Q = 2 * P * (1.0 / nb) * 0.5 * (h.T @ h / J)
    return d, Q


def _offdiag_row_sums(K: torch.Tensor) -> torch.Tensor:
    """[n, m] sum_{j != i} K[i, j] for K [n, n, m]."""
    n = K.shape[0]
    i_ne_j = ~torch.eye(n, dtype=torch.bool, device=K.device)
    return torch.where(i_ne_j.unsqueeze(-1), K, torch.zeros_like(K)).sum(dim=1)


def _sample_cov(f: torch.Tensor) -> torch.Tensor:
    """[m, m] sample covariance over the rows of f [n, m], divisor n - 1."""
    c = f - f.mean(dim=0)
    return c.T @ c / (f.shape[0] - 1)


def _hoeffding_cov(Kss, Ktt, Kst, P: int) -> torch.Tensor:
    """Q = 2P * C, C = (4/ns) cov(f_s) + (4/nt) cov(f_t), with for source row i and target row j
    f_s,u(i) = 1/(ns-1) sum_{j != i} k_u(s_i, s_j) - 1/nt sum_j k_u(s_i, t_j),
    f_t,u(j) = 1/(nt-1) sum_{j' != j} k_u(t_j, t_j') - 1/ns sum_i k_u(s_i, t_j)."""
    ns, nt = Kss.shape[0], Ktt.shape[0]
    f_s = _offdiag_row_sums(Kss) / (ns - 1) - Kst.sum(dim=1) / nt     # [ns, m]
    f_t = _offdiag_row_sums(Ktt) / (nt - 1) - Kst.sum(dim=0) / ns     # [nt, m]
    f_s, f_t = f_s.detach().double(), f_t.detach().double()
    C = (4.0 / ns) * _sample_cov(f_s) + (4.0 / nt) * _sample_cov(f_t)
    return 2 * P * C


def _unbiased(Dss, Dtt, Dst, gammas: torch.Tensor, P: int, covariance: bool):
    """d_u = 1/(ns(ns-1)) sum_{i != j} k_u(s_i,s_j) + 1/(nt(nt-1)) sum_{i != j} k_u(t_i,t_j)
    - 2/(ns nt) sum_{i,j} k_u(s_i,t_j). Q: the Hoeffding covariance (_hoeffding_cov)."""
    ns, nt = Dss.shape[0], Dtt.shape[0]
    Kss, Ktt, Kst = _kernels(Dss, gammas), _kernels(Dtt, gammas), _kernels(Dst, gammas)
    ss, tt = _mask(ns, Kss).unsqueeze(-1), _mask(nt, Ktt).unsqueeze(-1)
    d = ((Kss * ss).sum(dim=(0, 1)) / (ns * (ns - 1)) + (Ktt * tt).sum(dim=(0, 1)) / (nt * (nt - 1))
         - 2.0 * Kst.sum(dim=(0, 1)) / (ns * nt))
    return d, (_hoeffding_cov(Kss, Ktt, Kst, P) if covariance else None)


def _biased(Dss, Dtt, Dst, gammas: torch.Tensor, P: int, covariance: bool):
    """d_u = 1/ns^2 sum_{i,j} k_u(s_i,s_j) + 1/nt^2 sum_{i,j} k_u(t_i,t_j) - 2/(ns nt) sum_{i,j} k_u(s_i,t_j)
    (the diagonals count, k = 1 there). Q as the unbiased estimator's (same f_s, f_t)."""
    ns, nt = Dss.shape[0], Dtt.shape[0]
    Kss, Ktt, Kst = _kernels(Dss, gammas), _kernels(Dtt, gammas), _kernels(Dst, gammas)
    d = (Kss.sum(dim=(0, 1)) / (ns * ns) + Ktt.sum(dim=(0, 1)) / (nt * nt)
         - 2.0 * Kst.sum(dim=(0, 1)) / (ns * nt))
    return d, (_hoeffding_cov(Kss, Ktt, Kst, P) if covariance else None)


# ----------------------------------------------------------------------------------------------
# public


def _distances_and_gbar(estimator: str, source: torch.Tensor, target: torch.Tensor, B):
    """(the estimator's squared distances, gbar from them)."""
    if estimator == "shifted":
        D = shifted_tuple_sqdists(source, target)
        return (D,), _gbar_shifted(D)
    if estimator == "block":
        Ds = block_sqdists(source, target, B)
        return Ds, _gbar_block(*Ds)
    Ds = allpairs_sqdists(source, target)          # unbiased, biased
    return Ds, _gbar_allpairs(*Ds)


def mkmmd_stats(source, target, bandwidths=None, betas=None, *, estimator="linear", block_size=None,
                kernel_num=DEFAULT_KERNEL_NUM, kernel_mul=DEFAULT_KERNEL_MUL, covariance=True) -> MKMMDStats:
    """MKMMDStats(loss = sum_u beta_u d_u, per_kernel d [m] float64, covariance Q [m, m] float64 (None when
    covariance=False), bandwidths [m] float64, num_tuples P = min(ns, nt) // 2) of the named estimator,
    each per the docstring of dan_ext/estimators/op.py:

    linear    dan_ext.reference.mkmmd_linear_stats.
    shifted   d_u = (1/n) sum_{i<n} g_u(s_i, s_{(i+1)%n}, t_i, t_{(i+1)%n}), n = min(ns, nt).
    block     d_u = (1/nb) sum_b eta_{b,u}, eta the paired U-statistic of block b of block_size B rows
              (default max(2, isqrt(min(ns, nt))), nb = min(ns, nt) // B).
    unbiased  the two-sample U-statistic over all rows.
    biased    the V-statistic over all rows (diagonals count).

    bandwidths, when not given: gamma_u = max(gbar, 1e-12) * kernel_mul ** (u - m // 2), gbar the estimator's
    mean squared distance (mean_sqdist). The loss is differentiable w.r.t. source and target."""
    estimator = _check_estimator(estimator)
    _check_block_size_given(estimator, block_size)
    if estimator == "linear":
        return reference.mkmmd_linear_stats(source, target, bandwidths, betas, kernel_num=kernel_num,
                                            kernel_mul=kernel_mul, covariance=covariance)
    chk = check_inputs(source, target, bandwidths, betas, kernel_num, kernel_mul)
    ns, nt = chk.source.shape[0], chk.target.shape[0]
    B = _block_size(block_size, min(ns, nt)) if estimator == "block" else None
    P = num_tuples(ns, nt)
    s, t = _compute_dtype(chk.source, chk.target)
    Ds, gbar = _distances_and_gbar(estimator, s, t, B)
    gammas = chk.bandwidths.clone() if chk.bandwidths is not None else default_bandwidths(gbar, chk.m, kernel_mul)
    if estimator == "shifted":
        d, Q = _shifted(Ds[0], gammas, covariance)
    elif estimator == "block":
        d, Q = _block(*Ds, gammas, P, covariance)
    elif estimator == "unbiased":
        d, Q = _unbiased(*Ds, gammas, P, covariance)
    else:
        d, Q = _biased(*Ds, gammas, P, covariance)
    loss = (d * chk.betas.to(d.dtype)).sum().to(chk.source.dtype)
    return MKMMDStats(loss, d.detach().double(), Q, gammas.detach(), P)


def mkmmd(source, target, bandwidths=None, betas=None, *, estimator="linear", block_size=None,
          kernel_num=DEFAULT_KERNEL_NUM, kernel_mul=DEFAULT_KERNEL_MUL) -> torch.Tensor:
    """The named estimator's MK-MMD^2 estimate sum_u beta_u d_u (mkmmd_stats(...).loss), without Q."""
    return mkmmd_stats(source, target, bandwidths, betas, estimator=estimator, block_size=block_size,
                       kernel_num=kernel_num, kernel_mul=kernel_mul, covariance=False).loss


def mean_sqdist(source, target, *, estimator="linear", block_size=None) -> torch.Tensor:
    """max(gbar, 1e-12), 0-d float64, detached, computed in float64: the mean squared distance the named
    estimator derives its bandwidths from.

    linear    reference.mean_pair_sqdist: the 4P distances of the disjoint quad-tuples.
    shifted   the 4n distances |a-b|^2, |c-e|^2, |a-e|^2, |b-c|^2 of the n shifted tuples.
    block     per block the pairs s_i,s_j (i<j), t_i,t_j (i<j), s_i,t_j (i != j): 2 B (B-1) nb pairs.
    unbiased, biased
              sum of the pooled [N, N] distance matrix / (N^2 - N), N = ns + nt."""
    estimator = _check_estimator(estimator)
    _check_block_size_given(estimator, block_size)
    if estimator == "linear":
        return reference.mean_pair_sqdist(source, target)
    chk = check_inputs(source, target, None, None, 1, 1.0)
    ns, nt = chk.source.shape[0], chk.target.shape[0]
    B = _block_size(block_size, min(ns, nt)) if estimator == "block" else None
    _, gbar = _distances_and_gbar(estimator, chk.source.detach().double(), chk.target.detach().double(), B)
    return gbar.clamp_min(MIN_BANDWIDTH)
