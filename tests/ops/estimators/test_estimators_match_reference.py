"""dan_ext.mkmmd / mkmmd_stats for every estimator against the float64 reference
(dan_ext.estimators.reference): loss, d, Q, bandwidths and gradients on fresh random inputs of many
shapes, with outputs poisoned before the kernels write them (conftest)."""
import math

import pytest
import torch

import dan_ext
from dan_ext.estimators import allpairs as _allpairs
from dan_ext.estimators import reference as reference_estimators
from conftest import DEVICES, make_pair, rel_err

NEW = ("shifted", "block", "unbiased", "biased")
SHAPES = [(2, 2, 1), (3, 5, 2), (7, 4, 3), (16, 16, 8), (33, 20, 5), (64, 64, 31), (129, 100, 17)]


def _stats(est, s, t, block_size=None, bandwidths=None, betas=None, kernel_num=5, kernel_mul=2.0, fused=True):
    fn = dan_ext.mkmmd_stats if fused else reference_estimators.mkmmd_stats
    return fn(s, t, bandwidths, betas, estimator=est, block_size=block_size, kernel_num=kernel_num,
              kernel_mul=kernel_mul)


def _grads(est, s, t, fused, **kw):
    s = s.detach().clone().requires_grad_(True)
    t = t.detach().clone().requires_grad_(True)
    fn = dan_ext.mkmmd if fused else reference_estimators.mkmmd
    loss = fn(s, t, estimator=est, **kw)
    gs, gt = torch.autograd.grad(loss, (s, t))
    return loss, gs, gt


def _block_sizes(n):
    return sorted({None, 2, min(3, n), n} - {1}, key=lambda b: -1 if b is None else b)


def _close(a, b, tol):
    if b is None:
        assert a is None
        return
    if torch.isnan(b).all():
        assert torch.isnan(a).all()
        return
    assert rel_err(a, b) < tol, (a, b)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("est", NEW)
@pytest.mark.parametrize("ns,nt,d", SHAPES)
def test_stats_match_reference_float64(est, ns, nt, d, device):
    gen = torch.Generator().manual_seed(ns * 1000 + nt * 10 + d)
    s, t = make_pair(ns, nt, d, gen=gen, device=device)
    for B in (_block_sizes(min(ns, nt)) if est == "block" else [None]):
        for m in (1, 3, 5):
            betas = torch.rand(m, generator=gen, dtype=torch.float64) + 0.1
            ours = _stats(est, s, t, B, betas=betas, kernel_num=m)
            ref = _stats(est, s, t, B, betas=betas, kernel_num=m, fused=False)
            _close(ours.bandwidths, ref.bandwidths, 1e-13)
            _close(ours.per_kernel, ref.per_kernel, 1e-10)
            _close(ours.covariance, ref.covariance, 1e-9)
            assert abs(ours.loss.item() - ref.loss.item()) <= 1e-10 * max(1e-3, ref.per_kernel.abs().max().item())
            assert ours.num_tuples == ref.num_tuples == min(ns, nt) // 2


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("est", NEW)
@pytest.mark.parametrize("ns,nt,d", SHAPES[1:])
def test_gradients_match_reference(est, ns, nt, d, device):
    gen = torch.Generator().manual_seed(7 + ns + nt + d)
    s, t = make_pair(ns, nt, d, gen=gen, device=device)
    bw = [0.5 * d, 2.0 * d, 7.0 * d]  # given bandwidths, not a doubling ladder: one exp per kernel
    for kw in ({}, {"bandwidths": bw}, {"kernel_num": 4, "kernel_mul": 1.5}):
        B = {"block_size": min(3, min(ns, nt))} if est == "block" else {}
        lo, gs, gt = _grads(est, s, t, True, **kw, **B)
        lr, rs, rt = _grads(est, s, t, False, **kw, **B)
        assert rel_err(gs, rs) < 1e-9 and rel_err(gt, rt) < 1e-9, kw


@pytest.mark.parametrize("est", NEW)
def test_float32_and_half_inputs(est):
    gen = torch.Generator().manual_seed(3)
    s, t = make_pair(48, 40, 16, gen=gen, scale=3.0)
    ref = _stats(est, s, t)
    for dtype, tol in ((torch.float32, 2e-4), (torch.bfloat16, 3e-2), (torch.float16, 5e-3)):
        sd, td = s.to(dtype), t.to(dtype)
        ours = _stats(est, sd, td)
        ref_d = _stats(est, sd.double(), td.double(), fused=False)  # the same rounded inputs
        assert ours.loss.dtype == dtype
        assert rel_err(ours.per_kernel, ref_d.per_kernel) < tol
        _, gs, gt = _grads(est, sd, td, True)
        _, rs, rt = _grads(est, sd.double(), td.double(), False)
        assert gs.dtype == dtype and rel_err(gs, rs) < 10 * tol
    assert rel_err(_stats(est, s.float(), t.float()).per_kernel, ref.per_kernel) < 2e-4


