"""torch.library registration: opcheck, torch.compile without graph breaks, the nn.Module."""
import pytest
import torch

import dan_ext
from conftest import DEVICES, make_pair


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck_forward_and_backward(device):
    xs, xt = make_pair(9, 12, 5, device=device)
    xs.requires_grad_(True)
    xt.requires_grad_(True)
    betas = torch.full((3,), 1 / 3, dtype=torch.float64, device=device)
    bw = torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64, device=device)
    for args in ((xs, xt, bw, betas, 2.0, True), (xs, xt, None, betas, 2.0, False)):
        torch.library.opcheck(torch.ops.dan_ext.mkmmd_forward.default, args)
    w = torch.randn(4, 4, dtype=torch.float64, device=device)
    g = torch.tensor(1.5, dtype=torch.float64, device=device)
    torch.library.opcheck(torch.ops.dan_ext.mkmmd_backward.default, (g, xs.detach(), xt.detach(), w, True, False))


@pytest.mark.parametrize("device", DEVICES)
def test_torch_compile_fullgraph_matches_eager(device):
    torch._dynamo.reset()

    def f(a, b):
        return dan_ext.mkmmd_linear(a, b, kernel_num=3) * 2.0 + a.sum() * 0.0

    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    xs, xt = make_pair(16, 18, 7, device=device)
    xs.requires_grad_(True)
    eager = f(xs, xt)
    got = compiled(xs, xt)
    torch.testing.assert_close(got, eager, rtol=0, atol=0)
    (ge,) = torch.autograd.grad(eager, xs)
    (gc,) = torch.autograd.grad(got, xs)
    torch.testing.assert_close(gc, ge, rtol=1e-14, atol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_module_matches_function_and_moves_with_to(device):
    mod = dan_ext.MKMMDLoss(kernel_num=4, kernel_mul=1.5, betas=[0.1, 0.2, 0.3, 0.4]).to(device)
    xs, xt = make_pair(20, 20, 3, device=device)
    ref = dan_ext.mkmmd_linear(xs, xt, betas=[0.1, 0.2, 0.3, 0.4], kernel_num=4, kernel_mul=1.5)
    assert torch.equal(mod(xs, xt), ref)
    assert mod.betas.device.type == device
    assert "betas" in mod.state_dict()
