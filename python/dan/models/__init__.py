"""The networks: ``networks`` (DAN's network, a backbone with a bottleneck and a classifier, and
``build_model``), ``backbones`` (each backbone's spec: its layers, input size, weights and the
extra that provides them) and ``efficientnet_lite`` (the offline ImageNet backbone)."""
from .networks import DANNet, build_model, check_input_shape

__all__ = ["DANNet", "build_model", "check_input_shape"]
