"""Kernel two-sample test with learned kernel weights (Gretton et al., NIPS 2012), for every
MK-MMD estimator of dan_ext.mkmmd.

The linear-time MK-MMD^2 is a mean of i.i.d. quad-tuple terms, so it is asymptotically normal and
its standard error comes from the same pass (the covariance Q): the p-value costs one pass over
the data. The same holds for the block estimator (a mean of i.i.d. block terms; Zaremba et al.
2013) and, conservatively, for the shifted one (its Q bounds its variance). Q is estimated from J
differences of independent terms (J = P // 2 pairs of quad-tuples, pairs of blocks, or n // 2 pairs
of shifted tuples), so the studentised statistic is referred to Student's t with J degrees of
freedom, not to N(0, 1): at small samples (J of 2-8) the normal reference rejected a true null
9-12% of the time at alpha = 0.05; t_J is exact for normal terms and tends to N(0, 1) as J grows.
The all-pairs statistics ("unbiased", "biased") are not normal when the distributions are equal
(the U-statistic is degenerate there), so their p-value comes from a permutation null: the
statistic recomputed on ``permutations`` random relabellings of the pooled rows. With
``learn_betas`` the kernel weights (and data-dependent bandwidths) are chosen on a first part of
the rows by DAN's QP and the test runs on the rest, so the p-value stays valid.
"""
from __future__ import annotations

import math
import numbers
import re
import time
from typing import NamedTuple, Optional

import torch

from dan_ext._checks import check_bool, check_inputs
from dan_ext._constants import DEFAULT_KERNEL_MUL, DEFAULT_KERNEL_NUM
from dan_ext.beta_qp import solve_beta_qp
from dan_ext.estimators.op import check_estimator, min_rows_for_variance, mkmmd, mkmmd_stats, variance_dof
from dan_ext.estimators.registry import get_estimator


class MMDTestResult(NamedTuple):
    statistic: float      # MK-MMD^2 estimate on the test part, sum_u beta_u d_u
    std_error: float      # normal null: sqrt(beta^T Q beta / (2 P)); permutation null: the sd of the permuted statistics
    z: float              # statistic / std_error (permutation null: (statistic - their mean) / their sd)
    p_value: float        # one-sided: P(t_dof >= z), or (1 + #permuted >= statistic) / (1 + permutations)
    reject: bool          # p_value < alpha
    alpha: float
    betas: torch.Tensor       # [m] float64, the kernel weights used
    bandwidths: torch.Tensor  # [m] float64, the gamma_u used
    num_tuples: int       # quad-tuples in the test part
    beta_status: str      # "optimal", "uniform", or why the learned betas fell back to uniform
    estimator: str = "linear"
    null: str = "normal"  # "normal" (studentised, Student t reference) or "permutation"
    dof: Optional[int] = None  # normal null: J, the degrees of freedom of the t reference; None for permutations


def _t_sf(z: float, dof: int) -> float:
    """P(T >= z) for Student's t with dof degrees of freedom."""
    from scipy.special import stdtr  # loaded on the first test only

    return float(stdtr(dof, -z))


def _check_no_overflow(stats, x: torch.Tensor, y: torch.Tensor) -> None:
    """Finite data whose squared distances (or their mean, the derived bandwidth) overflow give a NaN
    statistic or infinite bandwidths, which would read as "not distinguishable" or blame the
    bandwidths: name the features instead."""
    if math.isfinite(float(stats.loss)) and bool(torch.isfinite(stats.bandwidths).all()):
        return
    top = max(float(x.abs().max()), float(y.abs().max()))
    precision = "float64" if x.dtype == torch.float64 else "float32"
    raise ValueError(f"x/y: squared distances between rows overflow {precision} (features up to {top:.3g}); rescale "
                     "the features")


