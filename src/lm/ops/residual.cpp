// Tensor-level residual add: all tensors share one shape.
#include "lm/ops/residual.h"

#include "lm/kernels/cpu/residual.h"
#include "lm/ops/op_util.h"

#ifdef LM_WITH_CUDA
#include "lm/kernels/cuda/residual.h"
#endif

namespace lm::ops {

using namespace detail;

void residual_forward(Tensor out, Tensor a, Tensor b) {
  const char* op = "residual_forward";
  check_f32(a, op, "a");
  check_f32(b, op, "b");
  check_f32(out, op, "out");
  check_same_shape(b, a, op, "b", "a");
  check_same_shape(out, a, op, "out", "a");
  switch (common_device(op, {&out, &a, &b})) {
    case Device::CPU:
      cpu::residual_forward(out.f32(), a.f32(), b.f32(), a.numel());
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::residual_forward(DType::F32, out.data, a.data, b.data, a.numel());
      return;
#endif
    default:
      unsupported_device(op, a.device);
  }
}

void residual_backward(Tensor da, Tensor db, Tensor dout) {
  const char* op = "residual_backward";
  check_f32(dout, op, "dout");
  check_f32(da, op, "da");
  check_f32(db, op, "db");
  check_same_shape(da, dout, op, "da", "dout");
  check_same_shape(db, dout, op, "db", "dout");
  LM_CHECK(da.data != db.data, "{}: da and db must not alias (each receives dout)", op);
  switch (common_device(op, {&da, &db, &dout})) {
    case Device::CPU:
      cpu::residual_backward(da.f32(), db.f32(), dout.f32(), dout.numel());
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::residual_backward(DType::F32, da.data, db.data, dout.data, dout.numel());
      return;
#endif
    default:
      unsupported_device(op, dout.device);
  }
}

}  // namespace lm::ops
