"""Every MK-MMD estimator DAN's users meet, with one signature: ``dan_ext.mkmmd`` and
``dan_ext.mkmmd_stats``.

For source rows s_i (n_s of them), target rows t_j (n_t), kernels k_u(x, y) = exp(-|x - y|^2 / gamma_u)
and weights beta (default 1/m), every estimator returns sum_u beta_u d_u, with d_u:

linear    the paper's (Long et al. 2015), disjoint quad-tuples, n = 2P rows, P = min(n_s, n_t) // 2:
          d_u = (1/P) sum_i g_u(s_2i, s_2i+1, t_2i, t_2i+1),
          g_u(a, b, c, e) = k_u(a, b) + k_u(c, e) - k_u(a, e) - k_u(b, c).      O(n d)
shifted   Transfer-Learning-Library's DAN recipe (``linear=True``): n = min(n_s, n_t) overlapping
          cyclic tuples, d_u = (1/n) sum_i g_u(s_i, s_i+1, t_i, t_i+1), indices mod n.     O(n d)
block     the B-test (Zaremba, Gretton, Blaschko, NeurIPS 2013): nb = min(n_s, n_t) // B blocks of B rows
          of each domain, d_u = (1/nb) sum_b eta_bu with eta_bu the paired U-statistic of block b,
          1/(B(B-1)) sum_{i != j in b} g_u(s_i, s_j, t_i, t_j). B = 2 is exactly linear. O(n B d)
unbiased  all pairs, the two-sample U-statistic (tllib's class default, less its constant 2/(n-1)):
          d_u = 1/(n_s(n_s-1)) sum_{i != j} k_u(s_i, s_j) + 1/(n_t(n_t-1)) sum_{i != j} k_u(t_i, t_j)
                - 2/(n_s n_t) sum_{i, j} k_u(s_i, t_j).                                    O(n^2 d)
biased    all pairs, the V-statistic (DeepDA's MMDLoss): the same with 1/n_s^2, 1/n_t^2 and the
          diagonal terms (k = 1) included; at least 0, biased upward by O(1/n).            O(n^2 d)

Default bandwidths: gamma_u = gbar * kernel_mul**(u - m//2), gbar the mean squared distance over the
pairs the estimator evaluates (detached): linear and shifted, their tuples' four pairs; block, the
pairs inside the blocks; unbiased and biased, all distinct pairs of the pooled n_s + n_t rows (DeepDA's
rule; tllib also averages the zero self-distances, a factor (N-1)/N smaller).

Variance. ``mkmmd_stats`` returns d and Q scaled alike for every estimator: beta^T Q beta / (2P)
estimates the variance of the estimate, P = min(n_s, n_t) // 2 (what the beta QP and the two-sample
test use). linear: the paper's Q from pairs of independent tuples. shifted: the same construction on
its even and odd tuples (paired so that the two tuples of a pair share no row, for n >= 4), which
bounds its variance from above (a conservative test). block: from pairs of independent blocks.
(variance_dof counts the differences behind each of these three.) unbiased and biased: the
first-order (Hoeffding) variance 4/n_s Cov(f_s) + 4/n_t Cov(f_t) of the per-row projections
f_s(i) = mean_{j != i} k(s_i, s_j) - mean_j k(s_i, t_j) (and f_t alike); valid when the
distributions differ, near 0 when they do not (the statistic is degenerate there: mmd_test uses a
permutation null for these two).

The all-pairs estimators (block, unbiased, biased) run one compiled pass over each stripe of BLAS
inner products (dan_ext/estimators/allpairs.py, csrc/allpairs.h): every kernel from one distance, forward
and gradient in one visit of each pair. Memory: a centred copy of each row in the work dtype (and
its gradient when one is wanted), plus scratch bounded in bytes whatever the width. Their distances come from
|x|^2 + |y|^2 - 2 x.y of the centred rows in the inputs' precision (float32 for float32 and half
inputs, outside any autocast): in float32 a squared distance carries an absolute error near 1e-7
times the squared norm of the centred rows, which matters only for bandwidths far below the mean
squared distance (the default bandwidths are within 4x of it).
"""
from __future__ import annotations

import functools
import math
import numbers
from typing import Optional

import torch
from torch import Tensor

from dan_ext.estimators import allpairs as _allpairs
from dan_ext._checks import check_bool, check_inputs
from dan_ext._dual_op import DualOp
from dan_ext._constants import DEFAULT_KERNEL_MUL, DEFAULT_KERNEL_NUM, MIN_BANDWIDTH, num_tuples
from dan_ext.linear.op import _differentiable_grads, _use_reference, mean_pair_sqdist, mkmmd_linear, mkmmd_linear_stats
# ALL_PAIRS, ESTIMATORS and default_block_size are also this module's names (dan_ext.estimators.op)
from dan_ext.estimators.registry import (ALL_PAIRS, BY_NAME, ESTIMATORS, REGISTRY,  # noqa: F401
                                       default_block_size, get_estimator)
