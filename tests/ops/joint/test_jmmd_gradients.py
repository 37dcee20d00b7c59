"""Gradients of dan_ext.jmmd_linear: gradcheck in float64, double backward, grad_output, and which
gradients the backward kernel was asked to write (only those of inputs that require one)."""
import pytest
import torch

import dan_ext
from conftest import DEVICES, record_compiled_calls
from jmmd_inputs import kernel_args, make_layers, requiring_grad

# (n_source, n_target, d per layer, m per layer)
SHAPES = [(2, 2, (1,), (1,)), (5, 4, (1, 2), (3, 1)), (7, 9, (3, 2, 1), (1, 2, 3)), (9, 7, (6, 4), (5, 1)),
          (6, 11, (2, 3), (8, 2))]


def _inputs(shape, device, seed, mode):
    ns, nt, dims, ms = shape
    gen = torch.Generator().manual_seed(seed)
    sources, targets = make_layers(ns, nt, dims, device=device, gen=gen, shift=0.3)
    bandwidths, betas = kernel_args(sources, ms, mode, gen)
    return requiring_grad(sources), requiring_grad(targets), bandwidths, betas, list(ms)


def _fn(L, **kw):
    return lambda *xs: dan_ext.jmmd_linear(list(xs[:L]), list(xs[L:]), **kw)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", ["explicit", "mixed"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:2])) + "_L" + str(len(s[2])))
def test_gradcheck(shape, mode, device):
    sources, targets, bw, betas, ms = _inputs(shape, device, sum(shape[:2]), mode)
    if mode == "mixed":  # the derived layers' bandwidths frozen at this batch's (they carry no gradient)
        bw = [b.clone() for b in dan_ext.jmmd_linear_stats(sources, targets, bw, betas, kernel_nums=ms).bandwidths]
    L = len(sources)
    assert torch.autograd.gradcheck(_fn(L, bandwidths=bw, betas=betas), (*sources, *targets))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES[1:4], ids=lambda s: "x".join(map(str, s[:2])) + "_L" + str(len(s[2])))
def test_derived_bandwidths_are_detached(shape, device):
    """With derived bandwidths the gradient is that of the loss at the bandwidths this batch produced,
    held fixed: the same bits as passing them."""
    sources, targets, _, betas, ms = _inputs(shape, device, 3 * sum(shape[:2]), "derived")
    st = dan_ext.jmmd_linear_stats(sources, targets, betas=betas, kernel_nums=ms, kernel_muls=1.5)
    frozen = [b.clone() for b in st.bandwidths]
    ours = torch.autograd.grad(st.loss, sources + targets)
    fixed = torch.autograd.grad(dan_ext.jmmd_linear(sources, targets, frozen, betas), sources + targets)
    for a, b in zip(ours, fixed):
        assert torch.equal(a, b)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES[:3], ids=lambda s: "x".join(map(str, s[:2])) + "_L" + str(len(s[2])))
def test_gradgradcheck(shape, device):
    sources, targets, bw, betas, _ = _inputs(shape, device, 7 * sum(shape[:2]), "explicit")
    assert torch.autograd.gradgradcheck(_fn(len(sources), bandwidths=bw, betas=betas), (*sources, *targets))


@pytest.mark.parametrize("device", DEVICES)
def test_grad_output_scales_gradient(device):
    sources, targets, _, _, _ = _inputs(SHAPES[3], device, 11, "derived")
    loss = dan_ext.jmmd_linear(sources, targets)
    g1 = torch.autograd.grad(loss, sources + targets, retain_graph=True)
    g2 = torch.autograd.grad(loss, sources + targets, torch.tensor(-2.5, dtype=torch.float64, device=device))
    for a, b in zip(g1, g2):
        # elementwise, a sum of two terms that nearly cancel can lose more than 1e-14 of itself
        torch.testing.assert_close(b, -2.5 * a, rtol=1e-14, atol=1e-14 * float(a.abs().max()))


@pytest.fixture
def backward_kernel_calls(monkeypatch):
    """Which gradients each call of the joint backward kernel was asked to write: per call, the tuple
    (sources, targets) of per-layer booleans (a null pointer makes the kernel skip that gradient)."""
    return record_compiled_calls(monkeypatch, ("jmmd_cpu_backward", "jmmd_cuda_backward"), lambda kw: (
        tuple(p != 0 for p in kw["grad_sources"]), tuple(p != 0 for p in kw["grad_targets"])))


WANTED = [((True, False), (False, False)), ((False, True), (False, False)), ((False, False), (False, True)),
          ((True, False), (False, True)), ((True, True), (True, True))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("path", ["eager", "compiled"])
@pytest.mark.parametrize("wanted", WANTED, ids=lambda w: "s" + "".join("1" if x else "0" for x in w[0]) + "_t"
                         + "".join("1" if x else "0" for x in w[1]))
def test_gradient_only_where_required(wanted, path, device, backward_kernel_calls):
    """The backward kernel writes only the gradients of the layers and sides that require one: seen at
    the kernel call, since autograd.grad would hide a gradient computed and dropped."""
    if path == "compiled" and wanted not in WANTED[1:3]:
        pytest.skip("two compiled cases are enough (a compile costs seconds)")
    sources, targets = make_layers(20, 20, (6, 3), device=device)
    for x, want in zip(sources + targets, wanted[0] + wanted[1]):
        x.requires_grad_(want)
    inputs = [x for x in sources + targets if x.requires_grad]

    def f(s0, s1, t0, t1):
        return dan_ext.jmmd_linear([s0, s1], [t0, t1], kernel_nums=(3, 1))

    if path == "compiled":
        torch._dynamo.reset()
        f = torch.compile(f, fullgraph=True, backend="aot_eager")
    grads = torch.autograd.grad(f(*sources, *targets), inputs)
    assert backward_kernel_calls == [wanted]
    assert [g.shape for g in grads] == [x.shape for x in inputs]
