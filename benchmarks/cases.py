"""The benchmark grid and the callables that are timed (shared by pytest-benchmark and report.py)."""
from __future__ import annotations

import itertools
import os

import torch

import dan_ext
from dan_ext import reference
from dan_ext.linear import backend as _backend

from .peers import joint_quadratic_mmd, pytorch_adapt_linear, quadratic_mkmmd

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


# The joint MMD (dan_ext.jmmd_linear) on JAN's two layers: bottleneck features (256) and the softmax of
# 31 classes (Office-31), 5 kernels on the features and 1 on the softmax.
JMMD_NS = (32, 256, 2048)
JMMD_DIMS = (256, 31)
JMMD_MS = (5, 1)
JMMD_IMPLS = ("dan_ext jmmd_linear", "reference jmmd_linear", "joint_quadratic_mmd (TLL-style, B x B per layer)")


def joint_grid(device: str):
    """(n, dims, ms, dtype) of the joint-MMD rows; DAN_BENCH_GRID=quick keeps the two smaller batches."""
    ns = JMMD_NS[:2] if os.environ.get("DAN_BENCH_GRID") == "quick" else JMMD_NS
    for n in ns:
        yield n, JMMD_DIMS, JMMD_MS, torch.float32


def make_joint_inputs(n, dims, dtype, device, seed=0):
    """(sources, targets) per layer, all requiring grad; the last layer a softmax, as JAN's."""
    gen = torch.Generator(device=device).manual_seed(seed)
    sources, targets = [], []
    for l, d in enumerate(dims):
        xs = torch.randn(n, d, generator=gen, device=device, dtype=torch.float32)
        xt = torch.randn(n, d, generator=gen, device=device, dtype=torch.float32) + 0.5
        if l == len(dims) - 1 and len(dims) > 1:
            xs, xt = xs.softmax(dim=1), xt.softmax(dim=1)
        sources.append(xs.to(dtype).requires_grad_(True))
        targets.append(xt.to(dtype).requires_grad_(True))
    return sources, targets


def joint_implementations(sources, targets, ms):
    """name -> zero-argument loss callable, for every joint-MMD implementation that runs here."""
    impls = {
        JMMD_IMPLS[0]: lambda: dan_ext.jmmd_linear(sources, targets, kernel_nums=ms),
        JMMD_IMPLS[1]: lambda: reference.jmmd_linear(sources, targets, kernel_nums=ms),
    }
    if sources[0].shape[0] <= 4096 and sources[0].dtype in (torch.float32, torch.float64):  # (2n)^2 per layer
        impls[JMMD_IMPLS[2]] = lambda: joint_quadratic_mmd(sources, targets, kernel_nums=ms)
    return impls
