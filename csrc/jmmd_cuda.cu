// CUDA kernels of the linear-time joint MMD (jmmd.h), the same passes as the CPU code (jmmd_cpu.cpp)
// and the structure of MK-MMD's (mkmmd_cuda.cu): one warp per quad-tuple reads its rows of every
// layer once for the squared distances, MK-MMD's two fixed-order kernels derive each layer's
// bandwidths that are not given, one thread per tuple forms the layers' kernel mixtures, their
// product and the gradient coefficients, and one block sums the per-block partials in order. The
// backward is MK-MMD's backward kernel per layer. All launches go to the caller's stream; no atomics,
// so results are identical run to run. The layer table travels by value as a kernel parameter.
#include "jmmd.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda_common.cuh"
#include "jmmd_terms.h"

namespace dan_ext {
namespace {

// Pass 1: one warp per quad-tuple, the layers in turn; layer l's rows are read 16 bytes at a time
// when bit l of vec_layers is set (its rows are aligned), else element by element. dist[l][4i + p].
template <typename T>
__global__ void __launch_bounds__(kThreads) joint_sqdist_kernel(const JointInputs in, unsigned vec_layers,
                                                                double* __restrict__ dist) {
  using A = typename AccOf<T>::type;
  constexpr int V = 16 / sizeof(T);
  const int lane = threadIdx.x & 31;
  const int64_t P = in.tuples;
  const int64_t nwarps = int64_t(gridDim.x) * kWarpsPerBlock;
  for (int64_t i = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5); i < P; i += nwarps) {
    for (int l = 0; l < in.layers; ++l) {  // the same l across the warp: the shuffles stay converged
      const int64_t ld_s = in.layer[l].source_ld, ld_t = in.layer[l].target_ld, d = in.layer[l].dim;
      const T* a = static_cast<const T*>(in.layer[l].source) + 2 * i * ld_s;
      const T* c = static_cast<const T*>(in.layer[l].target) + 2 * i * ld_t;
      A s[4];
      if ((vec_layers >> l) & 1u) warp_quad_sqdist<T, V>(a, a + ld_s, c, c + ld_t, d, lane, s);
      else warp_quad_sqdist<T, 1>(a, a + ld_s, c, c + ld_t, d, lane, s);
      if (lane == 0) {
        double* D = dist + int64_t(l) * 4 * P + 4 * i;
        D[0] = finite_or_nan(s[0]); D[1] = finite_or_nan(s[1]);
        D[2] = finite_or_nan(s[2]); D[3] = finite_or_nan(s[3]);
      }
    }
  }
}

// Pass 2: one thread per tuple (grid-stride): for each pair, every layer's mixture k_l and
// w_l = -dk_l/dD, the product K = prod_l k_l, and the coefficients from prefix and suffix products
// (never K / k_l, which can underflow). Each block sums its threads' g in a fixed order into
// partials[blockIdx.x]. Launched with kSumThreads threads (block_sum); no __launch_bounds__: with
// it, ptxas capped the registers and spilled on sm_80-sm_90.
__global__ void joint_terms_kernel(const double* __restrict__ dist, int64_t P, int L, const JointMix mix,
                                   double* __restrict__ grad_coeffs, double* __restrict__ partials) {
  const double scale = 2.0 / double(P);
  double sum = 0;
  for (int64_t t = int64_t(blockIdx.x) * kSumThreads + threadIdx.x; t < P; t += int64_t(gridDim.x) * kSumThreads) {
    sum += joint_tuple_term(dist, P, L, mix, t, scale, grad_coeffs);
  }
  sum = block_sum(sum);
  if (threadIdx.x == 0) partials[blockIdx.x] = sum;
}

// The ordered sum of the block partials, divided by P, as the loss in the input dtype.
template <typename T>
__global__ void __launch_bounds__(kSumThreads) joint_finalize_kernel(const double* __restrict__ partials, int blocks,
                                                                     int64_t P, T* __restrict__ loss) {
  double s = 0;
  for (int b = threadIdx.x; b < blocks; b += kSumThreads) s += partials[b];
  s = block_sum(s);
  if (threadIdx.x == 0) *loss = from_acc<T>(static_cast<typename AccOf<T>::type>(s / double(P)));
}

constexpr int kMaxTermBlocks = 1024;

// A function of P only, so the order of the sums (and the result's bits) never changes run to run.
int terms_blocks(int64_t P) {
  return int(std::max<int64_t>(1, std::min<int64_t>(kMaxTermBlocks, (P + kSumThreads - 1) / kSumThreads)));
}

size_t elem_size(DType t) { return t == DType::kFloat64 ? 8 : t == DType::kFloat32 ? 4 : 2; }

template <typename T>
void launch_joint(const JointInputs& in, const JointMix& mix, const JointForwardOutputs& out, unsigned vec_layers,
                  double* workspace, int64_t workspace_elems, cudaStream_t stream) {
  const int64_t P = in.tuples;
  joint_sqdist_kernel<T><<<grid_for(P), kThreads, 0, stream>>>(in, vec_layers, out.dist);
  check(cudaGetLastError(), "joint_sqdist_kernel");
  double* gbar_scratch = workspace + (workspace_elems - kMaxSumBlocks);
  for (int l = 0; l < in.layers; ++l) {  // in stream order, so the layers can share the scratch
    if (mix.gammas_given[l]) continue;
    cuda_detail::derive_gammas_async(out.dist + int64_t(l) * 4 * P, 4 * P, mix.kernel_mul[l], mix.m(l),
                                     mix.gammas + mix.kernel_begin[l], gbar_scratch, stream);
  }
  const int blocks = terms_blocks(P);
  joint_terms_kernel<<<blocks, kSumThreads, 0, stream>>>(out.dist, P, in.layers, mix, out.grad_coeffs, workspace);
  check(cudaGetLastError(), "joint_terms_kernel");
  joint_finalize_kernel<T><<<1, kSumThreads, 0, stream>>>(workspace, blocks, P, static_cast<T*>(out.loss));
  check(cudaGetLastError(), "joint_finalize_kernel");
}

void check_layers(const JointInputs& in) {
  if (in.layers < 1 || in.layers > kJointMaxLayers)
    throw std::invalid_argument("dan_ext: the joint MMD kernels take 1 to " + std::to_string(kJointMaxLayers) +
                                " layers");
}

}  // namespace

