"""The CUDA all-pairs pass (csrc/allpairs_cuda.cu) and the estimators built on it, on a GPU.

Two levels:
  - the compiled stripe pass itself (dan_ext._C.allpairs_cuda_stripe) against the CPU pass on the
    same inner products and against the formula of csrc/allpairs.h written out in float64: per-row
    kernel sums, coefficients (written separately and over the Gram stripe in place), their row sums,
    the left-out pairs (own row, block partner) at exactly 0, NaN/Inf, every kernel-count bucket
    (1..32, doubling ladders and not), rows past one grid, every block size, bit-identical repeats,
    the given stream, no host blocking, and the refusal past 32 kernels. Every output starts as NaN,
    so an element the kernel forgot to write fails.
  - the public estimators (dan_ext.mkmmd, dan_ext.mkmmd_stats), all five, on CUDA against the same
    call on the CPU and against dan_ext.estimators.reference (float64): loss, per_kernel, covariance,
    bandwidths, num_tuples and the gradients, for n from 2 to 3200, unequal batches, d from 1 to 100,
    1 to 32 kernels, derived and given bandwidths, block sizes. The suite's poison_outputs fixture
    (conftest.py) makes the driver's buffers start as NaN, so unwritten rows show up as NaN.
Skipped (visibly) without a CUDA device or CUDA kernels. Written on a machine without a GPU: the
CPU halves of these comparisons were run there (the CUDA ones not)."""
import math
import time

import pytest
import torch

import dan_ext
from dan_ext import testing
from dan_ext.linear import backend as _backend
from dan_ext._constants import DTYPE_CODES
from conftest import CUDA, make_pair, rel_err

pytestmark = pytest.mark.skipif(not CUDA, reason="no CUDA device or no CUDA kernels")

DEVICE = "cuda"
F64 = torch.float64
NAN = float("nan")
MAX_KERNELS = 32  # csrc/allpairs.h kAllPairsCudaMaxKernels


@pytest.fixture(autouse=True)
def no_tf32():
    """Float32 tolerances below assume float32 matmuls (torch's default), not TF32."""
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32 = saved


def _reference():
    from dan_ext.estimators import reference as reference_estimators

    return reference_estimators


def assert_close(out, ref, rtol, floor, what):
    """NaN exactly where ``ref`` has NaN; elsewhere finite and |out - ref| <= rtol * max(|ref|, floor)
    (norms over all elements)."""
    out, ref = out.detach().double().cpu(), ref.detach().double().cpu()
    assert out.shape == ref.shape, f"{what}: shape {tuple(out.shape)} != {tuple(ref.shape)}"
    nan_ref = torch.isnan(ref)
    assert torch.equal(torch.isnan(out), nan_ref), f"{what}: NaN pattern differs ({out} vs {ref})"
    o, r = out[~nan_ref], ref[~nan_ref]
    assert torch.isfinite(o).all(), f"{what}: Inf in the output"
    err, scale = float((o - r).norm()), max(float(r.norm()), floor)
    assert err <= rtol * scale, f"{what}: |out - ref| = {err:.3g} > {rtol:g} * {scale:.3g}"


# =============================================================================================
# The stripe pass (csrc/allpairs.h) called directly.


