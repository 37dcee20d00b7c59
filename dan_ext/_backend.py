"""Thin layer over the compiled module dan_ext._C: the memory plan of a call, allocation, pointers,
streams. The compiled module takes raw pointers and sizes only (it never sees torch); this file
turns tensors into those arguments and calls it by keyword (csrc/bindings.cpp names each one).
Argument checking lives in _checks.py.

Follow one call: ops.py checks the arguments, plan() sizes the float64 buffer, forward() fills it
(stats | gammas | grad_coeffs | dist | CUDA workspace, csrc/mkmmd.h documents each part), split()
gives named views, and backward() reads the grad_coeffs part to write the gradients.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple, Optional

import torch

from ._constants import MIN_BANDWIDTH

try:
    from . import _C  # type: ignore[attr-defined]
except ImportError as _err:  # pragma: no cover - exercised only on broken installs
    _C = None
    _IMPORT_ERROR = _err
else:
    _IMPORT_ERROR = None

_DTYPE_CODES = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3}

# Tests set this to fill every output with NaN before a kernel writes it, so that an
# element a kernel forgot to write cannot pass unnoticed.
POISON_OUTPUTS = False
_warned = False


# Plain Python values, read once: torch.compile traces the dispatch code and cannot call into
# the pybind11 module.
COMPILED = _C is not None
CUDA_KERNELS = COMPILED and bool(_C.cuda_compiled())
CUDA_MAX_KERNELS = int(_C.CUDA_MAX_KERNELS) if COMPILED else None
if COMPILED and _C.MIN_BANDWIDTH != MIN_BANDWIDTH:  # pragma: no cover - a build from other sources
    raise ImportError(f"dan_ext._C was built with MIN_BANDWIDTH {_C.MIN_BANDWIDTH}, the Python package says "
                      f"{MIN_BANDWIDTH}: rebuild (pip install .)")


def compiled_available() -> bool:
    """True when the compiled kernels were built and import."""
    return COMPILED


def cuda_kernels_available() -> bool:
    """True when the compiled module holds the CUDA kernels."""
    return CUDA_KERNELS


def warn_fallback_once() -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(
            f"dan_ext: the compiled kernels are not available ({_IMPORT_ERROR}); "
            "falling back to the plain-PyTorch reference (dan_ext.reference), which is much slower",
            RuntimeWarning,
            stacklevel=3,
        )


def num_tuples(n_source: int, n_target: int) -> int:
    """P, the number of disjoint quad-tuples: the smaller batch's rows, in pairs (the tuple policy)."""
    return min(n_source, n_target) // 2


class Plan(NamedTuple):
    """The memory of one call, from its sizes alone: the tuple count and every offset (in float64
    elements) into the one buffer the forward fills. One buffer instead of several tensors: at
    DAN's batch sizes each allocation or view costs microseconds of Python, like the kernels."""
    tuples: int          # P
    m: int               # kernels
    need_q: bool
    stats_len: int       # [loss, d_0..d_{m-1}, Q (m*m, with need_q)]
    gammas_at: int       # [m] bandwidths, given or derived
    coeffs_at: int      # [4P] gradient coefficients, read by the backward
    dist_at: int         # [4P] squared distances (forward scratch)
    workspace_at: int    # CUDA scratch for per-block partial sums (none on the CPU)
    total: int           # buffer length, workspace included


_PLANS = {}


def plan(n_source: int, n_target: int, m: int, need_q: bool, cuda: bool = False) -> Plan:
    """The Plan for these sizes; cached, since a training loop asks for the same few every step."""
    key = (n_source, n_target, m, need_q, cuda)
    if type(n_source) is not int or type(n_target) is not int:  # symbolic sizes (torch.compile's fake tensors)
        return _make_plan(*key)
    p = _PLANS.get(key)
    if p is None:
        if len(_PLANS) > 1024:
            _PLANS.clear()
        p = _PLANS[key] = _make_plan(*key)
    return p


def _make_plan(n_source: int, n_target: int, m: int, need_q: bool, cuda: bool) -> Plan:
    tuples = num_tuples(n_source, n_target)
    stats_len = 1 + m + (m * m if need_q else 0)  # csrc/mkmmd.h stats_len()
    gammas_at = stats_len
    coeffs_at = gammas_at + m
    dist_at = coeffs_at + 4 * tuples
    workspace_at = dist_at + 4 * tuples
    workspace = _C.cuda_workspace_elems(tuples=tuples, m=m, need_q=need_q) if cuda else 0
    return Plan(tuples, m, need_q, stats_len, gammas_at, coeffs_at, dist_at, workspace_at, workspace_at + workspace)


