"""Thin layer over the compiled module dan_ext._C: the memory plan of a call, allocation, pointers,
streams. The compiled module takes raw pointers and sizes only (it never sees torch); this file
turns tensors into those arguments and calls it by keyword (csrc/bindings.cpp names each one).
Argument checking lives in _checks.py.

Follow one call: ops.py checks the arguments, plan() lays out the float64 buffer (each part's
offset and length: stats | gammas | coeffs | dist | CUDA workspace, csrc/mkmmd.h documents each),
forward() fills it, split() and decode_stats() give named views, and backward() reads the coeffs
part to write the gradients.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple, Optional

import torch

from dan_ext import _constants
from dan_ext._constants import DTYPE_CODES, MIN_BANDWIDTH

try:
    from dan_ext import _C  # type: ignore[attr-defined]
except ImportError as _err:  # pragma: no cover - exercised only on broken installs
    _C = None
    _IMPORT_ERROR = _err
else:
    _IMPORT_ERROR = None

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


class Part(NamedTuple):
    """One part of the buffer, in float64 elements."""
    at: int
    length: int


# The kernels read and write every part as scalar float64 (csrc/mkmmd_cuda.cu's 16-byte vector
# accesses touch only the inputs and gradients), so a part needs float64's natural alignment:
# parts start at whole elements of a buffer torch allocates aligned.
PART_ALIGN_BYTES = 8
PART_NAMES = ("stats", "gammas", "coeffs", "dist", "workspace")  # in buffer order


class Plan(NamedTuple):
    """The memory of one call, from its sizes alone: the tuple count and where each part lies in
    the one float64 buffer the forward fills. One buffer instead of several tensors: at DAN's batch
    sizes each allocation or view costs microseconds of Python, like the kernels. Each part carries
    its length as well as its offset, so a reordered layout cannot mis-slice silently: split()
    slices by (at, length) and check_tiling() refuses parts that overlap or leave gaps."""
    tuples: int          # P
    m: int               # kernels
    need_q: bool
    stats: Part          # [loss, d_0..d_{m-1}, Q (m*m, with need_q)]: read it with decode_stats()
    gammas: Part         # [m] bandwidths, given or derived
    coeffs: Part         # [4P] gradient coefficients, read by the backward
    dist: Part           # [4P] squared distances (forward scratch)
    workspace: Part      # CUDA scratch for per-block partial sums (empty on the CPU)
    total: int           # buffer length, workspace included

    def parts(self) -> dict:
        return {name: getattr(self, name) for name in PART_NAMES}


class StatsLayout(NamedTuple):
    """Where the stats part's fields lie within it (csrc/mkmmd.h "stats layout")."""
    loss: Part
    per_kernel: Part     # d_u
    covariance: Part     # Q, row-major m x m; empty without need_q


def stats_layout(m: int, need_q: bool) -> StatsLayout:
    return StatsLayout(Part(0, 1), Part(1, m), Part(1 + m, m * m if need_q else 0))


class Stats(NamedTuple):
    loss: torch.Tensor                   # 0-d float64
    per_kernel: torch.Tensor             # [m]
    covariance: Optional[torch.Tensor]   # [m, m], or None without need_q


def decode_stats(stats: torch.Tensor, m: int, need_q: bool) -> Stats:
    """Views of the fields of a stats part (the whole stats vector, as split() or the registered op
    return it). Takes m and need_q, not a Plan: under torch.compile the tuple count is symbolic."""
    loss, d, q = stats_layout(m, need_q)
    return Stats(stats[loss.at], stats[d.at:d.at + d.length],
                 stats[q.at:q.at + q.length].view(m, m) if need_q else None)


def layout(tuples: int, m: int, need_q: bool, workspace: int) -> Plan:
    """The parts laid end to end in PART_NAMES order, from their lengths alone."""
    s = stats_layout(m, need_q)
    lengths = {"stats": s.loss.length + s.per_kernel.length + s.covariance.length,  # csrc/mkmmd.h stats_len()
               "gammas": m, "coeffs": 4 * tuples, "dist": 4 * tuples, "workspace": workspace}
    parts, at = {}, 0
    for name in PART_NAMES:
        parts[name] = Part(at, lengths[name])
        at += lengths[name]
    return Plan(tuples, m, need_q, total=at, **parts)


