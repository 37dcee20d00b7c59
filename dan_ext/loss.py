"""nn.Module wrapper of the op, for users who like losses as modules."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from .ops import mkmmd_linear


class MKMMDLoss(nn.Module):
    """Linear-time MK-MMD^2 between two feature batches (see dan_ext.mkmmd_linear).

    kernel_num Gaussian kernels with data-dependent bandwidths gbar * kernel_mul**(u - kernel_num//2),
    or fixed ``bandwidths``; kernel weights ``betas`` live in a buffer (uniform by default) so they
    move with .to() and are saved in state_dict. Set them with :meth:`set_betas` (e.g. from the
    DAN beta solver).
    """

    def __init__(self, kernel_num: int = 5, kernel_mul: float = 2.0, bandwidths: Optional[Sequence[float]] = None,
                 betas: Optional[Sequence[float]] = None):
        super().__init__()
        if bandwidths is not None:
            bandwidths = torch.as_tensor(bandwidths, dtype=torch.float64)
            kernel_num = bandwidths.shape[0] if bandwidths.dim() == 1 else kernel_num
        if isinstance(kernel_num, bool) or not isinstance(kernel_num, int) or kernel_num < 1:
            raise ValueError(f"kernel_num must be an integer >= 1, got {kernel_num!r}")
        self.kernel_num = kernel_num
        self.kernel_mul = float(kernel_mul)
        self.register_buffer("bandwidths", bandwidths, persistent=bandwidths is not None)
        self.register_buffer("betas", torch.full((kernel_num,), 1.0 / kernel_num, dtype=torch.float64))
        if betas is not None:
            self.set_betas(betas)

    @torch.no_grad()
    def set_betas(self, betas) -> None:
        b = torch.as_tensor(betas, dtype=torch.float64)
        if b.shape != (self.kernel_num,):
            raise ValueError(f"betas must have shape ({self.kernel_num},), got {tuple(b.shape)}")
        if not bool((b >= 0).all()):
            raise ValueError(f"betas must be non-negative, got {b.tolist()}")
        self.betas.copy_(b)

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # betas are passed from the CPU copy kept by the caller when possible; a device
        # buffer costs one small synchronisation for the non-negativity check.
        return mkmmd_linear(source, target, self.bandwidths, self.betas, kernel_num=self.kernel_num,
                            kernel_mul=self.kernel_mul)

    def extra_repr(self) -> str:
        return f"kernel_num={self.kernel_num}, kernel_mul={self.kernel_mul}"
