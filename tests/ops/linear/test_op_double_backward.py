"""Second derivatives: torch.autograd.grad(..., create_graph=True) must give a gradient that is
itself differentiable and right (gradient penalties, meta-learning), never a silent constant."""
import pytest
import torch

import dan_ext
from dan_ext import reference
from conftest import DEVICES, make_pair

SHAPES = [(2, 2, 1, 1), (5, 4, 1, 3), (7, 9, 3, 1), (9, 7, 6, 4), (12, 12, 4, 5), (6, 11, 2, 8)]


def _inputs(shape, device, seed):
    ns, nt, d, m = shape
    gen = torch.Generator().manual_seed(seed)
    xs, xt = make_pair(ns, nt, d, device=device, gen=gen, shift=0.3)
    bw = ((0.5 + torch.rand(m, generator=gen, dtype=torch.float64)) * 2 * d).tolist()
    betas = torch.rand(m, generator=gen, dtype=torch.float64).tolist()
    return xs.requires_grad_(True), xt.requires_grad_(True), bw, betas


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_gradgradcheck_explicit_bandwidths(shape, device):
    xs, xt, bw, betas = _inputs(shape, device, seed=sum(shape))
    assert torch.autograd.gradgradcheck(lambda a, b: dan_ext.mkmmd_linear(a, b, bw, betas), (xs, xt))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_double_backward_default_bandwidths(shape, device):
    """Default bandwidths are detached, so the Hessian is that of the loss at the bandwidths the
    batch produced, frozen: the same as with those bandwidths passed, and gradgradcheck holds there."""
    xs, xt, _, _ = _inputs(shape, device, seed=7 * sum(shape))
    m = shape[3]
    frozen = dan_ext.mkmmd_linear_stats(xs, xt, kernel_num=m, kernel_mul=1.5).bandwidths.clone()
    v_s, v_t = torch.randn_like(xs), torch.randn_like(xt)

    def hvp(fn):
        gs, gt = torch.autograd.grad(fn(xs, xt), (xs, xt), create_graph=True)
        assert gs.grad_fn is not None and gt.grad_fn is not None
        return torch.autograd.grad((gs * v_s).sum() + (gt * v_t).sum(), (xs, xt))

    ours = hvp(lambda a, b: dan_ext.mkmmd_linear(a, b, kernel_num=m, kernel_mul=1.5))
    fixed = hvp(lambda a, b: dan_ext.mkmmd_linear(a, b, frozen))
    spec = hvp(lambda a, b: reference.mkmmd_linear(a, b, kernel_num=m, kernel_mul=1.5))
    for o, f, r in zip(ours, fixed, spec):
        torch.testing.assert_close(o, f, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(o, r, rtol=1e-10, atol=1e-12)
        assert o.abs().max() > 0
    assert torch.autograd.gradgradcheck(lambda a, b: dan_ext.mkmmd_linear(a, b, frozen), (xs, xt))


def test_gradgradcheck_through_the_registered_op():
    """The torch.library op's autograd formula (used by torch.compile and direct torch.ops calls)."""
    xs, xt, bw, betas = _inputs((9, 8, 3, 3), "cpu", seed=3)
    bw_t, betas_t = torch.tensor(bw, dtype=torch.float64), torch.tensor(betas, dtype=torch.float64)

    def fn(a, b):
        return torch.ops.dan_ext.mkmmd_forward(a, b, bw_t, betas_t, 2.0, False)[0]

    assert torch.autograd.gradgradcheck(fn, (xs, xt))


def test_first_order_gradients_still_come_from_the_kernels():
    """Without create_graph the compiled backward runs (no graph is built): same values as the
    differentiable path, within rounding, and no grad_fn."""
    xs, xt, bw, betas = _inputs((16, 16, 8, 3), "cpu", seed=11)
    (g,) = torch.autograd.grad(dan_ext.mkmmd_linear(xs, xt, bw, betas), xs)
    (h,) = torch.autograd.grad(dan_ext.mkmmd_linear(xs, xt, bw, betas), xs, create_graph=True)
    assert g.grad_fn is None and h.grad_fn is not None
    torch.testing.assert_close(g, h, rtol=1e-12, atol=1e-15)
