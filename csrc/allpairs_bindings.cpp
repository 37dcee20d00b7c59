// pybind11 front of the all-pairs pass (allpairs.h), registered into dan_ext._C by bindings.cpp.
// As there, pointers arrive as Python ints and every argument is named (dan_ext/estimators/allpairs.py calls
// by keyword).
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "allpairs.h"

namespace py = pybind11;
using Ptr = std::uintptr_t;

namespace {

template <typename T> T* ptr(Ptr p) { return reinterpret_cast<T*>(p); }

dan_ext::PairStripe pair_stripe(int dtype, Ptr gram, Ptr coeff, int64_t batch, int64_t rows, int64_t cols,
                                int64_t row0, int64_t n_source, Ptr norms, bool paired, double w_source,
                                double w_target, double w_cross) {
  if (dtype != 0 && dtype != 1) throw py::value_error("dan_ext._C: the all-pairs pass takes float32 or float64");
  if (batch < 1 || rows < 1 || cols < 2) throw py::value_error("dan_ext._C: empty stripe");
  if (row0 < 0 || row0 + rows > cols) throw py::value_error("dan_ext._C: the stripe's rows must lie in [0, cols)");
  if (n_source < 1 || n_source >= cols) throw py::value_error("dan_ext._C: n_source must be in [1, cols)");
  return {static_cast<dan_ext::DType>(dtype), ptr<const void>(gram), coeff ? ptr<void>(coeff) : nullptr, batch, rows,
          cols, row0, n_source, ptr<const double>(norms), paired, w_source, w_target, w_cross};
}

dan_ext::StripeKernels stripe_kernels(Ptr gammas, Ptr betas, int m) {
  if (m < 1) throw py::value_error("dan_ext._C: need at least one kernel");
  return {ptr<const double>(gammas), ptr<const double>(betas), m};
}

const char* kStripeDoc =
    "One stripe of the all-pairs MK-MMD pass (csrc/allpairs.h). gram: [batch, rows, cols] inner products of\n"
    "pooled rows row0.. with all cols pooled rows, dtype 0 float32 or 1 float64; coeff: same shape and dtype,\n"
    "or 0 for no gradient coefficients. norms: float64 [batch, cols] squared row norms. gammas, betas:\n"
    "float64 [m]. same, cross: float64 [batch, rows, m] per-row kernel sums (written). coeff_rowsum: float64\n"
    "[batch, rows] (written when coeff is given).";

}  // namespace

void bind_allpairs(py::module_& m) {
  m.attr("ALLPAIRS_CUDA_MAX_KERNELS") = dan_ext::kAllPairsCudaMaxKernels;
  m.def(
      "allpairs_cpu_stripe",
      [](int dtype, Ptr gram, Ptr coeff, int64_t batch, int64_t rows, int64_t cols, int64_t row0, int64_t n_source,
         Ptr norms, bool paired, double w_source, double w_target, double w_cross, Ptr gammas, Ptr betas, int m,
         Ptr same, Ptr cross, Ptr coeff_rowsum, int num_threads) {
        auto in = pair_stripe(dtype, gram, coeff, batch, rows, cols, row0, n_source, norms, paired, w_source,
                              w_target, w_cross);
        auto k = stripe_kernels(gammas, betas, m);
        dan_ext::StripeSums out{ptr<double>(same), ptr<double>(cross), ptr<double>(coeff_rowsum)};
        py::gil_scoped_release release;
        dan_ext::allpairs_cpu_stripe(in, k, out, num_threads);
      },
      kStripeDoc, py::arg("dtype"), py::arg("gram"), py::arg("coeff"), py::arg("batch"), py::arg("rows"),
      py::arg("cols"), py::arg("row0"), py::arg("n_source"), py::arg("norms"), py::arg("paired"), py::arg("w_source"),
      py::arg("w_target"), py::arg("w_cross"), py::arg("gammas"), py::arg("betas"), py::arg("m"), py::arg("same"),
      py::arg("cross"), py::arg("coeff_rowsum"), py::arg("num_threads"));
#ifdef DAN_EXT_WITH_CUDA
  m.def(
      "allpairs_cuda_stripe",
      [](int dtype, Ptr gram, Ptr coeff, int64_t batch, int64_t rows, int64_t cols, int64_t row0, int64_t n_source,
         Ptr norms, bool paired, double w_source, double w_target, double w_cross, Ptr gammas, Ptr betas, int m,
         Ptr same, Ptr cross, Ptr coeff_rowsum, int device, Ptr stream) {
        auto in = pair_stripe(dtype, gram, coeff, batch, rows, cols, row0, n_source, norms, paired, w_source,
                              w_target, w_cross);
        if (m > dan_ext::kAllPairsCudaMaxKernels)
          throw py::value_error("dan_ext._C: the CUDA all-pairs pass takes at most " +
                                std::to_string(dan_ext::kAllPairsCudaMaxKernels) + " kernels");
        auto k = stripe_kernels(gammas, betas, m);
        dan_ext::StripeSums out{ptr<double>(same), ptr<double>(cross), ptr<double>(coeff_rowsum)};
        py::gil_scoped_release release;
        dan_ext::allpairs_cuda_stripe(in, k, out, device, ptr<void>(stream));
      },
      "As allpairs_cpu_stripe, on `stream` of `device` (every pointer on that device; gammas and betas too);\n"
      "never synchronises the host.",
      py::arg("dtype"), py::arg("gram"), py::arg("coeff"), py::arg("batch"), py::arg("rows"), py::arg("cols"),
      py::arg("row0"), py::arg("n_source"), py::arg("norms"), py::arg("paired"), py::arg("w_source"),
      py::arg("w_target"), py::arg("w_cross"), py::arg("gammas"), py::arg("betas"), py::arg("m"), py::arg("same"),
      py::arg("cross"), py::arg("coeff_rowsum"), py::arg("device"), py::arg("stream"));
#endif
}