from dan_ext.stats import MKMMDStats

ALLPAIRS_CUDA_MAX_KERNELS = 32  # csrc/allpairs.h kAllPairsCudaMaxKernels (tests/ops/linear/test_op_contract.py)


def variance_dof(estimator: str, n: int, block_size: Optional[int] = None) -> int:
    """J, the independent differences behind the variance estimate Q of ``estimator`` on n =
    min(n_s, n_t) rows per domain (0: Q is NaN): linear, pairs of quad-tuples, (n // 2) // 2; shifted,
    pairs of disjoint tuples, n // 2 from n = 4 on; block, pairs of blocks, (n // B) // 2. unbiased and
    biased have no such count (their Q is the Hoeffding variance). Each rule is its estimator's
    record (registry.py).

    >>> from dan_ext import variance_dof
    >>> variance_dof("linear", 32), variance_dof("block", 32, block_size=4), variance_dof("shifted", 32)
    (8, 4, 16)
    """
    est = get_estimator(estimator)
    if est.variance_dof is None:
        raise ValueError(f"estimator {estimator!r} has no count of independent differences (its Q is the Hoeffding "
                         "variance; its test uses permutations)")
    return est.variance_dof(n, block_size)


def min_rows_for_variance(estimator: str, block_size: Optional[int] = None) -> int:
    """The fewest rows per domain (min(n_s, n_t)) from which ``estimator`` gives a finite variance
    estimate Q (what beta's QP and the two-sample test need): 2 for unbiased and biased (the
    Hoeffding variance), else the first n with variance_dof >= 1 (derived from it, not restated).
    ``block_size`` is checked first: one below 2 would make the search below never end."""
    estimator, block_size = check_estimator(estimator, block_size)
    if get_estimator(estimator).variance_dof is None:
        return 2
    n = 2
    while variance_dof(estimator, n, block_size) < 1:
        n += 1
    return n


def check_estimator(estimator, block_size, n_source: Optional[int] = None, n_target: Optional[int] = None):
    """(estimator, block size or None): refuses unknown names, and a block size that is not an
    integer in [2, min(n_s, n_t)] or is given for another estimator. Without row counts only the
    name and type are checked (mmd_test, before it splits its rows)."""
    if not get_estimator(estimator).takes_block_size:
        if block_size is not None:
            with_blocks = ", ".join(e.name for e in REGISTRY if e.takes_block_size)
            raise ValueError(f"block_size applies only to estimator={with_blocks!r}, got block_size={block_size!r} with "
                             f"estimator={estimator!r}")
        return estimator, None
    if block_size is not None:
        if isinstance(block_size, bool) or not isinstance(block_size, numbers.Integral):
            raise TypeError(f"block_size must be an int (rows per domain in a block), got {block_size!r}")
        block_size = int(block_size)
    if n_source is None:
        if block_size is not None and block_size < 2:
            raise ValueError(f"block_size must be at least 2, got {block_size}")
        return estimator, block_size
    n = min(n_source, n_target)
    if block_size is None:
        return estimator, default_block_size(n)
    if not 2 <= block_size <= n:
        raise ValueError(f"block_size must be between 2 and min(n_source, n_target) = {n}, got {block_size}")
    return estimator, block_size


def _route(estimator) -> Optional[str]:
    """How the op computes ``estimator`` (its record's route); None for an unknown name, which
    check_estimator then refuses in one line."""
    est = BY_NAME.get(estimator) if isinstance(estimator, str) else None
    return est.route if est is not None else None


# ---------------------------------------------------------------------------------------------
# shifted: the linear kernels on the overlapping tuples, gathered even tuples first, odd second, so
# that the kernels' Q (from consecutive pairs of tuples) pairs disjoint tuples.

_SHIFT_ROWS = {}


def _shifted_rows(n: int, device: torch.device) -> Tensor:
    key = (n, device)
    rows = _SHIFT_ROWS.get(key)
    if rows is None:
        order = torch.cat([torch.arange(0, n, 2), torch.arange(1, n, 2)])
        rows = torch.stack([order, (order + 1) % n], dim=1).reshape(-1).to(device)
        _SHIFT_ROWS[key] = rows
    return rows


def _shifted_inputs(source: Tensor, target: Tensor):
    n = min(source.shape[0], target.shape[0])
    rows = _shifted_rows(n, source.device)
    return source.index_select(0, rows), target.index_select(0, rows), n


# ---------------------------------------------------------------------------------------------
# block, unbiased, biased: the driver computes the gradient in the forward; backward scales it.

