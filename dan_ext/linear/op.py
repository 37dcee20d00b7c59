"""The public op: its definition, autograd and dispatch to the kernels.

The definition (_LinearMKMMD) is built by _dual_op.DualOp into a torch.library custom op, which
torch.compile traces, and an autograd.Function, which eager calls take (_dual_op.py says why,
with the measurements):

  dan_ext::mkmmd_forward(source, target, bandwidths?, betas, kernel_mul, need_q)
      -> (loss, stats, gammas, grad_coeffs)
  dan_ext::mkmmd_backward(grad_loss, source, target, grad_coeffs, need_source, need_target)
      -> (grad_source, grad_target)

The forward reads the inputs once and keeps only O(n) gradient coefficients (4 per quad-tuple);
the backward reads the inputs again and writes each gradient row once. Saving whole
per-sample gradients in the forward instead would write 2 n d more values and read them
again to scale by grad_output (benchmarks/RESULTS.md has the measurement).
"""
from __future__ import annotations

import torch
from torch import Tensor

from dan_ext.linear import backend as _backend
from dan_ext import reference
from dan_ext._checks import check_bool, check_inputs
from dan_ext._dual_op import DualOp, Kernel, address
from dan_ext._constants import DEFAULT_KERNEL_MUL, DEFAULT_KERNEL_NUM, num_tuples
from dan_ext.stats import MKMMDStats


def _prepare(x: Tensor) -> Tensor:
    # The CPU kernels are float32/float64 (half inputs on CPU are computed in float32), and take
    # any row stride but need consecutive elements within a row.
    if x.dtype in _HALF and x.device.type == "cpu":
        x = x.float()
    if x.stride(1) != 1 and x.shape[1] != 1:
        x = x.contiguous()
    return x


_HALF = (torch.float16, torch.bfloat16)


def _forward_impl(source, target, bandwidths, betas, kernel_mul, need_q):
    """(loss in the inputs' dtype, the filled float64 buffer, its Plan)."""
    loss, buf, plan = _backend.forward(_prepare(source), _prepare(target), bandwidths=bandwidths, betas=betas,
                                       kernel_mul=kernel_mul, need_q=need_q)
    if loss.dtype != source.dtype:
        loss = loss.to(source.dtype)
    return loss, buf, plan


def _backward_impl(grad_loss, source, target, grad_coeffs, need_source, need_target):
    """``grad_coeffs``: the address of the [P, 4] float64 gradient coefficients."""
    gs, gt = _backend.backward(grad_loss, _prepare(source), _prepare(target), grad_coeffs, need_source, need_target)
    if gs is not None and gs.dtype != source.dtype:
        gs = gs.to(source.dtype)
    if gt is not None and gt.dtype != target.dtype:
        gt = gt.to(target.dtype)
    return gs, gt


def _differentiable_grads(grad_loss, source, target, gammas, betas, need_s, need_t, loss_fn=None):
    """The gradients as a differentiable function of the inputs, for double backward.

    Used only when backward runs with create_graph=True (gradient penalties, meta-learning): the
    kernels' backward is not itself differentiable, so the same gradient is recomputed with
    PyTorch ops (the reference formula at the bandwidths the forward used, held fixed as they
    are in the first derivative). O(n d) memory, like any autograd graph; never on the hot path.
    ``loss_fn(source, target, bandwidths, betas)``: the reference of the estimator (default the
    linear one; dan_ext.estimators passes its own)."""
    inputs = [t for t, need in ((source, need_s), (target, need_t)) if need]
    with torch.enable_grad():
        loss = (loss_fn or reference.mkmmd_linear)(source, target, gammas.detach(), betas.detach())
        grads = iter(torch.autograd.grad(loss, inputs, grad_loss, create_graph=True))
    return (next(grads) if need_s else None), (next(grads) if need_t else None)


def _backward_kernel(grad_loss, source, target, grad_coeffs, need_source, need_target):
    """(grad_source or None, grad_target or None). ``grad_coeffs``: the [P, 4] float64 gradient
    coefficients, as an address into the forward's buffer or as a tensor."""
    return _backward_impl(grad_loss, source, target, address(grad_coeffs), need_source, need_target)


def _backward_fake(grad_loss, source, target, grad_coeffs, need_source, need_target):
    gs = torch.empty_like(source, memory_format=torch.contiguous_format) if need_source else source.new_empty(0)
    gt = torch.empty_like(target, memory_format=torch.contiguous_format) if need_target else target.new_empty(0)
    return gs, gt


