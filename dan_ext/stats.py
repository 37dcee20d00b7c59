"""The result types of dan_ext.mkmmd_linear_stats and dan_ext.jmmd_linear_stats."""
from __future__ import annotations

from typing import NamedTuple, Optional, Tuple

import torch


class MKMMDStats(NamedTuple):
    r"""Everything one pass of the linear-time MK-MMD produces.

    Attributes:
        loss: 0-d, the estimate :math:`\sum_u \beta_u d_u`, differentiable w.r.t. source and
            target; dtype of the inputs.
        per_kernel: [m] float64, :math:`d_u = (2/n) \sum_i g_u(z_i)`, one unbiased estimate per kernel.
        covariance: [m, m] float64, :math:`Q = (1/J) \sum_j h_j h_j^T` with
            :math:`h_j = g(z_{2j}) - g(z_{2j+1})` over the J = P // 2 pairs of consecutive
            quad-tuples (the paper's :math:`(4/n) \sum h h^T` when 4 divides n).
            :math:`E[Q] = 2 \mathrm{Cov}[g]`, so the variance of a beta-weighted estimate is
            :math:`\beta^T Q \beta / (2P)`. NaN when P < 2; None when not requested.
        bandwidths: [m] float64, the gamma_u used (derived from the data when not given).
        num_tuples: P, the number of disjoint quad-tuples (n / 2).

    per_kernel, covariance and bandwidths carry no gradient.
    """

    loss: torch.Tensor
    per_kernel: torch.Tensor
    covariance: Optional[torch.Tensor]
    bandwidths: torch.Tensor
    num_tuples: int


class JMMDStats(NamedTuple):
    r"""What one pass of the linear-time joint MMD (dan_ext.jmmd_linear_stats) produces.

    Attributes:
        loss: 0-d, :math:`\mathrm{JMMD}^2 = (2/n) \sum_i g_i`, differentiable w.r.t. every source
            and target; dtype of the inputs.
        bandwidths: one float64 [m_l] tensor per layer, the :math:`\gamma_{l,u}` used (derived from
            that layer's data where not given); no gradient.
        num_tuples: P, the number of disjoint quad-tuples (n / 2).
    """

    loss: torch.Tensor
    bandwidths: Tuple[torch.Tensor, ...]
    num_tuples: int