def _to(grad: Optional[Tensor], like: Tensor) -> Tensor:
    return like.new_empty(0) if grad is None else grad.to(like.dtype)


class _AllPairs:
    """The op's definition (dan_ext/_dual_op.py). The compiled driver computes the gradient in the
    forward (one more BLAS pass over the pairs), so the backward only scales it; the caller asks
    for it only where a gradient will be taken."""
    name = "dan_ext::mkmmd_allpairs"
    schema = ("(Tensor source, Tensor target, Tensor? bandwidths, Tensor betas, float kernel_mul, str estimator, "
              "int block_size, bool need_source, bool need_target, bool need_q=True) "
              "-> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)")
    PER_KERNEL, COVARIANCE, GAMMAS, GRAD_SOURCE, GRAD_TARGET = range(5)  # the parts

    @staticmethod
    def run(source, target, bandwidths, betas, kernel_mul, estimator, block_size, need_source, need_target,
            need_q=True):
        r = _allpairs.run(estimator, source, target, bandwidths, betas, kernel_mul, block_size or None, need_q,
                          need_source, need_target)
        cov = r.covariance if r.covariance is not None else r.per_kernel.new_empty(0)
        return r.loss.to(source.dtype), (r.per_kernel, cov, r.gammas, _to(r.grad_source, source),
                                         _to(r.grad_target, target)), None

    @staticmethod
    def parts(outputs, _info):
        return outputs

    @staticmethod
    def fake(source, target, bandwidths, betas, kernel_mul, estimator, block_size, need_source, need_target,
             need_q=True):
        m = betas.shape[0]
        gs = torch.empty_like(source, memory_format=torch.contiguous_format) if need_source else source.new_empty(0)
        gt = torch.empty_like(target, memory_format=torch.contiguous_format) if need_target else target.new_empty(0)
        cov = betas.new_empty(m, m) if need_q else betas.new_empty(0)
        return source.new_empty(()), betas.new_empty(m), cov, betas.new_empty(m), gs, gt

    @staticmethod
    def saved(args):
        source, target, _, betas, _, estimator, block_size = args[:7]
        return (source, target, betas), (estimator, block_size or None)

    @staticmethod
    def backward(grad_loss, saved, extra, needs, found):
        source, target, betas = saved
        need_s, need_t = needs[0], needs[1]
        if torch.is_grad_enabled():  # create_graph=True: the gradient must be differentiable
            from dan_ext.estimators import reference as reference_estimators  # the all-pairs reference materialises: loaded only here

            estimator, block_size = extra
            loss_fn = functools.partial(reference_estimators.mkmmd, estimator=estimator, block_size=block_size)
            gs, gt = _differentiable_grads(grad_loss, source, target, found.part(_AllPairs.GAMMAS), betas, need_s,
                                           need_t, loss_fn)
        else:
            gs = found.part(_AllPairs.GRAD_SOURCE)
            gt = found.part(_AllPairs.GRAD_TARGET)
            gs = grad_loss.to(gs.dtype) * gs if need_s else None
            gt = grad_loss.to(gt.dtype) * gt if need_t else None
        return gs, gt, None, None, None, None, None, None, None, None


_ALLPAIRS = DualOp(_AllPairs)


def _all_pairs(chk, kernel_mul, estimator, block_size, need_q):
    """(loss, per_kernel, covariance or None, gammas)."""
    source, target = chk.source, chk.target
    if source.device.type == "cuda" and chk.m > ALLPAIRS_CUDA_MAX_KERNELS:
        raise ValueError(f"the CUDA kernels of estimator={estimator!r} take at most {ALLPAIRS_CUDA_MAX_KERNELS} kernels "
                         f"(bandwidths or kernel_num), got {chk.m}")
    # the gradient (a second BLAS pass) is computed only where one will be taken
    grad_on = torch.is_grad_enabled()
    loss, found = _ALLPAIRS(source, target, chk.bandwidths, chk.betas, float(kernel_mul), estimator,
                            int(block_size or 0), grad_on and source.requires_grad, grad_on and target.requires_grad,
                            bool(need_q))
    return (loss, found.part(_AllPairs.PER_KERNEL), found.part(_AllPairs.COVARIANCE) if need_q else None,
            found.part(_AllPairs.GAMMAS))


