// pybind11 front of the kernels. Pointers arrive as Python ints (tensor.data_ptr()),
// so this module neither includes nor links torch; the Python package dan_ext owns
// allocation, argument checking, autograd and torch.library registration.
//
// Every function takes named arguments (dan_ext/linear/backend.py calls them by keyword). Buffer
// pointers point at the start of each part of the float64 buffer that _backend.Plan lays out.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "mkmmd.h"

namespace py = pybind11;
using dan_ext::DType;
using Ptr = std::uintptr_t;

void bind_jmmd(py::module_& m);  // the joint MMD's entry points (jmmd_bindings.cpp)
void bind_allpairs(py::module_& m);  // the all-pairs estimators' pass (allpairs_bindings.cpp)

namespace {

template <typename T> T* ptr(Ptr p) { return reinterpret_cast<T*>(p); }

dan_ext::PairInputs pair_inputs(int dtype, Ptr source, int64_t source_ld, Ptr target, int64_t target_ld,
                                int64_t tuples, int64_t dim) {
  if (dtype < 0 || dtype > 3) throw py::value_error("dan_ext._C: unknown dtype code");
  if (tuples < 1 || dim < 1) throw py::value_error("dan_ext._C: need at least one quad-tuple and one feature");
  return {static_cast<DType>(dtype), ptr<const void>(source), source_ld, ptr<const void>(target), target_ld, tuples,
          dim};
}

// Whether this CPU has an x86 extension, by its __builtin_cpu_supports name (which must be a
// literal, hence the table). This file is compiled without -march flags, so it runs anywhere.
bool cpu_has(const std::string& name) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
#define DAN_EXT_FEATURE(n) if (name == n) return __builtin_cpu_supports(n);
  DAN_EXT_FEATURE("sse4.2") DAN_EXT_FEATURE("popcnt") DAN_EXT_FEATURE("avx") DAN_EXT_FEATURE("avx2")
  DAN_EXT_FEATURE("fma") DAN_EXT_FEATURE("f16c") DAN_EXT_FEATURE("bmi") DAN_EXT_FEATURE("bmi2")
  DAN_EXT_FEATURE("avx512f") DAN_EXT_FEATURE("avx512dq") DAN_EXT_FEATURE("avx512cd") DAN_EXT_FEATURE("avx512bw")
  DAN_EXT_FEATURE("avx512vl") DAN_EXT_FEATURE("avx512ifma") DAN_EXT_FEATURE("avx512vbmi")
  DAN_EXT_FEATURE("avx512vbmi2") DAN_EXT_FEATURE("avx512vnni") DAN_EXT_FEATURE("avx512bitalg")
  DAN_EXT_FEATURE("avx512vpopcntdq") DAN_EXT_FEATURE("avx5124fmaps")
#undef DAN_EXT_FEATURE
#endif
  return false;  // unknown to this table: assume absent (refusing beats SIGILL)
}

// The comma-separated features of `wanted` that this CPU lacks, comma-separated.
std::string missing_cpu_features(const std::string& wanted) {
  std::string missing, item;
  for (size_t i = 0; i <= wanted.size(); ++i) {
    if (i == wanted.size() || wanted[i] == ',') {
      if (!item.empty() && !cpu_has(item)) missing += (missing.empty() ? "" : ",") + item;
      item.clear();
    } else {
      item += wanted[i];
    }
  }
  return missing;
}

const char* kForwardDoc =
    "Loss, per-kernel estimates d, covariance Q and gradient coefficients in one pass over the inputs.\n"
    "dtype: 0 float32, 1 float64, 2 float16, 3 bfloat16. source/target: row pointers with leading\n"
    "dimensions source_ld/target_ld (elements), unit stride within a row. tuples: P; dim: d.\n"
    "gammas: float64 [m], read when gammas_given, else written (mean distance * kernel_mul^(u - m/2)).\n"
    "betas: float64 [m]. loss: 0-d in the input dtype. stats: float64 [1 + m (+ m*m with need_q)].\n"
    "dist, grad_coeffs: float64 [4P] each.";

}  // namespace

