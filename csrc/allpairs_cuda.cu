// CUDA all-pairs pass (allpairs.h): one stripe of inner products -> per-row kernel sums and,
// optionally, gradient coefficients. The CPU pass's formulas (allpairs_cpu.cpp) step for step: the
// same distances bit for bit (clamped at 0, infinite -> NaN), kernels widest first with the same
// squarings down a doubling ladder, the same coefficient sum, stored in the Gram dtype, and their row
// sum from the stored values; results differ from the CPU's only by the exp and the order of the sums.
// Left-out entries (the row itself, its block partner) give kernels of exactly 0 (set, not exp(-inf)).
//
// One thread block per stripe row (grid-stride over the batch * rows rows). The block's threads
// stride over the row's entries in two phases, first the row's own domain, then the other domain;
// per entry a thread forms the distance, every kernel (widest first, squaring down a doubling
// ladder as the CPU does) and, when asked, the coefficient, which it writes at once. Its partial
// per-kernel sums of the phase live in registers (the kernel loop is unrolled to a compile-time
// bound MAXM >= m, so the sums are indexed by constants); the block then adds them up in a fixed
// order: a butterfly within each warp, then warp by warp in shared memory. The block size is a
// function of the row length only, so which thread sums which entries, and with it every bit of
// the results, is the same on every run and device. No atomics; all work on the caller's stream.
#include "allpairs.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda_common.cuh"

namespace dan_ext {
namespace {

// As on the CPU: with each bandwidth twice the previous, exp(-D / gamma_{u-1}) = exp(-D / gamma_u)^2;
// a fresh exp every kFreshExp kernels keeps the error at most 16 ulp.
constexpr int kFreshExp = 5;

constexpr int kMaxStripeThreads = 256;
constexpr int kMaxStripeWarps = kMaxStripeThreads / 32;
constexpr int64_t kMaxStripeBlocks = int64_t(1) << 20;  // rows beyond this are taken grid-stride

// Threads per row block: enough to cover short rows with few idle lanes, at most 256.
int stripe_threads(int64_t cols) {
  if (cols <= 64) return 32;
  if (cols <= 256) return 64;
  if (cols <= 1024) return 128;
  return kMaxStripeThreads;
}

// The kernel loop's compile-time bound for m kernels.
int max_kernels_bucket(int m) { return m <= 8 ? 8 : m <= 16 ? 16 : 32; }

// The block's total of each of the first m of acc[0..MAXM), in a fixed order (warp butterfly, then
// the warps in turn), written to dst[m - 1 - t] for acc[t] (acc is kept widest kernel first).
// red: shared [kMaxStripeWarps][MAXM], not read again by the caller before the next barrier.
template <int MAXM>
__device__ __forceinline__ void block_sums(const double (&acc)[MAXM], int m, double* red, double* __restrict__ dst) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int t = 0; t < MAXM; ++t) {
    if (t < m) {  // m is the same for the whole block: the shuffles stay converged
      const double v = warp_sum(acc[t]);
      if (lane == 0) red[warp * MAXM + t] = v;
    }
  }
  __syncthreads();
  if (int(threadIdx.x) < m) {
    const int warps = int(blockDim.x) >> 5;
    double s = 0;
    for (int w = 0; w < warps; ++w) s += red[w * MAXM + threadIdx.x];
    dst[m - 1 - threadIdx.x] = s;
  }
}

// One phase of a row: the entries j in [lo, hi) (one domain), weight w_region for the coefficients.
// acc[t] += k_{m-1-t}(D_ij); rowsum += the stored coefficients. Left-out entries (j == p, j == q)
// give kernels of exactly 0.
template <typename T, int MAXM, bool COEFF>
__device__ __forceinline__ void row_phase(const T* g, T* c, const double* __restrict__ norms, double ni, int64_t lo,
                                          int64_t hi, int64_t p, int64_t q, int m, bool doubling,
                                          const double* ig_s, const double* w_s, double w_region,
                                          double (&acc)[MAXM], double& rowsum) {
  for (int64_t j = lo + threadIdx.x; j < hi; j += blockDim.x) {
    double D = ni + norms[j] - 2.0 * static_cast<double>(g[j]);  // read before c[j] (maybe the same) is written
    D = D < 0.0 ? 0.0 : D;  // NaN fails the test and stays NaN
    D = finite_or_nan(D);
    const bool left_out = j == p || j == q;
    double k = 0.0, a = 0.0;
#pragma unroll
    for (int t = 0; t < MAXM; ++t) {  // kernel u = m - 1 - t: from the widest down
      if (t < m) {
        if (!doubling || t % kFreshExp == 0) k = left_out ? 0.0 : exp(-D * ig_s[t]);
        else k = k * k;
        acc[t] += k;
        if (COEFF) a += w_s[t] * k;
      }
    }
    if (COEFF) {
      const T stored = static_cast<T>(w_region * a);
      c[j] = stored;
      rowsum += static_cast<double>(stored);  // the sum of what the BLAS will multiply
    }
  }
}

