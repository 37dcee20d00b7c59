"""The contract between Python and the kernels: one plan for the buffer (parts that tile it, read
back through split()), constants, dtype codes and defaults that live once and agree across the
languages, a reference that runs without the compiled module, the mean distance the DDP trainer
reduces, and the DAN layer never running the plain-PyTorch reference in production."""
import ast
import inspect
import random
from pathlib import Path

import pytest
import torch

import dan
import dan_ext
from dan_ext import _C, _checks, reference
from dan_ext.linear import backend as _backend
from dan_ext._constants import DTYPE_CODES, PORTABLE_CPU_FEATURES
from conftest import DEVICES, make_pair
from import_scan import imported_modules, imports_under, package_of


def test_constants_live_once_and_agree():
    assert _C.MIN_BANDWIDTH == dan_ext.MIN_BANDWIDTH == 1e-12
    assert _C.CUDA_MAX_KERNELS == _backend.CUDA_MAX_KERNELS == 3072
    from dan_ext import estimators

    assert _C.ALLPAIRS_CUDA_MAX_KERNELS == estimators.ALLPAIRS_CUDA_MAX_KERNELS == 32


def _plan_cases():
    """(ns, nt, m, need_q): the smallest batches, odd and unequal ones, m = 1 and past the CUDA
    kernels' shared-memory chunking (m > 48 KB / 8 / 128 = 48), and random ones."""
    gen = random.Random(1)
    cases = [(2, 2, 1, False), (2, 2, 1, True), (3, 2, 2, True), (2, 9, 64, True), (7, 10, 5, True),
             (64, 31, 3, False), (1001, 4096, 49, True), (200000, 3, 1, True)]
    cases += [(gen.randint(2, 5000), gen.randint(2, 5000), gen.randint(1, 80), gen.random() < 0.5)
              for _ in range(150)]
    return cases


def _device_plan(ns, nt, m, need_q, kind):
    """(plan, the workspace length it must hold)."""
    if kind == "cpu":
        return _backend.plan(ns, nt, m, need_q), 0
    tuples = min(ns, nt) // 2
    if _backend.CUDA_KERNELS:  # the CUDA workspace size needs the compiled module, not a GPU
        return _backend.plan(ns, nt, m, need_q, cuda=True), _C.cuda_workspace_elems(tuples=tuples, m=m, need_q=need_q)
    workspace = 256 + 7 * m * (m + 1)  # a CPU-only build: the layout with a stand-in of the CUDA scratch's size
    return _backend.layout(tuples, m, need_q, workspace), workspace


def _tagged(length, tag):
    return tag * 1e9 + torch.arange(length, dtype=torch.float64)


@pytest.mark.parametrize("kind", ["cpu", "cuda"])
def test_plan_parts_tile_the_buffer(kind):
    """Properties of every plan, not its formula: each part has the length its kernel writes
    (csrc/mkmmd.h), lies inside the buffer, overlaps no other, together they cover the buffer, each is
    aligned as the kernels access it, and what is written into a part is read back through split()."""
    for ns, nt, m, need_q in _plan_cases():
        case = (ns, nt, m, need_q, kind)
        p, workspace = _device_plan(ns, nt, m, need_q, kind)
        parts = p.parts()
        assert p.tuples == min(ns, nt) // 2 and p.m == m and p.need_q == need_q, case
        assert {k: v.length for k, v in parts.items()} == {
            "stats": 1 + m + (m * m if need_q else 0), "gammas": m, "coeffs": 4 * p.tuples, "dist": 4 * p.tuples,
            "workspace": workspace}, case
        for name, part in parts.items():
            assert type(part.at) is int and 0 <= part.at and part.at + part.length <= p.total, (case, name)
        spans = sorted((part.at, part.at + part.length, name) for name, part in parts.items() if part.length)
        for (_, end, a), (start, _, b) in zip(spans, spans[1:]):
            assert end <= start, f"{a} and {b} overlap in {case}"
        assert sum(part.length for part in parts.values()) == p.total, case  # disjoint + inside + sum: a tiling

        # Write each part through its own region, read every one back through split() (and the raw
        # buffer): an overlap clobbers an earlier part, a gap stays NaN.
        buf = torch.full((p.total,), float("nan"), dtype=torch.float64)
        for tag, part in enumerate(parts.values(), 1):
            buf[part.at:part.at + part.length] = _tagged(part.length, tag)
        assert not torch.isnan(buf).any(), case
        for tag, part in enumerate(parts.values(), 1):
            assert torch.equal(buf[part.at:part.at + part.length], _tagged(part.length, tag)), case
        views = _backend.split(buf, p)
        for view, name in ((views.stats, "stats"), (views.gammas, "gammas"), (views.grad_coeffs, "coeffs")):
            tag = list(parts).index(name) + 1
            assert torch.equal(view.reshape(-1), _tagged(parts[name].length, tag)), (case, name)
            assert view.data_ptr() % _backend.PART_ALIGN_BYTES == 0, (case, name)
            assert view.data_ptr() == buf.data_ptr() + 8 * parts[name].at, (case, name)
        assert views.grad_coeffs.shape == (p.tuples, 4)
        assert _backend.coeffs_address(buf, p) == views.grad_coeffs.data_ptr()

        # And the other way: through split()'s views into a fresh buffer, read back by (at, length).
        fresh = torch.full((p.total,), float("nan"), dtype=torch.float64)
        views = _backend.split(fresh, p)
        for view, name in ((views.stats, "stats"), (views.gammas, "gammas"), (views.grad_coeffs, "coeffs")):
            view.view(-1).copy_(_tagged(view.numel(), 7))
            assert torch.equal(fresh[parts[name].at:parts[name].at + parts[name].length], _tagged(view.numel(), 7))


