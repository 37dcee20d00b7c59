import pytest
import torch

import dan_ext
from dan_ext import _backend, testing

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
