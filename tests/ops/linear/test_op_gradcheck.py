"""torch.autograd.gradcheck of the compiled op in float64 on random shapes."""
import pytest
import torch

import dan_ext
from conftest import DEVICES, make_pair

SHAPES = [(2, 2, 1, 1), (5, 4, 1, 3), (7, 9, 3, 1), (9, 7, 6, 33), (12, 12, 4, 5), (6, 11, 2, 64)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_gradcheck_explicit_bandwidths(shape, device):
    ns, nt, d, m = shape
    gen = torch.Generator().manual_seed(ns * 1000 + nt * 10 + d)
    xs, xt = make_pair(ns, nt, d, device=device, gen=gen, shift=0.3)
    bw = (0.5 + torch.rand(m, generator=gen, dtype=torch.float64)) * 2 * d
    betas = torch.rand(m, generator=gen, dtype=torch.float64)
    xs.requires_grad_(True)
    xt.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: dan_ext.mkmmd_linear(a, b, bw, betas), (xs, xt))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_gradcheck_default_bandwidths(shape, device):
    """Default bandwidths are detached: the gradient is that of the loss with the bandwidths
    held at the values this batch produced, which is what gradcheck sees once they are frozen."""
    ns, nt, d, m = shape
    gen = torch.Generator().manual_seed(ns + nt + d + m)
    xs, xt = make_pair(ns, nt, d, device=device, gen=gen, shift=0.3)
    xs.requires_grad_(True)
    xt.requires_grad_(True)
    stats = dan_ext.mkmmd_linear_stats(xs, xt, kernel_num=m, kernel_mul=1.5)
    frozen = stats.bandwidths.clone()
    (gs, gt) = torch.autograd.grad(stats.loss, (xs, xt))
    (fs, ft) = torch.autograd.grad(dan_ext.mkmmd_linear(xs, xt, frozen), (xs, xt))
    assert torch.equal(gs, fs) and torch.equal(gt, ft)
    assert torch.autograd.gradcheck(lambda a, b: dan_ext.mkmmd_linear(a, b, frozen), (xs, xt))


@pytest.mark.parametrize("device", DEVICES)
def test_grad_output_scales_gradient(device):
    # The kernel applies the scale before its last rounding, so an element that is the difference of
    # nearly equal terms may differ from -2.5 x the unscaled one by a few 1e-12 of itself (worst over
    # 3,000 seeds: 4.6e-12); measured against the gradient's own scale, the two agree to 1e-14.
    for seed in range(20):
        xs, xt = make_pair(10, 10, 3, device=device, gen=torch.Generator().manual_seed(seed))
        xs.requires_grad_(True)
        loss = dan_ext.mkmmd_linear(xs, xt)
        (g1,) = torch.autograd.grad(loss, xs, retain_graph=True)
        (g2,) = torch.autograd.grad(loss, xs, grad_outputs=torch.tensor(-2.5, dtype=torch.float64, device=device))
        torch.testing.assert_close(g2, -2.5 * g1, rtol=0, atol=1e-14 * float(g1.abs().max()))
