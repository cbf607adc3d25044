// Tensor-level tanh: checks, then the device kernel.
#include "lm/ops/tanh.h"

#include "lm/kernels/cpu/tanh.h"
#include "lm/ops/op_util.h"

#ifdef LM_WITH_CUDA
#include "lm/kernels/cuda/tanh.h"
#endif

namespace lm::ops {

using namespace detail;

void tanh_forward(Tensor out, Tensor inp) {
  const char* op = "tanh_forward";
  check_defined(inp, op, "inp");
  check_defined(out, op, "out");
  check_same_shape(out, inp, op, "out", "inp");
  [[maybe_unused]] const DType dt = data_dtype(op, {{&out, "out"}, {&inp, "inp"}});
  switch (common_device(op, {&out, &inp})) {
    case Device::CPU:
      cpu::tanh_forward(out.f32(), inp.f32(), inp.numel());
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::tanh_forward(dt, out.data, inp.data, inp.numel());
      return;
#endif
    default:
      unsupported_device(op, inp.device);
  }
}

void tanh_backward(Tensor dinp, Tensor dout, Tensor out) {
  const char* op = "tanh_backward";
  check_defined(out, op, "out");
  check_defined(dinp, op, "dinp");
  check_same_shape(dinp, out, op, "dinp", "out");
  check_defined(dout, op, "dout");
  check_same_shape(dout, out, op, "dout", "out");
  [[maybe_unused]] const DType dt = data_dtype(op, {{&dinp, "dinp"}, {&dout, "dout"}, {&out, "out"}});
  switch (common_device(op, {&dinp, &dout, &out})) {
    case Device::CPU:
      cpu::tanh_backward(dinp.f32(), dout.f32(), out.f32(), out.numel());
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::tanh_backward(dt, dinp.data, dout.data, out.data, out.numel());
      return;
#endif
    default:
      unsupported_device(op, out.device);
  }
}

}  // namespace lm::ops
