// Tensor-level tanh: checks, then the device kernel.
#include "lm/ops/tanh.h"

#include "lm/kernels/cpu/tanh.h"
#include "lm/ops/op_util.h"

namespace lm::ops {

using namespace detail;

void tanh_forward(Tensor out, Tensor inp) {
  const char* op = "tanh_forward";
  check_f32(inp, op, "inp");
  check_f32(out, op, "out");
  check_same_shape(out, inp, op, "out", "inp");
  switch (common_device(op, {&out, &inp})) {
    case Device::CPU:
      cpu::tanh_forward(out.f32(), inp.f32(), inp.numel());
      return;
    default:
      unsupported_device(op, inp.device);
  }
}

void tanh_backward(Tensor dinp, Tensor dout, Tensor out) {
  const char* op = "tanh_backward";
  check_f32(out, op, "out");
  check_f32(dinp, op, "dinp");
  check_same_shape(dinp, out, op, "dinp", "out");
  check_f32(dout, op, "dout");
  check_same_shape(dout, out, op, "dout", "out");
  switch (common_device(op, {&dinp, &dout, &out})) {
    case Device::CPU:
      cpu::tanh_backward(dinp.f32(), dout.f32(), out.f32(), out.numel());
      return;
    default:
      unsupported_device(op, out.device);
  }
}

}  // namespace lm::ops
