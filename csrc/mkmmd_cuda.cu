// CUDA kernels of the linear-time MK-MMD, the same three passes as the CPU code
// (mkmmd_cpu.cpp): the forward reads each input row once, the backward reads it once
// more and writes each gradient row once. All launches go to the caller's stream; no
// kernel uses atomics, so results are identical run to run.
#include "mkmmd.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda_common.cuh"

namespace dan_ext {
namespace {

// One row of per-block partial sums: d_0..d_{m-1} and, with need_q, Q (m*m): the stats vector
// (csrc/mkmmd.h) without its leading loss.
__host__ __device__ inline int64_t partial_row_len(int m, bool need_q) { return m + (need_q ? int64_t(m) * m : 0); }

// Pass 1: one warp per quad-tuple (cuda_common.cuh warp_quad_sqdist).
template <typename T, int VEC>
__global__ void __launch_bounds__(kThreads) pair_sqdist_kernel(const T* __restrict__ src, int64_t ld_s,
                                                               const T* __restrict__ tgt, int64_t ld_t,
                                                               int64_t P, int64_t d, double* __restrict__ dist) {
  using A = typename AccOf<T>::type;
  const int lane = threadIdx.x & 31;
  const int64_t nwarps = int64_t(gridDim.x) * kWarpsPerBlock;
  for (int64_t i = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5); i < P; i += nwarps) {
    const T* a = src + 2 * i * ld_s;
    const T* c = tgt + 2 * i * ld_t;
    A s[4];
    warp_quad_sqdist<T, VEC>(a, a + ld_s, c, c + ld_t, d, lane, s);
    if (lane == 0) {
      dist[4 * i + 0] = finite_or_nan(s[0]); dist[4 * i + 1] = finite_or_nan(s[1]);
      dist[4 * i + 2] = finite_or_nan(s[2]); dist[4 * i + 3] = finite_or_nan(s[3]);
    }
  }
}

// Data-dependent bandwidths from the mean distance, in two fixed-order stages: many blocks sum
// contiguous slices of the 4P distances, then one block sums those partials (a single block
// reading all 4P distances took 52 us at P = 32768 on an H200, 8% of the forward).
int sum_blocks(int64_t count) {
  return int(std::max<int64_t>(1, std::min<int64_t>(kMaxSumBlocks, (count + 4095) / 4096)));
}

__global__ void __launch_bounds__(kSumThreads) sum_slices_kernel(const double* __restrict__ dist, int64_t count,
                                                                 double* __restrict__ partial) {
  const int64_t per = (count + gridDim.x - 1) / gridDim.x;
  const int64_t lo = int64_t(blockIdx.x) * per;
  const int64_t hi = lo + per < count ? lo + per : count;
  double s = 0;
  for (int64_t k = lo + threadIdx.x; k < hi; k += kSumThreads) s += dist[k];
  s = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void __launch_bounds__(kSumThreads) derive_gammas_kernel(const double* __restrict__ partial, int parts,
                                                                    int64_t count, double kernel_mul, int m,
                                                                    double* __restrict__ gammas) {
  double s = 0;
  for (int k = threadIdx.x; k < parts; k += kSumThreads) s += partial[k];
  double gbar = block_sum(s) / double(count);
  if (gbar < kMinBandwidth) gbar = kMinBandwidth;  // NaN stays NaN on purpose
  for (int u = threadIdx.x; u < m; u += kSumThreads) gammas[u] = gbar * pow(kernel_mul, double(u - m / 2));
}

// Pass 2: per chunk of tuples (even length, so Q's pairs never straddle chunks) the block
// keeps g[tuple][u] in shared memory, adds d and Q into its own row of `partials`, and
// writes the tuple's gradient coefficients. O(P m) exponentials, O(P m^2 / 2) for Q.
template <bool NEED_Q>
__global__ void tuple_terms_kernel(const double* __restrict__ dist, int64_t P, const double* __restrict__ gammas,
                                   const double* __restrict__ betas, int m, int chunk, double* __restrict__ partials,
                                   double* __restrict__ grad_coeffs) {
  extern __shared__ double g[];  // [chunk][m]
  const int64_t row = partial_row_len(m, NEED_Q);
  double* part = partials + int64_t(blockIdx.x) * row;
  for (int64_t e = threadIdx.x; e < row; e += blockDim.x) part[e] = 0;
  const int64_t chunks = (P + chunk - 1) / chunk;
  const double invP = 1.0 / double(P);
  for (int64_t ch = blockIdx.x; ch < chunks; ch += gridDim.x) {
    const int64_t t0 = ch * chunk;
    const int nt = int(P - t0 < chunk ? P - t0 : int64_t(chunk));
    for (int idx = threadIdx.x; idx < nt * m; idx += blockDim.x) {
      const int tl = idx / m, u = idx - tl * m;
      const double* D = dist + 4 * (t0 + tl);
      const double ig = 1.0 / gammas[u];
      g[idx] = exp(-D[0] * ig) + exp(-D[1] * ig) - exp(-D[2] * ig) - exp(-D[3] * ig);
    }
    for (int idx = threadIdx.x; idx < nt * 4; idx += blockDim.x) {
      const double Dp = dist[4 * t0 + idx];
      double w = 0;
      for (int u = 0; u < m; ++u) {
        const double ig = 1.0 / gammas[u];
        w += betas[u] * ig * exp(-Dp * ig);
      }
      grad_coeffs[4 * t0 + idx] = ((idx & 3) < 2 ? -2.0 : 2.0) * w * invP;
    }
    __syncthreads();
    const int npairs = nt / 2;
    for (int64_t e = threadIdx.x; e < row; e += blockDim.x) {
      double acc = 0;
      if (e < m) {
        for (int tl = 0; tl < nt; ++tl) acc += g[tl * m + e];
      } else {
        const int q = int(e - m), u = q / m, v = q - u * m;
        for (int jj = 0; jj < npairs; ++jj) {
          const double hu = g[2 * jj * m + u] - g[(2 * jj + 1) * m + u];
          const double hv = g[2 * jj * m + v] - g[(2 * jj + 1) * m + v];
          acc += hu * hv;
        }
      }
      part[e] += acc;
    }
    __syncthreads();
  }
}

// Ordered sum of the block partials, normalisation, and the loss in the input dtype.
template <typename T>
__global__ void finalize_kernel(const double* __restrict__ partials, int blocks, int64_t P, int m, bool need_q,
                                const double* __restrict__ betas, double* __restrict__ stats, T* __restrict__ loss) {
  const int64_t row = partial_row_len(m, need_q);
  const int64_t J = P / 2;
  const double qscale = J > 0 ? 1.0 / double(J) : __longlong_as_double(0x7ff8000000000000LL);
  for (int64_t e = threadIdx.x; e < row; e += blockDim.x) {
    double s = 0;
    for (int b = 0; b < blocks; ++b) s += partials[int64_t(b) * row + e];
    stats[1 + e] = e < m ? s / double(P) : s * qscale;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double l = 0;
    for (int u = 0; u < m; ++u) l += betas[u] * stats[1 + u];
    stats[0] = l;
    *loss = from_acc<T>(static_cast<typename AccOf<T>::type>(l));
  }
}

// Backward: one warp per quad-tuple writes the four gradient rows, scaled by dL/dloss
// read on the device (no host synchronisation).
template <typename T, int VEC>
__global__ void __launch_bounds__(kThreads) pair_grad_kernel(const T* __restrict__ src, int64_t ld_s,
                                                             const T* __restrict__ tgt, int64_t ld_t, int64_t P,
                                                             int64_t d, const double* __restrict__ grad_coeffs,
                                                             const T* __restrict__ grad_loss, T* __restrict__ gs,
                                                             T* __restrict__ gt) {
  using A = typename AccOf<T>::type;
  const int lane = threadIdx.x & 31;
  const int64_t nwarps = int64_t(gridDim.x) * kWarpsPerBlock;
  const A scale = to_acc(*grad_loss);
  for (int64_t i = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5); i < P; i += nwarps) {
    const T* a = src + 2 * i * ld_s;
    const T* b = a + ld_s;
    const T* c = tgt + 2 * i * ld_t;
    const T* e = c + ld_t;
    const A wab = A(grad_coeffs[4 * i + 0]) * scale, wce = A(grad_coeffs[4 * i + 1]) * scale;
    const A wae = A(grad_coeffs[4 * i + 2]) * scale, wbc = A(grad_coeffs[4 * i + 3]) * scale;
#pragma unroll 2
    for (int64_t j = int64_t(lane) * VEC; j < d; j += 32 * VEC) {
      Chunk<T, VEC> ca, cb, cc, ce, o1, o2;
      ca.load(a + j); cb.load(b + j); cc.load(c + j); ce.load(e + j);
      if (gs) {
#pragma unroll
        for (int k = 0; k < VEC; ++k) {
          const A x = to_acc(ca.v[k]), y = to_acc(cb.v[k]), z = to_acc(cc.v[k]), w = to_acc(ce.v[k]);
          o1.v[k] = from_acc<T>(wab * (x - y) + wae * (x - w));
          o2.v[k] = from_acc<T>(wab * (y - x) + wbc * (y - z));
        }
        o1.store(gs + 2 * i * d + j);
        o2.store(gs + (2 * i + 1) * d + j);
      }
      if (gt) {
#pragma unroll
        for (int k = 0; k < VEC; ++k) {
          const A x = to_acc(ca.v[k]), y = to_acc(cb.v[k]), z = to_acc(cc.v[k]), w = to_acc(ce.v[k]);
          o1.v[k] = from_acc<T>(wce * (z - w) + wbc * (z - y));
          o2.v[k] = from_acc<T>(wce * (w - z) + wae * (w - x));
        }
        o1.store(gt + 2 * i * d + j);
        o2.store(gt + (2 * i + 1) * d + j);
      }
    }
  }
}


int tuple_chunk(int m) {
  // g[chunk][m] doubles within the default 48 KB of shared memory; even, at most 128.
  const int c = std::min(128, (48 * 1024 / 8) / std::max(1, m));
  return std::max(2, c & ~1);
}

int terms_blocks(int64_t P, int m, bool need_q) {
  const int64_t row = partial_row_len(m, need_q);
  const int64_t chunks = (P + tuple_chunk(m) - 1) / tuple_chunk(m);
  const int64_t cap = std::max<int64_t>(1, std::min<int64_t>(1024, (int64_t(1) << 22) / row));  // <= 32 MB scratch
  return int(std::max<int64_t>(1, std::min(chunks, cap)));
}

template <typename T>
void launch_sqdist(const PairInputs& in, double* dist, cudaStream_t stream) {
  const T* s = static_cast<const T*>(in.source);
  const T* t = static_cast<const T*>(in.target);
  constexpr int V = 16 / sizeof(T);
  if (rows_aligned(s, in.source_ld, in.dim, sizeof(T)) && rows_aligned(t, in.target_ld, in.dim, sizeof(T)))
    pair_sqdist_kernel<T, V><<<grid_for(in.tuples), kThreads, 0, stream>>>(s, in.source_ld, t, in.target_ld, in.tuples, in.dim, dist);
  else
    pair_sqdist_kernel<T, 1><<<grid_for(in.tuples), kThreads, 0, stream>>>(s, in.source_ld, t, in.target_ld, in.tuples, in.dim, dist);
  check(cudaGetLastError(), "pair_sqdist_kernel");
}

template <typename T>
void launch_grad(const PairInputs& in, const double* grad_coeffs, const void* grad_loss, const BackwardOutputs& out,
                 cudaStream_t stream) {
  const T* s = static_cast<const T*>(in.source);
  const T* t = static_cast<const T*>(in.target);
  T* gs = static_cast<T*>(out.grad_source);
  T* gt = static_cast<T*>(out.grad_target);
  const T* gl = static_cast<const T*>(grad_loss);
  constexpr int V = 16 / sizeof(T);
  const bool vec = rows_aligned(s, in.source_ld, in.dim, sizeof(T)) && rows_aligned(t, in.target_ld, in.dim, sizeof(T)) &&
                   (!gs || rows_aligned(gs, in.dim, in.dim, sizeof(T))) && (!gt || rows_aligned(gt, in.dim, in.dim, sizeof(T)));
  if (vec)
    pair_grad_kernel<T, V><<<grid_for(in.tuples), kThreads, 0, stream>>>(s, in.source_ld, t, in.target_ld, in.tuples, in.dim, grad_coeffs, gl, gs, gt);
  else
    pair_grad_kernel<T, 1><<<grid_for(in.tuples), kThreads, 0, stream>>>(s, in.source_ld, t, in.target_ld, in.tuples, in.dim, grad_coeffs, gl, gs, gt);
  check(cudaGetLastError(), "pair_grad_kernel");
  // Rows past the last quad-tuple take no part in the estimate: their gradient is zero.
  const int64_t used = 2 * in.tuples * in.dim;
  if (gs && out.n_source * in.dim > used)
    check(cudaMemsetAsync(gs + used, 0, sizeof(T) * (out.n_source * in.dim - used), stream), "cudaMemsetAsync");
  if (gt && out.n_target * in.dim > used)
    check(cudaMemsetAsync(gt + used, 0, sizeof(T) * (out.n_target * in.dim - used), stream), "cudaMemsetAsync");
}

template <typename T>
void launch_finalize(const double* partials, int blocks, int64_t P, const KernelMix& mix, const ForwardOutputs& out,
                     cudaStream_t stream) {
  finalize_kernel<T><<<1, 256, 0, stream>>>(partials, blocks, P, mix.m, out.need_q, mix.betas, out.stats,
                                             static_cast<T*>(out.loss));
  check(cudaGetLastError(), "finalize_kernel");
}

}  // namespace

