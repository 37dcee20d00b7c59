"""CUDA-only behaviour: half precision, streams, no host synchronisation, large grids.
Skipped (visibly) without a CUDA device; benchmarks/gpu_check.sh runs them on a GPU."""
import pytest
import torch

import dan_ext
from dan_ext import reference
from conftest import CUDA, make_pair, rel_err, rel_err_beyond_rounding

pytestmark = pytest.mark.skipif(not CUDA, reason="no CUDA device or no CUDA kernels")


@pytest.mark.parametrize("dtype, tol", [(torch.float16, 2e-3), (torch.bfloat16, 1e-2)])
@pytest.mark.parametrize("shape", [(64, 64, 31, 5), (257, 300, 1024, 33), (9, 7, 8, 1), (40, 41, 1, 64)])
def test_half_inputs_accumulate_in_float32(shape, dtype, tol):
    ns, nt, d, m = shape
    xs, xt = make_pair(ns, nt, d, dtype=dtype, device="cuda")
    xs.requires_grad_(True)
    xt.requires_grad_(True)
    st = dan_ext.mkmmd_linear_stats(xs, xt, kernel_num=m)
    gs, gt = torch.autograd.grad(st.loss, (xs, xt))
    assert st.loss.dtype == dtype and gs.dtype == dtype
    rs = xs.detach().double().requires_grad_(True)
    rt = xt.detach().double().requires_grad_(True)
    ref = reference.mkmmd_linear_stats(rs, rt, kernel_num=m)
    rgs, rgt = torch.autograd.grad(ref.loss, (rs, rt))
    assert rel_err(st.per_kernel, ref.per_kernel) < 1e-5  # float32 accumulation, float64 terms
    assert rel_err_beyond_rounding(st.loss, ref.loss) < tol
    assert rel_err_beyond_rounding(gs, rgs) < tol and rel_err_beyond_rounding(gt, rgt) < tol


@pytest.mark.parametrize("shape", [(70001, 69999, 3, 5), (20000, 20000, 16, 64), (3000, 3001, 5, 200)])
def test_many_blocks_and_many_kernels(shape):
    ns, nt, d, m = shape
    xs, xt = make_pair(ns, nt, d, device="cuda")
    xs.requires_grad_(True)
    st = dan_ext.mkmmd_linear_stats(xs, xt, kernel_num=m, kernel_mul=1.1)
    (g,) = torch.autograd.grad(st.loss, xs)
    rs = xs.detach().requires_grad_(True)
    ref = reference.mkmmd_linear_stats(rs, xt, kernel_num=m, kernel_mul=1.1)
    (rg,) = torch.autograd.grad(ref.loss, rs)
    for a, b in ((st.loss, ref.loss), (st.per_kernel, ref.per_kernel), (st.covariance, ref.covariance), (g, rg)):
        assert rel_err(a, b) < 1e-11


def test_runs_on_the_current_stream_and_is_deterministic():
    xs, xt = make_pair(4096, 4096, 256, dtype=torch.float32, device="cuda")
    xs.requires_grad_(True)
    base = dan_ext.mkmmd_linear_stats(xs, xt, kernel_num=7)
    (gbase,) = torch.autograd.grad(base.loss, xs)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            st = dan_ext.mkmmd_linear_stats(xs, xt, kernel_num=7)
            (g,) = torch.autograd.grad(st.loss, xs)
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    assert torch.equal(st.loss, base.loss) and torch.equal(st.covariance, base.covariance) and torch.equal(g, gbase)


def test_forward_and_backward_never_synchronise_the_host():
    xs, xt = make_pair(512, 512, 64, dtype=torch.float32, device="cuda")
    xs.requires_grad_(True)
    dan_ext.mkmmd_linear(xs, xt).backward()  # warm up allocations
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        st = dan_ext.mkmmd_linear_stats(xs, xt, kernel_num=5)
        st.loss.backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()


def test_cuda_matches_cpu():
    xs, xt = make_pair(999, 1001, 77, dtype=torch.float64)
    cpu = dan_ext.mkmmd_linear_stats(xs, xt, kernel_num=5)
    gpu = dan_ext.mkmmd_linear_stats(xs.cuda(), xt.cuda(), kernel_num=5)
    assert rel_err(gpu.loss, cpu.loss) < 1e-12
    assert rel_err(gpu.covariance, cpu.covariance) < 1e-12
