"""JAN's joint MMD over several layers with the same quad-tuples (``dan_ext.jmmd_linear``): ``op``
(autograd and registration), ``checks`` (its arguments) and ``backend`` (its buffer plan)."""
from .op import jmmd_linear, jmmd_linear_stats

__all__ = ["jmmd_linear", "jmmd_linear_stats"]