_BACKWARD = Kernel("dan_ext::mkmmd_backward",
                   "(Tensor grad_loss, Tensor source, Tensor target, Tensor grad_coeffs, bool need_source, "
                   "bool need_target) -> (Tensor, Tensor)",
                   _backward_kernel, _backward_fake, empty=lambda args, i: args[1 + i].new_empty(0))


class _LinearMKMMD:
    """The op's definition (_dual_op.py): the kernels' forward fills one float64 buffer (the stats,
    the bandwidths and 4 gradient coefficients per quad-tuple); the backward reads the inputs again
    with the coefficients and writes each gradient row once."""
    name = "dan_ext::mkmmd_forward"
    schema = ("(Tensor source, Tensor target, Tensor? bandwidths, Tensor betas, float kernel_mul, bool need_q) "
              "-> (Tensor, Tensor, Tensor, Tensor)")
    STATS, GAMMAS, COEFFS = 0, 1, 2  # the parts

    @staticmethod
    def run(source, target, bandwidths, betas, kernel_mul, need_q):
        loss, buf, plan = _forward_impl(source, target, bandwidths, betas, kernel_mul, need_q)
        return loss, (buf,), plan

    @staticmethod
    def parts(outputs, plan):
        return tuple(_backend.split(outputs[0], plan))

    @staticmethod
    def address(outputs, plan, i):
        assert i == _LinearMKMMD.COEFFS
        return _backend.coeffs_address(outputs[0], plan)

    @staticmethod
    def fake(source, target, bandwidths, betas, kernel_mul, need_q):
        plan = _backend.plan(source.shape[0], target.shape[0], betas.shape[0], need_q)
        return (source.new_empty(()), betas.new_empty(plan.stats.length), betas.new_empty(plan.gammas.length),
                betas.new_empty(plan.tuples, 4))

    @staticmethod
    def saved(args):
        source, target, _, betas = args[:4]
        return (source, target, betas), None

    @staticmethod
    def backward(grad_loss, saved, _extra, needs, found):
        source, target, betas = saved
        need_s, need_t = needs[0], needs[1]
        if torch.is_grad_enabled():  # create_graph=True: the gradient must be differentiable
            gs, gt = _differentiable_grads(grad_loss, source, target, found.part(_LinearMKMMD.GAMMAS), betas,
                                           need_s, need_t)
        else:
            gs, gt = found.call(_BACKWARD, grad_loss, source, target, found.address(_LinearMKMMD.COEFFS), need_s,
                                need_t)
        return gs if need_s else None, gt if need_t else None, None, None, None, None


_MKMMD = DualOp(_LinearMKMMD)


def _run(chk, kernel_mul, need_q, want_stats):
    """(loss, stats, gammas); stats and gammas only when ``want_stats``."""
    if chk.source.device.type == "cuda" and chk.m > _backend.CUDA_MAX_KERNELS:
        raise ValueError(f"the CUDA kernels take at most {_backend.CUDA_MAX_KERNELS} kernels (bandwidths or "
                         f"kernel_num), got {chk.m}")
    loss, found = _MKMMD(chk.source, chk.target, chk.bandwidths, chk.betas, float(kernel_mul), bool(need_q))
    if not want_stats:
        return loss, None, None
    return loss, found.part(_LinearMKMMD.STATS), found.part(_LinearMKMMD.GAMMAS)


def _use_reference(device: torch.device) -> bool:
    if device.type == "meta":  # shapes only: the reference's torch ops have meta kernels; nothing to warn of
        return True
    if device.type == "cpu" and _backend.COMPILED:
        return False
    if device.type == "cuda" and _backend.CUDA_KERNELS:
        return False
    _backend.warn_fallback_once()
    return True


def mkmmd_linear_stats(source: Tensor, target: Tensor, bandwidths=None, betas=None, *,
                       kernel_num: int = DEFAULT_KERNEL_NUM, kernel_mul: float = DEFAULT_KERNEL_MUL,
                       covariance: bool = True) -> MKMMDStats:
    """Linear-time MK-MMD^2 of DAN plus what the beta solver and the two-sample test need,
    all from one pass over the inputs: the loss (differentiable), the per-kernel estimates d,
    their covariance estimate Q (when ``covariance``), the bandwidths used and the number of
    quad-tuples. Arguments as for :func:`mkmmd_linear`; see :class:`MKMMDStats`."""
    covariance = check_bool(covariance, "covariance")
    chk = check_inputs(source, target, bandwidths, betas, kernel_num, kernel_mul)
    if _use_reference(chk.source.device):
        return reference.mkmmd_linear_stats(source, target, bandwidths, betas, kernel_num=kernel_num,
                                            kernel_mul=kernel_mul, covariance=covariance)
    loss, stats, gammas = _run(chk, kernel_mul, covariance, True)
    fields = _backend.decode_stats(stats, chk.m, covariance)
    return MKMMDStats(loss, fields.per_kernel, fields.covariance, gammas, num_tuples(source.shape[0], target.shape[0]))


