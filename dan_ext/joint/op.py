"""The joint MMD of JAN (Long, Zhu, Wang, Jordan, ICML 2017) as an op beside MK-MMD: dan_ext.jmmd_linear
and jmmd_linear_stats, their torch.library registration, autograd, and dispatch to the kernels
(csrc/jmmd.h). Defined once (_JointMMD) and built by dan_ext/_dual_op.py's DualOp, as
MK-MMD's op: a custom op that torch.compile traces, an autograd.Function for eager calls:

  dan_ext::jmmd_forward(sources, targets, bandwidths?, given, betas, kernel_nums, kernel_muls)
      -> (loss, gammas [M], grad_coeffs [L, P, 4])
  dan_ext::jmmd_backward(grad_loss, sources, targets, grad_coeffs, need_sources, need_targets)
      -> [the L source gradients, then the L target gradients] (empty where not needed)

The layers' bandwidths and weights travel end to end in one float64 vector each (M = sum of m_l;
layer l's at kernel_begin(kernel_nums)[l]:[l + 1]); ``given`` says whose bandwidths are given (the others
are derived by the kernels from the layer's own mean squared distance).
"""
from __future__ import annotations

from typing import List, Sequence

import torch
from torch import Tensor

from dan_ext.joint import backend as _jmmd_backend
from dan_ext import reference
from dan_ext._constants import num_tuples
from dan_ext.joint.backend import kernel_begin
from dan_ext.joint.checks import JointChecked, check_joint_inputs
from dan_ext._dual_op import DualOp, Kernel, address
from dan_ext.linear.op import _prepare, _use_reference
from dan_ext.stats import JMMDStats


def _forward_impl(sources, targets, bandwidths, betas, given, kernel_nums, kernel_muls):
    """(loss in the inputs' dtype, the filled float64 buffer, its JointPlan)."""
    loss, buf, plan = _jmmd_backend.forward([_prepare(x) for x in sources], [_prepare(x) for x in targets],
                                            bandwidths=bandwidths, given=given, betas=betas,
                                            kernel_nums=kernel_nums, kernel_muls=kernel_muls)
    if loss.dtype != sources[0].dtype:
        loss = loss.to(sources[0].dtype)
    return loss, buf, plan


def _backward_impl(grad_loss, sources, targets, grad_coeffs: int, need_sources, need_targets):
    """Per layer the gradients, or None where not needed. ``grad_coeffs``: the coefficients' address."""
    gs, gt = _jmmd_backend.backward(grad_loss, [_prepare(x) for x in sources], [_prepare(x) for x in targets],
                                    grad_coeffs, need_sources, need_targets)
    cast = [g if g is None or g.dtype == x.dtype else g.to(x.dtype) for g, x in zip(gs + gt, [*sources, *targets])]
    return cast[:len(gs)], cast[len(gs):]


def _layer_slices(v: Tensor, kernel_nums) -> List[Tensor]:
    begin = kernel_begin(kernel_nums)
    return [v[begin[l]:begin[l + 1]] for l in range(len(kernel_nums))]


def _differentiable_grads(grad_loss, sources, targets, gammas, betas, kernel_nums, need_s, need_t):
    """The gradients as a differentiable function of the inputs, for double backward (create_graph=True):
    the reference formula at the bandwidths the forward used, held fixed as in the first derivative
    (ops._differentiable_grads does the same for MK-MMD). O(n sum d_l) memory; never on the hot path."""
    inputs = [x for x, need in zip([*sources, *targets], [*need_s, *need_t]) if need]
    with torch.enable_grad():
        loss = reference.jmmd_linear(list(sources), list(targets), _layer_slices(gammas.detach(), kernel_nums),
                                     _layer_slices(betas.detach(), kernel_nums))
        grads = iter(torch.autograd.grad(loss, inputs, grad_loss, create_graph=True))
    return [next(grads) if n else None for n in need_s], [next(grads) if n else None for n in need_t]


def _backward_kernel(grad_loss, sources, targets, grad_coeffs, need_sources, need_targets):
    """[the L source gradients, then the L target gradients], None where not needed. ``grad_coeffs``:
    the [L, P, 4] float64 coefficients, as an address into the forward's buffer or as a tensor."""
    gs, gt = _backward_impl(grad_loss, sources, targets, address(grad_coeffs), need_sources, need_targets)
    return [*gs, *gt]


