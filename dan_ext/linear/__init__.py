"""DAN's op, the linear-time MK-MMD over disjoint quad-tuples (``dan_ext.mkmmd_linear``): ``op``
(argument handling, autograd, the torch.library registration) and ``backend`` (the compiled
module, which every family calls through it, and this op's buffer plan)."""
from .op import mean_pair_sqdist, mkmmd_linear, mkmmd_linear_stats

__all__ = ["mean_pair_sqdist", "mkmmd_linear", "mkmmd_linear_stats"]