class Parts(NamedTuple):
    stats: torch.Tensor    # [stats_len]
    gammas: torch.Tensor   # [m]
    grad_coeffs: torch.Tensor  # [P, 4]


def split(buf: torch.Tensor, p: Plan) -> Parts:
    """Named views of a forward buffer (a few microseconds each: the hot path uses addresses)."""
    return Parts(buf[:p.stats_len], buf[p.gammas_at:p.coeffs_at], buf[p.coeffs_at:p.dist_at].view(p.tuples, 4))


def coeffs_address(buf: torch.Tensor, p: Plan) -> int:
    """Address of the gradient coefficients in a forward buffer, for backward() without a view."""
    return buf.data_ptr() + 8 * p.coeffs_at


def _empty(shape, dtype, device):
    out = torch.empty(shape, dtype=dtype, device=device)
    if POISON_OUTPUTS:
        out.fill_(float("nan"))
    return out


def _stream(device: torch.device) -> int:
    # torch.cuda.current_stream wants an index; our tensors' devices always carry one.
    return torch.cuda.current_stream(device).cuda_stream


def forward(source, target, *, bandwidths: Optional[torch.Tensor], betas: torch.Tensor, kernel_mul: float,
            need_q: bool):
    """Run the fused forward. source/target: 2-D, unit stride along rows, same dtype and device;
    bandwidths: float64 [m] or None (derived from the data); betas: float64 [m] on the inputs'
    device. Returns (loss, buf, plan): the 0-d loss in the inputs' dtype and the filled buffer."""
    device = source.device
    cuda = device.type == "cuda"
    p = plan(source.shape[0], target.shape[0], betas.shape[0], need_q, cuda)
    loss = _empty((), source.dtype, device)
    buf = _empty((p.total,), torch.float64, device)
    given = bandwidths is not None
    if given:
        buf[p.gammas_at:p.coeffs_at].copy_(bandwidths)
    at = buf.data_ptr()
    args = dict(
        dtype=_DTYPE_CODES[source.dtype], source=source.data_ptr(), source_ld=source.stride(0),
        target=target.data_ptr(), target_ld=target.stride(0), tuples=p.tuples, dim=source.shape[1],
        gammas=at + 8 * p.gammas_at, gammas_given=given, kernel_mul=kernel_mul, betas=betas.data_ptr(), m=p.m,
        loss=loss.data_ptr(), stats=at, dist=at + 8 * p.dist_at, grad_coeffs=at + 8 * p.coeffs_at, need_q=need_q)
    if cuda:
        args.update(workspace=at + 8 * p.workspace_at, workspace_elems=p.total - p.workspace_at,
                    device=device.index, stream=_stream(device))
        _C.cuda_forward(**args)
    else:
        args["num_threads"] = torch.get_num_threads()
        _C.cpu_forward(**args)
    return loss, buf, p


def backward(grad_loss, source, target, grad_coeffs: int, need_source: bool, need_target: bool):
    """Gradients of the loss w.r.t. source and target (contiguous), or None where not needed.
    ``grad_coeffs``: the address of the forward's [P, 4] float64 gradient coefficients
    (coeffs_address(buf, plan), or a [P, 4] tensor's data_ptr())."""
    device = source.device
    gs = _empty(source.shape, source.dtype, device) if need_source else None
    gt = _empty(target.shape, target.dtype, device) if need_target else None
    args = dict(
        dtype=_DTYPE_CODES[source.dtype], source=source.data_ptr(), source_ld=source.stride(0),
        target=target.data_ptr(), target_ld=target.stride(0), tuples=num_tuples(source.shape[0], target.shape[0]),
        dim=source.shape[1], grad_coeffs=grad_coeffs, grad_source=gs.data_ptr() if gs is not None else 0, n_source=source.shape[0],
        grad_target=gt.data_ptr() if gt is not None else 0, n_target=target.shape[0])
    if device.type == "cuda":
        if grad_loss.dtype != source.dtype:
            grad_loss = grad_loss.to(source.dtype)
        args.update(grad_loss=grad_loss.data_ptr(), device=device.index, stream=_stream(device))
        _C.cuda_backward(**args)
    else:
        args.update(grad_loss=float(grad_loss), num_threads=torch.get_num_threads())
        _C.cpu_backward(**args)
    return gs, gt