def mkmmd_stats(source: Tensor, target: Tensor, bandwidths=None, betas=None, *, estimator: str = "linear",
                block_size: Optional[int] = None, kernel_num: int = DEFAULT_KERNEL_NUM,
                kernel_mul: float = DEFAULT_KERNEL_MUL, covariance: bool = True) -> MKMMDStats:
    """The MK-MMD^2 estimate of ``estimator`` (see the module docstring for each formula) with the
    per-kernel estimates d, Q (scaled so that beta^T Q beta / (2P) is the estimate's variance; NaN
    where too few independent terms: linear P < 2, shifted n < 4, block fewer than 2 blocks), the
    bandwidths used and P = min(n_s, n_t) // 2. Arguments as :func:`mkmmd`; ``covariance``
    (True or False): whether to compute Q."""
    covariance = check_bool(covariance, "covariance")
    if _route(estimator) == "linear" and block_size is None:  # the paper's op, which checks its own arguments
        return mkmmd_linear_stats(source, target, bandwidths, betas, kernel_num=kernel_num, kernel_mul=kernel_mul,
                                  covariance=covariance)
    chk = check_inputs(source, target, bandwidths, betas, kernel_num, kernel_mul)
    estimator, block_size = check_estimator(estimator, block_size, source.shape[0], target.shape[0])
    P = num_tuples(source.shape[0], target.shape[0])
    if _route(estimator) == "shifted":
        s, t, n = _shifted_inputs(source, target)
        st = mkmmd_linear_stats(s, t, bandwidths, betas, kernel_num=kernel_num, kernel_mul=kernel_mul,
                                covariance=covariance)
        cov = st.covariance
        if cov is not None and n < 4:  # the even/odd pairs share rows below 4 tuples
            cov = torch.full_like(cov, math.nan)
        return MKMMDStats(st.loss, st.per_kernel, cov, st.bandwidths, P)
    if _use_reference(chk.source.device):
        from dan_ext.estimators import reference as reference_estimators

        return reference_estimators.mkmmd_stats(source, target, bandwidths, betas, estimator=estimator,
                                                block_size=block_size, kernel_num=kernel_num,
                                                kernel_mul=kernel_mul, covariance=covariance)
    loss, d, cov, gammas = _all_pairs(chk, kernel_mul, estimator, block_size, covariance)
    return MKMMDStats(loss, d, cov, gammas, P)


def mkmmd(source: Tensor, target: Tensor, bandwidths=None, betas=None, *, estimator: str = "linear",
          block_size: Optional[int] = None, kernel_num: int = DEFAULT_KERNEL_NUM,
          kernel_mul: float = DEFAULT_KERNEL_MUL) -> Tensor:
    """MK-MMD^2 of source [n_s, d] and target [n_t, d] by ``estimator``: "linear" (the paper's, the
    default; exactly :func:`mkmmd_linear`), "shifted", "block" (``block_size`` rows per domain per block,
    default max(2, isqrt(min(n_s, n_t)))), "unbiased" or "biased"; formulas and bandwidth rules in
    the module docstring. bandwidths, betas, kernel_num and kernel_mul as for :func:`mkmmd_linear`.
    Differentiable w.r.t. source and target (rows an estimator does not use get zero gradient);
    float16/bfloat16 inputs are computed in float32."""
    if _route(estimator) == "linear" and block_size is None:
        return mkmmd_linear(source, target, bandwidths, betas, kernel_num=kernel_num, kernel_mul=kernel_mul)
    chk = check_inputs(source, target, bandwidths, betas, kernel_num, kernel_mul)
    estimator, block_size = check_estimator(estimator, block_size, source.shape[0], target.shape[0])
    if _route(estimator) == "shifted":
        s, t, _ = _shifted_inputs(source, target)
        return mkmmd_linear(s, t, bandwidths, betas, kernel_num=kernel_num, kernel_mul=kernel_mul)
    if _use_reference(chk.source.device):
        from dan_ext.estimators import reference as reference_estimators

        return reference_estimators.mkmmd(source, target, bandwidths, betas, estimator=estimator,
                                          block_size=block_size, kernel_num=kernel_num, kernel_mul=kernel_mul)
    return _all_pairs(chk, kernel_mul, estimator, block_size, False)[0]


def estimator_mean_sqdist(source: Tensor, target: Tensor, *, estimator: str = "linear",
                          block_size: Optional[int] = None) -> Tensor:
    """gbar of ``estimator``'s default bandwidths (the mean squared distance over the pairs it
    evaluates), 0-d float64, detached, at least MIN_BANDWIDTH: for callers that reduce gbar across
    processes and pass dan_ext.default_bandwidths(gbar, m, kernel_mul) (as mean_pair_sqdist, which
    is this for "linear")."""
    if _route(estimator) == "linear" and block_size is None:
        return mean_pair_sqdist(source, target)
    check_inputs(source, target, None, None, 1, 1.0)
    estimator, block_size = check_estimator(estimator, block_size, source.shape[0], target.shape[0])
    if _route(estimator) == "shifted":
        s, t, _ = _shifted_inputs(source, target)
        return mean_pair_sqdist(s, t)
    return _allpairs.mean_sqdist(estimator, source, target, block_size).clamp_min(MIN_BANDWIDTH)
