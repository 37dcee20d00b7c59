"""torch.library registration of the all-pairs estimators (dan_ext::mkmmd_allpairs): opcheck,
torch.compile without graph breaks (forward, d, Q and gradients equal to eager) for every estimator,
and the reference as the fallback without the compiled module."""

import warnings

import pytest
import torch

import dan_ext
from dan_ext.linear import backend as _backend
from dan_ext.estimators import reference as reference_estimators
from conftest import DEVICES, make_pair

NEW = ("shifted", "block", "unbiased", "biased")


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    s, t = make_pair(9, 11, 4, device=device)
    s.requires_grad_(True)
    t.requires_grad_(True)
    f64 = dict(dtype=torch.float64, device=device)
    betas = torch.tensor([0.2, 0.3, 0.5], **f64)
    for est, B in (("unbiased", 0), ("biased", 0), ("block", 3)):
        for bw in (None, torch.tensor([1.0, 4.0, 9.0], **f64)):
            torch.library.opcheck(torch.ops.dan_ext.mkmmd_allpairs.default, (s, t, bw, betas, 2.0, est, B, True, True))
            torch.library.opcheck(torch.ops.dan_ext.mkmmd_allpairs.default,
                                  (s.detach(), t.detach(), bw, betas, 2.0, est, B, False, False))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("est", NEW)
def test_torch_compile_fullgraph_matches_eager(est, device):
    torch._dynamo.reset()
    kw = {"block_size": 4} if est == "block" else {}

    def f(a, b):
        st = dan_ext.mkmmd_stats(a, b, estimator=est, **kw)
        return st.loss * 2.0, st.per_kernel, st.covariance, st.bandwidths

    s, t = make_pair(20, 17, 6, device=device)
    s.requires_grad_(True)
    t.requires_grad_(True)
    eager = f(s, t)
    got = torch.compile(f, fullgraph=True, backend="aot_eager")(s, t)
    for a, b in zip(got, eager):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-15)
    for ge, gc in zip(torch.autograd.grad(eager[0], (s, t)), torch.autograd.grad(got[0], (s, t))):
        torch.testing.assert_close(gc, ge, rtol=1e-13, atol=1e-15)


def test_falls_back_to_the_reference_without_the_compiled_module(monkeypatch):
    monkeypatch.setattr(_backend, "COMPILED", False)
    monkeypatch.setattr(_backend, "_warned", True)  # the one warning is tested with the linear op
    monkeypatch.setattr(_backend, "_C", None)  # any call into the module would fail
    s, t = make_pair(10, 12, 3)
    for est in ("block", "unbiased", "biased"):
        got = dan_ext.mkmmd_stats(s, t, estimator=est)
        ref = reference_estimators.mkmmd_stats(s, t, estimator=est)
        assert torch.equal(got.per_kernel, ref.per_kernel) and torch.equal(got.covariance, ref.covariance)
        assert torch.equal(dan_ext.mkmmd(s, t, estimator=est), reference_estimators.mkmmd(s, t, estimator=est))


def test_compiled_block_with_the_default_size_follows_the_batch():
    """The default block size is isqrt(n): under torch.compile with dynamic sizes it must be traced
    (math.isqrt cannot take a symbolic size) and change with n."""
    torch._dynamo.reset()
    f = torch.compile(lambda a, b: dan_ext.mkmmd(a, b, estimator="block"), fullgraph=True, backend="aot_eager")
    for n in (16, 25, 30, 99):
        s, t = make_pair(n, n, 4)
        torch.testing.assert_close(f(s, t), dan_ext.mkmmd(s, t, estimator="block"), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("est", ["linear", "unbiased"])
def test_torch_compile_warns_of_nothing(est):
    """The argument checks are traced without Dynamo's warning about a functools.lru_cache wrapper,
    which every compile of a model with a DAN loss used to print."""
    torch._dynamo.reset()
    f = torch.compile(lambda a, b: dan_ext.mkmmd(a, b, estimator=est), fullgraph=True)
    s, t = torch.randn(8, 3, requires_grad=True), torch.randn(8, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f(s, t).backward()
    assert not [w for w in caught if "lru_cache" in str(w.message)], [str(w.message) for w in caught]
