"""torch.library registration of the joint MMD: opcheck of both ops, torch.compile without graph breaks
(forward and backward equal to eager), and the pure-PyTorch fallback without the compiled module."""
import pytest
import torch

import dan_ext
from dan_ext import reference
from dan_ext.linear import backend as _backend
from conftest import DEVICES
from jmmd_inputs import make_layers, requiring_grad


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck_forward_and_backward(device):
    sources, targets = make_layers(9, 12, (5, 3), device=device)
    sources, targets = requiring_grad(sources), requiring_grad(targets)
    f64 = dict(dtype=torch.float64, device=device)
    betas = torch.tensor([0.2, 0.3, 0.5, 1.0], **f64)
    bw = torch.tensor([1.0, 4.0, 9.0, float("nan")], **f64)  # layer 1 derived: its entry is ignored
    for args in ((sources, targets, bw, [True, False], betas, [3, 1], [2.0, 1.5]),
                 (sources, targets, None, [False, False], betas, [3, 1], [2.0, 1.5]),
                 (sources[:1], targets[:1], None, [False], betas[:3], [3], [2.0])):
        torch.library.opcheck(torch.ops.dan_ext.jmmd_forward.default, args)
    w = torch.randn(2, 4, 4, **f64)
    g = torch.tensor(1.5, **f64)
    torch.library.opcheck(torch.ops.dan_ext.jmmd_backward.default,
                          (g, [x.detach() for x in sources], [x.detach() for x in targets], w, [True, False],
                           [False, True]))


@pytest.mark.parametrize("device", DEVICES)
def test_torch_compile_fullgraph_matches_eager(device):
    torch._dynamo.reset()

    def f(s0, s1, t0, t1):
        return dan_ext.jmmd_linear([s0, s1], [t0, t1], [None, [0.5, 2.0]], kernel_nums=(3, 2)) * 2.0 + s0.sum() * 0.0

    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    sources, targets = make_layers(16, 18, (7, 4), device=device)
    sources, targets = requiring_grad(sources), requiring_grad(targets)
    eager = f(*sources, *targets)
    got = compiled(*sources, *targets)
    torch.testing.assert_close(got, eager, rtol=0, atol=0)
    for ge, gc in zip(torch.autograd.grad(eager, sources + targets), torch.autograd.grad(got, sources + targets)):
        torch.testing.assert_close(gc, ge, rtol=1e-14, atol=0)


def test_stats_under_compile():
    torch._dynamo.reset()
    sources, targets = make_layers(10, 10, (3, 2))

    def f(s0, s1, t0, t1):
        st = dan_ext.jmmd_linear_stats([s0, s1], [t0, t1], kernel_nums=(2, 1))
        return st.loss, st.bandwidths[0], st.bandwidths[1]

    for a, b in zip(torch.compile(f, fullgraph=True, backend="aot_eager")(*sources, *targets), f(*sources, *targets)):
        assert torch.equal(a, b)


def test_falls_back_to_the_reference_without_the_compiled_module(monkeypatch):
    """Where the compiled kernels are missing, the op is the reference (with the one warning MK-MMD gives)."""
    monkeypatch.setattr(_backend, "COMPILED", False)
    monkeypatch.setattr(_backend, "_warned", False)
    monkeypatch.setattr(_backend, "_C", None)  # any call into the module would fail
    sources, targets = make_layers(10, 11, (4, 2))
    with pytest.warns(RuntimeWarning, match="falling back to the plain-PyTorch reference"):
        got = dan_ext.jmmd_linear(sources, targets, kernel_nums=(3, 1))
    assert torch.equal(got, reference.jmmd_linear(sources, targets, kernel_nums=(3, 1)))
    st = dan_ext.jmmd_linear_stats(sources, targets, kernel_nums=(3, 1))
    assert torch.equal(st.loss, got) and [b.shape for b in st.bandwidths] == [(3,), (1,)]
