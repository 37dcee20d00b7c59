"""Argument checks of the joint MMD (dan_ext.jmmd_linear and its reference), one-line errors that name
the argument, down to the layer: ``sources[1]``, ``bandwidths[0]``, ``kernel_muls[2]``.

Each layer is checked by MK-MMD's own checks (_checks.check_inputs: 2-D, float dtype, at least 2 rows,
the same features in source and target, the same dtype and device, bandwidths, betas, kernel_num and
kernel_mul), whose messages are renamed to the layer's argument; then what ties the layers together:
as many targets as sources, 1 to JOINT_MAX_LAYERS layers, the same rows (the same samples), dtype and
device in every layer, and one bandwidth and beta entry per layer.
"""
from __future__ import annotations

import re
from typing import NamedTuple, Optional, Tuple

import torch

from dan_ext._checks import check_inputs
from dan_ext._constants import DEFAULT_KERNEL_MUL, DEFAULT_KERNEL_NUM, JOINT_MAX_LAYERS


class JointChecked(NamedTuple):
    sources: Tuple[torch.Tensor, ...]
    targets: Tuple[torch.Tensor, ...]
    bandwidths: Tuple[Optional[torch.Tensor], ...]  # per layer: float64 [m_l] on the inputs' device, or None (derived)
    betas: Tuple[torch.Tensor, ...]                  # per layer: float64 [m_l] on the inputs' device
    kernel_nums: Tuple[int, ...]                     # m_l (the given bandwidths' count where given)
    kernel_muls: Tuple[float, ...]

    @property
    def layers(self) -> int:
        return len(self.sources)


_PLURAL = {"source": "sources", "target": "targets", "bandwidths": "bandwidths", "betas": "betas",
           "kernel_num": "kernel_nums", "kernel_mul": "kernel_muls"}
_INPUT_NAME = re.compile(r"\b(source|target)\b")
_KERNEL_ARG = re.compile(r"^(bandwidths|betas|kernel_num|kernel_mul)\b")


def _for_layer(err: Exception, layer: int) -> Exception:
    """MK-MMD's error for one layer, with its argument names made the joint op's: 'source must be 2-D'
    becomes 'sources[1] must be 2-D', 'kernel_mul=...' at the start 'kernel_muls[1]=...'."""
    msg = _INPUT_NAME.sub(lambda m: f"{_PLURAL[m.group(1)]}[{layer}]", str(err))
    msg = _KERNEL_ARG.sub(lambda m: f"{_PLURAL[m.group(1)]}[{layer}]", msg)
    return type(err)(msg)


def _per_layer(value, name: str, layers: int, default, scalar_ok: bool) -> tuple:
    """``value`` as one entry per layer: None gives ``default`` for each; a scalar (when ``scalar_ok``)
    is repeated; a list or tuple must have one entry per layer."""
    if value is None:
        return (default,) * layers
    if isinstance(value, (list, tuple)):
        if len(value) != layers:
            raise ValueError(f"{name} must have one entry per layer ({layers}), got {len(value)}")
        return tuple(value)
    if scalar_ok:
        return (value,) * layers
    raise TypeError(f"{name} must be None or a list with one entry per layer ({layers}: None or a 1-D tensor or "
                    f"sequence of floats each), got {type(value).__name__}")


def check_joint_inputs(sources, targets, bandwidths=None, betas=None, kernel_nums=None,
                       kernel_muls=None) -> JointChecked:
    for name, xs in (("sources", sources), ("targets", targets)):
        if not isinstance(xs, (list, tuple)):
            raise TypeError(f"{name} must be a list or tuple of tensors, one per layer, got {type(xs).__name__}")
    if len(sources) != len(targets):
        raise ValueError(f"sources and targets must have one tensor per layer each, got {len(sources)} and "
                         f"{len(targets)}")
    layers = len(sources)
    if not 1 <= layers <= JOINT_MAX_LAYERS:
        raise ValueError(f"sources and targets must hold 1 to {JOINT_MAX_LAYERS} layers, got {layers}")
    bws = _per_layer(bandwidths, "bandwidths", layers, None, scalar_ok=False)
    bts = _per_layer(betas, "betas", layers, None, scalar_ok=False)
    nums = _per_layer(kernel_nums, "kernel_nums", layers, DEFAULT_KERNEL_NUM, scalar_ok=True)
    muls = _per_layer(kernel_muls, "kernel_muls", layers, DEFAULT_KERNEL_MUL, scalar_ok=True)

    checked = []
    for layer in range(layers):
        try:
            checked.append(check_inputs(sources[layer], targets[layer], bws[layer], bts[layer], nums[layer],
                                        muls[layer]))
        except (TypeError, ValueError) as err:
            raise _for_layer(err, layer) from None
    first = checked[0]
    for layer, chk in enumerate(checked[1:], 1):
        for name, x, x0 in (("sources", chk.source, first.source), ("targets", chk.target, first.target)):
            if x.shape[0] != x0.shape[0]:
                raise ValueError(f"{name}[{layer}] has {x.shape[0]} rows and {name}[0] {x0.shape[0]}: every layer "
                                 "must hold the features of the same samples, row for row")
        if chk.source.dtype != first.source.dtype:
            raise TypeError(f"sources[{layer}] is {chk.source.dtype} and sources[0] {first.source.dtype}: every "
                            "layer must have the same dtype")
        if chk.source.device != first.source.device:
            raise ValueError(f"sources[{layer}] is on {chk.source.device} and sources[0] on {first.source.device}: "
                             "every layer must be on the same device")
    return JointChecked(
        tuple(c.source for c in checked), tuple(c.target for c in checked), tuple(c.bandwidths for c in checked),
        tuple(c.betas for c in checked), tuple(c.m for c in checked),
        tuple(float(m) for m in muls))