def check_tiling(p: Plan) -> None:
    """Raise unless the parts, in any order, tile [0, total): no overlap, no gap, none outside."""
    end = 0
    for name, part in sorted(p.parts().items(), key=lambda kv: (kv[1].at, kv[1].length)):
        if part.at != end or part.length < 0:
            raise RuntimeError(f"dan_ext internal error: buffer part {name} {tuple(part)} does not start where the "
                               f"previous part ends ({end}): {p}")
        end = part.at + part.length
    if end != p.total:
        raise RuntimeError(f"dan_ext internal error: buffer parts end at {end}, the buffer at {p.total}: {p}")


_PLANS = {}


def cached_plan(cache: dict, make, key: tuple):
    """``make(*key)``, cached in ``cache`` with its tiling checked once, since a training loop asks
    for the same few sizes every step (the first two of ``key`` are the row counts)."""
    if type(key[0]) is not int or type(key[1]) is not int:  # symbolic sizes (torch.compile's fake tensors)
        return make(*key)
    p = cache.get(key)
    if p is None:
        if len(cache) > 1024:
            cache.clear()
        p = make(*key)
        check_tiling(p)
        cache[key] = p
    return p


def plan(n_source: int, n_target: int, m: int, need_q: bool, cuda: bool = False) -> Plan:
    """The Plan for these sizes (cached)."""
    return cached_plan(_PLANS, _make_plan, (n_source, n_target, m, need_q, cuda))


def _make_plan(n_source: int, n_target: int, m: int, need_q: bool, cuda: bool) -> Plan:
    tuples = _constants.num_tuples(n_source, n_target)
    workspace = _C.cuda_workspace_elems(tuples=tuples, m=m, need_q=need_q) if cuda else 0
    return layout(tuples, m, need_q, workspace)


class Parts(NamedTuple):
    stats: torch.Tensor    # [stats.length]
    gammas: torch.Tensor   # [m]
    grad_coeffs: torch.Tensor  # [P, 4]


_TILED = set()  # plans whose tiling split() has checked


def split(buf: torch.Tensor, p: Plan) -> Parts:
    """Named views of a forward buffer (a few microseconds each: the hot path uses addresses)."""
    if p not in _TILED:
        check_tiling(p)
        if len(_TILED) > 1024:
            _TILED.clear()
        _TILED.add(p)
    if buf.shape[0] != p.total:
        raise RuntimeError(f"dan_ext internal error: a buffer of {buf.shape[0]} elements for a plan of {p.total}")
    s, g, c = p.stats, p.gammas, p.coeffs
    return Parts(buf[s.at:s.at + s.length], buf[g.at:g.at + g.length], buf[c.at:c.at + c.length].view(p.tuples, 4))


def coeffs_address(buf: torch.Tensor, p: Plan) -> int:
    """Address of the gradient coefficients in a forward buffer, for backward() without a view."""
    return buf.data_ptr() + 8 * p.coeffs.at


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
        buf[p.gammas.at:p.gammas.at + p.gammas.length].copy_(bandwidths)
    at = buf.data_ptr()
    args = dict(
        dtype=DTYPE_CODES[source.dtype], source=source.data_ptr(), source_ld=source.stride(0),
        target=target.data_ptr(), target_ld=target.stride(0), tuples=p.tuples, dim=source.shape[1],
        gammas=at + 8 * p.gammas.at, gammas_given=given, kernel_mul=kernel_mul, betas=betas.data_ptr(), m=p.m,
        loss=loss.data_ptr(), stats=at + 8 * p.stats.at, dist=at + 8 * p.dist.at,
        grad_coeffs=at + 8 * p.coeffs.at, need_q=need_q)
    if cuda:
        args.update(workspace=at + 8 * p.workspace.at, workspace_elems=p.workspace.length,
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
        dtype=DTYPE_CODES[source.dtype], source=source.data_ptr(), source_ld=source.stride(0),
        target=target.data_ptr(), target_ld=target.stride(0),
        tuples=_constants.num_tuples(source.shape[0], target.shape[0]), dim=source.shape[1], grad_coeffs=grad_coeffs,
        grad_source=gs.data_ptr() if gs is not None else 0, n_source=source.shape[0],
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
