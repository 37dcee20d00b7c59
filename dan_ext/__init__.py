"""dan_ext: the fused linear-time multi-kernel MMD of DAN (Long et al., ICML 2015) for PyTorch.

    from dan_ext import mkmmd_linear
    loss = mkmmd_linear(source_features, target_features)   # differentiable 0-d tensor
"""
MIN_BANDWIDTH = 1e-12  # same as kMinBandwidth in csrc/mkmmd.h

from . import reference  # noqa: E402
from ._backend import compiled_available, cuda_kernels_available  # noqa: E402
from ._checks import default_gammas as default_bandwidths  # noqa: E402
from .loss import MKMMDLoss  # noqa: E402
from .ops import mkmmd_linear, mkmmd_linear_stats  # noqa: E402
from .stats import MKMMDStats  # noqa: E402
from .beta_qp import BetaSolution, power_ratio, solve_beta_qp  # noqa: E402
from .two_sample import MMDTestResult, mmd_test  # noqa: E402

__all__ = [
    "mkmmd_linear",
    "mkmmd_linear_stats",
    "MKMMDStats",
    "MKMMDLoss",
    "reference",
    "compiled_available",
    "cuda_kernels_available",
    "MIN_BANDWIDTH",
    "default_bandwidths",
    "solve_beta_qp",
    "BetaSolution",
    "power_ratio",
    "mmd_test",
    "MMDTestResult",
]
__version__ = "0.1.0"
