// Tensor-level row softmax over the last dimension (leading dims flattened).
#include "lm/ops/softmax.h"

#include "lm/kernels/cpu/softmax.h"
#include "lm/ops/op_util.h"

namespace lm::ops {

using namespace detail;

void softmax_forward(Tensor out, Tensor inp) {
  const char* op = "softmax_forward";
  check_f32(inp, op, "inp");
  LM_CHECK(inp.ndim() >= 1 && last_dim(inp) > 0, "{}: inp must have a non-empty last dim, got {}", op,
           inp.shape.str());
  check_f32(out, op, "out");
  check_same_shape(out, inp, op, "out", "inp");
  switch (common_device(op, {&out, &inp})) {
    case Device::CPU:
      cpu::softmax_forward(out.f32(), inp.f32(), rows(inp), last_dim(inp));
      return;
    default:
      unsupported_device(op, inp.device);
  }
}

void softmax_backward(Tensor dinp, Tensor dout, Tensor out) {
  const char* op = "softmax_backward";
  check_f32(out, op, "out");
  LM_CHECK(out.ndim() >= 1, "{}: out must have at least 1 dim", op);
  check_f32(dinp, op, "dinp");
  check_same_shape(dinp, out, op, "dinp", "out");
  check_f32(dout, op, "dout");
  check_same_shape(dout, out, op, "dout", "out");
  switch (common_device(op, {&dinp, &dout, &out})) {
    case Device::CPU:
      cpu::softmax_backward(dinp.f32(), dout.f32(), out.f32(), rows(out), last_dim(out));
      return;
    default:
      unsupported_device(op, out.device);
  }
}

}  // namespace lm::ops
