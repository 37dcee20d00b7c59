"""nn.Module wrapper of the op, for users who like losses as modules."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from dan_ext._checks import check_kernel_args
from dan_ext._constants import DEFAULT_KERNEL_MUL, DEFAULT_KERNEL_NUM
from dan_ext.linear.op import mkmmd_linear


class MKMMDLoss(nn.Module):
    """Linear-time MK-MMD^2 between two feature batches (see dan_ext.mkmmd_linear).

    kernel_num Gaussian kernels with data-dependent bandwidths gbar * kernel_mul**(u - kernel_num//2),
    or fixed ``bandwidths``; kernel weights ``betas`` live in a buffer (uniform by default) so they
    move with .to() and are saved in state_dict. Set them with :meth:`set_betas` (e.g. from the
    DAN beta solver).
    """

    def __init__(self, kernel_num: int = DEFAULT_KERNEL_NUM, kernel_mul: float = DEFAULT_KERNEL_MUL,
                 bandwidths: Optional[Sequence[float]] = None, betas: Optional[Sequence[float]] = None):
        super().__init__()
        # Every argument is checked here, not at the first forward.
        bw, _, kernel_num = check_kernel_args(bandwidths, betas, kernel_num, kernel_mul)
        bandwidths = None if bw is None else bw.to(torch.float64).clone()
        self.kernel_num = kernel_num
        self.kernel_mul = float(kernel_mul)
        self.register_buffer("bandwidths", bandwidths, persistent=bandwidths is not None)
        self.register_buffer("betas", torch.full((kernel_num,), 1.0 / kernel_num, dtype=torch.float64))
        if betas is not None:
            self.set_betas(betas)

    @torch.no_grad()
    def set_betas(self, betas) -> None:
        """Replace the kernel weights: ``betas`` [m], non-negative, not all zero (checked)."""
        _, b, _ = check_kernel_args(None, betas, self.kernel_num, self.kernel_mul)
        self.betas.copy_(b.to(torch.float64))

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """:func:`dan_ext.mkmmd_linear` of ``source`` and ``target`` with this module's kernels and betas."""
        # betas are passed from the CPU copy kept by the caller when possible; a device
        # buffer costs one small synchronisation for the non-negativity check.
        return mkmmd_linear(source, target, self.bandwidths, self.betas, kernel_num=self.kernel_num,
                            kernel_mul=self.kernel_mul)

    def extra_repr(self) -> str:
        """The kernel settings, shown in the module's repr."""
        return f"kernel_num={self.kernel_num}, kernel_mul={self.kernel_mul}"
