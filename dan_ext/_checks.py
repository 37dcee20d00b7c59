"""Argument checks shared by the compiled op, the reference and the two-sample test.

Every error names the argument and what was expected. Value checks on bandwidths and
betas (positivity) need their values on the host: pass them as Python sequences or CPU
tensors to keep the forward free of device synchronisation. Under torch.compile the value
checks are skipped (they would break the graph); the shape and dtype checks still run.
"""
from __future__ import annotations

import functools
import math
import operator
import sys
from typing import NamedTuple, Optional

import torch

from dan_ext._constants import DEFAULT_KERNEL_MUL, DEFAULT_KERNEL_NUM, DTYPE_CODES, MIN_BANDWIDTH

FLOAT_DTYPES = tuple(DTYPE_CODES)  # the dtypes the kernels take
_FLOAT_NAMES = "/".join(str(d).replace("torch.", "") for d in FLOAT_DTYPES)

# The smallest bandwidth the kernels can take for inputs of each dtype: the smallest normal number
# of the precision they compute in (float64 for float64 inputs, float32 for the others). Below it
# 1/bandwidth overflows and a repeated row gives 0 * inf = NaN in the loss or the gradient.
_FLOAT32_TINY = torch.finfo(torch.float32).tiny
SMALLEST_BANDWIDTH = {torch.float64: sys.float_info.min, torch.float32: _FLOAT32_TINY,
                      torch.float16: _FLOAT32_TINY, torch.bfloat16: _FLOAT32_TINY}


class Checked(NamedTuple):
    source: torch.Tensor
    target: torch.Tensor
    bandwidths: Optional[torch.Tensor]  # float64 [m] on the inputs' device, or None
    betas: torch.Tensor                  # float64 [m] on the inputs' device
    m: int


def _as_vector(value, name: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        t = value.detach()
    else:
        try:
            t = torch.as_tensor(value, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name} must be a 1-D tensor or sequence of floats, got {type(value).__name__}") from err
    if t.dim() != 1:
        raise ValueError(f"{name} must be 1-D with one entry per kernel, got shape {tuple(t.shape)}")
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        raise TypeError(f"{name} must hold floats, got dtype {t.dtype}")
    return t


_NOT_NUMBERS = (bool, str, bytes, torch.Tensor)


def check_integer(value, name: str, minimum: int) -> int:
    """``value`` as a Python int: any integral number (int, numpy integers: operator.index), not bool
    or a tensor, at least ``minimum``. (Under torch.compile pass Python ints: numpy ones become symbolic.)"""
    if type(value) is not int:
        try:
            if isinstance(value, _NOT_NUMBERS):
                raise TypeError
            value = operator.index(value)
        except TypeError:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r} "
                             f"({type(value).__name__})") from None
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_bool(value, name: str) -> bool:
    """``value`` as a Python bool: True or False (numpy's bool too), nothing else. A string such as
    "no" or "False" is truthy, and taking it as True would silently do the opposite of what was asked."""
    if type(value) is bool:
        return value
    if type(value).__name__ in ("bool", "bool_"):  # numpy's bool, without importing numpy here
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")


def _compiling() -> bool:
    return torch.compiler.is_compiling()


