"""dan_ext.jmmd_linear against the float64 plain-PyTorch reference (reference.jmmd_linear, written from
JAN's formula), on fresh random inputs: L = 1, 2, 3 and 16 layers, d_l from 1 to 300, odd and unequal
batches, derived, explicit and mixed bandwidths, non-uniform betas; forward, bandwidths and gradients."""
import math
import zlib

import pytest
import torch

import dan_ext
from dan_ext import reference
from conftest import DEVICES, rel_err
from jmmd_inputs import as_reference_inputs, kernel_args, make_layers, requiring_grad

# (n_source, n_target, d per layer, m per layer)
SHAPES = [
    (2, 2, (1,), (1,)), (3, 2, (1, 1), (1, 1)), (7, 9, (5, 3), (3, 1)), (64, 64, (256, 31), (5, 1)),
    (65, 64, (256, 31), (5, 1)), (33, 50, (1, 300, 2), (2, 3, 1)), (100, 37, (300, 17, 4), (5, 2, 7)),
    (517, 301, (17, 31), (5, 1)), (128, 130, (64,), (33,)), (9, 8, (2,) * 16, (1, 2) * 8),
]
TOL = {torch.float32: 2e-5, torch.float64: 1e-12}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("mode", ["derived", "explicit", "mixed"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:2])) + "_d" + "-".join(map(str, s[2][:3])))
def test_loss_bandwidths_and_gradients(shape, mode, dtype, device):
    ns, nt, dims, ms = shape
    gen = torch.Generator().manual_seed(zlib.crc32(repr((shape, mode)).encode()))  # hash() of a str varies per run
    sources, targets = make_layers(ns, nt, dims, dtype, device, gen=gen)
    bandwidths, betas = kernel_args(sources, ms, mode, gen)
    sources, targets = requiring_grad(sources), requiring_grad(targets)
    got = dan_ext.jmmd_linear_stats(sources, targets, bandwidths, betas, kernel_nums=list(ms), kernel_muls=1.7)
    grads = torch.autograd.grad(got.loss * 0.75, sources + targets)

    rs, rt = as_reference_inputs(sources), as_reference_inputs(targets)
    ref = reference.jmmd_linear_stats(rs, rt, bandwidths, betas, kernel_nums=list(ms), kernel_muls=1.7)
    ref_grads = torch.autograd.grad(ref.loss * 0.75, rs + rt)

    tol = TOL[dtype]
    assert got.loss.dtype == dtype and got.loss.shape == () and got.num_tuples == min(ns, nt) // 2
    if dtype == torch.float64:
        assert rel_err(got.loss, ref.loss) < tol
    else:  # float32 distances: a loss that cancels to ~1e-4 of its terms (|g| <= 2 prod_l sum(beta_l)) has
        # a relative error of ~1e-5 (measured up to 3.5e-5 over 60 seeds), so the bound is the yardstick
        bound = 2 * math.prod(float(sum(b)) for b in betas)
        assert abs(float(got.loss.detach()) - float(ref.loss.detach())) < tol * bound
    assert len(got.bandwidths) == len(dims)
    for bw, rbw, m in zip(got.bandwidths, ref.bandwidths, ms):
        assert bw.shape == (m,) and bw.dtype == torch.float64
        assert rel_err(bw, rbw) < max(tol, 1e-6 if dtype == torch.float32 else 0)
    n = 2 * got.num_tuples
    for g, r, x in zip(grads, ref_grads, sources + targets):
        assert g.shape == x.shape and g.dtype == dtype
        assert rel_err(g, r) < tol
        assert (g[n:] == 0).all(), "rows past the last quad-tuple must get zero gradient"


@pytest.mark.parametrize("device", DEVICES)
def test_non_contiguous_layers(device):
    """Row- and column-strided and column-major layers, read in place or copied, against the reference
    on contiguous copies."""
    gen = torch.Generator().manual_seed(5)
    (big_s, small_s), (big_t, small_t) = make_layers(60, 70, (40, 12), device=device, gen=gen)
    sources = [big_s[::2, ::3], small_s[:30].t().contiguous().t()]
    targets = [big_t[5:40, 1:15], small_t[::2][:35]]
    assert not any(x.is_contiguous() for x in sources[:1] + targets)
    sources, targets = requiring_grad(sources), requiring_grad(targets)
    ours = dan_ext.jmmd_linear(sources, targets, kernel_nums=(4, 1))
    rs, rt = as_reference_inputs(sources), as_reference_inputs(targets)
    ref = reference.jmmd_linear(rs, rt, kernel_nums=(4, 1))
    assert rel_err(ours, ref) < 1e-12
    for g, r in zip(torch.autograd.grad(ours, sources + targets), torch.autograd.grad(ref, rs + rt)):
        assert g.shape == r.shape and rel_err(g, r) < 1e-12


@pytest.mark.parametrize("device", DEVICES)
def test_nan_and_inf_inputs_give_nan(device):
    for bad in (float("nan"), float("inf")):
        for layer in (0, 1):
            sources, targets = make_layers(10, 10, (4, 3), device=device)
            targets[layer][3, 1] = bad
            assert torch.isnan(dan_ext.jmmd_linear(sources, targets))
            assert torch.isnan(dan_ext.jmmd_linear(sources, targets, [[1.0, 2.0], [3.0]]))


@pytest.mark.parametrize("device", DEVICES)
def test_identical_domains_give_exactly_zero(device):
    """Target rows equal to the source rows make every tuple's g exactly 0; constant rows (all distances 0)
    take the smallest bandwidth and still give 0 and finite, zero gradients."""
    sources, _ = make_layers(12, 12, (6, 3), device=device)
    assert dan_ext.jmmd_linear(sources, [x.clone() for x in sources]).item() == 0.0
    ones = requiring_grad([torch.ones(8, 3, dtype=torch.float64, device=device)] * 2)
    st = dan_ext.jmmd_linear_stats(ones, [x.detach().clone() for x in ones])
    assert st.loss.item() == 0.0 and all(float(bw.min()) > 0 for bw in st.bandwidths)
    for g in torch.autograd.grad(st.loss, ones):
        assert torch.equal(g, torch.zeros_like(g))


def test_cpu_half_inputs_computed_in_float32():
    sources, targets = make_layers(30, 30, (16, 5), dtype=torch.bfloat16)
    sources = requiring_grad(sources)
    loss = dan_ext.jmmd_linear(sources, targets)
    assert loss.dtype == torch.bfloat16
    ref = reference.jmmd_linear([x.detach().double() for x in sources], [x.double() for x in targets])
    assert rel_err(loss, ref) < 1e-2
    assert all(g.dtype == torch.bfloat16 for g in torch.autograd.grad(loss, sources))
