// Entry points of the linear-time joint MMD (JMMD) of JAN (Long, Zhu, Wang, Jordan, ICML 2017), on
// raw pointers like the MK-MMD kernels (mkmmd.h), whose tuple policy and bandwidth rule it shares.
//
// L layers; layer l has source rows [n_s, d_l] and target rows [n_t, d_l]. P quad-tuples; tuple i is
// (a, b, c, e) = (s[2i], s[2i+1], t[2i], t[2i+1]) in every layer. Per layer, a mixture of m_l Gaussian
// kernels  k_l(D) = sum_u beta_{l,u} exp(-D / gamma_{l,u})  of the layer's squared distance D; the
// joint kernel of a pair is the product over layers, K_p = prod_l k_l(D_{l,p}), with the pairs p in
// mkmmd.h's order (ab, ce, ae, bc). The estimate is
//   JMMD^2 = (1/P) sum_i g_i,   g_i = K_ab + K_ce - K_ae - K_bc,
// accumulated in float64. The layers' kernels are laid end to end: layer l's bandwidths and
// weights are gammas[kernel_begin[l] .. kernel_begin[l+1]) and betas[...] (M = kernel_begin[L]).
//
// Buffers, float64, layer-major: dist[l * 4P + 4i + p] = D_{l,p} of tuple i, and
//   grad_coeffs[l * 4P + 4i + p] = 2 dJMMD^2 / dD_{l,p}
//                                = -sign_p (2/P) (prod_{l' != l} k_{l'}(D_{l',p})) sum_u beta_{l,u} / gamma_{l,u} exp(-D_{l,p} / gamma_{l,u}),
// sign_p = +1 for ab, ce and -1 for ae, bc; the product of the other layers is formed from prefix
// and suffix products, never by dividing K_p by k_l (which can underflow to 0). Each layer's
// [4P] block is then exactly the gradient-coefficient layout of mkmmd.h, and the backward of
// layer l is MK-MMD's backward with that block (dL/da = W_ab (a-b) + W_ae (a-e), ...).
#pragma once
#include <cstdint>

#include "mkmmd.h"

namespace dan_ext {

// Layers per call. The layer table travels by value as a CUDA kernel parameter (a few hundred bytes,
// no host-to-device copy and no synchronisation), so it has a fixed size. Exported to Python as
// dan_ext._C.JOINT_MAX_LAYERS; dan_ext/_constants.py must agree (tested).
constexpr int kJointMaxLayers = 16;

struct JointLayer {
  const void* source;  // rows of length dim, unit stride along a row
  int64_t source_ld;   // elements between consecutive source rows
  const void* target;
  int64_t target_ld;
  int64_t dim;         // d_l >= 1
};

struct JointInputs {
  DType dtype;         // the same for every layer
  int64_t tuples;      // P >= 1
  int layers;          // 1 <= L <= kJointMaxLayers
  JointLayer layer[kJointMaxLayers];

  // Layer l as the two-sample inputs of the MK-MMD kernels.
  PairInputs pair(int l) const {
    return {dtype, layer[l].source, layer[l].source_ld, layer[l].target, layer[l].target_ld, tuples, layer[l].dim};
  }
};

struct JointMix {
  double* gammas;                             // [M]; a layer's are read when given, else written
  const double* betas;                        // [M]
  int kernel_begin[kJointMaxLayers + 1];      // layer l's kernels: [kernel_begin[l], kernel_begin[l+1])
  bool gammas_given[kJointMaxLayers];
  double kernel_mul[kJointMaxLayers];         // gamma_{l,u} = gbar_l * kernel_mul[l]^(u - m_l/2) when derived

  int m(int l) const { return kernel_begin[l + 1] - kernel_begin[l]; }
  // Layer l as the kernel mixture of the MK-MMD kernels (for the shared bandwidth rule).
  KernelMix layer_mix(int l) const {
    return {gammas + kernel_begin[l], gammas_given[l], kernel_mul[l], betas + kernel_begin[l], m(l)};
  }
};

struct JointForwardOutputs {
  void* loss;          // 0-d, in the input dtype
  double* dist;        // [L * 4P] work buffer
  double* grad_coeffs; // [L * 4P] gradient coefficients for the backward pass
};

struct JointBackwardOutputs {
  void* grad_source[kJointMaxLayers];  // [n_source, d_l] contiguous, or nullptr when not needed
  void* grad_target[kJointMaxLayers];  // [n_target, d_l] contiguous, or nullptr
  int64_t n_source;
  int64_t n_target;
};

// CPU (OpenMP). Deterministic for any thread count, as the MK-MMD kernels.
void jmmd_cpu_forward(const JointInputs& in, JointMix& mix, const JointForwardOutputs& out, int num_threads);
void jmmd_cpu_backward(const JointInputs& in, const double* grad_coeffs, double grad_loss,
                       const JointBackwardOutputs& out, int num_threads);

#ifdef DAN_EXT_WITH_CUDA
// Number of float64 elements of scratch the CUDA forward needs.
int64_t jmmd_cuda_workspace_elems(int64_t tuples);
// Runs on `stream` of `device`; never synchronises the host.
void jmmd_cuda_forward(const JointInputs& in, JointMix& mix, const JointForwardOutputs& out, double* workspace,
                       int64_t workspace_elems, int device, void* stream);
// grad_loss points to a 0-d device tensor of the input dtype.
void jmmd_cuda_backward(const JointInputs& in, const double* grad_coeffs, const void* grad_loss,
                        const JointBackwardOutputs& out, int device, void* stream);
#endif

}  // namespace dan_ext
