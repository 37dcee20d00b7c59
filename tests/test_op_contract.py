"""The contract between Python and the kernels: one plan for the buffer, constants that agree
across the languages, the mean distance the DDP trainer reduces, and the DAN layer never running
the plain-PyTorch reference in production."""
from pathlib import Path

import pytest
import torch

import dan
import dan_ext
from dan_ext import _backend, _C, reference
from conftest import DEVICES, make_pair


def test_constants_live_once_and_agree():
    assert _C.MIN_BANDWIDTH == dan_ext.MIN_BANDWIDTH == 1e-12
    assert _C.CUDA_MAX_KERNELS == _backend.CUDA_MAX_KERNELS == 3072


@pytest.mark.parametrize("ns, nt, m, need_q", [(2, 2, 1, False), (7, 10, 5, True), (64, 31, 3, False)])
def test_plan_owns_every_offset(ns, nt, m, need_q):
    p = _backend.plan(ns, nt, m, need_q)
    assert p.tuples == min(ns, nt) // 2 == _backend.num_tuples(ns, nt)
    assert p.stats_len == 1 + m + (m * m if need_q else 0)
    assert (p.gammas_at, p.coeffs_at, p.dist_at, p.workspace_at) == (
        p.stats_len, p.stats_len + m, p.stats_len + m + 4 * p.tuples, p.stats_len + m + 8 * p.tuples)
    assert p.total == p.workspace_at  # no CUDA workspace on the CPU
    buf = torch.arange(p.total, dtype=torch.float64)
    parts = _backend.split(buf, p)
    assert parts.stats[0] == 0 and parts.gammas[0] == p.gammas_at and parts.grad_coeffs.shape == (p.tuples, 4)
    assert parts.grad_coeffs[0, 0] == p.coeffs_at


def test_cuda_limit_on_kernels_is_a_clear_error():
    if not (torch.cuda.is_available() and dan_ext.cuda_kernels_available()):
        pytest.skip("needs a CUDA device")
    x = torch.randn(8, 3, device="cuda")
    with pytest.raises(ValueError, match="the CUDA kernels take at most 3072 kernels"):
        dan_ext.mkmmd_linear(x, x, kernel_num=3073, kernel_mul=1.0001)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("ns, nt, d", [(2, 2, 1), (9, 6, 5), (33, 40, 17), (128, 129, 64)])
def test_mean_pair_sqdist_is_the_default_bandwidths_gbar(device, dtype, ns, nt, d):
    xs, xt = make_pair(ns, nt, d, dtype=dtype, device=device, gen=torch.Generator().manual_seed(ns + d))
    gbar = dan_ext.mean_pair_sqdist(xs, xt)
    assert gbar.dtype == torch.float64 and gbar.shape == () and not gbar.requires_grad
    torch.testing.assert_close(gbar.cpu(), reference.mean_pair_sqdist(xs, xt).cpu(),
                               rtol=1e-12 if dtype == torch.float64 else 1e-6, atol=0)
    derived = dan_ext.mkmmd_linear_stats(xs, xt, kernel_num=5, kernel_mul=2.0).bandwidths
    assert torch.equal(dan_ext.default_bandwidths(gbar, 5, 2.0), derived)  # same bits as the op derives
    same = dan_ext.mean_pair_sqdist(xs, xs)
    if ns == nt:  # identical rows pair up only when the batches are equal
        assert float(same) >= dan_ext.MIN_BANDWIDTH


def test_the_dan_layer_never_imports_the_reference():
    """dan_ext.reference is the specification and the benchmark baseline, not a production path."""
    for path in Path(dan.__file__).parent.glob("*.py"):
        text = path.read_text()
        assert "dan_ext.reference" not in text and "from dan_ext import reference" not in text, path


def test_module_refuses_cpus_that_lack_its_instructions():
    """The kernels' -march (DAN_EXT_CPU_ARCH) is checked against this CPU when _C loads: a wheel built
    for newer CPUs raises ImportError with the rebuild command instead of SIGILL. The check itself
    is exercised here with an extension this CPU lacks (AVX512-4FMAPS, Knights Mill only)."""
    built = [f for f in _C.cpu_kernel_features().split(",") if f]
    assert _C.missing_cpu_features(",".join(built)) == ""  # it loaded, so everything it uses is here
    assert _C.missing_cpu_features("sse4.2,avx5124fmaps,not-a-feature") == "avx5124fmaps,not-a-feature"
    if _C.CPU_ARCH == "portable":  # the default: x86-64-v2, nothing newer
        assert set(built) <= {"sse4.2", "popcnt"}, built
