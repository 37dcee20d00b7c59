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


# Plain Python bools, read once: torch.compile traces the dispatch code and cannot call into
# the pybind11 module.
COMPILED = _C is not None
CUDA_KERNELS = COMPILED and bool(_C.cuda_compiled())


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


def _empty(shape, dtype, device):
    out = torch.empty(shape, dtype=dtype, device=device)
    if POISON_OUTPUTS:
        out.fill_(float("nan"))
    return out


def _stream(device: torch.device) -> int:
    # torch.cuda.current_stream wants an index; our tensors' devices always carry one.
    return torch.cuda.current_stream(device).cuda_stream


def layout(m: int, tuples: int, need_q: bool):
    """Offsets of the float64 buffer the forward fills: stats | gammas | weights | dist."""
    stats_len = 1 + m + (m * m if need_q else 0)
    gammas_at = stats_len
    weights_at = gammas_at + m
    dist_at = weights_at + 4 * tuples
    return stats_len, gammas_at, weights_at, dist_at, dist_at + 4 * tuples


def split(buf, m: int, tuples: int, need_q: bool):
    """(stats, gammas, weights) views of a forward buffer."""
    stats_len, g_at, w_at, d_at, _ = layout(m, tuples, need_q)
    return buf[:stats_len], buf[g_at:w_at], buf[w_at:d_at].view(tuples, 4)


def forward(source, target, bandwidths, kernel_mul: float, betas, need_q: bool):
    """Run the fused forward. source/target: 2-D, unit stride along rows, same dtype and
    device; bandwidths: float64 [m] or None (derived from the data); betas: float64 [m], on the
    inputs' device. Returns (loss, buf): the 0-d loss in the inputs' dtype and one float64
    buffer holding stats, gammas, gradient weights and distances (see layout(), csrc/mkmmd.h).

    One buffer and raw offsets instead of several tensors: at DAN's batch sizes each tensor
    allocation or view costs a few microseconds of Python, comparable to the kernels.
    """
    device = source.device
    m = betas.shape[0]
    tuples = min(source.shape[0], target.shape[0]) // 2
    _, g_at, w_at, d_at, total = layout(m, tuples, need_q)
    # CUDA scratch for the per-block partial sums rides at the end of the same buffer.
    ws = _C.cuda_workspace_elems(tuples, m, need_q) if device.type == "cuda" else 0
    loss = _empty((), source.dtype, device)
    buf = _empty((total + ws,), torch.float64, device)
    given = bandwidths is not None
    if given:
        buf[g_at:w_at].copy_(bandwidths)
    p = buf.data_ptr()
    args = (
        _DTYPE_CODES[source.dtype], source.data_ptr(), source.stride(0), target.data_ptr(), target.stride(0),
        tuples, source.shape[1], p + 8 * g_at, given, kernel_mul, betas.data_ptr(), m,
        loss.data_ptr(), p, p + 8 * d_at, p + 8 * w_at, need_q,
    )
    if ws:
        _C.cuda_forward(*args, p + 8 * total, ws, device.index, _stream(device))
    else:
        _C.cpu_forward(*args, torch.get_num_threads())
    return loss, buf


def backward(grad_loss, source, target, weights, need_source: bool, need_target: bool, weights_at: int = 0):
    """Gradients of the loss w.r.t. source and target (contiguous), or None where not needed.
    ``weights``: float64 holding the [P, 4] gradient weights from element ``weights_at`` on."""
    device = source.device
    tuples, dim = min(source.shape[0], target.shape[0]) // 2, source.shape[1]
    gs = _empty(source.shape, source.dtype, device) if need_source else None
    gt = _empty(target.shape, target.dtype, device) if need_target else None
    head = (_DTYPE_CODES[source.dtype], source.data_ptr(), source.stride(0), target.data_ptr(), target.stride(0),
            tuples, dim, weights.data_ptr() + 8 * weights_at)
    tail = (gs.data_ptr() if gs is not None else 0, source.shape[0], gt.data_ptr() if gt is not None else 0,
            target.shape[0])
    if device.type == "cuda":
        if grad_loss.dtype != source.dtype:
            grad_loss = grad_loss.to(source.dtype)
        _C.cuda_backward(*head, grad_loss.data_ptr(), *tail, device.index, _stream(device))
    else:
        _C.cpu_backward(*head, float(grad_loss), *tail, torch.get_num_threads())
    return gs, gt
