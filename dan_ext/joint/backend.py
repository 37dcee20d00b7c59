"""The memory plan of one joint-MMD call and the compiled module's calls (csrc/jmmd.h), as
_backend.py is for MK-MMD, whose pieces it reuses: Part, the tiling check, the (poisoned in tests)
allocation, the stream, and the compiled module itself, read as ``_backend._C`` at each call.

Follow one call: dan_ext/joint/op.py checks the arguments (joint/checks.py), plan() lays out the float64
buffer (gammas [M] | coeffs [L * 4P] | dist [L * 4P] | CUDA workspace), forward() fills it, split()
gives named views, and backward() passes the coefficients' address to write the gradients.
"""
from __future__ import annotations

import itertools
from typing import NamedTuple, Optional, Sequence

import torch

from dan_ext.linear import backend as _backend
from dan_ext import _constants
from dan_ext.linear.backend import Part, _empty, _stream
from dan_ext._constants import DTYPE_CODES

PART_NAMES = ("gammas", "coeffs", "dist", "workspace")  # in buffer order


class JointPlan(NamedTuple):
    """The memory of one call, from its sizes alone (see _backend.Plan)."""
    tuples: int          # P
    layers: int          # L
    kernels: int         # M = sum of m_l
    gammas: Part         # [M] bandwidths, layer after layer, given or derived
    coeffs: Part         # [L * 4P] gradient coefficients, layer-major, read by the backward
    dist: Part           # [L * 4P] squared distances (forward scratch)
    workspace: Part      # CUDA scratch for per-block partial sums (empty on the CPU)
    total: int

    def parts(self) -> dict:
        return {name: getattr(self, name) for name in PART_NAMES}


def layout(tuples: int, layers: int, kernels: int, workspace: int) -> JointPlan:
    lengths = {"gammas": kernels, "coeffs": 4 * layers * tuples, "dist": 4 * layers * tuples, "workspace": workspace}
    parts, at = {}, 0
    for name in PART_NAMES:
        parts[name] = Part(at, lengths[name])
        at += lengths[name]
    return JointPlan(tuples, layers, kernels, total=at, **parts)


_PLANS = {}


def plan(n_source: int, n_target: int, layers: int, kernels: int, cuda: bool = False) -> JointPlan:
    """The JointPlan for these sizes (cached, its tiling checked once: _backend.cached_plan)."""
    return _backend.cached_plan(_PLANS, _make_plan, (n_source, n_target, layers, kernels, cuda))


def _make_plan(n_source, n_target, layers, kernels, cuda) -> JointPlan:
    tuples = _constants.num_tuples(n_source, n_target)
    workspace = _backend._C.jmmd_cuda_workspace_elems(tuples=tuples) if cuda else 0
    return layout(tuples, layers, kernels, workspace)


class JointParts(NamedTuple):
    gammas: torch.Tensor       # [M]
    grad_coeffs: torch.Tensor  # [L, P, 4]


def split(buf: torch.Tensor, p: JointPlan) -> JointParts:
    if buf.shape[0] != p.total:
        raise RuntimeError(f"dan_ext internal error: a buffer of {buf.shape[0]} elements for a plan of {p.total}")
    g, c = p.gammas, p.coeffs
    return JointParts(buf[g.at:g.at + g.length], buf[c.at:c.at + c.length].view(p.layers, p.tuples, 4))


def coeffs_address(buf: torch.Tensor, p: JointPlan) -> int:
    return buf.data_ptr() + 8 * p.coeffs.at


def kernel_begin(kernel_nums: Sequence[int]) -> list:
    """[0, m_0, m_0 + m_1, ...]: where each layer's kernels start in gammas and betas (L + 1 entries)."""
    return [0, *itertools.accumulate(kernel_nums)]


def _layer_args(sources, targets) -> dict:
    return dict(dtype=DTYPE_CODES[sources[0].dtype], sources=[x.data_ptr() for x in sources],
                source_lds=[x.stride(0) for x in sources], targets=[x.data_ptr() for x in targets],
                target_lds=[x.stride(0) for x in targets], dims=[x.shape[1] for x in sources])


def forward(sources, targets, *, bandwidths: Optional[torch.Tensor], given: Sequence[bool], betas: torch.Tensor,
            kernel_nums: Sequence[int], kernel_muls: Sequence[float]):
    """Run the fused forward. sources/targets: per layer 2-D, unit stride along rows, one dtype and device;
    bandwidths: float64 [M] (read for the layers where ``given``), or None when no layer's are given;
    betas: float64 [M] on the inputs' device. Returns (loss, buf, plan)."""
    device = sources[0].device
    cuda = device.type == "cuda"
    p = plan(sources[0].shape[0], targets[0].shape[0], len(sources), betas.shape[0], cuda)
    loss = _empty((), sources[0].dtype, device)
    buf = _empty((p.total,), torch.float64, device)
    if bandwidths is not None:
        buf[p.gammas.at:p.gammas.at + p.gammas.length].copy_(bandwidths)
    at = buf.data_ptr()
    args = dict(_layer_args(sources, targets), tuples=p.tuples, gammas=at + 8 * p.gammas.at,
                gammas_given=list(given), kernel_muls=list(kernel_muls), betas=betas.data_ptr(),
                kernel_begin=kernel_begin(kernel_nums), loss=loss.data_ptr(), dist=at + 8 * p.dist.at,
                grad_coeffs=at + 8 * p.coeffs.at)
    if cuda:
        args.update(workspace=at + 8 * p.workspace.at, workspace_elems=p.workspace.length, device=device.index,
                    stream=_stream(device))
        _backend._C.jmmd_cuda_forward(**args)
    else:
        args["num_threads"] = torch.get_num_threads()
        _backend._C.jmmd_cpu_forward(**args)
    return loss, buf, p


def backward(grad_loss, sources, targets, grad_coeffs: int, need_sources: Sequence[bool],
             need_targets: Sequence[bool]):
    """Per layer the gradients w.r.t. its source and target (contiguous), or None where not needed.
    ``grad_coeffs``: the address of the forward's [L, P, 4] float64 coefficients."""
    device = sources[0].device
    gs = [_empty(x.shape, x.dtype, device) if need else None for x, need in zip(sources, need_sources)]
    gt = [_empty(x.shape, x.dtype, device) if need else None for x, need in zip(targets, need_targets)]
    args = dict(_layer_args(sources, targets), tuples=_constants.num_tuples(sources[0].shape[0], targets[0].shape[0]),
                grad_coeffs=grad_coeffs, grad_sources=[g.data_ptr() if g is not None else 0 for g in gs],
                n_source=sources[0].shape[0], grad_targets=[g.data_ptr() if g is not None else 0 for g in gt],
                n_target=targets[0].shape[0])
    if device.type == "cuda":
        if grad_loss.dtype != sources[0].dtype:
            grad_loss = grad_loss.to(sources[0].dtype)
        args.update(grad_loss=grad_loss.data_ptr(), device=device.index, stream=_stream(device))
        _backend._C.jmmd_cuda_backward(**args)
    else:
        args.update(grad_loss=float(grad_loss), num_threads=torch.get_num_threads())
        _backend._C.jmmd_cpu_backward(**args)
    return gs, gt