def mmd_test(x: torch.Tensor, y: torch.Tensor, *, kernel_num: int = DEFAULT_KERNEL_NUM,
             kernel_mul: float = DEFAULT_KERNEL_MUL, bandwidths=None, learn_betas: bool = True, split: float = 0.5,
             alpha: float = 0.05, generator: Optional[torch.Generator] = None, estimator: str = "linear",
             block_size: Optional[int] = None, permutations: int = 200) -> MMDTestResult:
    """Test H0: x and y (rows = samples, [n_x, d] and [n_y, d]) come from one distribution.

    Rows are shuffled with ``generator`` (a CPU torch.Generator) before the estimator pairs them.
    With ``learn_betas``, the first ``split`` fraction of each sample chooses the bandwidths (when
    not given) and the weights beta maximising the test power; the rest is tested with them.
    Otherwise all rows are tested with uniform betas. ``estimator`` (and ``block_size``) as in
    dan_ext.mkmmd: linear, shifted and block studentise by their variance estimate and refer to
    Student's t with ``r.dof`` degrees of freedom (see the module docstring);
    unbiased and biased a permutation null of ``permutations`` relabellings (drawn with
    ``generator``; at most MAX_PERMUTATIONS = 10^5, which resolve p to 1e-5: more are refused with
    the time they would take). Works on CPU and CUDA, any float dtype. Non-finite data, and features whose
    squared distances (or their mean) overflow, are refused.
    """
    try:
        chk = check_inputs(x, y, bandwidths, None, kernel_num, kernel_mul)
    except (TypeError, ValueError) as err:  # the checks name the op's source and target: here they are x and y
        raise type(err)(re.sub(r"\btarget\b", "y", re.sub(r"\bsource\b", "x", str(err)))) from None
    check_estimator(estimator, block_size)
    learn_betas = check_bool(learn_betas, "learn_betas")
    _check_test_arguments(alpha, split, permutations, generator)
    for name, t in (("x", x), ("y", y)):
        # A NaN would make the statistic NaN and the test answer "not distinguishable": refuse it.
        bad = int(t.numel() - torch.isfinite(t).sum())
        if bad:
            raise ValueError(f"{name} holds {bad} non-finite value(s) (NaN or Inf) of {t.numel()}; the test needs "
                             "finite data")
    permuted = get_estimator(estimator).null == "permutation"
    est = dict(estimator=estimator, block_size=block_size, kernel_num=kernel_num, kernel_mul=kernel_mul)
    _check_permutation_count(permutations, x, y, permuted, est)
    x = x.detach()[torch.randperm(x.shape[0], generator=generator).to(x.device)]
    y = y.detach()[torch.randperm(y.shape[0], generator=generator).to(y.device)]
    m = chk.m
    bw = chk.bandwidths
    status = "uniform"
    betas = torch.full((m,), 1.0 / m, dtype=torch.float64)
    if learn_betas:
        kx, ky = int(round(split * x.shape[0])), int(round(split * y.shape[0]))
        for name, k, n in (("x", kx, x.shape[0]), ("y", ky, y.shape[0])):
            if k < 4 or n - k < 4:
                raise ValueError(f"{name} has {n} rows: too few to split (split={split}) into two parts of at least "
                                 "4 rows each (2 quad-tuples); pass more rows or learn_betas=False")
        train = mkmmd_stats(x[:kx], y[:ky], bw, None, **est)
        _check_no_overflow(train, x, y)
        _check_variance(train, "the first (beta-learning) part", estimator, block_size)
        bw = train.bandwidths
        sol = solve_beta_qp(train.per_kernel.cpu().numpy(), train.covariance.cpu().numpy())
        if sol.betas is not None:
            betas, status = torch.from_numpy(sol.betas), "optimal"
        else:
            status = f"uniform ({sol.status})"
        x, y = x[kx:], y[ky:]
    elif min(x.shape[0], y.shape[0]) < 4:
        raise ValueError("x and y need at least 4 rows each (2 quad-tuples) to estimate the variance")
    test = mkmmd_stats(x, y, bw, betas, **est)
    _check_no_overflow(test, x, y)
    stat = float(test.loss)
    if permuted:
        se, z, p = _permutation_null(x, y, stat, test.bandwidths, betas, est, permutations, generator)
    else:
        _check_variance(test, "the tested part" if learn_betas else "x and y", estimator, block_size)
        var = float(betas.to(test.covariance) @ test.covariance @ betas.to(test.covariance)) / (2 * test.num_tuples)
        se = math.sqrt(var) if var > 0 else 0.0
        z = stat / se if se > 0 else (math.inf if stat > 0 else -math.inf if stat < 0 else 0.0)
        dof = variance_dof(estimator, min(x.shape[0], y.shape[0]), block_size)
        p = _t_sf(z, dof)
    return MMDTestResult(stat, se, z, p, bool(p < alpha), float(alpha), betas, test.bandwidths.detach().cpu(),
                         test.num_tuples, status, estimator, "permutation" if permuted else "normal",
                         None if permuted else dof)


