// Tensor-level bf16 inference linear ops: shape and dtype checks, then the oneDNN kernels (kernels/cpu).
#include "lm/ops/linear_bf16.h"

#include "lm/ops/op_util.h"

namespace lm::ops {

using namespace detail;

void pack_linear_bf16(PackedLinearBf16& w, Tensor weight) {
  const char* op = "pack_linear_bf16";
  check_f32(weight, op, "weight");
  LM_CHECK(weight.ndim() == 2, "{}: weight must be 2-D (OC,C), got {}", op, weight.shape.str());
  LM_CHECK(weight.device == Device::CPU, "{}: weight must be on the CPU", op);
  w.pack(weight.f32(), weight.dim(0), weight.dim(1));
}

void linear_bf16_forward(Tensor out, Tensor inp, PackedLinearBf16& w, Tensor bias) {
  const char* op = "linear_bf16_forward";
  check_f32(inp, op, "inp");
  check_f32(out, op, "out");
  check_packed_linear(op, out, inp, w, bias);
  w.forward(out.f32(), inp.f32(), bias.defined() ? bias.f32() : nullptr, rows(inp));
}

void linear_bf16_gelu_forward(Tensor mid, Tensor inp, PackedLinearBf16& w1, Tensor b1) {
  const char* op = "linear_bf16_gelu_forward";
  check_f32(inp, op, "inp");
  check_defined(mid, op, "mid");
  check_dtype(mid, DType::U16, op, "mid (bf16 bits)");
  check_packed_linear(op, mid, inp, w1, b1);
  w1.forward_gelu_to_bf16(mid.ptr<uint16_t>(), inp.f32(), b1.defined() ? b1.f32() : nullptr, rows(inp));
}

void linear_bf16_from_bf16_forward(Tensor out, Tensor mid, PackedLinearBf16& w2, Tensor b2) {
  const char* op = "linear_bf16_from_bf16_forward";
  check_f32(out, op, "out");
  check_defined(mid, op, "mid");
  check_dtype(mid, DType::U16, op, "mid (bf16 bits)");
  check_packed_linear(op, out, mid, w2, b2);
  w2.forward_from_bf16(out.f32(), mid.ptr<uint16_t>(), b2.defined() ? b2.f32() : nullptr, rows(mid));
}

bool linear_bf16_available() { return cpu::linear_bf16_available(); }

}  // namespace lm::ops
