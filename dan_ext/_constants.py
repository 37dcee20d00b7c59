"""The numbers and rules every part of dan_ext shares, in one place, importing neither the compiled
module nor anything that loads it: the plain-PyTorch reference (reference.py) and the argument
checks use them too. The C++ side mirrors what it must in csrc/mkmmd.h (tests/ops/linear/test_op_contract.py
checks that they agree)."""
import torch

MIN_BANDWIDTH = 1e-12  # derived bandwidths use max(gbar, MIN_BANDWIDTH); csrc/mkmmd.h kMinBandwidth

# The op's defaults (kernel_num Gaussian kernels, bandwidths gbar * kernel_mul**(u - kernel_num//2)),
# as in DAN's paper: every signature in dan_ext takes them from here.
DEFAULT_KERNEL_NUM = 5
DEFAULT_KERNEL_MUL = 2.0

# The joint MMD (dan_ext.jmmd_linear) takes 1 to JOINT_MAX_LAYERS layers: its CUDA kernels carry the
# layer table by value as a kernel parameter (csrc/jmmd.h kJointMaxLayers).
JOINT_MAX_LAYERS = 16

# The input dtypes the kernels take and their codes in the compiled module's calls (csrc/mkmmd.h
# enum DType; csrc/bindings.cpp refuses any other code). The checks accept exactly these dtypes.
DTYPE_CODES = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3}

# The x86 extensions a portable build (DAN_EXT_CPU_ARCH=portable, -march=x86-64-v2) may report
# from _C.cpu_kernel_features(), in __builtin_cpu_supports names (the only ones of x86-64-v2 that
# csrc/mkmmd_cpu.cpp lists).
PORTABLE_CPU_FEATURES = frozenset({"sse4.2", "popcnt"})


def num_tuples(n_source: int, n_target: int) -> int:
    """P, the number of disjoint quad-tuples: the smaller batch's rows, in pairs (the tuple policy).
    Here, not in _backend.py, so that the reference computes P without loading the compiled module."""
    return min(n_source, n_target) // 2