@pytest.mark.parametrize("m, need_q", [(1, False), (1, True), (5, True), (64, True), (33, False)])
def test_stats_fields_tile_the_stats_part(m, need_q):
    """decode_stats, the one reader of the stats layout: loss, then d, then Q (csrc/mkmmd.h), each
    field its own elements, together all of them."""
    p = _backend.plan(9, 8, m, need_q)
    stats = torch.full((p.stats.length,), float("nan"), dtype=torch.float64)
    fields = _backend.decode_stats(stats, m, need_q)
    assert fields.loss.shape == () and fields.per_kernel.shape == (m,)
    assert (fields.covariance is not None) == need_q and (not need_q or fields.covariance.shape == (m, m))
    written = [f for f in fields if f is not None]
    for tag, f in enumerate(written, 1):
        f.copy_(_tagged(f.numel(), tag).view(f.shape))
    for tag, f in enumerate(written, 1):
        assert torch.equal(f.reshape(-1), _tagged(f.numel(), tag))
    assert not torch.isnan(stats).any()
    assert fields.loss.data_ptr() < fields.per_kernel.data_ptr() < (
        fields.covariance.data_ptr() if need_q else fields.per_kernel.data_ptr() + 1)


def test_split_refuses_a_plan_that_does_not_tile():
    p = _backend.plan(10, 10, 3, True)
    overlapping = p._replace(dist=p.dist._replace(at=p.dist.at - 1))
    swapped = p._replace(gammas=p.gammas._replace(at=p.coeffs.at), coeffs=p.coeffs._replace(at=p.gammas.at))
    for bad in (overlapping, swapped):
        with pytest.raises(RuntimeError, match="internal error"):
            _backend.split(torch.zeros(bad.total, dtype=torch.float64), bad)
    with pytest.raises(RuntimeError, match="internal error"):
        _backend.split(torch.zeros(p.total + 1, dtype=torch.float64), p)


def test_dtype_codes_are_the_kernels():
    """Codes 0..3 (csrc/mkmmd.h enum DType): the compiled module refuses the next one before it reads
    any pointer, and the checks accept exactly the dtypes that have a code."""
    assert sorted(DTYPE_CODES.values()) == list(range(len(DTYPE_CODES)))
    assert set(_checks.FLOAT_DTYPES) == set(DTYPE_CODES)
    kw = dict(source=0, source_ld=1, target=0, target_ld=1, tuples=1, dim=1, grad_coeffs=0, grad_loss=1.0,
              grad_source=0, n_source=2, grad_target=0, n_target=2, num_threads=1)
    with pytest.raises(ValueError, match="unknown dtype code"):
        _C.cpu_backward(dtype=len(DTYPE_CODES), **kw)


def test_reference_does_not_load_the_compiled_module():
    """The reference is the specification: it must run where the compiled module does not load, so it
    imports neither _C nor _backend (which loads it)."""
    names = set()
    for node in ast.walk(ast.parse(Path(reference.__file__).read_text())):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for dotted in [getattr(node, "module", None) or ""] + [alias.name for alias in node.names]:
                names.update(dotted.split("."))
    assert not names & {"_C", "_backend"}, names


def test_defaults_are_written_once():
    for fn in (dan_ext.mkmmd_linear, dan_ext.mkmmd_linear_stats, reference.mkmmd_linear,
               reference.mkmmd_linear_stats, dan_ext.mmd_test, dan_ext.MKMMDLoss.__init__, _checks.check_inputs,
               _checks.check_kernel_args):
        params = inspect.signature(fn).parameters
        assert params["kernel_num"].default is dan_ext.DEFAULT_KERNEL_NUM, fn
        assert params["kernel_mul"].default is dan_ext.DEFAULT_KERNEL_MUL, fn


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
    """dan_ext.reference and dan_ext.estimators.reference are the specification and the benchmark
    baseline, not a production path: no module of the dan layer, in any subpackage, imports them."""
    root = Path(dan.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert root / "methods" / "dan_loss.py" in files  # the files that call the ops in training are read
    for path in files:
        names = imported_modules(path, package_of(path, root, "dan"))
        for ref in ("dan_ext.reference", "dan_ext.estimators.reference", "dan_ext.reference_estimators"):
            assert not imports_under(names, ref), f"{path} imports {ref}"


LACKED_CPU_FEATURE = "avx5124fmaps"  # AVX512-4FMAPS: Knights Mill only, so no CPU running these tests has it


def test_module_refuses_cpus_that_lack_its_instructions():
    """The kernels' -march (DAN_EXT_CPU_ARCH) is checked against this CPU when _C loads: a wheel built
    for newer CPUs raises ImportError with the rebuild command instead of SIGILL. The check itself
    is exercised here with an extension this CPU lacks (AVX512-4FMAPS, Knights Mill only)."""
    built = [f for f in _C.cpu_kernel_features().split(",") if f]
    assert _C.missing_cpu_features(",".join(built)) == ""  # it loaded, so everything it uses is here
    lacking = ",".join([LACKED_CPU_FEATURE, "not-a-feature"])
    assert _C.missing_cpu_features(",".join(sorted(PORTABLE_CPU_FEATURES) + [lacking])) == lacking
    if _C.CPU_ARCH == "portable":  # the default: x86-64-v2, nothing newer
        assert set(built) <= PORTABLE_CPU_FEATURES, built
