"""dan_ext: the fused linear-time multi-kernel MMD of DAN (Long et al., ICML 2015) for PyTorch, and the
joint MMD of JAN (Long et al., ICML 2017) over several layers with the same estimator.

    from dan_ext import mkmmd, mkmmd_linear, jmmd_linear
    loss = mkmmd_linear(source_features, target_features)   # differentiable 0-d tensor
    loss = mkmmd(source_features, target_features, estimator="unbiased")   # or shifted, block, biased
    loss = jmmd_linear([source_features, source_softmax], [target_features, target_softmax], kernel_nums=(5, 1))
"""
from dan_ext import _moved, reference
from dan_ext.linear.backend import compiled_available, cuda_kernels_available
from dan_ext._checks import check_kernel_args, default_bandwidths
from dan_ext._constants import DEFAULT_KERNEL_MUL, DEFAULT_KERNEL_NUM, JOINT_MAX_LAYERS, MIN_BANDWIDTH
from dan_ext.estimators.op import ESTIMATORS, default_block_size, estimator_mean_sqdist, mkmmd, mkmmd_stats, variance_dof
from dan_ext.beta_qp import BetaSolution, power_ratio, solve_beta_qp
from dan_ext.joint.op import jmmd_linear, jmmd_linear_stats
from dan_ext.loss import MKMMDLoss
from dan_ext.linear.op import mean_pair_sqdist, mkmmd_linear, mkmmd_linear_stats
from dan_ext.stats import JMMDStats, MKMMDStats
from dan_ext.two_sample import MMDTestResult, mmd_test

_moved.install(_moved.MOVED)

__all__ = [
    "mkmmd",
    "mkmmd_stats",
    "ESTIMATORS",
    "default_block_size",
    "variance_dof",
    "estimator_mean_sqdist",
    "mkmmd_linear",
    "mkmmd_linear_stats",
    "MKMMDStats",
    "jmmd_linear",
    "jmmd_linear_stats",
    "JMMDStats",
    "JOINT_MAX_LAYERS",
    "MKMMDLoss",
    "reference",
    "compiled_available",
    "cuda_kernels_available",
    "MIN_BANDWIDTH",
    "DEFAULT_KERNEL_NUM",
    "DEFAULT_KERNEL_MUL",
    "default_bandwidths",
    "mean_pair_sqdist",
    "check_kernel_args",
    "solve_beta_qp",
    "BetaSolution",
    "power_ratio",
    "mmd_test",
    "MMDTestResult",
]


def _version() -> str:
    # pyproject.toml is the one home of the version; an uninstalled source tree has none.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dan_ext")
    except PackageNotFoundError:
        return "0+unknown"


__version__ = _version()
