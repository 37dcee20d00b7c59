import pytest
import torch

import dan_ext
from dan_ext import testing
from dan_ext.linear import backend as _backend

# fixtures every folder may use: real small disks, a tiny trained image model
pytest_plugins = ["disk_fixtures", "model_fixtures"]

CUDA = torch.cuda.is_available() and dan_ext.cuda_kernels_available()
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not CUDA, reason="no CUDA device or no CUDA kernels"))]


@pytest.fixture(autouse=True)
def poison_outputs():
    """Every kernel output starts as NaN, so an element a kernel forgot to write fails the test."""
    _backend.POISON_OUTPUTS = True
    yield
    _backend.POISON_OUTPUTS = False


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    out, ref = out.detach().double().cpu(), ref.detach().double().cpu()
    assert torch.isfinite(out).all(), "kernel output holds NaN/Inf (unwritten or wrong)"
    return float((out - ref).norm() / ref.norm().clamp_min(1e-300))


def rel_err_beyond_rounding(out: torch.Tensor, ref: torch.Tensor) -> float:
    err = testing.rel_err_beyond_rounding(out, ref)
    assert err != float("inf"), "kernel output holds NaN/Inf (unwritten or wrong)"
    return err


def make_pair(ns, nt, d, dtype=torch.float64, device="cpu", shift=0.5, scale=1.0, gen=None):
    xs = torch.randn(ns, d, generator=gen, dtype=torch.float64) * scale
    xt = (torch.randn(nt, d, generator=gen, dtype=torch.float64) + shift) * scale
    return xs.to(device=device, dtype=dtype), xt.to(device=device, dtype=dtype)


def pytest_sessionstart(session):
    # Testing the reference against itself would pass silently: insist on the compiled kernels
    # (run pytest from the repository root after `pip install .`, not `python -m pytest`).
    if not dan_ext.compiled_available():
        raise pytest.UsageError(
            f"dan_ext imported from {dan_ext.__file__} has no compiled module: run `pip install .` "
            "and call `pytest` (not `python -m pytest`, which imports the source tree)"
        )


def record_compiled_calls(monkeypatch, names, summary):
    """Wrap the compiled module where _backend calls it and return a list that gets, for each call
    of a function in ``names``, ``summary(keyword arguments)``: which outputs a kernel was asked to
    write (a null pointer makes it skip one)."""
    calls, real = [], _backend._C

    class Recorder:
        def __getattr__(self, name):
            fn = getattr(real, name)
            if name not in names:
                return fn

            def record(**kw):
                calls.append(summary(kw))
                return fn(**kw)
            return record

    monkeypatch.setattr(_backend, "_C", Recorder())
    return calls
