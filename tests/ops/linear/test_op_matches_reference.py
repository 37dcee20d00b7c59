"""The compiled op against the float64 plain-PyTorch reference, on fresh random inputs."""
import pytest
import torch

import dan_ext
from dan_ext import reference
from conftest import DEVICES, make_pair, record_compiled_calls, rel_err

# (n_source, n_target, d, m): odd and unequal batches, d = 1, m = 1, m = 33, m = 64.
SHAPES = [
    (2, 2, 1, 1), (3, 2, 1, 1), (2, 5, 4, 2), (7, 9, 5, 3), (64, 64, 31, 5), (65, 64, 31, 5),
    (100, 37, 256, 33), (256, 256, 1024, 5), (33, 50, 1, 64), (128, 130, 300, 2), (517, 301, 17, 7),
]
TOL = {torch.float32: 1e-5, torch.float64: 1e-12}


def _case(ns, nt, d, m, dtype, device, explicit, seed, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    xs, xt = make_pair(ns, nt, d, dtype, device, gen=gen, scale=scale)
    betas = torch.rand(m, generator=gen, dtype=torch.float64) + 0.05
    betas /= betas.sum()
    bw = None
    if explicit:
        bw = (2.0 * d * scale * scale) * 2.0 ** torch.linspace(-2, 2, m, dtype=torch.float64)
    return xs, xt, bw, betas


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("explicit", [False, True], ids=["default_bw", "explicit_bw"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_forward_stats_and_gradients(shape, explicit, dtype, device):
    ns, nt, d, m = shape
    xs, xt, bw, betas = _case(ns, nt, d, m, dtype, device, explicit, seed=hash((shape, explicit)) % 2**31)
    xs.requires_grad_(True)
    xt.requires_grad_(True)
    got = dan_ext.mkmmd_linear_stats(xs, xt, bw, betas, kernel_num=m)
    gs, gt = torch.autograd.grad(got.loss * 0.75, (xs, xt))

    rs = xs.detach().double().requires_grad_(True)
    rt = xt.detach().double().requires_grad_(True)
    ref = reference.mkmmd_linear_stats(rs, rt, bw, betas, kernel_num=m)
    rgs, rgt = torch.autograd.grad(ref.loss * 0.75, (rs, rt))

    tol = TOL[dtype]
    assert got.loss.dtype == dtype and got.loss.shape == ()
    assert got.num_tuples == min(ns, nt) // 2
    assert rel_err(got.bandwidths, ref.bandwidths) < tol
    assert rel_err(got.loss, ref.loss) < tol
    assert rel_err(got.per_kernel, ref.per_kernel) < tol
    if got.num_tuples >= 2:
        assert rel_err(got.covariance, ref.covariance) < 10 * tol  # products of differences
    else:
        assert torch.isnan(got.covariance).all()
    assert rel_err(gs, rgs) < tol
    assert rel_err(gt, rgt) < tol
    n = 2 * got.num_tuples
    assert (gs[n:] == 0).all() and (gt[n:] == 0).all(), "rows past the last quad-tuple must get zero gradient"


@pytest.mark.parametrize("device", DEVICES)
def test_plain_call_equals_stats_loss(device):
    xs, xt = make_pair(40, 41, 8, device=device)
    assert torch.equal(dan_ext.mkmmd_linear(xs, xt), dan_ext.mkmmd_linear_stats(xs, xt).loss)


@pytest.mark.parametrize("device", DEVICES)
def test_large_values_with_default_bandwidth(device):
    xs, xt, _, betas = _case(64, 70, 50, 5, torch.float32, device, False, seed=3, scale=1e4)
    got = dan_ext.mkmmd_linear(xs, xt, betas=betas)
    ref = reference.mkmmd_linear(xs.double(), xt.double(), betas=betas)
    assert rel_err(got, ref) < 1e-5


@pytest.mark.parametrize("device", DEVICES)
def test_non_contiguous_inputs(device):
    """Loss and both gradients for column-strided (copied), column-major and row-strided (read in
    place) inputs, against the reference on contiguous copies."""
    base_s, base_t = make_pair(50, 60, 24, device=device)
    col_major_t = base_t.t().contiguous().t()
    cases = [
        (base_s[:, ::2], base_t[:, ::2]),    # column stride 2
        (base_s, col_major_t),               # column-major target
        (base_s[::3], base_t[:17]),          # row stride 3, unequal batches
        (col_major_t[:40, 1:20], base_s[5:45, 3:22]),  # offset views of both kinds
    ]
    for a, b in cases:
        assert not (a.is_contiguous() and b.is_contiguous())
        a, b = a.detach().requires_grad_(True), b.detach().requires_grad_(True)
        ra, rb = a.detach().contiguous().requires_grad_(True), b.detach().contiguous().requires_grad_(True)
        ours, ref = dan_ext.mkmmd_linear(a, b), reference.mkmmd_linear(ra, rb)
        assert rel_err(ours, ref) < 1e-12
        for g, r in zip(torch.autograd.grad(ours, (a, b)), torch.autograd.grad(ref, (ra, rb))):
            assert g.shape == r.shape and rel_err(g, r) < 1e-12


@pytest.fixture
def backward_kernel_calls(monkeypatch):
    """Which gradients each call of a backward kernel was asked to write, as (source, target)
    booleans: the compiled module is wrapped where _backend calls it (a null output pointer means
    the kernel skips that gradient, csrc/mkmmd.h BackwardOutputs)."""
    return record_compiled_calls(monkeypatch, ("cpu_backward", "cuda_backward"),
                                 lambda kw: (kw["grad_source"] != 0, kw["grad_target"] != 0))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("path", ["eager", "compiled"])
@pytest.mark.parametrize("wanted", [(True, False), (False, True), (True, True)], ids=["source", "target", "both"])
def test_gradient_only_where_required(wanted, path, device, backward_kernel_calls):
    """The backward kernel writes only the gradients of inputs that require one (ctx.needs_input_grad):
    seen at the kernel call, since autograd.grad would hide an extra gradient computed and dropped."""
    if path == "compiled" and wanted == (True, True):
        pytest.skip("both gradients: nothing to leave out (and a compile costs seconds)")
    xs, xt = make_pair(20, 20, 6, device=device)
    inputs = [x.requires_grad_(True) for x, want in zip((xs, xt), wanted) if want]

    def f(a, b):
        return dan_ext.mkmmd_linear(a, b)

    if path == "compiled":
        torch._dynamo.reset()
        f = torch.compile(f, fullgraph=True, backend="aot_eager")
    grads = torch.autograd.grad(f(xs, xt), inputs)
    assert backward_kernel_calls == [wanted]
    assert [g.shape for g in grads] == [x.shape for x in inputs]


@pytest.mark.parametrize("device", DEVICES)
def test_nan_and_inf_inputs_give_nan(device):
    for bad in (float("nan"), float("inf")):
        xs, xt = make_pair(10, 10, 4, device=device)
        xs[3, 1] = bad
        assert torch.isnan(dan_ext.mkmmd_linear(xs, xt))
        assert torch.isnan(dan_ext.mkmmd_linear(xs, xt, bandwidths=[1.0, 2.0]))


@pytest.mark.parametrize("device", DEVICES)
def test_identical_inputs_zero_bandwidth_guard(device):
    x = torch.ones(8, 3, dtype=torch.float64, device=device)
    st = dan_ext.mkmmd_linear_stats(x, x.clone())
    assert st.loss.item() == 0.0
    assert torch.all(st.bandwidths > 0)


def test_deterministic_across_runs_and_thread_counts():
    xs, xt = make_pair(4001, 3999, 33, dtype=torch.float32)
    xs.requires_grad_(True)
    threads = torch.get_num_threads()
    results = []
    try:
        for nt in (1, 2, 1, 2):
            torch.set_num_threads(nt)
            st = dan_ext.mkmmd_linear_stats(xs, xt, kernel_num=9)
            (g,) = torch.autograd.grad(st.loss, xs)
            results.append((st.loss, st.per_kernel, st.covariance, g))
    finally:
        torch.set_num_threads(threads)
    for r in results[1:]:
        for a, b in zip(r, results[0]):
            assert torch.equal(a, b)


def test_cpu_half_inputs_computed_in_float32():
    xs, xt = make_pair(30, 30, 16, dtype=torch.bfloat16)
    xs.requires_grad_(True)
    loss = dan_ext.mkmmd_linear(xs, xt)
    assert loss.dtype == torch.bfloat16
    ref = reference.mkmmd_linear(xs.detach().double(), xt.double())
    assert rel_err(loss, ref) < 1e-2
    (g,) = torch.autograd.grad(loss, xs)
    assert g.dtype == torch.bfloat16