def check_inputs(source, target, bandwidths=None, betas=None, kernel_num=DEFAULT_KERNEL_NUM,
                 kernel_mul=DEFAULT_KERNEL_MUL) -> Checked:
    # Written for speed as well as clarity: at DAN's batch sizes these checks run at kernel scale
    # (each tensor attribute read costs ~0.1 us, so shapes and devices are read once).
    shapes = []
    for name, x in (("source", source), ("target", target)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        shape = x.shape
        if len(shape) != 2:
            raise ValueError(f"{name} must be 2-D (rows x features), got shape {tuple(shape)}")
        if x.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{name} must be a floating-point tensor ({_FLOAT_NAMES}), got {x.dtype}")
        if shape[0] < 2:
            raise ValueError(f"{name} needs at least 2 rows to form a quad-tuple, got {shape[0]}")
        if shape[1] < 1:
            raise ValueError(f"{name} needs at least one feature column, got shape {tuple(shape)}")
        shapes.append(shape)
    if shapes[0][1] != shapes[1][1]:
        raise ValueError(f"source and target must have the same feature dimension, got {shapes[0][1]} and "
                         f"{shapes[1][1]}")
    device = source.device
    if device != target.device:
        raise ValueError(f"source and target must be on the same device, got {device} and {target.device}")
    if source.dtype != target.dtype:
        raise TypeError(f"source and target must have the same dtype, got {source.dtype} and {target.dtype}")
    compiling = _compiling()
    bw, b, m = check_kernel_args(bandwidths, betas, kernel_num, kernel_mul, check_values=not compiling,
                                 dtype=source.dtype)
    if bw is not None:
        bw = bw.to(device=device, dtype=torch.float64)
    if b is None:
        b = _uniform_betas(m, device) if not compiling else torch.full((m,), 1.0 / m, dtype=torch.float64,
                                                                         device=device)
    else:
        b = b.to(device=device, dtype=torch.float64)
    return Checked(source, target, bw, b, m)


def check_kernel_args(bandwidths=None, betas=None, kernel_num=DEFAULT_KERNEL_NUM, kernel_mul=DEFAULT_KERNEL_MUL,
                      check_values: bool = True, dtype: torch.dtype = torch.float64):
    """(bandwidths or None, betas or None, m): the kernel arguments checked without any data, so
    MKMMDLoss can reject them at construction. ``check_values`` reads bandwidth and beta values
    on the host (skipped while torch.compile traces). ``dtype``, the inputs' dtype, sets the
    smallest bandwidth allowed (SMALLEST_BANDWIDTH: float64's smallest normal number for float64
    inputs, float32's for the others), given or derived."""
    if type(kernel_mul) is not float:  # any real number (numpy floats and integers too), not bool or a string
        try:
            # numpy's bool (named bool or bool_), which float() would take as 1.0, is refused like bool
            if isinstance(kernel_mul, _NOT_NUMBERS) or type(kernel_mul).__name__ in ("bool", "bool_"):
                raise TypeError
            kernel_mul = float(kernel_mul)
        except (TypeError, ValueError):
            raise ValueError(f"kernel_mul must be a finite positive number, got {kernel_mul!r}") from None
    if not 0 < kernel_mul < math.inf:
        raise ValueError(f"kernel_mul must be a finite positive number, got {kernel_mul!r}")
    tiny = SMALLEST_BANDWIDTH[dtype]
    if bandwidths is None:
        m = check_integer(kernel_num, "kernel_num", 1)
        # traced, the cache is no use (the check runs once per compile) and Dynamo warns of it on every compile
        (_check_bandwidth_factors.__wrapped__ if _compiling() else _check_bandwidth_factors)(m, kernel_mul, tiny)
        bw = None
    else:
        bw = _as_vector(bandwidths, "bandwidths")
        m = bw.shape[0]
        if m < 1:
            raise ValueError("bandwidths must hold at least one bandwidth")
        if bw.dtype != torch.float64:  # compared in float64: in float32 or an integer dtype, tiny would round to 0
            bw = bw.to(torch.float64)
        # One comparison serves zero, negative, subnormal and NaN (bw >= tiny is False for NaN).
        if check_values and not bool(((bw >= tiny) & (bw < math.inf)).all()):
            raise ValueError(f"bandwidths must all be finite and positive, at least {tiny!r} for "
                             f"{str(dtype).replace('torch.', '')} inputs (the smallest normal "
                             f"{'float64' if dtype == torch.float64 else 'float32, the precision they are computed in'}"
                             f"; below it 1/bandwidth overflows), got {bw.tolist()}"
                             f"{_NON_FINITE_HINT if not bool(torch.isfinite(bw).all()) else ''}")
    b = None
    if betas is not None:
        b = _as_vector(betas, "betas")
        if b.shape[0] != m:
            raise ValueError(f"betas must have one weight per kernel ({m}), got shape {tuple(b.shape)}")
        if check_values and not betas_allowed(b):
            raise ValueError(f"betas must be finite and non-negative, not all zero, got {b.tolist()}")
    return bw, b, m


def betas_allowed(betas: torch.Tensor) -> bool:
    """The one rule for given kernel weights (mkmmd, jmmd_linear per layer, MKMMDLoss, DANLoss's
    fixed betas): finite, non-negative and not all zero. All-zero weights make every estimate
    exactly 0, a penalty that does nothing and a test that can never reject, with no error."""
    return bool((torch.isfinite(betas) & (betas >= 0)).all()) and bool((betas > 0).any())


_NON_FINITE_HINT = ("; bandwidths from dan_ext.default_bandwidths or mean_pair_sqdist are NaN or inf when the "
                    "features' squared distances overflow: rescale the features")


@functools.lru_cache(maxsize=256)  # per (m, kernel_mul, smallest bandwidth): called on every forward
def _check_bandwidth_factors(m: int, kernel_mul: float, tiny: float = sys.float_info.min) -> None:
    """Derived bandwidths are gbar * kernel_mul**(u - m//2) with gbar >= MIN_BANDWIDTH: refuse a
    kernel_mul whose factors overflow, or underflow the smallest gbar to zero, in float64, or take
    it below ``tiny``, the smallest bandwidth the inputs' dtype allows."""
    lo, hi = -(m // 2), m - 1 - m // 2
    try:
        f_lo, f_hi = kernel_mul ** lo, kernel_mul ** hi
    except OverflowError:
        f_lo, f_hi = 0.0, math.inf
    f_min, f_max = min(f_lo, f_hi), max(f_lo, f_hi)
    if not (f_max < math.inf and f_min * MIN_BANDWIDTH >= sys.float_info.min):
        raise ValueError(f"kernel_mul={kernel_mul!r} with kernel_num={m} gives bandwidth factors kernel_mul**(u - "
                         f"{m // 2}) from {f_min:.3g} to {f_max:.3g}, outside float64's range: use a kernel_mul "
                         "nearer 1 or fewer kernels")
    if f_min * MIN_BANDWIDTH < tiny:
        raise ValueError(f"kernel_mul={kernel_mul!r} with kernel_num={m} gives bandwidth factors down to {f_min:.3g}: "
                         f"the smallest derived bandwidth, {MIN_BANDWIDTH:g} * {f_min:.3g} (identical rows), is below "
                         f"{tiny:.3g}, the smallest normal float32 (float32, float16 and bfloat16 inputs are computed "
                         "in float32): use a kernel_mul nearer 1, fewer kernels, or float64 inputs")


_UNIFORM = {}


def _uniform_betas(m: int, device) -> torch.Tensor:
    """Cached read-only uniform weights (the kernels never write betas): one allocation and, on
    CUDA, one host-to-device copy per (m, device) instead of per call."""
    key = (m, device)
    b = _UNIFORM.get(key)
    if b is None:
        b = _UNIFORM[key] = torch.full((m,), 1.0 / m, dtype=torch.float64, device=device)
    return b


def default_bandwidths(mean_sqdist: torch.Tensor, m: int, kernel_mul: float) -> torch.Tensor:
    """gamma_u = gbar * kernel_mul**(u - m//2), gbar the mean squared distance, detached and raised
    to at least MIN_BANDWIDTH: the bandwidths the op derives when none are given (csrc/mkmmd.h).
    Public, for callers that compute gbar themselves (e.g. dan_ext.mean_pair_sqdist all-reduced
    across ranks).

    >>> import torch, dan_ext
    >>> dan_ext.default_bandwidths(torch.tensor(4.0), 5, 2.0).tolist()   # gbar / 4 .. gbar * 4
    [1.0, 2.0, 4.0, 8.0, 16.0]
    >>> dan_ext.default_bandwidths(torch.tensor(0.0), 1, 2.0).tolist()   # raised to MIN_BANDWIDTH
    [1e-12]
    """
    _, _, m = check_kernel_args(None, None, m, kernel_mul)
    gbar = mean_sqdist.detach().to(torch.float64).clamp_min(MIN_BANDWIDTH)
    exps = torch.arange(m, dtype=torch.float64, device=gbar.device) - (m // 2)
    return gbar * float(kernel_mul) ** exps