namespace cuda_detail {

void derive_gammas_async(const double* dist, int64_t count, double kernel_mul, int m, double* gammas, double* partial,
                         cudaStream_t stream) {
  const int parts = sum_blocks(count);
  sum_slices_kernel<<<parts, kSumThreads, 0, stream>>>(dist, count, partial);
  check(cudaGetLastError(), "sum_slices_kernel");
  derive_gammas_kernel<<<1, kSumThreads, 0, stream>>>(partial, parts, count, kernel_mul, m, gammas);
  check(cudaGetLastError(), "derive_gammas_kernel");
}

}  // namespace cuda_detail

bool cuda_compiled() { return true; }

int64_t cuda_workspace_elems(int64_t tuples, int m, bool need_q) {
  const int64_t row = partial_row_len(m, need_q);
  return int64_t(terms_blocks(tuples, m, need_q)) * row + kMaxSumBlocks;  // + partial sums for gbar
}

void cuda_forward(const PairInputs& in, KernelMix& mix, const ForwardOutputs& out, double* workspace,
                  int64_t workspace_elems, int device, void* stream_ptr) {
  DeviceGuard guard(device);
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  if (mix.m > kCudaMaxKernels)
    throw std::invalid_argument("dan_ext: the CUDA kernels take at most " + std::to_string(kCudaMaxKernels) +
                                " kernels (bandwidths), got " + std::to_string(mix.m));
  if (workspace_elems < cuda_workspace_elems(in.tuples, mix.m, out.need_q))
    throw std::invalid_argument("dan_ext: CUDA workspace too small");
  switch (in.dtype) {
    case DType::kFloat32: launch_sqdist<float>(in, out.dist, stream); break;
    case DType::kFloat64: launch_sqdist<double>(in, out.dist, stream); break;
    case DType::kFloat16: launch_sqdist<__half>(in, out.dist, stream); break;
    case DType::kBFloat16: launch_sqdist<__nv_bfloat16>(in, out.dist, stream); break;
  }
  if (!mix.gammas_given)
    cuda_detail::derive_gammas_async(out.dist, 4 * in.tuples, mix.kernel_mul, mix.m, mix.gammas,
                                     workspace + (workspace_elems - kMaxSumBlocks), stream);
  const int chunk = tuple_chunk(mix.m);
  const int blocks = terms_blocks(in.tuples, mix.m, out.need_q);
  const size_t shmem = size_t(chunk) * mix.m * sizeof(double);
  if (out.need_q)
    tuple_terms_kernel<true><<<blocks, 256, shmem, stream>>>(out.dist, in.tuples, mix.gammas, mix.betas, mix.m, chunk, workspace, out.grad_coeffs);
  else
    tuple_terms_kernel<false><<<blocks, 256, shmem, stream>>>(out.dist, in.tuples, mix.gammas, mix.betas, mix.m, chunk, workspace, out.grad_coeffs);
  check(cudaGetLastError(), "tuple_terms_kernel");
  switch (in.dtype) {
    case DType::kFloat32: launch_finalize<float>(workspace, blocks, in.tuples, mix, out, stream); break;
    case DType::kFloat64: launch_finalize<double>(workspace, blocks, in.tuples, mix, out, stream); break;
    case DType::kFloat16: launch_finalize<__half>(workspace, blocks, in.tuples, mix, out, stream); break;
    case DType::kBFloat16: launch_finalize<__nv_bfloat16>(workspace, blocks, in.tuples, mix, out, stream); break;
  }
}

void cuda_backward(const PairInputs& in, const double* grad_coeffs, const void* grad_loss, const BackwardOutputs& out,
                   int device, void* stream_ptr) {
  DeviceGuard guard(device);
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  switch (in.dtype) {
    case DType::kFloat32: launch_grad<float>(in, grad_coeffs, grad_loss, out, stream); break;
    case DType::kFloat64: launch_grad<double>(in, grad_coeffs, grad_loss, out, stream); break;
    case DType::kFloat16: launch_grad<__half>(in, grad_coeffs, grad_loss, out, stream); break;
    case DType::kBFloat16: launch_grad<__nv_bfloat16>(in, grad_coeffs, grad_loss, out, stream); break;
  }
}

}  // namespace dan_ext