def stripe_case(batch, N, n_source, rows, row0, d, dtype, seed):
    """(G [batch, rows, N] in dtype, norms [batch, N] float64): centred pooled rows, the target rows
    shifted, as the driver (dan_ext/estimators/allpairs.py) builds them. On the CPU; both passes get these bits."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, N, d, generator=gen, dtype=F64)
    z[:, n_source:] += 0.5
    z = z - z.mean(dim=1, keepdim=True)
    norms = z.square().sum(dim=2).contiguous()
    zw = z.to(dtype)
    G = torch.matmul(zw[:, row0:row0 + rows], zw.transpose(1, 2)).contiguous()
    return G, norms


def kernels(m, d, ladder, seed):
    """(gammas, betas) float64: around the mean squared distance 2d; a doubling ladder (the kernel
    squares its way down it) or irregular bandwidths (one exp per kernel); non-uniform betas."""
    gen = torch.Generator().manual_seed(seed + 1000)
    if ladder:
        gammas = (2.0 * d) * 2.0 ** (torch.arange(m, dtype=F64) - m // 2)
    else:
        gammas = (2.0 * d) * torch.exp(torch.randn(m, generator=gen, dtype=F64))
    betas = torch.rand(m, generator=gen, dtype=F64) + 0.05
    return gammas, betas / betas.sum()


def region_weights(N, n_source):
    """(w_source, w_target, w_cross), distinct per region (a region mix-up changes the coefficients)."""
    ns, nt = n_source, N - n_source
    return 1.0 / (ns * ns), 1.0 / (nt * nt), -1.0 / (ns * nt)


def buffers(device, G, norms, gammas, betas, coeff):
    """Device copies of the inputs and NaN-filled outputs. coeff: 'separate' (a NaN buffer),
    'inplace' (over the Gram stripe, as the driver does) or None (no coefficients)."""
    batch, rows, _ = G.shape
    m = gammas.shape[0]
    b = dict(G=G.to(device, copy=True), norms=norms.to(device, copy=True), gammas=gammas.to(device, copy=True),
             betas=betas.to(device, copy=True))
    b["same"] = torch.full((batch, rows, m), NAN, dtype=F64, device=device)
    b["cross"] = torch.full((batch, rows, m), NAN, dtype=F64, device=device)
    b["rowsum"] = torch.full((batch, rows), NAN, dtype=F64, device=device)
    b["coeff"] = {"separate": torch.full_like(b["G"], NAN), "inplace": b["G"], None: None}[coeff]
    return b


def launch(b, *, row0, n_source, paired, w, stream=None):
    G = b["G"]
    batch, rows, N = G.shape
    coeff = b["coeff"]
    args = dict(dtype=DTYPE_CODES[G.dtype], gram=G.data_ptr(), coeff=0 if coeff is None else coeff.data_ptr(),
                batch=batch, rows=rows, cols=N, row0=row0, n_source=n_source, norms=b["norms"].data_ptr(),
                paired=paired, w_source=w[0], w_target=w[1], w_cross=w[2], gammas=b["gammas"].data_ptr(),
                betas=b["betas"].data_ptr(), m=b["gammas"].shape[0], same=b["same"].data_ptr(),
                cross=b["cross"].data_ptr(), coeff_rowsum=0 if coeff is None else b["rowsum"].data_ptr())
    if G.device.type == "cuda":
        if stream is None:
            stream = torch.cuda.current_stream(G.device).cuda_stream
        _backend._C.allpairs_cuda_stripe(device=G.device.index, stream=stream, **args)
    else:
        _backend._C.allpairs_cpu_stripe(num_threads=torch.get_num_threads(), **args)


def results(b):
    out = {k: b[k].cpu() for k in ("same", "cross", "G")}
    if b["coeff"] is not None:
        out["coeff"], out["rowsum"] = b["coeff"].cpu(), b["rowsum"].cpu()
    return out


def run_stripe(device, G, norms, gammas, betas, *, row0, n_source, paired, w, coeff="separate"):
    b = buffers(device, G, norms, gammas, betas, coeff)
    launch(b, row0=row0, n_source=n_source, paired=paired, w=w)
    return results(b)


def left_out_mask(rows, N, row0, n_source, paired):
    """[rows, N]: the entries that are not pairs (j == the row's pooled index; with ``paired`` also
    j == its partner i +- n_source, whatever the partner's domain, as the CPU pass)."""
    p = torch.arange(row0, row0 + rows)
    j = torch.arange(N)
    left = j[None, :] == p[:, None]
    if paired:
        q = torch.where(p < n_source, p + n_source, p - n_source)
        left = left | (j[None, :] == q[:, None])
    return left


def expected(G, norms, gammas, betas, *, row0, n_source, paired, w):
    """csrc/allpairs.h written out in float64 (finite inputs): (same, cross, coefficients)."""
    batch, rows, N = G.shape
    p = torch.arange(row0, row0 + rows)
    j = torch.arange(N)
    D = (norms[:, p, None] + norms[:, None, :] - 2.0 * G.double()).clamp_min(0.0)
    K = torch.exp(-D.unsqueeze(-1) / gammas)                                   # [batch, rows, N, m]
    K = torch.where(left_out_mask(rows, N, row0, n_source, paired)[None, :, :, None], torch.zeros_like(K), K)
    row_src, col_src = p < n_source, j < n_source
    same_dom = row_src[:, None] == col_src[None, :]                           # [rows, N]
    zero = torch.zeros_like(K)
    same = torch.where(same_dom[None, :, :, None], K, zero).sum(dim=2)
    cross = torch.where(same_dom[None, :, :, None], zero, K).sum(dim=2)
    wreg = torch.full((rows, N), w[2], dtype=F64)
    wreg[same_dom & row_src[:, None]] = w[0]
    wreg[same_dom & ~row_src[:, None]] = w[1]
    coeff = wreg * (K * (-betas / gammas)).sum(dim=-1)
    return same, cross, coeff


def check_rowsum(rowsum, coeff, rtol, what):
    """rowsum = the float64 sum of the stored coefficients, to rtol of the sum of their magnitudes
    (the coefficients change sign between the regions)."""
    c = coeff.double()
    err = (rowsum - c.sum(dim=-1)).abs()
    bound = rtol * c.abs().sum(dim=-1) + 1e-300
    assert bool((err <= bound).all()), f"{what}: worst {float((err / bound).max()):.3g} of the bound"


def coeff_rtol(dtype):
    # float64: a few ulp of exp; float32: the stored value may round to the neighbouring float32.
    return 1e-12 if dtype == F64 else 2.5e-7


def coeff_atol(dtype):
    return 1e-300 if dtype == F64 else 1e-37


# batch, N (cols), n_source, rows, row0, d, m, doubling ladder, paired
STRIPES = [
    (1, 2, 1, 2, 0, 1, 1, False, False),           # the smallest problem
    (1, 5, 2, 5, 0, 3, 5, True, False),
    (3, 8, 4, 8, 0, 4, 5, True, True),             # blocks of the block estimator (paired)
    (7, 6, 3, 6, 0, 2, 2, True, True),
    (2, 9, 3, 9, 0, 3, 4, False, True),            # paired, nt > ns: some partners in the own domain
    (1, 70, 30, 70, 0, 17, 8, False, False),       # 64 threads
    (1, 300, 150, 100, 100, 50, 9, True, False),   # a stripe straddling the domains
    (2, 257, 128, 257, 0, 31, 16, True, False),    # 128 threads, MAXM 16
    (1, 1025, 700, 64, 650, 8, 17, False, False),  # 256 threads, MAXM 32, straddling
    (1, 5000, 2600, 40, 2580, 5, 32, True, False),  # 32 kernels down a ladder, 20 entries a thread
    (1, 5000, 2600, 40, 4960, 5, 31, False, False),
    (5, 64, 32, 64, 0, 100, 1, False, True),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("case", STRIPES, ids=lambda c: "b{}_N{}_ns{}_rows{}@{}_d{}_m{}{}{}".format(
    *c[:7], "_ladder" if c[7] else "", "_paired" if c[8] else ""))
def test_stripe_matches_cpu_pass_and_formula(case, dtype):
    batch, N, ns, rows, row0, d, m, ladder, paired = case
    G, norms = stripe_case(batch, N, ns, rows, row0, d, dtype, seed=N * 7 + m)
    gammas, betas = kernels(m, d, ladder, seed=N + m)
    kw = dict(row0=row0, n_source=ns, paired=paired, w=region_weights(N, ns))
    gpu = run_stripe(DEVICE, G, norms, gammas, betas, **kw)
    cpu = run_stripe("cpu", G, norms, gammas, betas, **kw)
    same, cross, coeff = expected(G, norms, gammas, betas, **kw)
    for name, ref in (("same", same), ("cross", cross)):
        assert torch.isfinite(gpu[name]).all(), f"{name} unwritten (NaN)"
        torch.testing.assert_close(gpu[name], cpu[name], rtol=1e-12, atol=1e-300, msg=f"{name} vs CPU")
        torch.testing.assert_close(gpu[name], ref, rtol=1e-12, atol=1e-300, msg=f"{name} vs formula")
    assert gpu["coeff"].dtype == dtype and torch.isfinite(gpu["coeff"]).all()
    rtol, atol = coeff_rtol(dtype), coeff_atol(dtype)
    torch.testing.assert_close(gpu["coeff"].double(), cpu["coeff"].double(), rtol=rtol, atol=atol)
    torch.testing.assert_close(gpu["coeff"].double(), coeff.to(dtype).double(), rtol=rtol, atol=atol)
    left = left_out_mask(rows, N, row0, ns, paired)
    assert bool((gpu["coeff"][:, left] == 0).all()), "a left-out entry has a non-zero coefficient"
    check_rowsum(gpu["rowsum"], gpu["coeff"], 1e-12, "rowsum vs its own coefficients")
    check_rowsum(gpu["rowsum"], cpu["coeff"], 1e-12 if dtype == F64 else 2.5e-7, "rowsum vs the CPU's")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("case", [STRIPES[3], STRIPES[7], STRIPES[8]], ids=["blocks", "N257", "N1025"])
def test_stripe_in_place_and_without_coefficients(case, dtype):
    """Coefficients over the Gram stripe (gram == coeff, as the driver calls it) equal those written
    to a separate buffer, bit for bit; without coefficients the sums are the same bits, the Gram
    stripe is untouched and coeff_rowsum not written; repeats are bit-identical."""
    batch, N, ns, rows, row0, d, m, ladder, paired = case
    G, norms = stripe_case(batch, N, ns, rows, row0, d, dtype, seed=3)
    gammas, betas = kernels(m, d, ladder, seed=4)
    kw = dict(row0=row0, n_source=ns, paired=paired, w=region_weights(N, ns))
    sep = run_stripe(DEVICE, G, norms, gammas, betas, coeff="separate", **kw)
    again = run_stripe(DEVICE, G, norms, gammas, betas, coeff="separate", **kw)
    inplace = run_stripe(DEVICE, G, norms, gammas, betas, coeff="inplace", **kw)
    bare = run_stripe(DEVICE, G, norms, gammas, betas, coeff=None, **kw)
    for name in ("same", "cross", "coeff", "rowsum"):
        assert torch.equal(sep[name], again[name]), f"{name} differs between two identical calls"
        assert torch.equal(sep[name], inplace[name]), f"{name} differs when written over the Gram stripe"
    assert torch.equal(inplace["G"], inplace["coeff"])
    assert torch.equal(bare["same"], sep["same"]) and torch.equal(bare["cross"], sep["cross"])
    assert torch.equal(bare["G"], G), "the Gram stripe changed without coefficients"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_stripe_nan_and_inf_as_the_cpu_pass(dtype):
    """NaN in an inner product makes its pair's sums, coefficient and row sum NaN; +Inf gives a
    negative distance (clamped to 0, kernel 1); -Inf an infinite distance (NaN); a NaN at a left-out
    entry (own row, block partner) changes nothing. Same NaN pattern and values as the CPU pass."""
    for paired in (False, True):
        N, ns = 12, 6
        G, norms = stripe_case(1, N, ns, N, 0, 3, dtype, seed=11)
        G[0, 2, 7] = NAN       # source row, target column: cross[2] and rowsum[2] NaN
        G[0, 3, 3] = NAN       # own index: left out
        G[0, 1, 7] = NAN       # partner of row 1 when paired: left out then, NaN otherwise
        G[0, 8, 1] = math.inf  # distance -inf -> 0
        G[0, 9, 10] = -math.inf  # distance +inf -> NaN in same[9]
        gammas, betas = kernels(5, 3, True, seed=12)
        kw = dict(row0=0, n_source=ns, paired=paired, w=region_weights(N, ns))
        gpu = run_stripe(DEVICE, G, norms, gammas, betas, **kw)
        cpu = run_stripe("cpu", G, norms, gammas, betas, **kw)
        for name in ("same", "cross", "coeff", "rowsum"):
            assert torch.equal(torch.isnan(gpu[name]), torch.isnan(cpu[name])), f"{name}: NaN pattern (paired={paired})"
            torch.testing.assert_close(gpu[name].double(), cpu[name].double(), rtol=coeff_rtol(dtype),
                                       atol=coeff_atol(dtype), equal_nan=True)
        assert torch.isnan(gpu["cross"][0, 2]).all() and torch.isnan(gpu["rowsum"][0, 2])
        assert torch.isfinite(gpu["same"][0, 2]).all()
        assert torch.isfinite(gpu["same"][0, 3]).all() and torch.isfinite(gpu["cross"][0, 3]).all()
        assert gpu["coeff"][0, 3, 3] == 0
        assert bool(torch.isfinite(gpu["cross"][0, 1]).all()) == paired
        assert torch.isnan(gpu["same"][0, 9]).all()


def test_stripe_rows_past_one_grid():
    """1.2M rows (the kernel's grid stops at 2^20 blocks and strides over the rest)."""
    batch, N, ns = 400_000, 3, 1
    G, norms = stripe_case(batch, N, ns, N, 0, 2, F64, seed=5)
    gammas, betas = kernels(3, 2, True, seed=6)
    kw = dict(row0=0, n_source=ns, paired=False, w=region_weights(N, ns))
    gpu = run_stripe(DEVICE, G, norms, gammas, betas, **kw)
    cpu = run_stripe("cpu", G, norms, gammas, betas, **kw)
    for name in ("same", "cross", "coeff", "rowsum"):
        assert torch.isfinite(gpu[name]).all(), f"{name} not written past the first grid"
        torch.testing.assert_close(gpu[name], cpu[name], rtol=1e-12, atol=1e-300)


def test_stripe_runs_on_the_given_stream_without_blocking_the_host():
    """Launched on a stream busy for about a second: the call returns at once, and its results are
    right only if it ran on that stream after the outputs were re-poisoned there."""
    case = STRIPES[8]
    batch, N, ns, rows, row0, d, m, ladder, paired = case
    G, norms = stripe_case(batch, N, ns, rows, row0, d, F64, seed=8)
    gammas, betas = kernels(m, d, ladder, seed=9)
    kw = dict(row0=row0, n_source=ns, paired=paired, w=region_weights(N, ns))
    base = run_stripe(DEVICE, G, norms, gammas, betas, **kw)  # also loads the kernel
    b = buffers(DEVICE, G, norms, gammas, betas, "separate")
    torch.cuda.synchronize()
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        torch.cuda._sleep(2_000_000_000)  # ~1 s of GPU cycles
        for name in ("same", "cross", "rowsum", "coeff"):
            b[name].fill_(NAN)
        t0 = time.perf_counter()
        launch(b, stream=side.cuda_stream, **kw)
        elapsed = time.perf_counter() - t0
    side.synchronize()
    assert elapsed < 0.25, f"the call blocked the host for {elapsed:.2f} s"
    out = results(b)
    for name in ("same", "cross", "coeff", "rowsum"):
        assert torch.equal(out[name], base[name]), f"{name}: not run on the given stream, after its work"


def test_stripe_refuses_more_than_32_kernels():
    G, norms = stripe_case(1, 8, 4, 8, 0, 2, F64, seed=1)
    gammas, betas = kernels(MAX_KERNELS + 1, 2, False, seed=2)
    b = buffers(DEVICE, G, norms, gammas, betas, "separate")
    with pytest.raises(ValueError, match="at most 32"):
        launch(b, row0=0, n_source=4, paired=False, w=region_weights(8, 4))
    torch.cuda.synchronize()
    assert torch.isnan(b["same"]).all(), "refused, yet something was launched"
    assert _backend._C.ALLPAIRS_CUDA_MAX_KERNELS == MAX_KERNELS


# =============================================================================================
# The public estimators on CUDA against the CPU and the float64 reference.

# estimator, ns, nt, d, m, block_size
API_CASES = [
    ("unbiased", 2, 2, 1, 1, None),
    ("unbiased", 2, 7, 3, 2, None),
    ("unbiased", 9, 4, 5, 5, None),
    ("unbiased", 64, 33, 17, 5, None),
    ("unbiased", 150, 300, 100, 8, None),
    ("unbiased", 300, 299, 40, 3, None),
    ("biased", 2, 2, 1, 1, None),
    ("biased", 2, 7, 3, 2, None),
    ("biased", 9, 4, 5, 5, None),
    ("biased", 64, 33, 17, 5, None),
    ("biased", 300, 150, 100, 8, None),
    ("block", 2, 2, 1, 1, 2),
    ("block", 4, 4, 3, 5, 2),
    ("block", 10, 13, 5, 3, 3),       # rows past the last block: zero gradient
    ("block", 64, 64, 17, 5, None),   # default B = 8
    ("block", 100, 100, 8, 4, 100),   # one block: covariance NaN
    ("block", 299, 301, 30, 2, 7),
    ("block", 300, 297, 100, 8, 16),
    ("linear", 2, 2, 1, 1, None),
    ("linear", 7, 4, 3, 3, None),
    ("linear", 64, 64, 17, 5, None),
    ("linear", 300, 301, 100, 8, None),
    ("shifted", 2, 2, 3, 2, None),
    ("shifted", 5, 9, 4, 5, None),
    ("shifted", 64, 70, 17, 1, None),
    ("shifted", 300, 300, 100, 8, None),
]

BANDWIDTH_MODES = ("derived", "derived_mul", "given_ladder", "given_irregular")


def kernel_kwargs(mode, m, d, seed):
    """(bandwidths, betas, kernel keywords): derived with kernel_mul 2 (a doubling ladder) or 1.7,
    uniform betas; or given, around the mean squared distance 2 d (+ the shift), as a doubling ladder
    or irregular, with non-uniform betas."""
    if mode == "derived":
        return None, None, dict(kernel_num=m)
    if mode == "derived_mul":
        return None, None, dict(kernel_num=m, kernel_mul=1.7)
    gammas, betas = kernels(m, d + 1, mode == "given_ladder", seed)
    return gammas.tolist(), betas.tolist(), {}


def evaluate(fn, xs, xt, device, estimator, block_size, bandwidths, betas, kw, dtype=None):
    """(stats, grad_source, grad_target) of ``fn`` on copies of the inputs on ``device`` (in ``dtype``)."""
    s = xs.detach().to(device=device, dtype=dtype or xs.dtype).requires_grad_(True)
    t = xt.detach().to(device=device, dtype=dtype or xt.dtype).requires_grad_(True)
    st = fn(s, t, bandwidths, betas, estimator=estimator, block_size=block_size, covariance=True, **kw)
    gs, gt = torch.autograd.grad(st.loss, (s, t))
    return st, gs, gt


def tolerances(dtype):
    """(rtol of loss/per_kernel/bandwidths, rtol of covariance, rtol of gradients, floor of the estimates)."""
    if dtype == F64:
        return 1e-10, 1e-10, 1e-10, 1e-3
    return 2e-4, 5e-4, 2e-4, 1e-2


def compare_stats(out, ref, dtype, what):
    rtol, cov_rtol, _, floor = tolerances(dtype)
    assert out.num_tuples == ref.num_tuples, f"{what}: num_tuples"
    assert out.loss.shape == () and out.per_kernel.dtype == F64 and out.bandwidths.dtype == F64
    assert_close(out.loss, ref.loss, rtol, floor, f"{what}: loss")
    assert_close(out.per_kernel, ref.per_kernel, rtol, floor, f"{what}: per_kernel")
    assert_close(out.bandwidths, ref.bandwidths, 1e-12 if dtype == F64 else 1e-5, 0.0, f"{what}: bandwidths")
    assert (out.covariance is None) == (ref.covariance is None), f"{what}: covariance given by one only"
    if ref.covariance is not None:
        assert out.covariance.dtype == F64
        assert_close(out.covariance, ref.covariance, cov_rtol, floor * 1e-3, f"{what}: covariance")


def compare_grads(out, ref, dtype, what):
    grad_rtol = tolerances(dtype)[2]
    for name, g, r in zip(("source", "target"), out, ref):
        assert g.shape == r.shape, f"{what}: gradient shape ({name})"
        if dtype == F64:
            err = rel_err(g, r)
        else:
            err = testing.rel_err_beyond_rounding(g.to(dtype), r)
        assert err < grad_rtol, f"{what}: gradient of the {name} off by {err:.3g}"


def check_call(estimator, ns, nt, d, m, block_size, mode, dtype, seed=0):
    device = DEVICE
    gen = torch.Generator().manual_seed(seed + ns * 131 + nt * 17 + d * 3 + m)
    xs, xt = make_pair(ns, nt, d, dtype=dtype, gen=gen)
    bandwidths, betas, kw = kernel_kwargs(mode, m, d, seed + ns + d)
    args = (estimator, block_size, bandwidths, betas, kw)
    gpu_st, gpu_gs, gpu_gt = evaluate(dan_ext.mkmmd_stats, xs, xt, device, *args)
    cpu_st, cpu_gs, cpu_gt = evaluate(dan_ext.mkmmd_stats, xs, xt, "cpu", *args)
    ref_st, ref_gs, ref_gt = evaluate(_reference().mkmmd_stats, xs, xt, "cpu", *args, dtype=F64)
    what = f"{estimator} ns={ns} nt={nt} d={d} m={m} B={block_size} {mode} {str(dtype)[6:]}"
    assert gpu_st.loss.dtype == dtype and gpu_gs.dtype == dtype and gpu_gs.device.type == torch.device(device).type
    compare_stats(gpu_st, ref_st, dtype, what + " vs reference")
    compare_stats(gpu_st, cpu_st, dtype, what + " vs CPU")
    compare_grads((gpu_gs, gpu_gt), (ref_gs, ref_gt), dtype, what + " vs reference")
    compare_grads((gpu_gs, gpu_gt), (cpu_gs, cpu_gt), dtype, what + " vs CPU")
    # The loss alone (dan_ext.mkmmd) is the same computation as mkmmd_stats's.
    s = xs.detach().to(device).requires_grad_(True)
    t = xt.detach().to(device).requires_grad_(True)
    loss = dan_ext.mkmmd(s, t, bandwidths, betas, estimator=estimator, block_size=block_size, **kw)
    gs, gt = torch.autograd.grad(loss, (s, t))
    assert_close(loss, gpu_st.loss, 1e-13, 1e-3, what + ": mkmmd vs mkmmd_stats")
    assert rel_err(gs, gpu_gs) < 1e-13 and rel_err(gt, gpu_gt) < 1e-13, what + ": mkmmd's gradient"


def case_id(c):
    return "{}_ns{}_nt{}_d{}_m{}_B{}".format(*c)


@pytest.mark.parametrize("mode", BANDWIDTH_MODES)
@pytest.mark.parametrize("case", API_CASES, ids=case_id)
def test_estimators_float64(case, mode):
    check_call(*case, mode, F64)


@pytest.mark.parametrize("mode", ["derived", "given_irregular"])
@pytest.mark.parametrize("case", API_CASES, ids=case_id)
def test_estimators_float32(case, mode):
    check_call(*case, mode, torch.float32)


@pytest.mark.parametrize("case", [("unbiased", 1500, 1700, 64, 5, None), ("biased", 1700, 1500, 9, 3, None),
                                  ("block", 3000, 3000, 32, 5, 1500), ("block", 2048, 2100, 16, 4, 1024),
                                  ("block", 3000, 3001, 8, 5, 2)], ids=case_id)
def test_estimators_over_several_stripes(case):
    """Pooled batches of more than STRIPE_ELEMS inner products: stripes of part of one problem
    (row0 > 0, one straddling the domains, paired within a block of 1500), and 1500 blocks of 4 rows."""
    estimator, ns, nt, d, m, block_size = case
    gen = torch.Generator().manual_seed(ns + nt)
    xs, xt = make_pair(ns, nt, d, gen=gen)
    args = (estimator, block_size, None, None, dict(kernel_num=m))
    gpu_st, gpu_gs, gpu_gt = evaluate(dan_ext.mkmmd_stats, xs, xt, DEVICE, *args)
    ref_st, ref_gs, ref_gt = evaluate(_reference().mkmmd_stats, xs, xt, DEVICE, *args)  # float64 on the GPU
    what = case_id(case)
    compare_stats(gpu_st, ref_st, F64, what)
    compare_grads((gpu_gs, gpu_gt), (ref_gs, ref_gt), F64, what)


@pytest.mark.parametrize("estimator", ["unbiased", "biased", "block"])
@pytest.mark.parametrize("m, kernel_mul", [(32, 2.0), (32, 1.3), (17, 1.1)])
def test_many_kernels(estimator, m, kernel_mul):
    """Up to the CUDA pass's 32 kernels, down a doubling ladder (fresh exp every 5 kernels) and not."""
    xs, xt = make_pair(120, 97, 12, gen=torch.Generator().manual_seed(m))
    bs = 10 if estimator == "block" else None
    args = (estimator, bs, None, None, dict(kernel_num=m, kernel_mul=kernel_mul))
    gpu = evaluate(dan_ext.mkmmd_stats, xs, xt, DEVICE, *args)
    cpu = evaluate(dan_ext.mkmmd_stats, xs, xt, "cpu", *args)
    ref = evaluate(_reference().mkmmd_stats, xs, xt, "cpu", *args)
    for other, name in ((cpu, "CPU"), (ref, "reference")):
        compare_stats(gpu[0], other[0], F64, f"{estimator} m={m} vs {name}")
        compare_grads(gpu[1:], other[1:], F64, f"{estimator} m={m} vs {name}")


@pytest.mark.parametrize("estimator", ["unbiased", "biased", "block"])
def test_more_than_32_kernels_refused_on_cuda(estimator):
    xs, xt = make_pair(16, 16, 3, device=DEVICE)
    with pytest.raises(ValueError, match="at most 32"):
        dan_ext.mkmmd_stats(xs, xt, estimator=estimator, kernel_num=MAX_KERNELS + 1)
    with pytest.raises(ValueError, match="at most 32"):
        dan_ext.mkmmd(xs, xt, [1.0] * (MAX_KERNELS + 1), estimator=estimator)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_block_of_two_is_linear(dtype):
    """The spec: with B = 2 the block estimator is the linear one (d, Q, bandwidths, gradients): the
    CUDA all-pairs pass against the CUDA linear kernels."""
    xs, xt = make_pair(202, 205, 33, dtype=dtype, gen=torch.Generator().manual_seed(2))
    block = evaluate(dan_ext.mkmmd_stats, xs, xt, DEVICE, "block", 2, None, None, dict(kernel_num=5))
    linear = evaluate(dan_ext.mkmmd_stats, xs, xt, DEVICE, "linear", None, None, None, dict(kernel_num=5))
    compare_stats(block[0], linear[0], dtype, "block B=2 vs linear")
    compare_grads(block[1:], linear[1:], dtype, "block B=2 vs linear")


@pytest.mark.parametrize("estimator", ["unbiased", "biased", "block"])
def test_repeats_are_bit_identical_and_side_streams_agree(estimator):
    xs, xt = make_pair(700, 650, 48, device=DEVICE, gen=torch.Generator().manual_seed(4))
    args = (estimator, 25 if estimator == "block" else None, None, None, dict(kernel_num=5))
    base = evaluate(dan_ext.mkmmd_stats, xs, xt, DEVICE, *args)
    again = evaluate(dan_ext.mkmmd_stats, xs, xt, DEVICE, *args)
    for a, b in zip((base[0].loss, base[0].per_kernel, base[0].covariance, base[1], base[2]),
                    (again[0].loss, again[0].per_kernel, again[0].covariance, again[1], again[2])):
        assert torch.equal(a, b)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        on_side = evaluate(dan_ext.mkmmd_stats, xs, xt, DEVICE, *args)
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    compare_stats(on_side[0], base[0], F64, "side stream")
    compare_grads(on_side[1:], base[1:], F64, "side stream")


@pytest.mark.parametrize("estimator", ["unbiased", "biased", "block"])
def test_forward_and_backward_never_synchronise_the_host(estimator):
    xs, xt = make_pair(512, 500, 64, dtype=torch.float32, device=DEVICE)
    xs.requires_grad_(True)
    xt.requires_grad_(True)
    bs = 16 if estimator == "block" else None
    dan_ext.mkmmd(xs, xt, estimator=estimator, block_size=bs).backward()  # warm up allocations and caches
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        dan_ext.mkmmd(xs, xt, estimator=estimator, block_size=bs, kernel_num=5).backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    assert torch.isfinite(xs.grad).all() and torch.isfinite(xt.grad).all()
