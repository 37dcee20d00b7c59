"""The benchmark grid and the callables that are timed (shared by pytest-benchmark and report.py)."""
from __future__ import annotations

import itertools
import os

import torch

import dan_ext
from dan_ext import _backend, reference

from .peers import pytorch_adapt_linear, quadratic_mkmmd

NS = (64, 256, 1024, 4096, 65536)
DS = (31, 256, 1024, 4096)
MS = (1, 5, 33)
MAX_INPUT_BYTES = 1 << 30  # skip sizes whose two inputs exceed ~1 GB


def grid(device: str):
    """(n, d, m, dtype) combinations of the full grid for a device; DAN_BENCH_GRID=quick shrinks it."""
    dtypes = [torch.float32, torch.float64] + ([torch.float16, torch.bfloat16] if device == "cuda" else [])
    ns, ds, ms = NS, DS, MS
    if os.environ.get("DAN_BENCH_GRID") == "quick":
        ns, ds, ms, dtypes = (64, 256, 4096), (31, 1024), (5,), dtypes[:1]
    for n, d, m, dt in itertools.product(ns, ds, ms, dtypes):
        if 2 * n * d * torch.tensor([], dtype=dt).element_size() <= MAX_INPUT_BYTES:
            yield n, d, m, dt


def make_inputs(n, d, dtype, device, seed=0):
    gen = torch.Generator(device=device).manual_seed(seed)
    xs = torch.randn(n, d, generator=gen, device=device, dtype=torch.float32).to(dtype).requires_grad_(True)
    xt = (torch.randn(n, d, generator=gen, device=device, dtype=torch.float32) + 0.5).to(dtype).requires_grad_(True)
    return xs, xt


def step(loss_fn, backward: bool, inputs=None):
    """A callable running loss_fn (and the gradient w.r.t. ``inputs``) once. torch.autograd.grad
    returns fresh gradients, so no time goes into accumulating into .grad."""
    if backward:
        def run():
            return torch.autograd.grad(loss_fn(), inputs)
    else:
        def run():
            with torch.no_grad():
                loss_fn()
    return run


def implementations(xs, xt, m: int):
    """name -> zero-argument loss callable, for every implementation that runs here."""
    impls = {
        "dan_ext": lambda: dan_ext.mkmmd_linear(xs, xt, kernel_num=m),
        "reference": lambda: reference.mkmmd_linear(xs, xt, kernel_num=m),
    }
    n = xs.shape[0]
    if n <= 4096 and xs.dtype in (torch.float32, torch.float64):  # (2n)^2 m kernel values
        impls["quadratic_mkmmd (TLL-style, B x B)"] = lambda: quadratic_mkmmd(xs, xt, kernel_num=m)
    adapt = pytorch_adapt_linear()
    if adapt is not None:
        impls["pytorch-adapt MMDLoss linear"] = lambda: adapt(xs, xt, kernel_num=m)
    return impls


def saved_gradient_variant(xs, xt, m: int):
    """The alternative design: the forward also writes the per-sample gradients, the backward
    scales them by grad_output. Same kernels, different schedule; used to justify ours."""
    betas = torch.full((m,), 1.0 / m, dtype=torch.float64, device=xs.device)
    s, t = xs.detach(), xt.detach()

    def run():
        _, buf, plan = _backend.forward(s, t, bandwidths=None, betas=betas, kernel_mul=2.0, need_q=False)
        gs, gt = _backend.backward(torch.ones((), dtype=s.dtype, device=s.device), s, t,
                                   _backend.coeffs_address(buf, plan), True, True)
        grad_out = torch.full((), 0.5, dtype=s.dtype, device=s.device)
        return gs.mul_(grad_out), gt.mul_(grad_out)

    return run
