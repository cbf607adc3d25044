// Tensor-level GELU (any shape) and the HF activation-name mapping.
#include "lm/ops/gelu.h"

#include "lm/kernels/cpu/gelu.h"
#include "lm/ops/op_util.h"

#ifdef LM_WITH_CUDA
#include "lm/kernels/cuda/gelu.h"
#endif

namespace lm::ops {

using namespace detail;

GeluKind gelu_kind_from_name(std::string_view name) {
  // HF ACT2FN: gelu_new and gelu_pytorch_tanh are the same tanh approximation (max f32 diff 2.4e-7); "gelu"
  // is exact erf GELU (BERT). gelu_fast / quick_gelu are different functions and are not supported.
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return GeluKind::Tanh;
  if (name == "gelu" || name == "gelu_python") return GeluKind::Erf;
  LM_THROW(ErrorCode::Unsupported,
           "activation function '{}' is not supported (gelu, gelu_python, gelu_new, gelu_pytorch_tanh)",
           name);
}

void gelu_forward(Tensor out, Tensor inp, GeluKind kind) {
  const char* op = "gelu_forward";
  check_defined(inp, op, "inp");
  check_defined(out, op, "out");
  check_same_shape(out, inp, op, "out", "inp");
  [[maybe_unused]] const DType dt = data_dtype(op, {{&out, "out"}, {&inp, "inp"}});
  switch (common_device(op, {&out, &inp})) {
    case Device::CPU:
      cpu::gelu_forward(out.f32(), inp.f32(), inp.numel(), kind == GeluKind::Tanh);
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::gelu_forward(dt, out.data, inp.data, inp.numel(), kind == GeluKind::Tanh);
      return;
#endif
    default:
      unsupported_device(op, inp.device);
  }
}

void gelu_backward(Tensor dinp, Tensor dout, Tensor inp, GeluKind kind, bool overwrite) {
  const char* op = "gelu_backward";
  check_defined(inp, op, "inp");
  check_defined(dinp, op, "dinp");
  check_same_shape(dinp, inp, op, "dinp", "inp");
  check_defined(dout, op, "dout");
  check_same_shape(dout, inp, op, "dout", "inp");
  [[maybe_unused]] const DType dt = data_dtype(op, {{&dinp, "dinp"}, {&dout, "dout"}, {&inp, "inp"}});
  switch (common_device(op, {&dinp, &dout, &inp})) {
    case Device::CPU:
      cpu::gelu_backward(dinp.f32(), dout.f32(), inp.f32(), inp.numel(), kind == GeluKind::Tanh, !overwrite);
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      if (overwrite) device_zero(dinp.device, dinp.data, dinp.nbytes());
      cuda::gelu_backward(dt, dinp.data, dout.data, inp.data, inp.numel(), kind == GeluKind::Tanh);
      return;
#endif
    default:
      unsupported_device(op, inp.device);
  }
}

}  // namespace lm::ops
