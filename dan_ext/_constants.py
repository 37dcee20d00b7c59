"""Numbers that bound the kernels, in one place (the C++ side mirrors them in csrc/mkmmd.h)."""

MIN_BANDWIDTH = 1e-12  # derived bandwidths use max(gbar, MIN_BANDWIDTH); csrc/mkmmd.h kMinBandwidth
