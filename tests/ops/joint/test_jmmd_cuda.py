"""CUDA-only behaviour of the joint MMD: half precision, many blocks (grid-stride loops past one
wave), aligned and unaligned layers in one call, the current stream, no host synchronisation, and the
same estimate as the CPU. Skipped (visibly) without a CUDA device; `pytest tests/ops/joint` on a
GPU machine runs them with the CUDA cases of the other test_jmmd files."""
import pytest
import torch

import dan_ext
from dan_ext import reference
from conftest import CUDA, rel_err, rel_err_beyond_rounding
from jmmd_inputs import as_reference_inputs, make_layers, requiring_grad

pytestmark = pytest.mark.skipif(not CUDA, reason="no CUDA device or no CUDA kernels")


@pytest.mark.parametrize("dtype, tol", [(torch.float16, 2e-3), (torch.bfloat16, 1e-2)])
@pytest.mark.parametrize("shape", [(64, 64, (256, 31), (5, 1)), (257, 300, (1024, 7), (33, 2)), (9, 7, (8,), (1,))])
def test_half_inputs_accumulate_in_float32(shape, dtype, tol):
    ns, nt, dims, ms = shape
    sources, targets = make_layers(ns, nt, dims, dtype=dtype, device="cuda")
    sources, targets = requiring_grad(sources), requiring_grad(targets)
    loss = dan_ext.jmmd_linear(sources, targets, kernel_nums=list(ms))
    grads = torch.autograd.grad(loss, sources + targets)
    assert loss.dtype == dtype and all(g.dtype == dtype for g in grads)
    rs, rt = as_reference_inputs(sources), as_reference_inputs(targets)
    ref = reference.jmmd_linear(rs, rt, kernel_nums=list(ms))
    assert rel_err_beyond_rounding(loss, ref) < tol
    for g, r in zip(grads, torch.autograd.grad(ref, rs + rt)):
        assert rel_err_beyond_rounding(g, r) < tol


@pytest.mark.parametrize("shape", [(1100001, 1099999, (3, 2), (5, 1)), (20000, 20001, (16, 5, 1), (64, 3, 1)),
                                   (3000, 3001, (257, 31), (200, 1))])
def test_many_blocks_and_many_kernels(shape):
    ns, nt, dims, ms = shape
    sources, targets = make_layers(ns, nt, dims, device="cuda")
    sources = requiring_grad(sources)
    st = dan_ext.jmmd_linear_stats(sources, targets, kernel_nums=list(ms), kernel_muls=1.1)
    grads = torch.autograd.grad(st.loss, sources)
    rs = as_reference_inputs(sources)
    ref = reference.jmmd_linear_stats(rs, targets, kernel_nums=list(ms), kernel_muls=1.1)
    assert rel_err(st.loss, ref.loss) < 1e-11
    for bw, rbw in zip(st.bandwidths, ref.bandwidths):
        assert rel_err(bw, rbw) < 1e-12
    for g, r in zip(grads, torch.autograd.grad(ref.loss, rs)):
        assert rel_err(g, r) < 1e-11


def test_aligned_and_unaligned_layers_in_one_call():
    """16-byte loads where a layer's rows allow them, element loads where they do not (an odd feature
    count, an offset view), in the same launch."""
    (a, b, c), (x, y, z) = make_layers(301, 299, (256, 31, 64), dtype=torch.float32, device="cuda")
    sources, targets = requiring_grad([a, b, c[:, 1:]]), requiring_grad([x, y, z[:, 1:]])
    loss = dan_ext.jmmd_linear(sources, targets, kernel_nums=(5, 1, 3))
    rs, rt = as_reference_inputs(sources), as_reference_inputs(targets)
    ref = reference.jmmd_linear(rs, rt, kernel_nums=(5, 1, 3))
    assert abs(float(loss.detach()) - float(ref.detach())) < 2e-5 * 2 * 1.0
    for g, r in zip(torch.autograd.grad(loss, sources + targets), torch.autograd.grad(ref, rs + rt)):
        assert rel_err(g, r) < 2e-5


def test_runs_on_the_current_stream_and_is_deterministic():
    sources, targets = make_layers(4096, 4096, (256, 31), dtype=torch.float32, device="cuda")
    sources = requiring_grad(sources)
    base = dan_ext.jmmd_linear(sources, targets, kernel_nums=(7, 1))
    gbase = torch.autograd.grad(base, sources)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            loss = dan_ext.jmmd_linear(sources, targets, kernel_nums=(7, 1))
            g = torch.autograd.grad(loss, sources)
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    assert torch.equal(loss, base) and all(torch.equal(a, b) for a, b in zip(g, gbase))


def test_forward_and_backward_never_synchronise_the_host():
    sources, targets = make_layers(512, 512, (64, 31), dtype=torch.float32, device="cuda")
    sources = requiring_grad(sources)
    dan_ext.jmmd_linear(sources, targets).backward()  # warm up allocations and caches
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        dan_ext.jmmd_linear(sources, targets, kernel_nums=(5, 1)).backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()


def test_cuda_matches_cpu():
    sources, targets = make_layers(999, 1001, (77, 31), gen=torch.Generator().manual_seed(9))
    cpu = dan_ext.jmmd_linear_stats(sources, targets, kernel_nums=(5, 1))
    gpu = dan_ext.jmmd_linear_stats([x.cuda() for x in sources], [x.cuda() for x in targets], kernel_nums=(5, 1))
    assert rel_err(gpu.loss, cpu.loss) < 1e-12
    for a, b in zip(gpu.bandwidths, cpu.bandwidths):
        assert rel_err(a, b) < 1e-12
