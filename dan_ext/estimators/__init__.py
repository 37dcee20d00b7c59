"""The MK-MMD estimators behind ``dan_ext.mkmmd``: ``registry`` (one record per estimator: its
source, route, bandwidth pairs, variance rule and what DDP reduces), ``op`` (the paper's linear one
and the four the peers use, each with d and Q for beta), ``allpairs`` (the fused pass over every
pair for block, unbiased and biased) and ``reference`` (each one in plain float64 PyTorch, the
specification)."""
from .op import (ALL_PAIRS, ALLPAIRS_CUDA_MAX_KERNELS, ESTIMATORS, check_estimator, default_block_size,
                 estimator_mean_sqdist, min_rows_for_variance, mkmmd, mkmmd_stats, variance_dof)
from .registry import DEFAULT_ESTIMATOR, REGISTRY, Estimator, get_estimator

__all__ = ["DEFAULT_ESTIMATOR", "REGISTRY", "Estimator", "get_estimator", "ALL_PAIRS", "ALLPAIRS_CUDA_MAX_KERNELS",
           "ESTIMATORS", "check_estimator", "default_block_size", "estimator_mean_sqdist", "min_rows_for_variance", "mkmmd", "mkmmd_stats", "variance_dof"]
