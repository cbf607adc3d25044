// nn::Linear: dispatch of the linear layer's run modes onto the matmul, GEMV, bf16 and int8 ops.
#include "lm/nn/linear.h"

#include <cstring>

#include "lm/core/device_memory.h"
#include "lm/core/dtype.h"
#include "lm/core/error.h"
#include "lm/core/profile.h"
#include "lm/nn/lora.h"
#include "lm/ops/gemv.h"
#include "lm/ops/matmul.h"

namespace lm::nn {

void zero(Tensor t) {
  if (t.nbytes() == 0) return;
  if (t.device == Device::CPU)
    std::memset(t.data, 0, t.nbytes());
  else
    device_zero(t.device, t.data, t.nbytes());
}

void make_linear_copy(LinearCopy& c, const Linear& p, LinearKind kind, Tensor w16_storage) {
  switch (kind) {
    case LinearKind::F32:
      return;
    case LinearKind::Gemv: {
      LM_CHECK(w16_storage.defined() && w16_storage.numel() == p.w.numel(),
               "linear copy: bf16 storage of {} elements needed for a {} weight", p.w.numel(), p.w.shape.str());
      c.w16 = Tensor(w16_storage.data, p.w.shape, DType::BF16, p.w.device);
      const float* s = p.w.f32();
      uint16_t* d = static_cast<uint16_t*>(c.w16.data);
      const int64_t n = p.w.numel();
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(s[i]);
      return;
    }
    case LinearKind::PackedBf16:
      ops::pack_linear_bf16(c.bf16, p.w);
      return;
    case LinearKind::Int8:
      ops::pack_linear_int8(c.i8, p.w);
      return;
  }
}

void linear_forward(const Linear& p, Tensor out, Tensor inp, const LinearMode& mode, LinearCopy* copy) {
  prof::Scope ps(prof::Op::MatmulFwd);
  LM_ASSERT(mode.kind == LinearKind::F32 || mode.kind == LinearKind::Gemv || copy != nullptr);
  switch (mode.kind) {
    case LinearKind::F32:
      ops::matmul_forward(out, inp, p.w, p.b);
      break;
    case LinearKind::Gemv:
      ops::gemv_forward(out, inp, copy && copy->w16.defined() ? copy->w16 : p.w, p.b);
      break;
    case LinearKind::PackedBf16:
      ops::linear_bf16_forward(out, inp, copy->bf16, p.b);
      break;
    case LinearKind::Int8:
      ops::linear_int8_forward(out, inp, copy->i8, p.b, false, mode.group_rows, mode.row_mask);
      break;
  }
  if (p.lora) lora_forward(*p.lora, out, inp);
}

void linear_backward(const Linear& p, const Linear& g, Tensor dinp, Tensor dout, Tensor inp, bool overwrite_dinp,
                     bool overwrite_grads) {
  prof::Scope ps(prof::Op::MatmulBwd);
  ops::matmul_backward(dinp, g.w, g.b, dout, inp, p.w, overwrite_dinp, overwrite_grads);
  if (p.lora) lora_backward(*p.lora, dinp, dout, inp);
}

}  // namespace lm::nn