def _backward_fake(grad_loss, sources, targets, grad_coeffs, need_sources, need_targets):
    return [torch.empty_like(x, memory_format=torch.contiguous_format) if need else x.new_empty(0)
            for x, need in zip([*sources, *targets], [*need_sources, *need_targets])]


_BACKWARD = Kernel("dan_ext::jmmd_backward",
                   "(Tensor grad_loss, Tensor[] sources, Tensor[] targets, Tensor grad_coeffs, bool[] need_sources, "
                   "bool[] need_targets) -> Tensor[]",
                   _backward_kernel, _backward_fake, empty=lambda args, i: [*args[1], *args[2]][i].new_empty(0))


class _JointMMD:
    """The op's definition (dan_ext/_dual_op.py): as MK-MMD's, one float64 buffer of the bandwidths
    and 4 gradient coefficients per quad-tuple and layer; the layers' features arrive as lists."""
    name = "dan_ext::jmmd_forward"
    schema = ("(Tensor[] sources, Tensor[] targets, Tensor? bandwidths, bool[] given, Tensor betas, int[] kernel_nums, "
              "float[] kernel_muls) -> (Tensor, Tensor, Tensor)")
    GAMMAS, COEFFS = 0, 1  # the parts

    @staticmethod
    def run(sources, targets, bandwidths, given, betas, kernel_nums, kernel_muls):
        loss, buf, plan = _forward_impl(sources, targets, bandwidths, betas, given, kernel_nums, kernel_muls)
        return loss, (buf,), plan

    @staticmethod
    def parts(outputs, plan):
        return tuple(_jmmd_backend.split(outputs[0], plan))

    @staticmethod
    def address(outputs, plan, i):
        assert i == _JointMMD.COEFFS
        return _jmmd_backend.coeffs_address(outputs[0], plan)

    @staticmethod
    def fake(sources, targets, bandwidths, given, betas, kernel_nums, kernel_muls):
        tuples = num_tuples(sources[0].shape[0], targets[0].shape[0])
        return sources[0].new_empty(()), betas.new_empty(betas.shape[0]), betas.new_empty(len(sources), tuples, 4)

    @staticmethod
    def saved(args):
        sources, targets, _, _, betas, kernel_nums = args[:6]
        return (*sources, *targets, betas), tuple(kernel_nums)

    @staticmethod
    def backward(grad_loss, saved, kernel_nums, needs, found):
        *tensors, betas = saved
        L = len(tensors) // 2
        sources, targets = tensors[:L], tensors[L:]
        need_s, need_t = list(needs[0]), list(needs[1])
        if torch.is_grad_enabled():  # create_graph=True: the gradient must be differentiable
            gs, gt = _differentiable_grads(grad_loss, sources, targets, found.part(_JointMMD.GAMMAS), betas,
                                           kernel_nums, need_s, need_t)
        else:
            grads = found.call(_BACKWARD, grad_loss, list(sources), list(targets), found.address(_JointMMD.COEFFS),
                               need_s, need_t)
            gs = [g if n else None for g, n in zip(grads[:L], need_s)]
            gt = [g if n else None for g, n in zip(grads[L:], need_t)]
        return gs, gt, None, None, None, None, None


_JMMD = DualOp(_JointMMD, nested=True)


def _flat_kernel_args(chk: JointChecked):
    """(bandwidths [M] with NaN for the derived layers, or None when no layer's are given; given; betas [M])."""
    given = tuple(bw is not None for bw in chk.bandwidths)
    device = chk.sources[0].device
    bandwidths = None
    if any(given):
        bandwidths = torch.cat([bw if bw is not None else torch.full((m,), float("nan"), dtype=torch.float64,
                                                                     device=device)
                                for bw, m in zip(chk.bandwidths, chk.kernel_nums)])
    betas = chk.betas[0] if chk.layers == 1 else torch.cat(chk.betas)
    return bandwidths, given, betas


def _run(chk: JointChecked, want_bandwidths: bool):
    """(loss, gammas [M] or None)."""
    bandwidths, given, betas = _flat_kernel_args(chk)
    loss, found = _JMMD(list(chk.sources), list(chk.targets), bandwidths, list(given), betas, list(chk.kernel_nums),
                        list(chk.kernel_muls))
    return loss, (found.part(_JointMMD.GAMMAS) if want_bandwidths else None)