def _check_test_arguments(alpha, split, permutations, generator) -> None:
    """One-line errors for the test's own arguments, checked whether or not this call uses them."""
    for name, v in (("alpha", alpha), ("split", split)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0.0 < float(v) < 1.0:
            raise ValueError(f"{name} must be a number in (0, 1), got {v!r}")
    if isinstance(permutations, bool) or not isinstance(permutations, numbers.Integral) or permutations < 1:
        raise ValueError(f"permutations must be an integer >= 1, got {permutations!r}")
    if generator is not None and (not isinstance(generator, torch.Generator) or generator.device.type != "cpu"):
        raise ValueError(f"generator must be a CPU torch.Generator or None, got {generator!r}")


def _check_variance(stats, part: str, estimator: str, block_size) -> None:
    """A variance estimated from too few independent terms is NaN (linear: fewer than 2 pairs of
    quad-tuples; shifted: fewer than 4 rows; block: fewer than 2 blocks); a test on it would reject
    whenever the statistic is positive, so it is refused."""
    if stats.covariance is not None and bool(torch.isfinite(stats.covariance).all()):
        return
    blocks = get_estimator(estimator).takes_block_size
    what = (f"at least 2 blocks of block_size={block_size}" if blocks
            else f"at least {min_rows_for_variance(estimator)} rows per sample")
    raise ValueError(f"too few independent terms in {part} to estimate the variance of the {estimator} estimate "
                     f"(it needs {what}); pass more rows" + (", a smaller block_size" if blocks else "")
                     + (" or learn_betas=False" if "beta" in part else ""))


# p = (1 + #permuted >= statistic) / (1 + permutations): 10^5 relabellings give p to a resolution of
# 1e-5 and, near alpha = 0.05, a Monte Carlo standard error of 7e-4 (sqrt(alpha (1 - alpha) / B)),
# finer than any alpha in use, even Bonferroni-corrected over a hundred tests. More only costs time
# (each is one all-pairs estimate: 10^6 took over 2 minutes on 16 rows), so they are refused, with
# the time they would take, rather than left running for minutes without a word.
MAX_PERMUTATIONS = 100_000


def _check_permutation_count(permutations: int, x, y, permuted: bool, est: dict) -> None:
    if permutations <= MAX_PERMUTATIONS:
        return
    when = ""
    if permuted:  # time one permutation's estimate on these rows: the fastest of a few (the first warms up)
        each = math.inf
        with torch.no_grad():
            for _ in range(4):
                start = time.perf_counter()
                mkmmd(x.detach(), y.detach(), **est)
                each = min(each, time.perf_counter() - start)
        when = f" (here about {each * permutations:.0f} s: {each * 1e3:.2g} ms each)"
    raise ValueError(f"permutations must be at most {MAX_PERMUTATIONS} (p to a resolution of 1e-5), got "
                     f"{permutations}{when}")


def _permutation_null(x, y, stat, bandwidths, betas, est, permutations, generator):
    """(sd of the null statistics, z, p): the statistic at the same bandwidths and betas on
    ``permutations`` random splits of the pooled rows into parts of the sizes of x and y."""
    pooled = torch.cat([x, y])
    nx = x.shape[0]
    kw = {k: v for k, v in est.items() if k not in ("kernel_num", "kernel_mul")}
    # running moments (Welford) and a count, not the permuted statistics: memory does not grow with permutations
    mean, m2, at_least = 0.0, 0.0, 0
    with torch.no_grad():
        for b in range(permutations):
            perm = torch.randperm(pooled.shape[0], generator=generator).to(pooled.device)
            z = pooled[perm]
            v = float(mkmmd(z[:nx], z[nx:], bandwidths, betas, **kw))
            at_least += v >= stat
            delta = v - mean
            mean += delta / (b + 1)
            m2 += delta * (v - mean)
    sd = math.sqrt(m2 / (permutations - 1)) if permutations > 1 else 0.0
    z = (stat - mean) / sd if sd > 0 else 0.0
    p = (1 + at_least) / (1 + permutations)
    return sd, z, p
