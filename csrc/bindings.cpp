// pybind11 front of the kernels. Pointers arrive as Python ints (tensor.data_ptr()),
// so this module neither includes nor links torch; the Python package dan_ext owns
// allocation, argument checking, autograd and torch.library registration.
#include <pybind11/pybind11.h>

#include <cstdint>

#include "mkmmd.h"

namespace py = pybind11;
using dan_ext::DType;

namespace {

template <typename T> T* ptr(std::uintptr_t p) { return reinterpret_cast<T*>(p); }

dan_ext::PairInputs pair_inputs(int dtype, std::uintptr_t src, int64_t ld_s, std::uintptr_t tgt, int64_t ld_t,
                                int64_t tuples, int64_t dim) {
  if (dtype < 0 || dtype > 3) throw py::value_error("dan_ext._C: unknown dtype code");
  if (tuples < 1 || dim < 1) throw py::value_error("dan_ext._C: need at least one quad-tuple and one feature");
  return {static_cast<DType>(dtype), ptr<const void>(src), ld_s, ptr<const void>(tgt), ld_t, tuples, dim};
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "Fused linear-time MK-MMD kernels (CPU/OpenMP and CUDA) over raw pointers.";
  m.def("cuda_compiled", &dan_ext::cuda_compiled, "Whether the CUDA kernels were built into this module.");

  m.def(
      "cpu_forward",
      [](int dtype, std::uintptr_t src, int64_t ld_s, std::uintptr_t tgt, int64_t ld_t, int64_t tuples, int64_t dim,
         std::uintptr_t gammas, bool gammas_given, double kernel_mul, std::uintptr_t betas, int m, std::uintptr_t loss,
         std::uintptr_t stats, std::uintptr_t dist, std::uintptr_t weights, bool need_q, int num_threads) {
        auto in = pair_inputs(dtype, src, ld_s, tgt, ld_t, tuples, dim);
        dan_ext::KernelMix mix{ptr<double>(gammas), gammas_given, kernel_mul, ptr<const double>(betas), m};
        dan_ext::ForwardOutputs out{ptr<void>(loss), ptr<double>(stats), ptr<double>(dist), ptr<double>(weights), need_q};
        py::gil_scoped_release release;
        dan_ext::cpu_forward(in, mix, out, num_threads);
      },
      "Loss, per-kernel estimates, covariance and gradient weights in one pass over the inputs.");

  m.def(
      "cpu_backward",
      [](int dtype, std::uintptr_t src, int64_t ld_s, std::uintptr_t tgt, int64_t ld_t, int64_t tuples, int64_t dim,
         std::uintptr_t weights, double grad_loss, std::uintptr_t grad_source, int64_t n_source,
         std::uintptr_t grad_target, int64_t n_target, int num_threads) {
        auto in = pair_inputs(dtype, src, ld_s, tgt, ld_t, tuples, dim);
        dan_ext::BackwardOutputs out{ptr<void>(grad_source), n_source, ptr<void>(grad_target), n_target};
        py::gil_scoped_release release;
        dan_ext::cpu_backward(in, ptr<const double>(weights), grad_loss, out, num_threads);
      },
      "Gradients of the loss with respect to both inputs, scaled by grad_loss.");

#ifdef DAN_EXT_WITH_CUDA
  m.def("cuda_workspace_elems", &dan_ext::cuda_workspace_elems, "float64 scratch elements the CUDA forward needs.");
  m.def(
      "cuda_forward",
      [](int dtype, std::uintptr_t src, int64_t ld_s, std::uintptr_t tgt, int64_t ld_t, int64_t tuples, int64_t dim,
         std::uintptr_t gammas, bool gammas_given, double kernel_mul, std::uintptr_t betas, int m, std::uintptr_t loss,
         std::uintptr_t stats, std::uintptr_t dist, std::uintptr_t weights, bool need_q, std::uintptr_t workspace,
         int64_t workspace_elems, int device, std::uintptr_t stream) {
        auto in = pair_inputs(dtype, src, ld_s, tgt, ld_t, tuples, dim);
        dan_ext::KernelMix mix{ptr<double>(gammas), gammas_given, kernel_mul, ptr<const double>(betas), m};
        dan_ext::ForwardOutputs out{ptr<void>(loss), ptr<double>(stats), ptr<double>(dist), ptr<double>(weights), need_q};
        py::gil_scoped_release release;
        dan_ext::cuda_forward(in, mix, out, ptr<double>(workspace), workspace_elems, device, ptr<void>(stream));
      },
      "CUDA forward on the given stream; never synchronises the host.");
  m.def(
      "cuda_backward",
      [](int dtype, std::uintptr_t src, int64_t ld_s, std::uintptr_t tgt, int64_t ld_t, int64_t tuples, int64_t dim,
         std::uintptr_t weights, std::uintptr_t grad_loss, std::uintptr_t grad_source, int64_t n_source,
         std::uintptr_t grad_target, int64_t n_target, int device, std::uintptr_t stream) {
        auto in = pair_inputs(dtype, src, ld_s, tgt, ld_t, tuples, dim);
        dan_ext::BackwardOutputs out{ptr<void>(grad_source), n_source, ptr<void>(grad_target), n_target};
        py::gil_scoped_release release;
        dan_ext::cuda_backward(in, ptr<const double>(weights), ptr<const void>(grad_loss), out, device,
                               ptr<void>(stream));
      },
      "CUDA backward on the given stream; dL/dloss is read on the device.");
#endif
}
