"""The plain-PyTorch reference of the five MK-MMD estimators (dan_ext.estimators.reference) checked on its
own, against the formulas in the docstring of dan_ext/estimators/op.py: brute-force Python loops on tiny inputs, exact relations between
the estimators, and Monte Carlo checks of what each estimate and its covariance estimate."""
import math

import numpy as np
import pytest
import torch

from dan_ext import reference
from dan_ext.estimators import reference as R

GAMMAS = [0.5, 2.0, 8.0]


def _pair(ns, nt, d=3, shift=0.5, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    s = torch.randn(ns, d, generator=gen, dtype=torch.float64)
    t = torch.randn(nt, d, generator=gen, dtype=torch.float64) + shift
    return s.to(dtype), t.to(dtype)


# ----------------------------------------------------------------------------------------------
# brute force: the spec's formulas as Python loops over rows, on Python floats


def _sq(x, y):
    return sum((a - b) ** 2 for a, b in zip(x, y))


def _k(x, y, gamma):
    return math.exp(-_sq(x, y) / gamma)


def _g(a, b, c, e, gamma):
    return _k(a, b, gamma) + _k(c, e, gamma) - _k(a, e, gamma) - _k(b, c, gamma)


def _mean_outer(hs, m):
    if not hs:
        return [[math.nan] * m for _ in range(m)]
    return [[sum(h[u] * h[v] for h in hs) / len(hs) for v in range(m)] for u in range(m)]


def _brute_linear(S, T, gammas):
    P = min(len(S), len(T)) // 2
    g = [[_g(S[2 * i], S[2 * i + 1], T[2 * i], T[2 * i + 1], gm) for gm in gammas] for i in range(P)]
    d = [sum(gi[u] for gi in g) / P for u in range(len(gammas))]
    hs = [[g[2 * j][u] - g[2 * j + 1][u] for u in range(len(gammas))] for j in range(P // 2)]
    return d, _mean_outer(hs, len(gammas))


def _brute_shifted(S, T, gammas):
    n, m = min(len(S), len(T)), len(gammas)
    g = []
    for i in range(n):
        j = (i + 1) % n
        g.append([_g(S[i], S[j], T[i], T[j], gm) for gm in gammas])
    d = [sum(gi[u] for gi in g) / n for u in range(m)]
    G = [g[i] for i in range(0, n, 2)] + [g[i] for i in range(1, n, 2)]
    hs = [[G[2 * j][u] - G[2 * j + 1][u] for u in range(m)] for j in range(n // 2)]
    Q = _mean_outer(hs, m) if n >= 4 else _mean_outer([], m)
    return d, Q


def _brute_block(S, T, gammas, B):
    n, m = min(len(S), len(T)), len(gammas)
    P, nb = n // 2, n // B
    eta = []
    for b in range(nb):
        rows = range(b * B, b * B + B)
        eta_b = []
        for gm in gammas:
            total = 0.0
            for i in rows:
                for j in rows:
                    if i != j:
                        total += _k(S[i], S[j], gm) + _k(T[i], T[j], gm) - _k(S[i], T[j], gm) - _k(S[j], T[i], gm)
            eta_b.append(total / (B * (B - 1)))
        eta.append(eta_b)
    d = [sum(e[u] for e in eta) / nb for u in range(m)]
    J = nb // 2
    hs = [[eta[2 * j][u] - eta[2 * j + 1][u] for u in range(m)] for j in range(J)]
    Q = [[2 * P * (1 / nb) * 0.5 * q for q in row] for row in _mean_outer(hs, m)]
    return d, Q


def _brute_cov(rows, m):
    mean = [sum(r[u] for r in rows) / len(rows) for u in range(m)]
    return [[sum((r[u] - mean[u]) * (r[v] - mean[v]) for r in rows) / (len(rows) - 1) for v in range(m)]
            for u in range(m)]


def _brute_hoeffding(S, T, gammas):
    ns, nt, m = len(S), len(T), len(gammas)
    P = min(ns, nt) // 2
    f_s = [[sum(_k(S[i], S[j], gm) for j in range(ns) if j != i) / (ns - 1)
            - sum(_k(S[i], T[j], gm) for j in range(nt)) / nt for gm in gammas] for i in range(ns)]
    f_t = [[sum(_k(T[j], T[jj], gm) for jj in range(nt) if jj != j) / (nt - 1)
            - sum(_k(S[i], T[j], gm) for i in range(ns)) / ns for gm in gammas] for j in range(nt)]
    cs, ct = _brute_cov(f_s, m), _brute_cov(f_t, m)
    return [[2 * P * (4 / ns * cs[u][v] + 4 / nt * ct[u][v]) for v in range(m)] for u in range(m)]


def _brute_allpairs(S, T, gammas, biased):
    ns, nt = len(S), len(T)
    d = []
    for gm in gammas:
        ss = sum(_k(S[i], S[j], gm) for i in range(ns) for j in range(ns) if biased or i != j)
        tt = sum(_k(T[i], T[j], gm) for i in range(nt) for j in range(nt) if biased or i != j)
        st = sum(_k(S[i], T[j], gm) for i in range(ns) for j in range(nt))
        if biased:
            d.append(ss / ns ** 2 + tt / nt ** 2 - 2 * st / (ns * nt))
        else:
            d.append(ss / (ns * (ns - 1)) + tt / (nt * (nt - 1)) - 2 * st / (ns * nt))
    return d, _brute_hoeffding(S, T, gammas)


def _brute(estimator, S, T, gammas, B=None):
    if estimator == "linear":
        return _brute_linear(S, T, gammas)
    if estimator == "shifted":
        return _brute_shifted(S, T, gammas)
    if estimator == "block":
        return _brute_block(S, T, gammas, B if B is not None else max(2, math.isqrt(min(len(S), len(T)))))
    return _brute_allpairs(S, T, gammas, biased=estimator == "biased")


def _brute_gbar(estimator, S, T, B=None):
    n = min(len(S), len(T))
    if estimator == "linear":
        ds = []
        for i in range(n // 2):
            a, b, c, e = S[2 * i], S[2 * i + 1], T[2 * i], T[2 * i + 1]
            ds += [_sq(a, b), _sq(c, e), _sq(a, e), _sq(b, c)]
    elif estimator == "shifted":
        ds = []
        for i in range(n):
            a, b, c, e = S[i], S[(i + 1) % n], T[i], T[(i + 1) % n]
            ds += [_sq(a, b), _sq(c, e), _sq(a, e), _sq(b, c)]
    elif estimator == "block":
        B = B if B is not None else max(2, math.isqrt(n))
        ds = []
        for blk in range(n // B):
            rows = range(blk * B, blk * B + B)
            ds += [_sq(S[i], S[j]) for i in rows for j in rows if i < j]
            ds += [_sq(T[i], T[j]) for i in rows for j in rows if i < j]
            ds += [_sq(S[i], T[j]) for i in rows for j in rows if i != j]
    else:
        Z = S + T
        ds = [_sq(Z[i], Z[j]) for i in range(len(Z)) for j in range(len(Z)) if i < j]
    return max(sum(ds) / len(ds), 1e-12)


BRUTE_CASES = [  # (ns, nt, block_size or None)
    (5, 4, None), (4, 5, 3), (6, 6, 2), (6, 6, 3), (9, 8, None), (8, 9, 4), (3, 2, 2), (7, 7, 7), (2, 2, None),
    (12, 13, 3),
]


def _cases():
    for est in R.ESTIMATORS:
        for ns, nt, B in BRUTE_CASES:
            if est != "block" and B is not None:
                continue
            yield pytest.param(est, ns, nt, B, id=f"{est}-{ns}x{nt}-B{B}")


def _close(actual, expected, tol=1e-12):
    torch.testing.assert_close(actual, torch.as_tensor(expected, dtype=torch.float64), rtol=tol, atol=tol,
                               equal_nan=True)


@pytest.mark.parametrize("estimator, ns, nt, B", list(_cases()))
def test_matches_brute_force_loops(estimator, ns, nt, B):
    """d_u and Q with given bandwidths, gbar and the derived bandwidths (and the d_u they give) equal the
    spec's formulas written as loops over rows."""
    s, t = _pair(ns, nt, seed=ns * 31 + nt)
    S, T = s.tolist(), t.tolist()
    betas = [0.2, 0.3, 0.5]
    st = R.mkmmd_stats(s, t, GAMMAS, betas, estimator=estimator, block_size=B)
    d, Q = _brute(estimator, S, T, GAMMAS, B)
    _close(st.per_kernel, d)
    _close(st.covariance, Q)
    _close(st.loss, sum(b * du for b, du in zip(betas, d)))
    assert st.num_tuples == min(ns, nt) // 2
    _close(st.bandwidths, GAMMAS, tol=0)

    gbar = _brute_gbar(estimator, S, T, B)
    _close(R.mean_sqdist(s, t, estimator=estimator, block_size=B), gbar)
    derived = R.mkmmd_stats(s, t, estimator=estimator, block_size=B, kernel_num=4, kernel_mul=1.5)
    gammas = [gbar * 1.5 ** (u - 2) for u in range(4)]
    _close(derived.bandwidths, gammas)
    d, Q = _brute(estimator, S, T, gammas, B)
    _close(derived.per_kernel, d)
    _close(derived.covariance, Q)


# ----------------------------------------------------------------------------------------------
# exact relations


@pytest.mark.parametrize("ns, nt", [(8, 8), (9, 7), (6, 11), (12, 12), (5, 5), (4, 4), (3, 3), (2, 2), (13, 10)])
def test_block_size_two_is_the_linear_estimator(ns, nt):
    """With B = 2 the blocks are the linear estimator's quad-tuples: the same loss, d, Q, bandwidths and P
    (up to float64 rounding of a different summation order)."""
    s, t = _pair(ns, nt, seed=ns + 100 * nt)
    tight = dict(rtol=1e-14, atol=1e-15, equal_nan=True)
    for bw, betas in ((None, None), (GAMMAS, [0.6, 0.1, 0.3])):
        kw = dict(kernel_num=3, kernel_mul=2.0)
        lin = reference.mkmmd_linear_stats(s, t, bw, betas, **kw)
        blocks = [R.mkmmd_stats(s, t, bw, betas, estimator="block", block_size=2, **kw)]
        if min(ns, nt) < 9:  # the default block size is 2 here
            blocks.append(R.mkmmd_stats(s, t, bw, betas, estimator="block", **kw))
        for blk in blocks:
            torch.testing.assert_close(blk.loss, lin.loss, **tight)
            torch.testing.assert_close(blk.per_kernel, lin.per_kernel, **tight)
            torch.testing.assert_close(blk.covariance, lin.covariance, **tight)
            torch.testing.assert_close(blk.bandwidths, lin.bandwidths, **tight)
            assert blk.num_tuples == lin.num_tuples
    torch.testing.assert_close(R.mean_sqdist(s, t, estimator="block", block_size=2),
                               reference.mean_pair_sqdist(s, t), rtol=1e-14, atol=0)


@pytest.mark.parametrize("ns, nt", [(8, 8), (12, 10), (16, 20), (4, 4), (2, 5), (7, 6)])
def test_shifted_is_the_linear_tuples_and_the_linear_tuples_of_the_rows_rolled_by_one(ns, nt):
    """For even n the even shifted tuples are the linear quad-tuples of (S, T) and the odd ones those of
    (S, T) rolled by one row: d and gbar are the mean of the two linear ones, and for 4 | n so is Q."""
    s, t = _pair(ns, nt, seed=3 * ns + nt)
    n = min(ns, nt)
    s_n, t_n = s[:n], t[:n]
    s_r, t_r = s_n.roll(-1, dims=0), t_n.roll(-1, dims=0)
    sh = R.mkmmd_stats(s, t, GAMMAS, estimator="shifted")
    a = reference.mkmmd_linear_stats(s_n, t_n, GAMMAS)
    b = reference.mkmmd_linear_stats(s_r, t_r, GAMMAS)
    tight = dict(rtol=1e-14, atol=1e-15)
    if n == 2:  # the two tuples are the one quad-tuple, twice; Q needs n >= 4
        torch.testing.assert_close(sh.per_kernel, a.per_kernel, **tight)
        assert torch.isnan(sh.covariance).all()
        return
    assert n >= 4
    if n % 2:  # the wrapping tuple (s_{n-1}, s_0, ...) is no linear tuple: the relation must fail
        assert not torch.allclose(sh.per_kernel, (a.per_kernel + b.per_kernel) / 2, rtol=1e-6, atol=0)
        return
    torch.testing.assert_close(sh.per_kernel, (a.per_kernel + b.per_kernel) / 2, **tight)
    torch.testing.assert_close(R.mean_sqdist(s, t, estimator="shifted"),
                               (reference.mean_pair_sqdist(s_n, t_n) + reference.mean_pair_sqdist(s_r, t_r)) / 2,
                               **tight)
    if n % 4 == 0:
        torch.testing.assert_close(sh.covariance, (a.covariance + b.covariance) / 2, **tight)
    assert sh.num_tuples == n // 2


@pytest.mark.parametrize("ns, nt", [(6, 4), (5, 9), (2, 3)])
def test_biased_minus_unbiased_is_the_diagonal_term(ns, nt):
    """d_biased - d_unbiased = (1 - mean_{i!=j} k(s_i,s_j)) / ns + (1 - mean_{i!=j} k(t_i,t_j)) / nt per kernel,
    and both report the same Q."""
    s, t = _pair(ns, nt, seed=ns * nt)
    S, T = s.tolist(), t.tolist()
    ub = R.mkmmd_stats(s, t, GAMMAS, estimator="unbiased")
    bi = R.mkmmd_stats(s, t, GAMMAS, estimator="biased")
    expected = []
    for gm in GAMMAS:
        ks = sum(_k(S[i], S[j], gm) for i in range(ns) for j in range(ns) if i != j) / (ns * (ns - 1))
        kt = sum(_k(T[i], T[j], gm) for i in range(nt) for j in range(nt) if i != j) / (nt * (nt - 1))
        expected.append((1 - ks) / ns + (1 - kt) / nt)
    _close(bi.per_kernel - ub.per_kernel, expected)
    assert torch.equal(bi.covariance, ub.covariance)
    assert torch.equal(bi.bandwidths, ub.bandwidths)


@pytest.mark.parametrize("estimator, B", [("shifted", None), ("block", None), ("block", 3), ("unbiased", None),
                                          ("biased", None)])
def test_which_rows_are_used(estimator, B):
    """shifted uses the first n = min(ns, nt) rows, block the first nb * B; the all-pairs estimators all rows."""
    s, t = _pair(11, 8, seed=5)
    base = R.mkmmd_stats(s, t, estimator=estimator, block_size=B)
    n = 8
    used = n if estimator == "shifted" else (n // (B or 2)) * (B or 2) if estimator == "block" else 11
    s2 = s.clone()
    s2[used:] = 1e3  # far away: any use of them changes gbar and the kernels
    t2 = t.clone()
    if estimator == "block":
        t2[used:] = -1e3
    if used < 11:
        moved = R.mkmmd_stats(s2, t2, estimator=estimator, block_size=B)
        for a, b in zip(base[:4], moved[:4]):
            assert torch.equal(a, b)
    s3 = s.clone()
    s3[used - 1] += 0.25  # the last row used
    moved = R.mkmmd_stats(s3, t, estimator=estimator, block_size=B)
    assert not torch.equal(moved.per_kernel, base.per_kernel)


def test_default_block_size():
    assert [R.default_block_size(n) for n in (2, 3, 4, 8, 9, 15, 16, 99, 100)] == [2, 2, 2, 2, 3, 3, 4, 9, 10]
    s, t = _pair(17, 20)
    a = R.mkmmd_stats(s, t, estimator="block")
    b = R.mkmmd_stats(s, t, estimator="block", block_size=4)
    c = R.mkmmd_stats(s, t, estimator="block", block_size=3)
    assert torch.equal(a.per_kernel, b.per_kernel) and torch.equal(a.covariance, b.covariance)
    assert not torch.equal(a.per_kernel, c.per_kernel)
    assert torch.equal(R.mean_sqdist(s, t, estimator="block"), R.mean_sqdist(s, t, estimator="block", block_size=4))


def test_linear_is_the_linear_reference():
    s, t = _pair(9, 12)
    for kw in ({}, {"estimator": "linear"}):
        st = R.mkmmd_stats(s, t, [1.0, 3.0], [0.25, 0.75], **kw)
        lin = reference.mkmmd_linear_stats(s, t, [1.0, 3.0], [0.25, 0.75])
        for a, b in zip(st[:4], lin[:4]):
            assert torch.equal(a, b)
        assert st.num_tuples == lin.num_tuples
        assert torch.equal(R.mean_sqdist(s, t, **kw), reference.mean_pair_sqdist(s, t))
        assert torch.equal(R.mkmmd(s, t, [1.0, 3.0], [0.25, 0.75], **kw), lin.loss)


@pytest.mark.parametrize("estimator", R.ESTIMATORS)
def test_result_types(estimator):
    s, t = _pair(9, 7, seed=2)
    ref = R.mkmmd_stats(s, t, estimator=estimator, kernel_num=4)
    for dtype, rtol in ((torch.float64, 0), (torch.float32, 1e-5), (torch.float16, 5e-2), (torch.bfloat16, 1e-1)):
        st = R.mkmmd_stats(s.to(dtype).requires_grad_(), t.to(dtype).requires_grad_(), estimator=estimator,
                           kernel_num=4)
        assert st.loss.dtype == dtype and st.loss.dim() == 0 and st.loss.requires_grad
        assert st.per_kernel.dtype == torch.float64 and st.per_kernel.shape == (4,)
        assert st.covariance.dtype == torch.float64 and st.covariance.shape == (4, 4)
        assert st.bandwidths.dtype == torch.float64 and st.bandwidths.shape == (4,)
        assert not (st.per_kernel.requires_grad or st.covariance.requires_grad or st.bandwidths.requires_grad)
        assert st.num_tuples == 3
        torch.testing.assert_close(st.loss.double(), ref.loss, rtol=rtol, atol=rtol * 0.1)
    no_q = R.mkmmd_stats(s, t, estimator=estimator, covariance=False)
    assert no_q.covariance is None
    assert torch.equal(no_q.loss, R.mkmmd(s, t, estimator=estimator))
    g = R.mean_sqdist(s.float().requires_grad_(), t.float(), estimator=estimator)
    assert g.dtype == torch.float64 and g.dim() == 0 and not g.requires_grad
    assert R.mean_sqdist(torch.zeros(4, 2), torch.zeros(4, 2), estimator=estimator).item() == 1e-12


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("estimator", R.ESTIMATORS)
def test_half_inputs_are_computed_in_float32(estimator, dtype):
    """Half inputs give exactly what their values in float32 give, the loss rounded to the inputs' dtype."""
    s, t = _pair(9, 7, seed=6, dtype=dtype)
    half = R.mkmmd_stats(s, t, estimator=estimator)
    single = R.mkmmd_stats(s.float(), t.float(), estimator=estimator)
    assert torch.equal(half.loss, single.loss.to(dtype))
    for a, b in zip(half[1:4], single[1:4]):
        assert torch.equal(a, b)


@pytest.mark.parametrize("estimator", R.ESTIMATORS)
def test_an_infinite_squared_distance_is_nan(estimator):
    s, t = _pair(6, 6, seed=4)
    s[1, 0] = 1e200  # |s_1 - x|^2 overflows to inf: exp(-inf) = 0 would hide it
    st = R.mkmmd_stats(s, t, GAMMAS, estimator=estimator)
    assert torch.isnan(st.loss) and torch.isnan(st.per_kernel).all()
    assert torch.isnan(R.mean_sqdist(s, t, estimator=estimator))


# ----------------------------------------------------------------------------------------------
# gradients and errors


@pytest.mark.parametrize("estimator, B", [("linear", None), ("shifted", None), ("block", 2), ("block", 3),
                                          ("unbiased", None), ("biased", None)])
def test_gradcheck(estimator, B):
    s, t = _pair(7, 6, seed=9)
    s.requires_grad_()
    t.requires_grad_()
    bw, betas = [0.7, 2.5, 9.0], [0.5, 0.2, 0.3]

    def f(a, b):
        return R.mkmmd(a, b, bw, betas, estimator=estimator, block_size=B)

    assert torch.autograd.gradcheck(f, (s, t), eps=1e-6, atol=1e-8)
    gs, gt = torch.autograd.grad(f(s, t), (s, t))
    assert gs.abs().sum() > 0 and gt.abs().sum() > 0


@pytest.mark.parametrize("estimator", R.ESTIMATORS)
def test_derived_bandwidths_carry_no_gradient(estimator):
    """The gradient with derived bandwidths is the gradient with those bandwidths given."""
    s, t = _pair(8, 6, seed=11)
    s.requires_grad_()
    t.requires_grad_()
    st = R.mkmmd_stats(s, t, estimator=estimator)
    g_derived = torch.autograd.grad(st.loss, (s, t))
    g_given = torch.autograd.grad(R.mkmmd(s, t, st.bandwidths, estimator=estimator), (s, t))
    for a, b in zip(g_derived, g_given):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("bad", ["Linear", "mmd", "", None, 3, ("linear",)])
def test_unknown_estimator(bad):
    s, t = _pair(6, 6)
    for call in (lambda: R.mkmmd_stats(s, t, estimator=bad), lambda: R.mkmmd(s, t, estimator=bad),
                 lambda: R.mean_sqdist(s, t, estimator=bad)):
        with pytest.raises(ValueError, match="estimator must be one of 'linear', 'shifted', 'block', 'unbiased', "
                                             "'biased'"):
            call()


@pytest.mark.parametrize("bad", [1, 0, -3, 7, 2.0, 2.5, True, "3", torch.tensor(3)])
def test_bad_block_size(bad):
    s, t = _pair(6, 9)  # 2 <= B <= 6
    for call in (lambda: R.mkmmd_stats(s, t, estimator="block", block_size=bad),
                 lambda: R.mkmmd(s, t, estimator="block", block_size=bad),
                 lambda: R.mean_sqdist(s, t, estimator="block", block_size=bad)):
        with pytest.raises(ValueError, match=r"block_size must be an integer with 2 <= block_size <= "
                                             r"min\(n_source, n_target\) = 6"):
            call()


@pytest.mark.parametrize("estimator", ["linear", "shifted", "unbiased", "biased"])
def test_block_size_belongs_to_block(estimator):
    s, t = _pair(6, 6)
    for call in (lambda: R.mkmmd_stats(s, t, estimator=estimator, block_size=2),
                 lambda: R.mkmmd(s, t, estimator=estimator, block_size=2),
                 lambda: R.mean_sqdist(s, t, estimator=estimator, block_size=2)):
        with pytest.raises(ValueError, match="block_size is only taken by estimator='block'"):
            call()


def test_good_block_sizes():
    s, t = _pair(6, 9)
    for B in (2, 6, np.int64(3), np.int32(4)):
        st = R.mkmmd_stats(s, t, estimator="block", block_size=B)
        assert torch.isfinite(st.loss)


@pytest.mark.parametrize("estimator", R.ESTIMATORS)
def test_input_checks_apply(estimator):
    s, t = _pair(6, 6)
    with pytest.raises(ValueError, match="source needs at least 2 rows"):
        R.mkmmd_stats(s[:1], t, estimator=estimator)
    with pytest.raises(ValueError, match="same feature dimension"):
        R.mkmmd_stats(s, t[:, :2], estimator=estimator)
    with pytest.raises(ValueError, match="bandwidths must all be finite and positive"):
        R.mkmmd_stats(s, t, [1.0, -1.0], estimator=estimator)
    with pytest.raises(ValueError, match="betas must have one weight per kernel"):
        R.mkmmd_stats(s, t, [1.0, 2.0], [1.0], estimator=estimator)
    with pytest.raises(TypeError, match="target must be a torch.Tensor"):
        R.mean_sqdist(s, t.numpy(), estimator=estimator)


# ----------------------------------------------------------------------------------------------
# Monte Carlo: what the estimates and their covariances estimate (N(0, I) vs N(shift, I))

MC_GAMMAS = [1.0, 4.0, 16.0]


@pytest.fixture
def one_thread():
    """Hundreds of tiny calls: intra-op threads only add overhead (and stall on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
MC_BETAS = torch.full((3,), 1 / 3, dtype=torch.float64)


def _exact_mmd2(shift, d, gammas, betas):
    """Population MMD^2 of N(0, I) vs N(shift 1, I) under exp(-|x-y|^2/gamma): E k(x, x') = (gamma/(gamma+4))^(d/2),
    E k(x, y) = that times exp(-|mu|^2 / (gamma + 4)) (as tests/ops/linear/test_op_estimator.py)."""
    total = 0.0
    for g, b in zip(gammas, betas):
        base = (g / (g + 4.0)) ** (d / 2)
        total += b * 2.0 * base * (1.0 - math.exp(-(shift ** 2) * d / (g + 4.0)))
    return total


def _diagonal_bias(ns, nt, d, gammas, betas):
    """E[biased] - MMD^2 = (1 - E k(x, x')) / ns + (1 - E k(y, y')) / nt (unit-variance Gaussians)."""
    return sum(b * (1.0 - (g / (g + 4.0)) ** (d / 2)) * (1.0 / ns + 1.0 / nt) for g, b in zip(gammas, betas))


def _draws(estimators, reps, ns, nt, d, shift, seed):
    """{name: (estimates [reps], beta^T Q beta / (2P) [reps])} over the same draws for each
    (name, estimator, block_size) in estimators."""
    gen = torch.Generator().manual_seed(seed)
    out = {name: ([], []) for name, _, _ in estimators}
    for _ in range(reps):
        s = torch.randn(ns, d, generator=gen, dtype=torch.float64)
        t = torch.randn(nt, d, generator=gen, dtype=torch.float64) + shift
        for name, est, B in estimators:
            st = R.mkmmd_stats(s, t, MC_GAMMAS, estimator=est, block_size=B)
            out[name][0].append(st.loss.item())
            out[name][1].append((MC_BETAS @ st.covariance @ MC_BETAS).item() / (2 * st.num_tuples))
    return {name: (torch.tensor(v, dtype=torch.float64), torch.tensor(q, dtype=torch.float64))
            for name, (v, q) in out.items()}


def test_estimates_are_unbiased_and_the_biased_one_carries_the_diagonal_term(one_thread):
    ns, nt, d, shift = 64, 48, 4, 0.3
    runs = _draws([("linear", "linear", None), ("shifted", "shifted", None), ("block8", "block", 8),
                   ("block-default", "block", None), ("unbiased", "unbiased", None), ("biased", "biased", None)],
                  reps=300, ns=ns, nt=nt, d=d, shift=shift, seed=1)
    exact = _exact_mmd2(shift, d, MC_GAMMAS, MC_BETAS.tolist())
    bias = _diagonal_bias(ns, nt, d, MC_GAMMAS, MC_BETAS.tolist())
    for name, (v, _) in runs.items():
        se = v.std().item() / math.sqrt(len(v))
        target = exact + bias if name == "biased" else exact
        assert abs(v.mean().item() - target) < 4 * se, (name, v.mean().item(), target, se)
    v = runs["biased"][0]
    se = v.std().item() / math.sqrt(len(v))
    assert v.mean().item() - exact > 10 * se, "the diagonal term should be plainly visible"


@pytest.mark.parametrize("estimator, B", [("linear", None), ("block", 4), ("block", 8)])
def test_covariance_predicts_the_variance_linear_and_block(estimator, B, one_thread):
    """E[beta^T Q beta] / (2P) = Var[beta^T d] for the linear and block estimators."""
    runs = _draws([("x", estimator, B)], reps=400, ns=64, nt=64, d=3, shift=0.5, seed=2)
    v, q = runs["x"]
    ratio = v.var().item() / q.mean().item()
    assert 0.7 < ratio < 1.4, ratio


def test_shifted_covariance_is_a_conservative_bound(one_thread):
    """Var[shifted] = (4 s1^2 + s2^2) / n <= beta^T E[Q] beta / (2P) = (4 s1^2 + 2 s2^2) / n (Hoeffding
    decomposition of the tuple term, s1^2 its first-order, s2^2 its second-order variance): between half
    the bound and the bound."""
    runs = _draws([("x", "shifted", None)], reps=300, ns=64, nt=64, d=3, shift=1.0, seed=3)
    v, q = runs["x"]
    ratio = v.var().item() / q.mean().item()
    assert 0.4 < ratio < 1.3, ratio


def test_hoeffding_covariance_predicts_the_variance_of_the_all_pairs_estimators(one_thread):
    """Under a clear alternative the first-order (Hoeffding) variance dominates: beta^T Q beta / (2P) = beta^T C beta
    predicts the variance of the unbiased and of the biased estimate."""
    runs = _draws([("unbiased", "unbiased", None), ("biased", "biased", None)], reps=250, ns=64, nt=64, d=3,
                  shift=0.8, seed=4)
    for name, (v, q) in runs.items():
        ratio = v.var().item() / q.mean().item()
        assert 0.6 < ratio < 1.6, (name, ratio)