@pytest.mark.parametrize("est", ("block", "unbiased", "biased"))
def test_stripes_and_chunks_give_the_same_result(est, monkeypatch):
    """The driver cuts the pooled rows into stripes (and blocks into chunks) to bound memory: the
    result must not depend on where the cuts fall."""
    gen = torch.Generator().manual_seed(11)
    s, t = make_pair(50, 37, 6, gen=gen)
    kw = {"block_size": 5} if est == "block" else {}
    whole = _stats(est, s, t, **kw)
    _, gs, gt = _grads(est, s, t, True, **kw)
    for elems in (3 * 87, 87 * 5 + 1, 100, 1):  # stripes of 3, 5, 1 rows; chunks of 1 or 2 blocks
        monkeypatch.setattr(_allpairs, "STRIPE_ELEMS", elems)
        cut = _stats(est, s, t, **kw)
        assert rel_err(cut.per_kernel, whole.per_kernel) < 1e-13
        assert rel_err(cut.covariance, whole.covariance) < 1e-12
        _, cs, ct = _grads(est, s, t, True, **kw)
        assert rel_err(cs, gs) < 1e-12 and rel_err(ct, gt) < 1e-12


@pytest.mark.parametrize("est", NEW)
def test_gradcheck(est):
    gen = torch.Generator().manual_seed(5)
    s, t = make_pair(9, 7, 3, gen=gen)
    s.requires_grad_(True)
    t.requires_grad_(True)
    kw = {"block_size": 3} if est == "block" else {}
    f = lambda a, b: dan_ext.mkmmd(a, b, [1.0, 4.0, 9.0], estimator=est, **kw)  # noqa: E731
    assert torch.autograd.gradcheck(f, (s, t))
    assert torch.autograd.gradgradcheck(f, (s, t))


@pytest.mark.parametrize("est", NEW)
def test_only_requested_gradient(est):
    gen = torch.Generator().manual_seed(6)
    s, t = make_pair(12, 10, 4, gen=gen)
    s.requires_grad_(True)
    (g,) = torch.autograd.grad(dan_ext.mkmmd(s, t, estimator=est), (s,))
    _, rs, _ = _grads(est, s, t, False)
    assert rel_err(g, rs) < 1e-9


@pytest.mark.parametrize("est", ("block", "unbiased", "biased"))
def test_thread_count_does_not_change_the_result(est):
    gen = torch.Generator().manual_seed(8)
    s, t = make_pair(300, 260, 40, gen=gen)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _stats(est, s, t)
        torch.set_num_threads(2)
        two = _stats(est, s, t)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one.per_kernel, two.per_kernel) and torch.equal(one.covariance, two.covariance)


def test_block_of_two_is_the_linear_estimator():
    gen = torch.Generator().manual_seed(9)
    for ns, nt in ((10, 10), (11, 14), (2, 3)):
        s, t = make_pair(ns, nt, 5, gen=gen)
        a = _stats("block", s, t, 2)
        b = dan_ext.mkmmd_linear_stats(s, t)
        assert rel_err(a.per_kernel, b.per_kernel) < 1e-13
        assert rel_err(a.bandwidths, b.bandwidths) < 1e-14
        if ns >= 4 and nt >= 4:
            assert rel_err(a.covariance, b.covariance) < 1e-12


def test_non_finite_inputs_give_nan_not_a_crash():
    s, t = make_pair(8, 8, 3)
    s[2, 1] = float("nan")
    t[0, 0] = float("inf")
    for est in NEW:
        assert math.isnan(dan_ext.mkmmd(s, t, estimator=est).item()), est


def test_refuses_bad_estimator_and_block_size():
    s, t = make_pair(8, 6, 3)
    with pytest.raises(ValueError, match="estimator must be one of linear, shifted, block, unbiased, biased"):
        dan_ext.mkmmd(s, t, estimator="quadratic")
    with pytest.raises(ValueError, match=r"block_size must be between 2 and min\(n_source, n_target\) = 6"):
        dan_ext.mkmmd(s, t, estimator="block", block_size=7)
    with pytest.raises(ValueError, match="block_size applies only to estimator='block'"):
        dan_ext.mkmmd(s, t, estimator="unbiased", block_size=4)
    with pytest.raises(TypeError, match="block_size must be an int"):
        dan_ext.mkmmd(s, t, estimator="block", block_size=2.0)