def mkmmd_linear(source: Tensor, target: Tensor, bandwidths=None, betas=None, *,
                 kernel_num: int = DEFAULT_KERNEL_NUM, kernel_mul: float = DEFAULT_KERNEL_MUL) -> Tensor:
    r"""The linear-time unbiased multi-kernel MMD^2 of DAN (Long et al., ICML 2015).

    source: [n_s, d], target: [n_t, d], same float dtype and device. With
    n = 2 * (min(n_s, n_t) // 2), the disjoint quad-tuples are
    :math:`z_i = (s_{2i}, s_{2i+1}, t_{2i}, t_{2i+1})`, i < n/2, and the result is

    .. math::

        \widehat{\mathrm{MMD}}^2 = \frac{2}{n} \sum_i \sum_u \beta_u g_u(z_i), \qquad
        g_u(z_i) = k_u(s_{2i}, s_{2i+1}) + k_u(t_{2i}, t_{2i+1}) - k_u(s_{2i}, t_{2i+1}) - k_u(s_{2i+1}, t_{2i}),

    with :math:`k_u(x, y) = \exp(-\|x - y\|^2 / \gamma_u)`. Rows past n are not used and get zero
    gradient.

    >>> import torch, dan_ext
    >>> x = torch.zeros(4, 3)
    >>> dan_ext.mkmmd_linear(x, x).item()   # identical rows: exactly 0
    0.0
    >>> xs = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    >>> bool(dan_ext.mkmmd_linear(xs, xs + 3.0) > 0.5)   # far apart: near its maximum, 2
    True

    Args:
        bandwidths: [m] gamma_u, or None for gamma_u = gbar * kernel_mul**(u - kernel_num // 2),
            gbar the mean of the 2n squared distances the estimator evaluates (detached, at least 1e-12,
            so identical rows give a loss and gradients of exactly 0). Bandwidths, given or derived,
            must be at least the smallest normal number of the precision the kernels compute in
            (float64 for float64 inputs, float32 for the others; dan_ext._checks.SMALLEST_BANDWIDTH):
            below it 1/gamma overflows. Smaller ones, and a kernel_mul that derives them, are refused.
        betas: [m] non-negative kernel weights, default uniform 1/m. No gradient flows to
            bandwidths or betas. The estimate is unbiased, so it can be negative on a batch.

    NaN or Inf in the inputs (or a squared distance that overflows) give a NaN result and NaN
    gradients for the quad-tuples they touch; never a crash.
    """
    chk = check_inputs(source, target, bandwidths, betas, kernel_num, kernel_mul)
    if _use_reference(chk.source.device):
        return reference.mkmmd_linear(source, target, bandwidths, betas, kernel_num=kernel_num,
                                      kernel_mul=kernel_mul)
    return _run(chk, kernel_mul, False, False)[0]


def mean_pair_sqdist(source: Tensor, target: Tensor) -> Tensor:
    """gbar: the mean of the 2n squared distances the estimator evaluates, from the compiled
    distance pass (one read of the inputs), as 0-d float64, raised to at least MIN_BANDWIDTH and
    detached. Callers that reduce gbar across processes (the DAN trainer under torchrun) pass
    dan_ext.default_bandwidths(gbar, m, kernel_mul) to the op, so the features are read once for
    the bandwidths and once for the loss."""
    chk = check_inputs(source, target, None, None, 1, 1.0)
    if _use_reference(chk.source.device):
        return reference.mean_pair_sqdist(source, target)
    # One kernel (chk.betas is the cached [1.0]), derived bandwidth: gamma_0 = gbar * kernel_mul**0 =
    # gbar; the O(n) tuple terms ride along.
    with torch.no_grad():
        _, buf, plan = _forward_impl(chk.source.detach(), chk.target.detach(), None, chk.betas, 1.0, False)
    return _backend.split(buf, plan).gammas[0]
