// Entry points of the linear-time MK-MMD kernels (DAN, Long et al. 2015).
//
// Everything here works on raw pointers and plain sizes so that the compiled
// module never includes or links torch (see ../shared/notes/BUILD.md): the
// Python package allocates every buffer and passes data_ptr() values.
//
// Notation. P quad-tuples; tuple i is (a, b, c, e) = (s[2i], s[2i+1], t[2i], t[2i+1]).
// Its four squared distances are stored in this order:
//   dist[4i+0] = |a-b|^2 (source-source)   dist[4i+1] = |c-e|^2 (target-target)
//   dist[4i+2] = |a-e|^2 (source-target)   dist[4i+3] = |b-c|^2 (target-source)
// g_u(i) = k_u(ab) + k_u(ce) - k_u(ae) - k_u(bc),  k_u(D) = exp(-D / gamma_u).
//
// stats layout (float64): [loss, d_0..d_{m-1}, Q_00..Q_{m-1,m-1}] with
//   d_u = (1/P) sum_i g_u(i),  loss = sum_u beta_u d_u,
//   Q_uv = (1/J) sum_j h_u(j) h_v(j),  h_u(j) = g_u(2j) - g_u(2j+1),  J = P/2
// (the paper's (4/n) sum h h^T when 4 divides n); Q is NaN when J == 0.
// grad_coeffs[4i+p] = 2 dL/dD_p (the gradient coefficients), so the gradient of a tuple's rows is, e.g.,
//   dL/da = W_ab (a-b) + W_ae (a-e).
#pragma once
#include <cstdint>

namespace dan_ext {

enum class DType : int { kFloat32 = 0, kFloat64 = 1, kFloat16 = 2, kBFloat16 = 3 };

// Bandwidths below this are raised to it, so identical inputs never divide by zero.
// (Exported to Python as dan_ext._C.MIN_BANDWIDTH; dan_ext/_constants.py must agree, tested.)
constexpr double kMinBandwidth = 1e-12;

// The CUDA tuple-terms kernel keeps two tuples' g rows (2 x m float64) in 48 KB of shared
// memory, so the CUDA path takes at most this many kernels (exported as CUDA_MAX_KERNELS; the
// Python checks refuse more with a clear error before any launch).
constexpr int kCudaMaxKernels = 48 * 1024 / (2 * 8);

// Length of the stats vector: [loss, d_0..d_{m-1}, Q (m*m, only when need_q)].
inline int64_t stats_len(int m, bool need_q) { return 1 + m + (need_q ? int64_t(m) * m : 0); }

struct PairInputs {
  DType dtype;
  const void* source;  // rows of length dim, unit stride along a row
  int64_t source_ld;   // elements between consecutive source rows
  const void* target;
  int64_t target_ld;
  int64_t tuples;      // P >= 1
  int64_t dim;         // d >= 1
};

struct KernelMix {
  double* gammas;      // [m]; read when given, written when derived from the data
  bool gammas_given;
  double kernel_mul;   // gamma_u = mean(dist) * kernel_mul^(u - m/2) when not given
  const double* betas; // [m]
  int m;
};

struct ForwardOutputs {
  void* loss;          // 0-d, in the input dtype
  double* stats;       // [1 + m + (need_q ? m*m : 0)]
  double* dist;        // [4P] work buffer
  double* grad_coeffs;     // [4P] gradient coefficients for the backward pass
  bool need_q;
};

struct BackwardOutputs {
  void* grad_source;   // [n_source, dim] contiguous, or nullptr when not needed
  int64_t n_source;
  void* grad_target;   // [n_target, dim] contiguous, or nullptr
  int64_t n_target;
};

// CPU (OpenMP). Deterministic for any thread count: every reduction has a
// fixed partition that depends only on the problem size.
void cpu_forward(const PairInputs& in, KernelMix& mix, const ForwardOutputs& out, int num_threads);
void cpu_backward(const PairInputs& in, const double* grad_coeffs, double grad_loss,
                  const BackwardOutputs& out, int num_threads);

// The x86 instruction-set extensions the CPU kernels were compiled to use (comma-separated, in
// __builtin_cpu_supports names; empty for a baseline build). Defined in mkmmd_cpu.cpp, so it
// reflects that file's -march.
const char* cpu_kernel_features();

bool cuda_compiled();
#ifdef DAN_EXT_WITH_CUDA
// Number of float64 elements of scratch the CUDA forward needs.
int64_t cuda_workspace_elems(int64_t tuples, int m, bool need_q);
// Runs on `stream` of `device` (made current for the call, then restored); never
// synchronises the host.
void cuda_forward(const PairInputs& in, KernelMix& mix, const ForwardOutputs& out,
                  double* workspace, int64_t workspace_elems, int device, void* stream);
// grad_loss points to a 0-d device tensor of the input dtype.
void cuda_backward(const PairInputs& in, const double* grad_coeffs, const void* grad_loss,
                   const BackwardOutputs& out, int device, void* stream);
#endif

}  // namespace dan_ext