def test_default_block_size_is_the_square_root():
    assert [dan_ext.default_block_size(n) for n in (2, 3, 4, 32, 128, 16384)] == [2, 2, 2, 5, 11, 128]
    for bad in (0, 1, -1, True, 2.0):  # fewer than 2 rows has no block; -1 raised a bare isqrt error
        with pytest.raises(ValueError, match="n must be an integer >= 2"):
            dan_ext.default_block_size(bad)
    s, t = make_pair(40, 33, 3)
    assert rel_err(dan_ext.mkmmd_stats(s, t, estimator="block").per_kernel,
                   dan_ext.mkmmd_stats(s, t, estimator="block", block_size=5).per_kernel) == 0


def test_linear_is_unchanged():
    s, t = make_pair(20, 18, 4)
    assert torch.equal(dan_ext.mkmmd(s, t), dan_ext.mkmmd_linear(s, t))
    a, b = dan_ext.mkmmd_stats(s, t), dan_ext.mkmmd_linear_stats(s, t)
    assert torch.equal(a.per_kernel, b.per_kernel) and torch.equal(a.covariance, b.covariance)


@pytest.mark.parametrize("est", NEW)
def test_mean_sqdist_is_the_default_bandwidth_rule(est):
    s, t = make_pair(21, 17, 4)
    B = {"block_size": 4} if est == "block" else {}
    gbar = dan_ext.estimator_mean_sqdist(s, t, estimator=est, **B)
    ref = reference_estimators.mean_sqdist(s, t, estimator=est, **B)
    assert rel_err(gbar, ref) < 1e-13
    st = dan_ext.mkmmd_stats(s, t, estimator=est, **B)
    assert rel_err(st.bandwidths, dan_ext.default_bandwidths(gbar, 5, 2.0)) < 1e-14


@pytest.mark.parametrize("est", ("block", "unbiased", "biased"))
def test_far_from_the_origin_in_float32(est):
    """Distances come from |x|^2 + |y|^2 - 2 x.y; the rows are centred first, so features far from
    the origin (post-ReLU activations are all positive) lose nothing to cancellation."""
    gen = torch.Generator().manual_seed(12)
    s, t = make_pair(64, 64, 32, gen=gen)
    s, t = (s + 1000.0).float(), (t + 1000.0).float()
    ours = _stats(est, s, t)
    ref = _stats(est, s.double(), t.double(), fused=False)
    assert rel_err(ours.per_kernel, ref.per_kernel) < 1e-3


@pytest.mark.parametrize("est", ("block", "unbiased", "biased"))
@pytest.mark.parametrize("amp_dtype", (torch.bfloat16, torch.float16))
def test_runs_under_autocast_in_full_precision(est, amp_dtype):
    """An AMP training loop calls the penalty inside autocast: the Gram matmuls must not drop to half
    precision (the pass refuses it, and the distances would be lost)."""
    s, t = make_pair(16, 12, 8, dtype=torch.float32)
    plain = dan_ext.mkmmd(s, t, estimator=est)
    with torch.autocast("cpu", dtype=amp_dtype):
        under = dan_ext.mkmmd(s, t, estimator=est)
    assert torch.equal(under, plain)


def test_no_gradient_work_without_autograd(monkeypatch):
    """Inputs that require grad inside no_grad / inference_mode: the forward skips the gradient."""
    asked = []
    real = _allpairs.run

    def spy(*args):
        asked.append(args[-2:])
        return real(*args)

    monkeypatch.setattr(_allpairs, "run", spy)
    s, t = make_pair(10, 10, 3)
    s.requires_grad_(True)
    with torch.no_grad():
        dan_ext.mkmmd(s, t, estimator="unbiased")
    with torch.inference_mode():
        dan_ext.mkmmd(s, t, estimator="unbiased")
    dan_ext.mkmmd(s, t, estimator="unbiased")
    assert asked == [(False, False), (False, False), (True, False)]


def test_numpy_integer_block_size():
    import numpy as np

    s, t = make_pair(12, 12, 3)
    assert torch.equal(dan_ext.mkmmd(s, t, estimator="block", block_size=np.int64(4)),
                       dan_ext.mkmmd(s, t, estimator="block", block_size=4))
