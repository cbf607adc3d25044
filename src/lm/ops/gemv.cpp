// Tensor-level GEMV: checks, then the CPU kernel for f32 or bf16 weights.
#include "lm/ops/gemv.h"

#include "lm/kernels/cpu/gemv.h"
#include "lm/ops/op_util.h"

namespace lm::ops {

using namespace detail;

void gemv_forward(Tensor out, Tensor inp, Tensor weight, Tensor bias) {
  const char* op = "gemv_forward";
  check_f32(inp, op, "inp");
  check_defined(weight, op, "weight");
  LM_CHECK(weight.dtype == DType::F32 || weight.dtype == DType::BF16, "{}: weight must be f32 or bf16, got {}", op,
           dtype_name(weight.dtype));
  LM_CHECK(inp.ndim() >= 1 && weight.ndim() == 2 && weight.dim(1) == last_dim(inp),
           "{}: weight must be (OC,{}) for inp {}, got {}", op, last_dim(inp), inp.shape.str(), weight.shape.str());
  const int64_t OC = weight.dim(0), N = rows(inp), C = last_dim(inp);
  check_f32(out, op, "out");
  LM_CHECK(rows(out) == N && last_dim(out) == OC, "{}: out must have {} rows of {}, got {}", op, N, OC,
           out.shape.str());
  if (bias.defined()) {
    check_dtype(bias, DType::F32, op, "bias");
    check_shape(bias, Shape{OC}, op, "bias");
  }
  LM_CHECK(out.data != inp.data && out.data != weight.data, "{}: out must not alias inp or weight", op);
  switch (common_device(op, {&out, &inp, &weight, &bias})) {
    case Device::CPU:
      if (weight.dtype == DType::F32)
        cpu::gemv_f32(out.f32(), inp.f32(), weight.f32(), bias.defined() ? bias.f32() : nullptr, N, C, OC);
      else
        cpu::gemv_bf16(out.f32(), inp.f32(), static_cast<const uint16_t*>(weight.data), bias.defined() ? bias.f32() : nullptr, N, C,
                       OC);
      return;
    default:
      unsupported_device(op, inp.device);
  }
}

}  // namespace lm::ops
