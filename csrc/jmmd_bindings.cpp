// pybind11 front of the joint MMD kernels (jmmd.h), registered into dan_ext._C by bindings.cpp.
// As there, pointers arrive as Python ints and every argument is named (dan_ext/joint/backend.py
// calls by keyword); per-layer values arrive as lists with one entry per layer.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "jmmd.h"

namespace py = pybind11;
using Ptr = std::uintptr_t;
using Ptrs = std::vector<Ptr>;
using Ints = std::vector<int64_t>;

namespace {

template <typename T> T* ptr(Ptr p) { return reinterpret_cast<T*>(p); }

void check_len(size_t got, size_t want, const char* name) {
  if (got != want)
    throw py::value_error(std::string("dan_ext._C: ") + name + " must have " + std::to_string(want) +
                          " entries, got " + std::to_string(got));
}

dan_ext::JointInputs joint_inputs(int dtype, const Ptrs& sources, const Ints& source_lds, const Ptrs& targets,
                                  const Ints& target_lds, const Ints& dims, int64_t tuples) {
  if (dtype < 0 || dtype > 3) throw py::value_error("dan_ext._C: unknown dtype code");
  const size_t L = sources.size();
  if (L < 1 || L > size_t(dan_ext::kJointMaxLayers))
    throw py::value_error("dan_ext._C: the joint MMD takes 1 to " + std::to_string(dan_ext::kJointMaxLayers) +
                          " layers, got " + std::to_string(L));
  check_len(source_lds.size(), L, "source_lds");
  check_len(targets.size(), L, "targets");
  check_len(target_lds.size(), L, "target_lds");
  check_len(dims.size(), L, "dims");
  if (tuples < 1) throw py::value_error("dan_ext._C: need at least one quad-tuple");
  dan_ext::JointInputs in{};
  in.dtype = static_cast<dan_ext::DType>(dtype);
  in.tuples = tuples;
  in.layers = int(L);
  for (size_t l = 0; l < L; ++l) {
    if (dims[l] < 1) throw py::value_error("dan_ext._C: every layer needs at least one feature");
    in.layer[l] = {ptr<const void>(sources[l]), source_lds[l], ptr<const void>(targets[l]), target_lds[l], dims[l]};
  }
  return in;
}

dan_ext::JointMix joint_mix(int layers, Ptr gammas, const std::vector<bool>& gammas_given,
                            const std::vector<double>& kernel_muls, Ptr betas, const Ints& kernel_begin) {
  check_len(gammas_given.size(), layers, "gammas_given");
  check_len(kernel_muls.size(), layers, "kernel_muls");
  check_len(kernel_begin.size(), layers + 1, "kernel_begin");
  dan_ext::JointMix mix{};
  mix.gammas = ptr<double>(gammas);
  mix.betas = ptr<const double>(betas);
  if (kernel_begin[0] != 0) throw py::value_error("dan_ext._C: kernel_begin must start at 0");
  for (int l = 0; l <= layers; ++l) {
    if (l > 0 && kernel_begin[l] <= kernel_begin[l - 1])
      throw py::value_error("dan_ext._C: every layer needs at least one kernel (kernel_begin must increase)");
    if (kernel_begin[l] > (int64_t(1) << 30)) throw py::value_error("dan_ext._C: too many kernels");
    mix.kernel_begin[l] = int(kernel_begin[l]);
  }
  for (int l = 0; l < layers; ++l) {
    mix.gammas_given[l] = gammas_given[l];
    mix.kernel_mul[l] = kernel_muls[l];
  }
  return mix;
}

dan_ext::JointBackwardOutputs joint_grads(int layers, const Ptrs& grad_sources, int64_t n_source,
                                          const Ptrs& grad_targets, int64_t n_target) {
  check_len(grad_sources.size(), layers, "grad_sources");
  check_len(grad_targets.size(), layers, "grad_targets");
  dan_ext::JointBackwardOutputs out{};
  for (int l = 0; l < layers; ++l) {
    out.grad_source[l] = ptr<void>(grad_sources[l]);
    out.grad_target[l] = ptr<void>(grad_targets[l]);
  }
  out.n_source = n_source;
  out.n_target = n_target;
  return out;
}

const char* kForwardDoc =
    "Joint MMD loss and gradient coefficients of L layers in one read of the inputs (csrc/jmmd.h).\n"
    "dtype: 0 float32, 1 float64, 2 float16, 3 bfloat16, the same for every layer. sources/targets: one\n"
    "row pointer per layer, with leading dimensions source_lds/target_lds (elements) and feature counts\n"
    "dims; unit stride within a row. tuples: P. gammas: float64 [M], layer l's kernels at\n"
    "[kernel_begin[l], kernel_begin[l+1]) (kernel_begin: L+1 entries from 0), read where gammas_given[l],\n"
    "else written (the layer's mean distance * kernel_muls[l]^(u - m_l/2)). betas: float64 [M]. loss: 0-d\n"
    "in the input dtype. dist, grad_coeffs: float64 [L * 4P] each, layer-major.";

}  // namespace

