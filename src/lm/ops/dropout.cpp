// Tensor-level dropout (any shape; the mask index is the flat element index).
#include "lm/ops/dropout.h"

#include <cstring>

#include "lm/kernels/cpu/dropout.h"
#include "lm/ops/op_util.h"

#ifdef LM_WITH_CUDA
#include "lm/kernels/cuda/dropout.h"
#endif

namespace lm::ops {

using namespace detail;

namespace {
void check_p(const char* op, float p) {
  LM_CHECK(p >= 0.0f && p < 1.0f, "{}: p must be in [0, 1), got {}", op, p);
}
}  // namespace

void dropout_forward(Tensor out, Tensor inp, float p, uint64_t seed, uint64_t stream) {
  const char* op = "dropout_forward";
  check_p(op, p);
  check_defined(inp, op, "inp");
  check_defined(out, op, "out");
  check_same_shape(out, inp, op, "out", "inp");
  [[maybe_unused]] const DType dt = data_dtype(op, {{&out, "out"}, {&inp, "inp"}});
  switch (common_device(op, {&out, &inp})) {
    case Device::CPU:
      if (p == 0.0f) {
        if (out.data != inp.data) std::memcpy(out.data, inp.data, inp.nbytes());
        return;
      }
      cpu::dropout_forward(out.f32(), inp.f32(), inp.numel(), p, seed, stream);
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      if (p == 0.0f) {
        if (out.data != inp.data) copy_bytes(out.data, out.device, inp.data, inp.device, inp.nbytes());
        return;
      }
      cuda::dropout_forward(dt, out.data, inp.data, inp.numel(), p, seed, stream);
      return;
#endif
    default:
      unsupported_device(op, inp.device);
  }
}

void dropout_backward(Tensor dinp, Tensor dout, float p, uint64_t seed, uint64_t stream) {
  const char* op = "dropout_backward";
  check_p(op, p);
  check_defined(dout, op, "dout");
  check_defined(dinp, op, "dinp");
  check_same_shape(dinp, dout, op, "dinp", "dout");
  [[maybe_unused]] const DType dt = data_dtype(op, {{&dinp, "dinp"}, {&dout, "dout"}});
  switch (common_device(op, {&dinp, &dout})) {
    case Device::CPU:
      cpu::dropout_backward(dinp.f32(), dout.f32(), dout.numel(), p, seed, stream);
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::dropout_backward(dt, dinp.data, dout.data, dout.numel(), p, seed, stream);
      return;
#endif
    default:
      unsupported_device(op, dout.device);
  }
}

}  // namespace lm::ops
