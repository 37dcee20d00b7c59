// One quad-tuple's joint-kernel term and gradient coefficients from its distances (jmmd.h), shared
// by the CPU pass (jmmd_cpu.cpp) and the CUDA pass (jmmd_cuda.cu) so that the two cannot drift.
#pragma once
#include <math.h>

#include "jmmd.h"

#ifdef __CUDACC__
#define DAN_EXT_HOST_DEVICE __host__ __device__
#else
#define DAN_EXT_HOST_DEVICE
#endif

namespace dan_ext {

// g_t = K_ab + K_ce - K_ae - K_bc of tuple t; when grad_coeffs is not null, writes every layer's
// coefficients -sign_p * scale * prod_{l' != l} k_{l'} * w_l (w_l = -dk_l/dD), the product of the
// other layers from prefix and suffix products (never K / k_l, which can underflow to 0).
DAN_EXT_HOST_DEVICE inline double joint_tuple_term(const double* dist, int64_t P, int L, const JointMix& mix,
                                                   int64_t t, double scale, double* grad_coeffs) {
  double g = 0;
  for (int p = 0; p < 4; ++p) {
    // k[l] = k_l(D_{l,p}) and w[l] = -dk_l/dD = sum_u beta_u / gamma_u exp(-D / gamma_u).
    double k[kJointMaxLayers], w[kJointMaxLayers];
    for (int l = 0; l < L; ++l) {
      const double D = dist[int64_t(l) * 4 * P + 4 * t + p];
      double kl = 0, wl = 0;
      for (int u = mix.kernel_begin[l]; u < mix.kernel_begin[l + 1]; ++u) {
        const double ig = 1.0 / mix.gammas[u];
        const double e = mix.betas[u] * exp(-D * ig);
        kl += e;
        wl += e * ig;
      }
      k[l] = kl;
      w[l] = wl;
    }
    double suffix = 1.0;  // prod_{l' > l} k[l'], folded into w[l]
    for (int l = L - 1; l >= 0; --l) {
      w[l] *= suffix;
      suffix *= k[l];
    }
    const double sign = p < 2 ? 1.0 : -1.0;
    g += sign * suffix;  // suffix is now K_p = prod_l k[l]
    if (grad_coeffs) {
      double prefix = 1.0;  // prod_{l' < l} k[l']
      for (int l = 0; l < L; ++l) {
        grad_coeffs[int64_t(l) * 4 * P + 4 * t + p] = -sign * scale * prefix * w[l];
        prefix *= k[l];
      }
    }
  }
  return g;
}

}  // namespace dan_ext