int64_t jmmd_cuda_workspace_elems(int64_t tuples) { return terms_blocks(tuples) + kMaxSumBlocks; }

void jmmd_cuda_forward(const JointInputs& in, JointMix& mix, const JointForwardOutputs& out, double* workspace,
                       int64_t workspace_elems, int device, void* stream_ptr) {
  check_layers(in);
  DeviceGuard guard(device);
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  if (workspace_elems < jmmd_cuda_workspace_elems(in.tuples))
    throw std::invalid_argument("dan_ext: CUDA workspace too small");
  const size_t elem = elem_size(in.dtype);
  unsigned vec_layers = 0;
  for (int l = 0; l < in.layers; ++l) {
    const JointLayer& ly = in.layer[l];
    if (rows_aligned(ly.source, ly.source_ld, ly.dim, elem) && rows_aligned(ly.target, ly.target_ld, ly.dim, elem))
      vec_layers |= 1u << l;
  }
  switch (in.dtype) {
    case DType::kFloat32: launch_joint<float>(in, mix, out, vec_layers, workspace, workspace_elems, stream); break;
    case DType::kFloat64: launch_joint<double>(in, mix, out, vec_layers, workspace, workspace_elems, stream); break;
    case DType::kFloat16: launch_joint<__half>(in, mix, out, vec_layers, workspace, workspace_elems, stream); break;
    case DType::kBFloat16:
      launch_joint<__nv_bfloat16>(in, mix, out, vec_layers, workspace, workspace_elems, stream);
      break;
  }
}

void jmmd_cuda_backward(const JointInputs& in, const double* grad_coeffs, const void* grad_loss,
                        const JointBackwardOutputs& out, int device, void* stream) {
  check_layers(in);
  for (int l = 0; l < in.layers; ++l) {
    if (!out.grad_source[l] && !out.grad_target[l]) continue;
    const BackwardOutputs layer{out.grad_source[l], out.n_source, out.grad_target[l], out.n_target};
    cuda_backward(in.pair(l), grad_coeffs + int64_t(l) * 4 * in.tuples, grad_loss, layer, device, stream);
  }
}

}  // namespace dan_ext