def jmmd_linear_stats(sources: Sequence[Tensor], targets: Sequence[Tensor], bandwidths=None, betas=None, *,
                      kernel_nums=None, kernel_muls=None) -> JMMDStats:
    """The linear-time joint MMD^2 of JAN and the bandwidths it used, from one pass: a JMMDStats of the
    loss (differentiable), one float64 [m_l] tensor of bandwidths per layer and the number of quad-tuples.
    Arguments as for :func:`jmmd_linear`."""
    chk = check_joint_inputs(sources, targets, bandwidths, betas, kernel_nums, kernel_muls)
    if _use_reference(chk.sources[0].device):
        return reference.jmmd_linear_stats(sources, targets, bandwidths, betas, kernel_nums=kernel_nums,
                                           kernel_muls=kernel_muls)
    loss, gammas = _run(chk, True)
    return JMMDStats(loss, tuple(_layer_slices(gammas, chk.kernel_nums)),
                     num_tuples(chk.sources[0].shape[0], chk.targets[0].shape[0]))


def jmmd_linear(sources: Sequence[Tensor], targets: Sequence[Tensor], bandwidths=None, betas=None, *,
                kernel_nums=None, kernel_muls=None) -> Tensor:
    r"""The linear-time joint MMD^2 of JAN (Long, Zhu, Wang, Jordan, ICML 2017) over L layers, with
    DAN's quad-tuples and kernel mixtures, in one fused pass.

    sources: L tensors [n_s, d_l]; targets: L tensors [n_t, d_l] (typically L = 2: bottleneck features
    and softmax outputs). Every layer has the same rows (n_s in every source, n_t in every target:
    the same samples), the same float dtype and device; d_l may differ.

    With n = 2 * (min(n_s, n_t) // 2), the quad-tuples are (s[2i], s[2i+1], t[2i], t[2i+1]), i < n/2, in
    every layer (mkmmd_linear's policy: rows past n are not used and get zero gradient). Per layer
    :math:`k_l(x, y) = \sum_u \beta_{l,u} \exp(-\|x - y\|^2 / \gamma_{l,u})`; the joint kernel is
    :math:`K(z, z') = \prod_l k_l(z^l, z'^l)`, and the result, accumulated in float64, is

    .. math::

        \frac{2}{n} \sum_i \left[ K(s_{2i}, s_{2i+1}) + K(t_{2i}, t_{2i+1}) - K(s_{2i}, t_{2i+1})
        - K(s_{2i+1}, t_{2i}) \right].

    Args:
        bandwidths: None, or one entry per layer: None (derived) or the layer's [m_l] gamma_{l,u}. A derived
            layer uses mkmmd_linear's rule on its own data: gamma_{l,u} = gbar_l * kernel_muls[l]**(u - m_l//2),
            gbar_l the mean of the layer's 2n squared distances the estimator evaluates (detached, at least
            1e-12), with m_l = kernel_nums[l].
        betas: None, or one entry per layer: None (uniform 1/m_l) or the layer's [m_l] non-negative weights.
        kernel_nums: kernels per derived layer: an int for every layer, or one per layer; default 5 in every
            layer (dan_ext.DEFAULT_KERNEL_NUM). JAN's published setting on (features, softmax) is (5, 1).
        kernel_muls: the bandwidth ratio per derived layer: a number for every layer, or one per layer;
            default 2.0 (dan_ext.DEFAULT_KERNEL_MUL).

    Returns a 0-d tensor in the inputs' dtype, differentiable with respect to every source and target
    (gradients only for those that require one; no gradient to bandwidths or betas). Unbiased, so it can
    be negative on a batch. Bounds and errors as mkmmd_linear's, per layer, plus at most
    dan_ext.JOINT_MAX_LAYERS (16) layers; errors name the layer (e.g. ``sources[1] must be 2-D``).
    """
    chk = check_joint_inputs(sources, targets, bandwidths, betas, kernel_nums, kernel_muls)
    if _use_reference(chk.sources[0].device):
        return reference.jmmd_linear(sources, targets, bandwidths, betas, kernel_nums=kernel_nums,
                                     kernel_muls=kernel_muls)
    return _run(chk, False)[0]
