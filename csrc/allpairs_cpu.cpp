// CPU all-pairs pass (allpairs.h): one stripe of inner products -> per-row kernel sums and,
// optionally, gradient coefficients. Work per row: one pass over its N inner products into a
// float64 distance row, then one vectorised pass per kernel (or one exp and squarings), all in a
// per-thread row buffer of 3 N doubles.
#include "allpairs.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "quad_tuple.h"

namespace dan_ext {
namespace {

// As in the linear kernels: with each bandwidth twice the previous, exp(-D / gamma_{u-1}) =
// exp(-D / gamma_u)^2; a fresh exp every kFreshExp kernels keeps the error at most 16 ulp.
constexpr int kFreshExp = 5;

bool doubling_ladder(const StripeKernels& k) {
  bool doubling = k.m > 1;
  for (int u = 0; u + 1 < k.m; ++u) doubling = doubling && k.gammas[u + 1] == 2.0 * k.gammas[u];
  return doubling;
}

template <typename T>
void stripe(const PairStripe& in, const StripeKernels& kern, const StripeSums& out, int num_threads) {
  const int m = kern.m;
  const int64_t N = in.cols;
  const bool doubling = doubling_ladder(kern);
  const bool want_coeff = in.coeff != nullptr;
  std::vector<double> inv_gamma(m), coef_w(m);
  for (int u = 0; u < m; ++u) {
    inv_gamma[u] = 1.0 / kern.gammas[u];
    coef_w[u] = want_coeff ? -kern.betas[u] * inv_gamma[u] : 0.0;
  }
  const double inf = std::numeric_limits<double>::infinity();
  const int64_t total_rows = in.batch * in.rows;

#pragma omp parallel num_threads(num_threads)
  {
    // dist: the row's distances (+inf where a pair is left out, so that every kernel is exactly 0
    // there); k: the current kernel's values; acc: sum_u beta_u / gamma_u k_u, for the coefficients.
    std::vector<double> dist(N), kval(N), acc(want_coeff ? N : 0);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < total_rows; ++r) {
      const int64_t b = r / in.rows, i = r % in.rows;
      const int64_t p = in.row0 + i;  // pooled index of this row
      const T* g = static_cast<const T*>(in.gram) + r * N;
      const double* norms = in.norms + b * N;
      const double ni = norms[p];
      double* drow = dist.data();
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) {
        const double D = ni + norms[j] - 2.0 * static_cast<double>(g[j]);
        drow[j] = D < 0.0 ? 0.0 : D;  // NaN fails the test and stays NaN
      }
      for (int64_t j = 0; j < N; ++j) drow[j] = cpu_detail::finite_or_nan(drow[j]);
      drow[p] = inf;  // not a pair
      const bool is_source = p < in.n_source;
      if (in.paired) {
        const int64_t q = is_source ? p + in.n_source : p - in.n_source;
        if (q >= 0 && q < N) drow[q] = inf;
      }
      // Own domain: [same_lo, same_hi); the other domain is the rest.
      const int64_t same_lo = is_source ? 0 : in.n_source, same_hi = is_source ? in.n_source : N;
      const int64_t other_lo = is_source ? in.n_source : 0, other_hi = is_source ? N : in.n_source;
      double* same = out.same + r * m;
      double* cross = out.cross + r * m;
      if (want_coeff) std::fill(acc.begin(), acc.end(), 0.0);
      double* kv = kval.data();
      double* ac = acc.data();
      // Kernels from the widest down, so that a doubling ladder squares its way to the narrowest.
      for (int u = m - 1; u >= 0; --u) {
        const bool fresh = !doubling || u == m - 1 || (m - 1 - u) % kFreshExp == 0;
        const double ig = inv_gamma[u];
        if (fresh) {
#pragma omp simd
          for (int64_t j = 0; j < N; ++j) kv[j] = std::exp(-drow[j] * ig);
        } else {
#pragma omp simd
          for (int64_t j = 0; j < N; ++j) kv[j] = kv[j] * kv[j];
        }
        double s_same = 0.0, s_other = 0.0;
#pragma omp simd reduction(+ : s_same)
        for (int64_t j = same_lo; j < same_hi; ++j) s_same += kv[j];
#pragma omp simd reduction(+ : s_other)
        for (int64_t j = other_lo; j < other_hi; ++j) s_other += kv[j];
        same[u] = s_same;
        cross[u] = s_other;
        if (want_coeff) {
          const double w = coef_w[u];
#pragma omp simd
          for (int64_t j = 0; j < N; ++j) ac[j] += w * kv[j];
        }
      }
      if (want_coeff) {
        const double w_same = is_source ? in.w_source : in.w_target;
        T* c = static_cast<T*>(in.coeff) + r * N;
        double rowsum = 0.0;
        for (int64_t j = 0; j < N; ++j) {
          const double cij = (j >= same_lo && j < same_hi ? w_same : in.w_cross) * ac[j];
          const T stored = static_cast<T>(cij);
          c[j] = stored;
          rowsum += static_cast<double>(stored);  // the sum of what the BLAS will multiply
        }
        out.coeff_rowsum[r] = rowsum;
      }
    }
  }
}

}  // namespace

void allpairs_cpu_stripe(const PairStripe& in, const StripeKernels& k, const StripeSums& out, int num_threads) {
  const int64_t work = in.batch * in.rows * in.cols * (k.m + 2);
  num_threads = work < cpu_detail::kParallelGrain ? 1 : std::max(1, num_threads);
  switch (in.dtype) {
    case DType::kFloat32: stripe<float>(in, k, out, num_threads); break;
    case DType::kFloat64: stripe<double>(in, k, out, num_threads); break;
    default: break;  // the bindings refuse other dtypes
  }
}

}  // namespace dan_ext
