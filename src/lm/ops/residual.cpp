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
  check_defined(a, op, "a");
  check_defined(b, op, "b");
  check_defined(out, op, "out");
  [[maybe_unused]] const DType dt = data_dtype(op, {{&out, "out"}, {&a, "a"}, {&b, "b"}});
  check_same_shape(b, a, op, "b", "a");
  check_same_shape(out, a, op, "out", "a");
  switch (common_device(op, {&out, &a, &b})) {
    case Device::CPU:
      cpu::residual_forward(out.f32(), a.f32(), b.f32(), a.numel());
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::residual_forward(dt, out.data, a.data, b.data, a.numel());
      return;
#endif
    default:
      unsupported_device(op, a.device);
  }
}

void residual_backward(Tensor da, Tensor db, Tensor dout) {
  const char* op = "residual_backward";
  check_defined(dout, op, "dout");
  check_defined(da, op, "da");
  check_defined(db, op, "db");
  [[maybe_unused]] const DType dt = data_dtype(op, {{&da, "da"}, {&db, "db"}, {&dout, "dout"}});
  check_same_shape(da, dout, op, "da", "dout");
  check_same_shape(db, dout, op, "db", "dout");
  LM_CHECK(da.data != db.data, "{}: da and db must not alias (each receives dout)", op);
  switch (common_device(op, {&da, &db, &dout})) {
    case Device::CPU:
      cpu::residual_backward(da.f32(), db.f32(), dout.f32(), dout.numel());
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::residual_backward(dt, da.data, db.data, dout.data, dout.numel());
      return;
#endif
    default:
      unsupported_device(op, dout.device);
  }
}

}  // namespace lm::ops