// gram and coeff may be the same buffer: every entry is read, then written, by the same thread, and
// rows never overlap, so neither pointer is __restrict__. Launched with 32 to kMaxStripeThreads
// threads (stripe_threads). No __launch_bounds__: with it, ptxas spilled (MAXM = 8 with coefficients).
template <typename T, int MAXM, bool COEFF>
__global__ void allpairs_stripe_kernel(const PairStripe in, const double* __restrict__ gammas,
                                       const double* __restrict__ betas, int m, StripeSums out) {
  __shared__ double ig_s[MAXM];  // 1 / gamma_{m-1-t}
  __shared__ double w_s[MAXM];   // -beta_{m-1-t} / gamma_{m-1-t}
  __shared__ double red_same[kMaxStripeWarps * MAXM], red_cross[kMaxStripeWarps * MAXM];
  __shared__ double red_rowsum[kMaxStripeWarps];

  const int tid = threadIdx.x;
  if (tid < m) {
    const int u = m - 1 - tid;
    const double ig = 1.0 / gammas[u];
    ig_s[tid] = ig;
    if (COEFF) w_s[tid] = -betas[u] * ig;
  }
  // Each bandwidth twice the previous (blockDim.x >= 32 >= m threads check one step each); the
  // barrier also publishes ig_s and w_s.
  const bool step_ok = tid + 1 >= m || gammas[tid + 1] == 2.0 * gammas[tid];
  const bool doubling = __syncthreads_and(step_ok) != 0 && m > 1;

  const int64_t N = in.cols;
  const int64_t total_rows = in.batch * in.rows;
  for (int64_t r = blockIdx.x; r < total_rows; r += gridDim.x) {
    const int64_t b = r / in.rows, i = r - b * in.rows;
    const int64_t p = in.row0 + i;  // pooled index of this row
    const T* g = static_cast<const T*>(in.gram) + r * N;
    T* c = COEFF ? static_cast<T*>(in.coeff) + r * N : nullptr;
    const double* norms = in.norms + b * N;
    const double ni = norms[p];
    const bool is_source = p < in.n_source;
    int64_t q = -1;  // the paired row, left out as on the CPU (whatever its domain)
    if (in.paired) {
      const int64_t pq = is_source ? p + in.n_source : p - in.n_source;
      if (pq >= 0 && pq < N) q = pq;
    }
    const int64_t same_lo = is_source ? 0 : in.n_source, same_hi = is_source ? in.n_source : N;
    const int64_t other_lo = is_source ? in.n_source : 0, other_hi = is_source ? N : in.n_source;
    double rowsum = 0.0;

    double acc[MAXM];
#pragma unroll
    for (int t = 0; t < MAXM; ++t) acc[t] = 0.0;
    row_phase<T, MAXM, COEFF>(g, c, norms, ni, same_lo, same_hi, p, q, m, doubling, ig_s, w_s,
                              is_source ? in.w_source : in.w_target, acc, rowsum);
    block_sums<MAXM>(acc, m, red_same, out.same + r * m);

#pragma unroll
    for (int t = 0; t < MAXM; ++t) acc[t] = 0.0;
    row_phase<T, MAXM, COEFF>(g, c, norms, ni, other_lo, other_hi, p, q, m, doubling, ig_s, w_s, in.w_cross, acc,
                              rowsum);
    block_sums<MAXM>(acc, m, red_cross, out.cross + r * m);

    if (COEFF) {
      const double v = warp_sum(rowsum);
      if ((tid & 31) == 0) red_rowsum[tid >> 5] = v;
      __syncthreads();
      if (tid == 0) {
        double s = 0;
        for (int w = 0; w < int(blockDim.x) >> 5; ++w) s += red_rowsum[w];
        out.coeff_rowsum[r] = s;
      }
    }
    __syncthreads();  // the next row reuses the shared sums
  }
}

template <typename T, int MAXM>
void launch(const PairStripe& in, const StripeKernels& k, const StripeSums& out, cudaStream_t stream) {
  const int64_t total_rows = in.batch * in.rows;
  const int blocks = int(std::min(total_rows, kMaxStripeBlocks));
  const int threads = stripe_threads(in.cols);
  if (in.coeff)
    allpairs_stripe_kernel<T, MAXM, true><<<blocks, threads, 0, stream>>>(in, k.gammas, k.betas, k.m, out);
  else
    allpairs_stripe_kernel<T, MAXM, false><<<blocks, threads, 0, stream>>>(in, k.gammas, k.betas, k.m, out);
  check(cudaGetLastError(), "allpairs_stripe_kernel");
}

template <typename T>
void launch_for_m(const PairStripe& in, const StripeKernels& k, const StripeSums& out, cudaStream_t stream) {
  switch (max_kernels_bucket(k.m)) {
    case 8: launch<T, 8>(in, k, out, stream); break;
    case 16: launch<T, 16>(in, k, out, stream); break;
    default: launch<T, 32>(in, k, out, stream); break;
  }
}

}  // namespace

void allpairs_cuda_stripe(const PairStripe& in, const StripeKernels& k, const StripeSums& out, int device,
                          void* stream_ptr) {
  static_assert(kAllPairsCudaMaxKernels <= 32, "the kernel keeps at most 32 sums per thread and checks the "
                                               "bandwidth ladder with one warp");
  if (k.m < 1 || k.m > kAllPairsCudaMaxKernels)
    throw std::invalid_argument("dan_ext: the CUDA all-pairs pass takes 1 to " +
                                std::to_string(kAllPairsCudaMaxKernels) + " kernels, got " + std::to_string(k.m));
  if (in.batch < 1 || in.rows < 1) return;  // nothing to do (the bindings refuse empty stripes)
  DeviceGuard guard(device);
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  switch (in.dtype) {
    case DType::kFloat32: launch_for_m<float>(in, k, out, stream); break;
    case DType::kFloat64: launch_for_m<double>(in, k, out, stream); break;
    default: throw std::invalid_argument("dan_ext: the CUDA all-pairs pass takes float32 or float64");
  }
}

}  // namespace dan_ext
