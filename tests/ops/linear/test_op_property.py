"""Property-based check of the op against the float64 reference (hypothesis): random shapes, odd
and unequal batches, row and column strides, dtypes, explicit or derived bandwidths, betas.
Bounded to a few seconds: small shapes, a fixed example budget, no deadline per example."""
import torch

import pytest

# The [test] extra brings hypothesis (CI installs it, so this runs there); a bare GPU machine
# without a package registry may lack it.
pytest.importorskip("hypothesis", reason="pip install '.[test]' brings hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

import dan_ext  # noqa: E402
from dan_ext import reference  # noqa: E402

LAYOUTS = ("contiguous", "row_stride", "column_stride", "column_major")


def _view(x: torch.Tensor, layout: str, rows: int) -> torch.Tensor:
    """A [rows, d] tensor with x's values in the given memory layout (x has 2 * rows rows, 2 d columns)."""
    d = x.shape[1] // 2
    if layout == "contiguous":
        return x[:rows, :d].contiguous()
    if layout == "row_stride":
        return x[::2, :d][:rows]
    if layout == "column_stride":
        return x[:rows, ::2][:, :d]
    return x[:rows, :d].t().contiguous().t()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    ns=st.integers(2, 33), nt=st.integers(2, 33), d=st.integers(1, 40),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    layout_s=st.sampled_from(LAYOUTS), layout_t=st.sampled_from(LAYOUTS),
    m=st.integers(1, 6), explicit=st.booleans(), kernel_mul=st.floats(1.1, 3.0),
    scale=st.sampled_from([1e-2, 1.0, 30.0]), shift=st.floats(0.0, 2.0),
    uniform_betas=st.booleans(), seed=st.integers(0, 2**31 - 1),
)
def test_op_matches_reference(ns, nt, d, dtype, layout_s, layout_t, m, explicit, kernel_mul, scale, shift,
                              uniform_betas, seed):
    gen = torch.Generator().manual_seed(seed)
    big_s = torch.randn(2 * ns, 2 * d, generator=gen, dtype=torch.float64) * scale
    big_t = (torch.randn(2 * nt, 2 * d, generator=gen, dtype=torch.float64) + shift) * scale
    xs = _view(big_s.to(dtype), layout_s, ns).requires_grad_(True)
    xt = _view(big_t.to(dtype), layout_t, nt).requires_grad_(True)
    mean_sq = 2 * d * scale ** 2 * (1 + shift ** 2)
    bandwidths = ((0.2 + torch.rand(m, generator=gen, dtype=torch.float64)) * mean_sq).tolist() if explicit else None
    betas = None if uniform_betas else torch.rand(m, generator=gen, dtype=torch.float64).tolist()
    kw = dict(kernel_num=m, kernel_mul=kernel_mul)

    st_ours = dan_ext.mkmmd_linear_stats(xs, xt, bandwidths, betas, **kw)
    rs = xs.detach().double().contiguous().requires_grad_(True)
    rt = xt.detach().double().contiguous().requires_grad_(True)
    st_ref = reference.mkmmd_linear_stats(rs, rt, bandwidths, betas, **kw)

    # |g_u| <= 2 per tuple, so the loss is at most 2 sum(beta): errors are measured against that.
    bound = 2 * (sum(betas) if betas is not None else 1.0)
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    assert st_ours.loss.dtype == dtype and st_ours.num_tuples == min(ns, nt) // 2
    assert abs(float(st_ours.loss.detach()) - float(st_ref.loss.detach())) <= tol * bound
    torch.testing.assert_close(st_ours.bandwidths.cpu(), st_ref.bandwidths.double(), rtol=max(tol, 1e-6), atol=0)
    torch.testing.assert_close(st_ours.per_kernel, st_ref.per_kernel, rtol=0, atol=tol * 2)
    if st_ours.num_tuples >= 2:
        torch.testing.assert_close(st_ours.covariance, st_ref.covariance, rtol=0, atol=tol * 16)

    gs, gt = torch.autograd.grad(st_ours.loss, (xs, xt))
    rgs, rgt = torch.autograd.grad(st_ref.loss, (rs, rt))
    for g, r, n in ((gs, rgs, ns), (gt, rgt, nt)):
        assert g.shape == r.shape and g.dtype == dtype
        used = 2 * (min(ns, nt) // 2)
        assert torch.all(g[used:] == 0), "rows past n get exactly zero gradient"
        scale_g = float(r.abs().max()) + 1e-300
        assert float((g.double() - r).abs().max()) <= (1e-10 if dtype == torch.float64 else 1e-3) * scale_g
