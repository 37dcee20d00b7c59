// What the CPU kernels of both ops share (mkmmd_cpu.cpp: MK-MMD; jmmd_cpu.cpp: the joint MMD of
// JAN): the squared distances of one quad-tuple, the bandwidth rule, and the fixed partition of the
// tuples that keeps every sum's order independent of the thread count. Internal: not part of the
// entry points in mkmmd.h / jmmd.h.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

#include "mkmmd.h"

namespace dan_ext {
namespace cpu_detail {

// Below this many row elements (plus other work) a parallel region costs more than it saves.
constexpr int64_t kParallelGrain = 1 << 15;

// An infinite distance would give a kernel value of exactly 0 and a NaN gradient; we make
// the whole estimate NaN instead, so that Inf inputs are as visible as NaN inputs.
inline double finite_or_nan(double x) { return std::isinf(x) ? std::numeric_limits<double>::quiet_NaN() : x; }

// The four squared distances of the quad-tuple (a, b, c, e) over d features, in mkmmd.h's order:
// out[0] = |a-b|^2, out[1] = |c-e|^2, out[2] = |a-e|^2, out[3] = |b-c|^2. Float32 inputs
// accumulate in float32 vector lanes (error near sqrt(d / lanes) ulp).
template <typename T>
inline void quad_sqdist(const T* a, const T* b, const T* c, const T* e, int64_t d, double* out) {
  T ss = 0, tt = 0, st = 0, ts = 0;
#pragma omp simd reduction(+ : ss, tt, st, ts)
  for (int64_t j = 0; j < d; ++j) {
    const T ab = a[j] - b[j], ce = c[j] - e[j], ae = a[j] - e[j], bc = b[j] - c[j];
    ss += ab * ab;
    tt += ce * ce;
    st += ae * ae;
    ts += bc * bc;
  }
  out[0] = finite_or_nan(ss);
  out[1] = finite_or_nan(tt);
  out[2] = finite_or_nan(st);
  out[3] = finite_or_nan(ts);
}

// Data-dependent bandwidths from the 4 * tuples distances dist[0..4P): gamma_u = max(mean, kMinBandwidth)
// * kernel_mul^(u - m/2), written to mix.gammas (no gradient). Defined in mkmmd_cpu.cpp.
void derive_gammas(const double* dist, int64_t tuples, KernelMix& mix);

// The number of chunks the tuple terms are summed in: a function of the tuple count only.
// Defined in mkmmd_cpu.cpp.
int64_t num_chunks(int64_t tuples);

}  // namespace cpu_detail
}  // namespace dan_ext