void bind_jmmd(py::module_& m) {
  m.attr("JOINT_MAX_LAYERS") = dan_ext::kJointMaxLayers;
  m.def(
      "jmmd_cpu_forward",
      [](int dtype, const Ptrs& sources, const Ints& source_lds, const Ptrs& targets, const Ints& target_lds,
         const Ints& dims, int64_t tuples, Ptr gammas, const std::vector<bool>& gammas_given,
         const std::vector<double>& kernel_muls, Ptr betas, const Ints& kernel_begin, Ptr loss, Ptr dist,
         Ptr grad_coeffs, int num_threads) {
        auto in = joint_inputs(dtype, sources, source_lds, targets, target_lds, dims, tuples);
        auto mix = joint_mix(in.layers, gammas, gammas_given, kernel_muls, betas, kernel_begin);
        dan_ext::JointForwardOutputs out{ptr<void>(loss), ptr<double>(dist), ptr<double>(grad_coeffs)};
        py::gil_scoped_release release;
        dan_ext::jmmd_cpu_forward(in, mix, out, num_threads);
      },
      kForwardDoc, py::arg("dtype"), py::arg("sources"), py::arg("source_lds"), py::arg("targets"),
      py::arg("target_lds"), py::arg("dims"), py::arg("tuples"), py::arg("gammas"), py::arg("gammas_given"),
      py::arg("kernel_muls"), py::arg("betas"), py::arg("kernel_begin"), py::arg("loss"), py::arg("dist"),
      py::arg("grad_coeffs"), py::arg("num_threads"));

  m.def(
      "jmmd_cpu_backward",
      [](int dtype, const Ptrs& sources, const Ints& source_lds, const Ptrs& targets, const Ints& target_lds,
         const Ints& dims, int64_t tuples, Ptr grad_coeffs, double grad_loss, const Ptrs& grad_sources,
         int64_t n_source, const Ptrs& grad_targets, int64_t n_target, int num_threads) {
        auto in = joint_inputs(dtype, sources, source_lds, targets, target_lds, dims, tuples);
        auto out = joint_grads(in.layers, grad_sources, n_source, grad_targets, n_target);
        py::gil_scoped_release release;
        dan_ext::jmmd_cpu_backward(in, ptr<const double>(grad_coeffs), grad_loss, out, num_threads);
      },
      "Gradients of the joint MMD with respect to every layer's inputs, scaled by grad_loss. grad_coeffs:\n"
      "the forward's float64 [L * 4P] coefficients. grad_sources/grad_targets: per layer a contiguous\n"
      "[n, d_l] output in the input dtype, or 0 when not needed; rows past 2P are written as zeros.",
      py::arg("dtype"), py::arg("sources"), py::arg("source_lds"), py::arg("targets"), py::arg("target_lds"),
      py::arg("dims"), py::arg("tuples"), py::arg("grad_coeffs"), py::arg("grad_loss"), py::arg("grad_sources"),
      py::arg("n_source"), py::arg("grad_targets"), py::arg("n_target"), py::arg("num_threads"));

#ifdef DAN_EXT_WITH_CUDA
  m.def("jmmd_cuda_workspace_elems", &dan_ext::jmmd_cuda_workspace_elems,
        "float64 scratch elements the joint MMD's CUDA forward needs after the buffer's other parts.",
        py::arg("tuples"));
  m.def(
      "jmmd_cuda_forward",
      [](int dtype, const Ptrs& sources, const Ints& source_lds, const Ptrs& targets, const Ints& target_lds,
         const Ints& dims, int64_t tuples, Ptr gammas, const std::vector<bool>& gammas_given,
         const std::vector<double>& kernel_muls, Ptr betas, const Ints& kernel_begin, Ptr loss, Ptr dist,
         Ptr grad_coeffs, Ptr workspace, int64_t workspace_elems, int device, Ptr stream) {
        auto in = joint_inputs(dtype, sources, source_lds, targets, target_lds, dims, tuples);
        auto mix = joint_mix(in.layers, gammas, gammas_given, kernel_muls, betas, kernel_begin);
        dan_ext::JointForwardOutputs out{ptr<void>(loss), ptr<double>(dist), ptr<double>(grad_coeffs)};
        py::gil_scoped_release release;
        dan_ext::jmmd_cuda_forward(in, mix, out, ptr<double>(workspace), workspace_elems, device, ptr<void>(stream));
      },
      "As jmmd_cpu_forward, on `stream` of `device`; never synchronises the host. workspace: float64\n"
      "[workspace_elems] scratch (jmmd_cuda_workspace_elems).",
      py::arg("dtype"), py::arg("sources"), py::arg("source_lds"), py::arg("targets"), py::arg("target_lds"),
      py::arg("dims"), py::arg("tuples"), py::arg("gammas"), py::arg("gammas_given"), py::arg("kernel_muls"),
      py::arg("betas"), py::arg("kernel_begin"), py::arg("loss"), py::arg("dist"), py::arg("grad_coeffs"),
      py::arg("workspace"), py::arg("workspace_elems"), py::arg("device"), py::arg("stream"));
  m.def(
      "jmmd_cuda_backward",
      [](int dtype, const Ptrs& sources, const Ints& source_lds, const Ptrs& targets, const Ints& target_lds,
         const Ints& dims, int64_t tuples, Ptr grad_coeffs, Ptr grad_loss, const Ptrs& grad_sources, int64_t n_source,
         const Ptrs& grad_targets, int64_t n_target, int device, Ptr stream) {
        auto in = joint_inputs(dtype, sources, source_lds, targets, target_lds, dims, tuples);
        auto out = joint_grads(in.layers, grad_sources, n_source, grad_targets, n_target);
        py::gil_scoped_release release;
        dan_ext::jmmd_cuda_backward(in, ptr<const double>(grad_coeffs), ptr<const void>(grad_loss), out, device,
                                    ptr<void>(stream));
      },
      "As jmmd_cpu_backward, on `stream` of `device`; grad_loss points to a 0-d device tensor of the input\n"
      "dtype (read on the device, so no synchronisation).",
      py::arg("dtype"), py::arg("sources"), py::arg("source_lds"), py::arg("targets"), py::arg("target_lds"),
      py::arg("dims"), py::arg("tuples"), py::arg("grad_coeffs"), py::arg("grad_loss"), py::arg("grad_sources"),
      py::arg("n_source"), py::arg("grad_targets"), py::arg("n_target"), py::arg("device"), py::arg("stream"));
#endif
}
