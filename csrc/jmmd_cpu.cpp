// CPU kernels of the linear-time joint MMD (jmmd.h), the same three passes as MK-MMD's
// (mkmmd_cpu.cpp):
//   1. distances: one parallel pass over the quad-tuples reads each tuple's rows of every layer once
//      (the only O(n sum d_l) work of the forward) and writes L * 4P squared distances;
//   2. tuple terms: from those distances alone, every layer's kernel mixture and its derivative for
//      each of the 4 pairs, their product over layers, the loss and the L * 4P gradient coefficients;
//   3. backward: per layer, MK-MMD's backward kernel with that layer's coefficients (each gradient row
//      written once; only the layers and sides asked for).
// Deterministic for any thread count: the tuples are summed in a fixed number of chunks (a function
// of P only, quad_tuple.h) and the chunks in order.
#include "jmmd.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "jmmd_terms.h"
#include "quad_tuple.h"

namespace dan_ext {
namespace {

template <typename T>
void joint_sqdist(const JointInputs& in, double* dist, int num_threads) {
  const int64_t P = in.tuples;
#pragma omp parallel for schedule(static) num_threads(num_threads)
  for (int64_t i = 0; i < P; ++i) {
    for (int l = 0; l < in.layers; ++l) {
      const JointLayer& ly = in.layer[l];
      const T* a = static_cast<const T*>(ly.source) + 2 * i * ly.source_ld;
      const T* c = static_cast<const T*>(ly.target) + 2 * i * ly.target_ld;
      cpu_detail::quad_sqdist<T>(a, a + ly.source_ld, c, c + ly.target_ld, ly.dim, dist + l * 4 * P + 4 * i);
    }
  }
}

// Sum of g_i over the tuples, and the gradient coefficients (jmmd.h).
double joint_terms(const double* dist, const JointInputs& in, const JointMix& mix, double* grad_coeffs,
                   int num_threads) {
  const int64_t P = in.tuples;
  const int L = in.layers;
  const double scale = 2.0 / static_cast<double>(P);
  const int64_t chunks = cpu_detail::num_chunks(P);
  const int64_t per_chunk = (P + chunks - 1) / chunks;
  std::vector<double> partial(chunks, 0.0);

#pragma omp parallel for schedule(static) num_threads(num_threads)
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const int64_t t_end = std::min(P, (ch + 1) * per_chunk);
    double sum = 0;
    for (int64_t t = std::min(P, ch * per_chunk); t < t_end; ++t) {
      sum += joint_tuple_term(dist, P, L, mix, t, scale, grad_coeffs);
    }
    partial[ch] = sum;
  }
  double total = 0;
  for (int64_t ch = 0; ch < chunks; ++ch) total += partial[ch];
  return total;
}

int threads_for(const JointInputs& in, int64_t extra_work, int num_threads) {
  int64_t work = extra_work;
  for (int l = 0; l < in.layers; ++l) work += 2 * in.tuples * in.layer[l].dim;
  return work < cpu_detail::kParallelGrain ? 1 : std::max(1, num_threads);
}

void check_layers(const JointInputs& in) {
  if (in.layers < 1 || in.layers > kJointMaxLayers)
    throw std::invalid_argument("dan_ext: the joint MMD kernels take 1 to " + std::to_string(kJointMaxLayers) +
                                " layers");
}

}  // namespace

void jmmd_cpu_forward(const JointInputs& in, JointMix& mix, const JointForwardOutputs& out, int num_threads) {
  check_layers(in);
  num_threads = threads_for(in, 8 * in.tuples * mix.kernel_begin[in.layers], num_threads);
  switch (in.dtype) {
    case DType::kFloat32: joint_sqdist<float>(in, out.dist, num_threads); break;
    case DType::kFloat64: joint_sqdist<double>(in, out.dist, num_threads); break;
    default: throw std::invalid_argument("dan_ext CPU kernels take float32 or float64 inputs");
  }
  for (int l = 0; l < in.layers; ++l) {
    if (mix.gammas_given[l]) continue;
    KernelMix layer = mix.layer_mix(l);
    cpu_detail::derive_gammas(out.dist + l * 4 * in.tuples, in.tuples, layer);  // MK-MMD's rule, per layer
  }
  const double loss = joint_terms(out.dist, in, mix, out.grad_coeffs, num_threads) / static_cast<double>(in.tuples);
  if (in.dtype == DType::kFloat32) *static_cast<float*>(out.loss) = static_cast<float>(loss);
  else *static_cast<double*>(out.loss) = loss;
}

void jmmd_cpu_backward(const JointInputs& in, const double* grad_coeffs, double grad_loss,
                       const JointBackwardOutputs& out, int num_threads) {
  check_layers(in);
  for (int l = 0; l < in.layers; ++l) {
    if (!out.grad_source[l] && !out.grad_target[l]) continue;
    const BackwardOutputs layer{out.grad_source[l], out.n_source, out.grad_target[l], out.n_target};
    cpu_backward(in.pair(l), grad_coeffs + l * 4 * in.tuples, grad_loss, layer, num_threads);
  }
}

}  // namespace dan_ext
