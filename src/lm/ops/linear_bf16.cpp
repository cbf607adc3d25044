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

namespace {
void check_linear(const char* op, const Tensor& out, const Tensor& inp, const PackedLinearBf16& w,
                  const Tensor& bias) {
  LM_CHECK(w.packed(), "{}: the weight is not packed", op);
  const int64_t OC = w.out_features(), C = w.in_features();
  LM_CHECK(last_dim(inp) == C, "{}: inp {} does not match the packed weight ({}, {})", op, inp.shape.str(), OC, C);
  LM_CHECK(rows(out) == rows(inp) && last_dim(out) == OC, "{}: out must be {} with last dim {}, got {}", op,
           inp.shape.str(), OC, out.shape.str());
  if (bias.defined()) {
    check_dtype(bias, DType::F32, op, "bias");
    check_shape(bias, Shape{OC}, op, "bias");
  }
  LM_CHECK(out.device == Device::CPU && inp.device == Device::CPU, "{}: CPU tensors only", op);
  LM_CHECK(out.data != inp.data, "{}: out must not alias inp", op);
}
}  // namespace

void linear_bf16_forward(Tensor out, Tensor inp, PackedLinearBf16& w, Tensor bias) {
  const char* op = "linear_bf16_forward";
  check_f32(inp, op, "inp");
  check_f32(out, op, "out");
  check_linear(op, out, inp, w, bias);
  w.forward(out.f32(), inp.f32(), bias.defined() ? bias.f32() : nullptr, rows(inp));
}

void linear_bf16_gelu_forward(Tensor mid, Tensor inp, PackedLinearBf16& w1, Tensor b1) {
  const char* op = "linear_bf16_gelu_forward";
  check_f32(inp, op, "inp");
  check_defined(mid, op, "mid");
  check_dtype(mid, DType::U16, op, "mid (bf16 bits)");
  check_linear(op, mid, inp, w1, b1);
  w1.forward_gelu_to_bf16(mid.ptr<uint16_t>(), inp.f32(), b1.defined() ? b1.f32() : nullptr, rows(inp));
}

void linear_bf16_from_bf16_forward(Tensor out, Tensor mid, PackedLinearBf16& w2, Tensor b2) {
  const char* op = "linear_bf16_from_bf16_forward";
  check_f32(out, op, "out");
  check_defined(mid, op, "mid");
  check_dtype(mid, DType::U16, op, "mid (bf16 bits)");
  check_linear(op, out, mid, w2, b2);
  w2.forward_from_bf16(out.f32(), mid.ptr<uint16_t>(), b2.defined() ? b2.f32() : nullptr, rows(mid));
}

bool linear_bf16_available() { return cpu::linear_bf16_available(); }

}  // namespace lm::ops
