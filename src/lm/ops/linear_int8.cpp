// Tensor-level int8 inference linear op: shape and dtype checks, then the oneDNN kernel (kernels/cpu).
#include "lm/ops/linear_int8.h"

#include "lm/ops/op_util.h"

namespace lm::ops {

using namespace detail;

void pack_linear_int8(PackedLinearInt8& w, Tensor weight) {
  const char* op = "pack_linear_int8";
  check_f32(weight, op, "weight");
  LM_CHECK(weight.ndim() == 2, "{}: weight must be 2-D (OC,C), got {}", op, weight.shape.str());
  LM_CHECK(weight.device == Device::CPU, "{}: weight must be on the CPU", op);
  w.pack(weight.f32(), weight.dim(0), weight.dim(1));
}

void linear_int8_forward(Tensor out, Tensor inp, PackedLinearInt8& w, Tensor bias, bool gelu, int64_t group_rows,
                         Tensor row_mask) {
  const char* op = "linear_int8_forward";
  check_f32(inp, op, "inp");
  check_f32(out, op, "out");
  check_packed_linear(op, out, inp, w, bias);
  if (row_mask.defined()) {
    check_dtype(row_mask, DType::I32, op, "row_mask");
    LM_CHECK(row_mask.numel() == rows(inp) && row_mask.device == Device::CPU,
             "{}: row_mask must hold one value per row of inp ({} rows) on the CPU, got {}", op, rows(inp),
             row_mask.shape.str());
  }
  w.forward(out.f32(), inp.f32(), bias.defined() ? bias.f32() : nullptr, rows(inp), gelu, group_rows,
            row_mask.defined() ? row_mask.ptr<int32_t>() : nullptr);
}

bool linear_int8_available() { return cpu::linear_int8_available(); }

}  // namespace lm::ops
