"""The contract between the joint MMD's Python side and its kernels: one layer bound in both languages,
a buffer plan whose parts tile it, a compiled module that refuses malformed calls before reading any
pointer, and a reference that runs without the compiled module."""
import ast
import random
from pathlib import Path

import pytest
import torch

import dan_ext
from dan_ext import _C, reference
from dan_ext.linear import backend as _backend
from dan_ext.joint import backend as _jmmd_backend
from dan_ext.joint import checks as _jmmd_checks


def test_layer_bound_lives_once_and_agrees():
    assert _C.JOINT_MAX_LAYERS == dan_ext.JOINT_MAX_LAYERS == 16


def _cases():
    gen = random.Random(3)
    cases = [(2, 2, 1, 1), (3, 2, 2, 6), (2, 9, 16, 16), (1001, 4096, 3, 49), (200000, 3, 2, 2)]
    return cases + [(gen.randint(2, 5000), gen.randint(2, 5000), gen.randint(1, 16), 0) for _ in range(60)]


@pytest.mark.parametrize("cuda", [False, True], ids=["cpu", "cuda"])
def test_plan_parts_tile_the_buffer(cuda):
    """Each part has the length its kernel writes (csrc/jmmd.h), together they tile the buffer, and
    split() reads back what was written through each part's (at, length)."""
    if cuda and not _backend.CUDA_KERNELS:
        pytest.skip("a CPU-only build has no CUDA workspace size")
    for ns, nt, L, M in _cases():
        M = M or L + 3
        p = _jmmd_backend.plan(ns, nt, L, M, cuda=cuda)
        P = min(ns, nt) // 2
        work = _C.jmmd_cuda_workspace_elems(tuples=P) if cuda else 0
        assert (p.tuples, p.layers, p.kernels) == (P, L, M)
        assert {k: v.length for k, v in p.parts().items()} == {"gammas": M, "coeffs": 4 * L * P, "dist": 4 * L * P,
                                                                "workspace": work}
        _backend.check_tiling(p)
        buf = torch.full((p.total,), float("nan"), dtype=torch.float64)
        for tag, part in enumerate(p.parts().values(), 1):
            buf[part.at:part.at + part.length] = tag * 1e9 + torch.arange(part.length, dtype=torch.float64)
        assert not torch.isnan(buf).any()
        views = _jmmd_backend.split(buf, p)
        assert torch.equal(views.gammas, 1e9 + torch.arange(M, dtype=torch.float64))
        assert views.grad_coeffs.shape == (L, P, 4)
        assert torch.equal(views.grad_coeffs.reshape(-1), 2e9 + torch.arange(4 * L * P, dtype=torch.float64))
        assert _jmmd_backend.coeffs_address(buf, p) == views.grad_coeffs.data_ptr()


def _call_args(**changes):
    x = torch.zeros(4, 3, dtype=torch.float64)
    buf = torch.zeros(64, dtype=torch.float64)
    kw = dict(dtype=1, sources=[x.data_ptr()], source_lds=[3], targets=[x.data_ptr()], target_lds=[3], dims=[3],
              tuples=2, gammas=buf.data_ptr(), gammas_given=[False], kernel_muls=[2.0], betas=buf.data_ptr(),
              kernel_begin=[0, 1], loss=buf.data_ptr(), dist=buf.data_ptr(), grad_coeffs=buf.data_ptr(), num_threads=1)
    kw.update(changes)
    return kw, (x, buf)


@pytest.mark.parametrize("changes, match", [
    (dict(dtype=4), "unknown dtype code"),
    (dict(sources=[], source_lds=[], targets=[], target_lds=[], dims=[]), "1 to 16 layers, got 0"),
    (dict(dims=[3, 3]), "dims must have 1 entries, got 2"),
    (dict(target_lds=[]), "target_lds must have 1 entries"),
    (dict(tuples=0), "at least one quad-tuple"),
    (dict(dims=[0]), "at least one feature"),
    (dict(kernel_begin=[0]), "kernel_begin must have 2 entries"),
    (dict(kernel_begin=[0, 0]), "at least one kernel"),
    (dict(kernel_begin=[1, 2]), "kernel_begin must start at 0"),
    (dict(gammas_given=[]), "gammas_given must have 1 entries"),
])
def test_compiled_module_refuses_malformed_calls(changes, match):
    kw, keep = _call_args(**changes)
    with pytest.raises(ValueError, match=match):
        _C.jmmd_cpu_forward(**kw)


def test_the_reference_and_checks_do_not_load_the_compiled_module():
    """reference.jmmd_linear is the specification and the fallback: it and the checks it uses import
    neither _C nor _backend (which loads it)."""
    for module in (reference, _jmmd_checks):
        names = set()
        for node in ast.walk(ast.parse(Path(module.__file__).read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for dotted in [getattr(node, "module", None) or ""] + [alias.name for alias in node.names]:
                    names.update(dotted.split("."))
        assert not names & {"_C", "_backend", "_jmmd_backend"}, (module, names)


def test_defaults_are_mkmmds():
    """No layer given: DEFAULT_KERNEL_NUM kernels at ratio DEFAULT_KERNEL_MUL in every layer."""
    sources = [torch.randn(10, 4, dtype=torch.float64), torch.randn(10, 2, dtype=torch.float64)]
    targets = [torch.randn(10, 4, dtype=torch.float64), torch.randn(10, 2, dtype=torch.float64)]
    st = dan_ext.jmmd_linear_stats(sources, targets)
    for bw, s, t in zip(st.bandwidths, sources, targets):
        assert torch.equal(bw, dan_ext.mkmmd_linear_stats(s, t).bandwidths)
        assert bw.shape == (dan_ext.DEFAULT_KERNEL_NUM,)
