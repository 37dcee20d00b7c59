// What the CUDA kernels of both ops share (mkmmd_cuda.cu: MK-MMD; jmmd_cuda.cu: the joint MMD of
// JAN): error checks, the accumulation types, 16-byte row access, warp and block sums in a fixed
// order, the squared distances of one quad-tuple by one warp, launch geometry and the device guard.
// Internal: included by the .cu files only. Everything but derive_gammas_async lives in an anonymous
// namespace, so each file has its own copy of the kernels' helpers.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace dan_ext {
namespace cuda_detail {

// Data-dependent bandwidths gamma_u = max(mean(dist[0..count)), kMinBandwidth) * kernel_mul^(u - m/2),
// written to the device array gammas [m] by two fixed-order kernels on `stream`. partial: device
// scratch of kMaxSumBlocks float64. Defined in mkmmd_cuda.cu (MK-MMD's rule, shared by the joint MMD).
void derive_gammas_async(const double* dist, int64_t count, double kernel_mul, int m, double* gammas, double* partial,
                         cudaStream_t stream);

constexpr int kMaxSumBlocks = 256;  // partial sums of the mean distance (derive_gammas_async's scratch)

}  // namespace cuda_detail

namespace {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("dan_ext CUDA error in ") + what + ": " + cudaGetErrorString(err));
}

// Half-precision inputs accumulate in float32, float64 in float64.
template <typename T> struct AccOf { using type = float; };
template <> struct AccOf<double> { using type = double; };

__device__ __forceinline__ float to_acc(float x) { return x; }
__device__ __forceinline__ double to_acc(double x) { return x; }
__device__ __forceinline__ float to_acc(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_acc(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T> __device__ __forceinline__ T from_acc(float x);
template <> __device__ __forceinline__ float from_acc<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_acc<__half>(float x) { return __float2half(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_acc<__nv_bfloat16>(float x) { return __float2bfloat16(x); }
template <typename T> __device__ __forceinline__ T from_acc(double x);
template <> __device__ __forceinline__ double from_acc<double>(double x) { return x; }

// One 16-byte access: VEC elements of T when rows allow it, else one element.
template <typename T, int VEC> struct Chunk {
  alignas(16) T v[VEC];
  __device__ __forceinline__ void load(const T* p) {
    if constexpr (VEC * sizeof(T) == 16) *reinterpret_cast<uint4*>(v) = __ldg(reinterpret_cast<const uint4*>(p));
    else v[0] = p[0];
  }
  // Gradients are written once and not read again by this op: streaming (evict-first) stores
  // keep them from displacing the inputs in L2.
  __device__ __forceinline__ void store(T* p) const {
    if constexpr (VEC * sizeof(T) == 16) __stcs(reinterpret_cast<uint4*>(p), *reinterpret_cast<const uint4*>(v));
    else p[0] = v[0];
  }
};

template <typename A>
__device__ __forceinline__ A warp_sum(A x) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) x += __shfl_xor_sync(0xffffffffu, x, off);
  return x;
}

// An infinite distance becomes NaN so that Inf inputs give a NaN estimate (as the CPU code).
__device__ __forceinline__ double finite_or_nan(double x) { return isinf(x) ? __longlong_as_double(0x7ff8000000000000LL) : x; }

constexpr int kWarpsPerBlock = 8;
constexpr int kThreads = 32 * kWarpsPerBlock;

// The four squared distances of the quad-tuple (a, b, c, e) over d features, by one warp: each lane
// strides over the row in 16-byte pieces (VEC elements; VEC = 1 for rows that are not 16-byte
// aligned), then the lanes' sums are combined in a fixed order; every lane returns the totals
// out[0] = |a-b|^2, out[1] = |c-e|^2, out[2] = |a-e|^2, out[3] = |b-c|^2 (csrc/mkmmd.h's order).
template <typename T, int VEC>
__device__ __forceinline__ void warp_quad_sqdist(const T* a, const T* b, const T* c, const T* e, int64_t d, int lane,
                                                 typename AccOf<T>::type out[4]) {
  using A = typename AccOf<T>::type;
  A ss = 0, tt = 0, st = 0, ts = 0;
#pragma unroll 2
  for (int64_t j = int64_t(lane) * VEC; j < d; j += 32 * VEC) {
    Chunk<T, VEC> ca, cb, cc, ce;
    ca.load(a + j); cb.load(b + j); cc.load(c + j); ce.load(e + j);
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      const A x = to_acc(ca.v[k]), y = to_acc(cb.v[k]), z = to_acc(cc.v[k]), w = to_acc(ce.v[k]);
      ss += (x - y) * (x - y);
      tt += (z - w) * (z - w);
      st += (x - w) * (x - w);
      ts += (y - z) * (y - z);
    }
  }
  out[0] = warp_sum(ss); out[1] = warp_sum(tt); out[2] = warp_sum(st); out[3] = warp_sum(ts);
}

constexpr int kSumThreads = 256;
using cuda_detail::kMaxSumBlocks;

// The sum of one value per thread over a block of kSumThreads threads, in a fixed tree order. Once
// per kernel (its shared array is reused without a barrier after the last read).
__device__ double block_sum(double s) {
  __shared__ double part[kSumThreads];
  part[threadIdx.x] = s;
  __syncthreads();
  for (int w = kSumThreads / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  return part[0];
}

int grid_for(int64_t P) { return int(std::max<int64_t>(1, std::min<int64_t>((P + kWarpsPerBlock - 1) / kWarpsPerBlock, 65535))); }

bool rows_aligned(const void* p, int64_t ld, int64_t d, size_t elem) {
  return (reinterpret_cast<uintptr_t>(p) % 16 == 0) && ((ld * elem) % 16 == 0) && ((d * elem) % 16 == 0);
}

// Makes `device` current for a scope (cheap from C++, unlike torch.cuda.device in Python).
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    check(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) check(cudaSetDevice(device), "cudaSetDevice");
    else previous_ = -1;
  }
  ~DeviceGuard() { if (previous_ >= 0) cudaSetDevice(previous_); }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

}  // namespace
}  // namespace dan_ext
