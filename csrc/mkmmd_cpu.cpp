// CPU kernels of the linear-time MK-MMD: three passes.
//   1. pair distances: reads each input row exactly once (the only O(n d) read of the forward);
//   2. tuple terms: O(P m) kernel values, the loss, d, Q and the gradient coefficients, from the
//      4P distances alone, so the inputs are not re-read whatever the bandwidth mode;
//   3. backward: reads the rows once more and writes each gradient row once.
// Float32 inputs accumulate distances in float32 (vector lanes keep the error near
// sqrt(d / lanes) ulp); everything after the distances is float64.
#include "mkmmd.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

#include "quad_tuple.h"

namespace dan_ext {

namespace cpu_detail {

// Data-dependent bandwidths: gamma_u = mean(dist) * kernel_mul^(u - m/2), no gradient.
void derive_gammas(const double* dist, int64_t tuples, KernelMix& mix) {
  double sum = 0;
  for (int64_t k = 0; k < 4 * tuples; ++k) sum += dist[k];
  double gbar = sum / static_cast<double>(4 * tuples);
  if (gbar < kMinBandwidth) gbar = kMinBandwidth;  // NaN stays NaN on purpose
  for (int u = 0; u < mix.m; ++u) mix.gammas[u] = gbar * std::pow(mix.kernel_mul, u - mix.m / 2);
}

// Fixed number of chunks (a function of P only) keeps every sum's order independent of
// the thread count. Chunks hold whole tuple pairs so that Q's h terms never straddle two.
int64_t num_chunks(int64_t tuples) {
  const int64_t pairs = std::max<int64_t>(1, tuples / 2);
  return std::min<int64_t>(64, (pairs + 31) / 32);
}

}  // namespace cpu_detail

namespace {

using cpu_detail::num_chunks;

// Pass 1: the four squared distances of every quad-tuple (csrc/quad_tuple.h).
template <typename T>
void pair_sqdist(const PairInputs& in, double* dist, int num_threads) {
  const T* src = static_cast<const T*>(in.source);
  const T* tgt = static_cast<const T*>(in.target);
#pragma omp parallel for schedule(static) num_threads(num_threads)
  for (int64_t i = 0; i < in.tuples; ++i) {
    const T* a = src + 2 * i * in.source_ld;
    const T* c = tgt + 2 * i * in.target_ld;
    cpu_detail::quad_sqdist<T>(a, a + in.source_ld, c, c + in.target_ld, in.dim, dist + 4 * i);
  }
}

void tuple_terms(const double* dist, int64_t P, const KernelMix& mix, const ForwardOutputs& out,
                 int num_threads) {
  const int m = mix.m;
  const int64_t n_stats = stats_len(m, out.need_q);
  const int64_t J = P / 2;
  const int64_t chunks = num_chunks(P);
  const int64_t pairs_per_chunk = (std::max<int64_t>(J, 1) + chunks - 1) / chunks;
  std::vector<double> inv_gamma(m), wcoef(m);
  for (int u = 0; u < m; ++u) {
    inv_gamma[u] = 1.0 / mix.gammas[u];
    wcoef[u] = 2.0 * mix.betas[u] * inv_gamma[u] / static_cast<double>(P);
  }
  std::vector<double> partial(chunks * n_stats, 0.0);
  // With kernel_mul = 2 (the default) each bandwidth is twice the previous one, so
  // exp(-D / gamma_{u-1}) = exp(-D / gamma_u)^2: one exp serves several kernels. Squaring doubles
  // the relative error, so a fresh exp is taken every kFreshExp kernels (error <= 16 ulp).
  constexpr int kFreshExp = 5;
  bool doubling = m > 1;
  for (int u = 0; u + 1 < m; ++u) doubling = doubling && mix.gammas[u + 1] == 2.0 * mix.gammas[u];

#pragma omp parallel for schedule(static) num_threads(num_threads)
  for (int64_t ch = 0; ch < chunks; ++ch) {
    double* part = &partial[ch * n_stats];
    double* dsum = part + 1;
    double* qsum = part + 1 + m;
    std::vector<double> g(2 * m);
    const int64_t t_begin = 2 * std::min(J, ch * pairs_per_chunk);
    int64_t t_end = 2 * std::min(J, (ch + 1) * pairs_per_chunk);
    if (ch == chunks - 1) t_end = P;  // the odd last tuple, if any, counts for loss and d
    for (int64_t t = t_begin; t < t_end; ++t) {
      const double* D = dist + 4 * t;
      double* gt = &g[(t & 1) * m];
      double w[4] = {0, 0, 0, 0};
      double k0 = 0, k1 = 0, k2 = 0, k3 = 0;
      for (int u = m - 1; u >= 0; --u) {  // widest kernel first, for the squaring chain
        if (!doubling || (m - 1 - u) % kFreshExp == 0) {
          k0 = std::exp(-D[0] * inv_gamma[u]);
          k1 = std::exp(-D[1] * inv_gamma[u]);
          k2 = std::exp(-D[2] * inv_gamma[u]);
          k3 = std::exp(-D[3] * inv_gamma[u]);
        } else {
          k0 *= k0;
          k1 *= k1;
          k2 *= k2;
          k3 *= k3;
        }
        gt[u] = k0 + k1 - k2 - k3;
        dsum[u] += gt[u];
        w[0] += wcoef[u] * k0;
        w[1] += wcoef[u] * k1;
        w[2] += wcoef[u] * k2;
        w[3] += wcoef[u] * k3;
      }
      if (out.grad_coeffs) {
        out.grad_coeffs[4 * t + 0] = -w[0];
        out.grad_coeffs[4 * t + 1] = -w[1];
        out.grad_coeffs[4 * t + 2] = w[2];
        out.grad_coeffs[4 * t + 3] = w[3];
      }
      if (out.need_q && (t & 1) && t < 2 * J) {
        for (int u = 0; u < m; ++u) g[u] -= g[m + u];  // h = g(2j) - g(2j+1)
        for (int u = 0; u < m; ++u)
          for (int v = 0; v < m; ++v) qsum[u * m + v] += g[u] * g[v];
      }
    }
  }

  // Ordered reduction of the chunk partials, then normalisation.
  for (int64_t k = 1; k < n_stats; ++k) {
    double s = 0;
    for (int64_t ch = 0; ch < chunks; ++ch) s += partial[ch * n_stats + k];
    out.stats[k] = s;
  }
  double loss = 0;
  for (int u = 0; u < m; ++u) {
    out.stats[1 + u] /= static_cast<double>(P);
    loss += mix.betas[u] * out.stats[1 + u];
  }
  out.stats[0] = loss;
  if (out.need_q) {
    const double scale = J > 0 ? 1.0 / static_cast<double>(J) : std::numeric_limits<double>::quiet_NaN();
    for (int64_t k = 0; k < int64_t(m) * m; ++k) out.stats[1 + m + k] *= scale;
  }
}

template <typename T>
void pair_grad(const PairInputs& in, const double* grad_coeffs, double grad_loss, const BackwardOutputs& out,
               int num_threads) {
  const T* src = static_cast<const T*>(in.source);
  const T* tgt = static_cast<const T*>(in.target);
  T* gs = static_cast<T*>(out.grad_source);
  T* gt = static_cast<T*>(out.grad_target);
  const int64_t d = in.dim, P = in.tuples;
#pragma omp parallel num_threads(num_threads)
  {
#pragma omp for schedule(static) nowait
    for (int64_t i = 0; i < P; ++i) {
      const T* a = src + 2 * i * in.source_ld;
      const T* b = a + in.source_ld;
      const T* c = tgt + 2 * i * in.target_ld;
      const T* e = c + in.target_ld;
      const T wab = T(grad_coeffs[4 * i + 0] * grad_loss), wce = T(grad_coeffs[4 * i + 1] * grad_loss);
      const T wae = T(grad_coeffs[4 * i + 2] * grad_loss), wbc = T(grad_coeffs[4 * i + 3] * grad_loss);
      if (gs) {
        T* ga = gs + 2 * i * d;
        T* gb = ga + d;
#pragma omp simd
        for (int64_t j = 0; j < d; ++j) {
          ga[j] = wab * (a[j] - b[j]) + wae * (a[j] - e[j]);
          gb[j] = wab * (b[j] - a[j]) + wbc * (b[j] - c[j]);
        }
      }
      if (gt) {
        T* gc = gt + 2 * i * d;
        T* ge = gc + d;
#pragma omp simd
        for (int64_t j = 0; j < d; ++j) {
          gc[j] = wce * (c[j] - e[j]) + wbc * (c[j] - b[j]);
          ge[j] = wce * (e[j] - c[j]) + wae * (e[j] - a[j]);
        }
      }
    }
  }
  // Rows past the last quad-tuple take no part in the estimate: their gradient is zero.
  if (gs && out.n_source > 2 * P) std::memset(gs + 2 * P * d, 0, sizeof(T) * (out.n_source - 2 * P) * d);
  if (gt && out.n_target > 2 * P) std::memset(gt + 2 * P * d, 0, sizeof(T) * (out.n_target - 2 * P) * d);
}

template <typename T>
void store_loss(void* loss, double value) { *static_cast<T*>(loss) = static_cast<T>(value); }

}  // namespace

static int threads_for(const PairInputs& in, int64_t extra_work, int num_threads) {
  return (2 * in.tuples * in.dim + extra_work < cpu_detail::kParallelGrain) ? 1 : std::max(1, num_threads);
}

void cpu_forward(const PairInputs& in, KernelMix& mix, const ForwardOutputs& out, int num_threads) {
  num_threads = threads_for(in, 8 * in.tuples * mix.m, num_threads);
  switch (in.dtype) {
    case DType::kFloat32: pair_sqdist<float>(in, out.dist, num_threads); break;
    case DType::kFloat64: pair_sqdist<double>(in, out.dist, num_threads); break;
    default: throw std::invalid_argument("dan_ext CPU kernels take float32 or float64 inputs");
  }
  if (!mix.gammas_given) cpu_detail::derive_gammas(out.dist, in.tuples, mix);
  tuple_terms(out.dist, in.tuples, mix, out, num_threads);
  if (in.dtype == DType::kFloat32) store_loss<float>(out.loss, out.stats[0]);
  else store_loss<double>(out.loss, out.stats[0]);
}

void cpu_backward(const PairInputs& in, const double* grad_coeffs, double grad_loss, const BackwardOutputs& out,
                  int num_threads) {
  num_threads = threads_for(in, 0, num_threads);
  switch (in.dtype) {
    case DType::kFloat32: pair_grad<float>(in, grad_coeffs, grad_loss, out, num_threads); break;
    case DType::kFloat64: pair_grad<double>(in, grad_coeffs, grad_loss, out, num_threads); break;
    default: throw std::invalid_argument("dan_ext CPU kernels take float32 or float64 inputs");
  }
}

#ifndef DAN_EXT_WITH_CUDA
bool cuda_compiled() { return false; }
#endif

const char* cpu_kernel_features() {
  // One entry per predefined macro of the extensions a -march level can enable.
  return ""
#ifdef __SSE4_2__
         "sse4.2,"
#endif
#ifdef __POPCNT__
         "popcnt,"
#endif
#ifdef __AVX__
         "avx,"
#endif
#ifdef __AVX2__
         "avx2,"
#endif
#ifdef __FMA__
         "fma,"
#endif
#ifdef __F16C__
         "f16c,"
#endif
#ifdef __BMI__
         "bmi,"
#endif
#ifdef __BMI2__
         "bmi2,"
#endif
#ifdef __AVX512F__
         "avx512f,"
#endif
#ifdef __AVX512DQ__
         "avx512dq,"
#endif
#ifdef __AVX512CD__
         "avx512cd,"
#endif
#ifdef __AVX512BW__
         "avx512bw,"
#endif
#ifdef __AVX512VL__
         "avx512vl,"
#endif
#ifdef __AVX512IFMA__
         "avx512ifma,"
#endif
#ifdef __AVX512VBMI__
         "avx512vbmi,"
#endif
#ifdef __AVX512VBMI2__
         "avx512vbmi2,"
#endif
#ifdef __AVX512VNNI__
         "avx512vnni,"
#endif
#ifdef __AVX512BITALG__
         "avx512bitalg,"
#endif
#ifdef __AVX512VPOPCNTDQ__
         "avx512vpopcntdq,"
#endif
      ;
}

}  // namespace dan_ext
