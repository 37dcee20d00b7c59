"""Thin layer over the compiled module dan_ext._C: allocation, pointers, streams.

The compiled module takes raw pointers and sizes only (it never sees torch); this file
turns tensors into those arguments. Argument checking lives in _checks.py.
"""
from __future__ import annotations

import warnings

import torch

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


def compiled_available() -> bool:
    """True when the compiled kernels were built and import."""
    return _C is not None


def cuda_kernels_available() -> bool:
    """True when the compiled module holds the CUDA kernels."""
    return _C is not None and _C.cuda_compiled()


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


def _empty(shape, dtype, device):
    out = torch.empty(shape, dtype=dtype, device=device)
    if POISON_OUTPUTS:
        out.fill_(float("nan"))
    return out


def _stream(device: torch.device) -> int:
    return torch.cuda.current_stream(device).cuda_stream


def forward(source, target, gammas, gammas_given: bool, kernel_mul: float, betas, need_q: bool):
    """Run the fused forward. source/target: 2-D, unit stride along rows, same dtype and
    device; gammas/betas: float64 [m] on that device (gammas is overwritten when not given).
    Returns (loss, stats, weights); see csrc/mkmmd.h for the layouts."""
    device = source.device
    m = betas.shape[0]
    tuples = min(source.shape[0], target.shape[0]) // 2
    dim = source.shape[1]
    loss = _empty((), source.dtype, device)
    stats = _empty((1 + m + (m * m if need_q else 0),), torch.float64, device)
    dist = _empty((tuples, 4), torch.float64, device)
    weights = _empty((tuples, 4), torch.float64, device)
    args = (
        _DTYPE_CODES[source.dtype], source.data_ptr(), source.stride(0), target.data_ptr(), target.stride(0),
        tuples, dim, gammas.data_ptr(), gammas_given, float(kernel_mul), betas.data_ptr(), m,
        loss.data_ptr(), stats.data_ptr(), dist.data_ptr(), weights.data_ptr(), need_q,
    )
    if device.type == "cuda":
        elems = _C.cuda_workspace_elems(tuples, m, need_q)
        workspace = torch.empty((elems,), dtype=torch.float64, device=device)
        with torch.cuda.device(device):
            _C.cuda_forward(*args, workspace.data_ptr(), elems, _stream(device))
    else:
        _C.cpu_forward(*args, torch.get_num_threads())
    return loss, stats, weights


def backward(grad_loss, source, target, weights, need_source: bool, need_target: bool):
    """Gradients of the loss w.r.t. source and target (contiguous), or None where not needed."""
    device = source.device
    tuples, dim = weights.shape[0], source.shape[1]
    gs = _empty(source.shape, source.dtype, device) if need_source else None
    gt = _empty(target.shape, target.dtype, device) if need_target else None
    head = (_DTYPE_CODES[source.dtype], source.data_ptr(), source.stride(0), target.data_ptr(), target.stride(0),
            tuples, dim, weights.data_ptr())
    tail = (gs.data_ptr() if gs is not None else 0, source.shape[0], gt.data_ptr() if gt is not None else 0,
            target.shape[0])
    if device.type == "cuda":
        grad_loss = grad_loss.to(source.dtype).contiguous()
        with torch.cuda.device(device):
            _C.cuda_backward(*head, grad_loss.data_ptr(), *tail, _stream(device))
    else:
        _C.cpu_backward(*head, float(grad_loss), *tail, torch.get_num_threads())
    return gs, gt
