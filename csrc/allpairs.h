// Entry points of the all-pairs pass of the MK-MMD estimators that compare every pair of rows
// ("block", "unbiased", "biased"; dan_ext/estimators/allpairs.py drives it).
//
// The driver pools the rows of one problem, z = [source; target] (N rows, centred, so that the
// inner products below stay small), and for each stripe of consecutive rows has the BLAS compute
// the stripe of inner products G[i][j] = z[row0 + i] . z[j]. This pass turns that stripe into
//   - the squared distances D_ij = |z_i|^2 + |z_j|^2 - 2 G_ij (clamped at 0; infinite -> NaN),
//   - every kernel k_u(D) = exp(-D / gamma_u) from the one distance (one exp per entry when each
//     bandwidth is twice the previous one, as with the default kernel_mul = 2),
//   - per row and kernel, the sum of k_u over the other rows of its own domain (j != i) and over
//     the rows of the other domain (all of them, or all but the paired row z[i +- n_source]);
//     the estimates d, and their variance, are O(N m) sums of these (done by the driver),
//   - optionally the gradient coefficient of every entry, c_ij = w_ij sum_u beta_u (-1/gamma_u) k_u(D_ij)
//     with w_ij the weight of its region (source-source, target-target, cross); the gradient of
//     L = sum_{i,j} w_ij sum_u beta_u k_u(D_ij) is dL/dz_i = 4 sum_j c_ij (z_i - z_j) (w symmetric),
//     which the driver forms with one more BLAS call per stripe.
// A batch of independent problems of equal shape (the blocks of the block estimator) is one call.
// Nothing here is n x n x m: a stripe is rows x N values, and the kernels exist only in registers.
#pragma once
#include <cstdint>

#include "mkmmd.h"

namespace dan_ext {

// The CUDA pass keeps a row's per-kernel sums in registers, so it takes at most this many kernels.
constexpr int kAllPairsCudaMaxKernels = 32;

struct PairStripe {
  DType dtype;           // of gram and coeff: kFloat32 or kFloat64
  const void* gram;      // [batch][rows][cols], gram[b][i][j] = z_b[row0 + i] . z_b[j]
  void* coeff;           // same shape, written with c_ij when not nullptr (may be gram itself)
  int64_t batch, rows, cols;  // cols = N, the pooled rows of each problem
  int64_t row0;          // pooled index of the stripe's first row
  int64_t n_source;      // pooled rows [0, n_source) are source rows, [n_source, N) target rows
  const double* norms;   // [batch][cols], |z_j|^2
  bool paired;           // leave out the cross pairs (i, n_source + i) (the block estimator's U-statistic)
  double w_source, w_target, w_cross;  // w_ij by region, for the coefficients
};

struct StripeKernels {
  const double* gammas;  // [m]
  const double* betas;   // [m], read only when coefficients are written
  int m;
};

struct StripeSums {
  double* same;          // [batch][rows][m]: sum over j != i of the own domain of k_u(D_ij)
  double* cross;         // [batch][rows][m]: sum over the other domain's j (less the paired one) of k_u
  double* coeff_rowsum;  // [batch][rows]: sum_j c_ij, when coefficients are written
};

// CPU (OpenMP over rows; each row's sums are in a fixed order, so results do not depend on the
// thread count).
void allpairs_cpu_stripe(const PairStripe& in, const StripeKernels& k, const StripeSums& out, int num_threads);

#ifdef DAN_EXT_WITH_CUDA
// The same on `stream` of `device`; never synchronises the host. At most kAllPairsCudaMaxKernels kernels
// (the Python checks refuse more before any launch).
void allpairs_cuda_stripe(const PairStripe& in, const StripeKernels& k, const StripeSums& out, int device,
                          void* stream);
#endif

}  // namespace dan_ext