PYBIND11_MODULE(_C, m) {
  // A module whose CPU kernels use instructions this CPU lacks refuses to load (an ImportError
  // that says how to rebuild) instead of dying with SIGILL at the first call.
  const std::string missing = missing_cpu_features(dan_ext::cpu_kernel_features());
  if (!missing.empty())
    throw py::import_error("dan_ext._C: its CPU kernels were built with DAN_EXT_CPU_ARCH=" DAN_EXT_CPU_ARCH
                           " and use " + missing + ", which this CPU lacks; reinstall on this machine "
                           "(pip install .) or build a portable wheel (DAN_EXT_CPU_ARCH=portable, the default)");
  m.doc() = "Fused linear-time MK-MMD kernels (CPU/OpenMP and CUDA) over raw pointers.";
  m.attr("CPU_ARCH") = DAN_EXT_CPU_ARCH;
  m.def("cpu_kernel_features", &dan_ext::cpu_kernel_features,
        "The x86 extensions the CPU kernels were compiled to use (comma-separated).");
  m.def("missing_cpu_features", &missing_cpu_features,
        "Which of the comma-separated x86 extensions this CPU lacks (unknown names count as lacking).",
        py::arg("features"));
  m.attr("MIN_BANDWIDTH") = dan_ext::kMinBandwidth;
  m.attr("CUDA_MAX_KERNELS") = dan_ext::kCudaMaxKernels;
  m.def("cuda_compiled", &dan_ext::cuda_compiled, "Whether the CUDA kernels were built into this module.");
  bind_jmmd(m);
  bind_allpairs(m);

  m.def(
      "cpu_forward",
      [](int dtype, Ptr source, int64_t source_ld, Ptr target, int64_t target_ld, int64_t tuples, int64_t dim,
         Ptr gammas, bool gammas_given, double kernel_mul, Ptr betas, int m, Ptr loss, Ptr stats, Ptr dist,
         Ptr grad_coeffs, bool need_q, int num_threads) {
        auto in = pair_inputs(dtype, source, source_ld, target, target_ld, tuples, dim);
        dan_ext::KernelMix mix{ptr<double>(gammas), gammas_given, kernel_mul, ptr<const double>(betas), m};
        dan_ext::ForwardOutputs out{ptr<void>(loss), ptr<double>(stats), ptr<double>(dist), ptr<double>(grad_coeffs), need_q};
        py::gil_scoped_release release;
        dan_ext::cpu_forward(in, mix, out, num_threads);
      },
      kForwardDoc, py::arg("dtype"), py::arg("source"), py::arg("source_ld"), py::arg("target"), py::arg("target_ld"),
      py::arg("tuples"), py::arg("dim"), py::arg("gammas"), py::arg("gammas_given"), py::arg("kernel_mul"),
      py::arg("betas"), py::arg("m"), py::arg("loss"), py::arg("stats"), py::arg("dist"), py::arg("grad_coeffs"),
      py::arg("need_q"), py::arg("num_threads"));

  m.def(
      "cpu_backward",
      [](int dtype, Ptr source, int64_t source_ld, Ptr target, int64_t target_ld, int64_t tuples, int64_t dim,
         Ptr grad_coeffs, double grad_loss, Ptr grad_source, int64_t n_source, Ptr grad_target, int64_t n_target,
         int num_threads) {
        auto in = pair_inputs(dtype, source, source_ld, target, target_ld, tuples, dim);
        dan_ext::BackwardOutputs out{ptr<void>(grad_source), n_source, ptr<void>(grad_target), n_target};
        py::gil_scoped_release release;
        dan_ext::cpu_backward(in, ptr<const double>(grad_coeffs), grad_loss, out, num_threads);
      },
      "Gradients of the loss with respect to both inputs, scaled by grad_loss. grad_coeffs: the forward's\n"
      "float64 [4P] gradient coefficients. grad_source/grad_target: contiguous [n, dim] outputs in the input\n"
      "dtype, or 0 when not needed; rows past 2P are written as zeros.",
      py::arg("dtype"), py::arg("source"), py::arg("source_ld"), py::arg("target"), py::arg("target_ld"),
      py::arg("tuples"), py::arg("dim"), py::arg("grad_coeffs"), py::arg("grad_loss"), py::arg("grad_source"),
      py::arg("n_source"), py::arg("grad_target"), py::arg("n_target"), py::arg("num_threads"));

#ifdef DAN_EXT_WITH_CUDA
  m.def("cuda_workspace_elems", &dan_ext::cuda_workspace_elems,
        "float64 scratch elements the CUDA forward needs after the buffer's other parts.", py::arg("tuples"),
        py::arg("m"), py::arg("need_q"));
  m.def(
      "cuda_forward",
      [](int dtype, Ptr source, int64_t source_ld, Ptr target, int64_t target_ld, int64_t tuples, int64_t dim,
         Ptr gammas, bool gammas_given, double kernel_mul, Ptr betas, int m, Ptr loss, Ptr stats, Ptr dist,
         Ptr grad_coeffs, bool need_q, Ptr workspace, int64_t workspace_elems, int device, Ptr stream) {
        auto in = pair_inputs(dtype, source, source_ld, target, target_ld, tuples, dim);
        dan_ext::KernelMix mix{ptr<double>(gammas), gammas_given, kernel_mul, ptr<const double>(betas), m};
        dan_ext::ForwardOutputs out{ptr<void>(loss), ptr<double>(stats), ptr<double>(dist), ptr<double>(grad_coeffs), need_q};
        py::gil_scoped_release release;
        dan_ext::cuda_forward(in, mix, out, ptr<double>(workspace), workspace_elems, device, ptr<void>(stream));
      },
      "As cpu_forward, on `stream` of `device`; never synchronises the host. workspace: float64\n"
      "[workspace_elems] scratch (cuda_workspace_elems).",
      py::arg("dtype"), py::arg("source"), py::arg("source_ld"), py::arg("target"), py::arg("target_ld"),
      py::arg("tuples"), py::arg("dim"), py::arg("gammas"), py::arg("gammas_given"), py::arg("kernel_mul"),
      py::arg("betas"), py::arg("m"), py::arg("loss"), py::arg("stats"), py::arg("dist"), py::arg("grad_coeffs"),
      py::arg("need_q"), py::arg("workspace"), py::arg("workspace_elems"), py::arg("device"), py::arg("stream"));
  m.def(
      "cuda_backward",
      [](int dtype, Ptr source, int64_t source_ld, Ptr target, int64_t target_ld, int64_t tuples, int64_t dim,
         Ptr grad_coeffs, Ptr grad_loss, Ptr grad_source, int64_t n_source, Ptr grad_target, int64_t n_target, int device,
         Ptr stream) {
        auto in = pair_inputs(dtype, source, source_ld, target, target_ld, tuples, dim);
        dan_ext::BackwardOutputs out{ptr<void>(grad_source), n_source, ptr<void>(grad_target), n_target};
        py::gil_scoped_release release;
        dan_ext::cuda_backward(in, ptr<const double>(grad_coeffs), ptr<const void>(grad_loss), out, device,
                               ptr<void>(stream));
      },
      "As cpu_backward, on `stream` of `device`; grad_loss points to a 0-d device tensor of the input\n"
      "dtype (read on the device, so no synchronisation).",
      py::arg("dtype"), py::arg("source"), py::arg("source_ld"), py::arg("target"), py::arg("target_ld"),
      py::arg("tuples"), py::arg("dim"), py::arg("grad_coeffs"), py::arg("grad_loss"), py::arg("grad_source"),
      py::arg("n_source"), py::arg("grad_target"), py::arg("n_target"), py::arg("device"), py::arg("stream"));
#endif
}
