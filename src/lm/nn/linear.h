// nn::Linear — y = x·Wᵀ + b over the last dim, W (OC, C) as PyTorch's nn.Linear. The one place for every way a
// linear layer runs: the f32 GEMM (training, prefill), a GEMV for decode steps (f32 or a bf16 copy of W), and
// oneDNN's packed bf16 and dynamically quantized int8 matmuls (eval). The caller picks one with a LinearMode; the
// copies of W each mode reads live in a LinearCopy the model owns. Shapes: inp (..., C), out (..., OC).
#pragma once

#include <cstdint>

#include "lm/core/tensor.h"
#include "lm/ops/linear_bf16.h"
#include "lm/ops/linear_int8.h"

namespace lm::nn {

struct LoraLayer;

struct Linear {
  Tensor w;  // (OC, C)
  Tensor b;  // (OC), or undefined (no bias)
  // An adapter on this layer (nn/lora.h): forward adds its low-rank term in every mode, backward its gradients.
  LoraLayer* lora = nullptr;
};

// The inference copies of one layer's weight (empty until made by make_linear_copy).
struct LinearCopy {
  Tensor w16;                   // (OC, C) bf16, read by LinearMode::Gemv when defined
  ops::PackedLinearBf16 bf16;   // LinearMode::PackedBf16
  ops::PackedLinearInt8 i8;     // LinearMode::Int8
};

enum class LinearKind { F32, Gemv, PackedBf16, Int8 };

struct LinearMode {
  LinearKind kind = LinearKind::F32;
  // Int8: activations are quantized per group of group_rows rows (one sequence), padding rows (row_mask 0)
  // excluded from the scale.
  int64_t group_rows = 0;
  Tensor row_mask;
};

// Makes the copy `kind` reads from p.w into c: Gemv -> w16 (bf16, round to nearest even; the storage comes from
// w16_storage, (OC, C) u16, which the caller owns), PackedBf16 -> bf16, Int8 -> i8. F32 needs none.
void make_linear_copy(LinearCopy& c, const Linear& p, LinearKind kind, Tensor w16_storage = {});

// out = inp·Wᵀ + b. With a LinearMode other than F32, `copy` must hold that mode's weights (Gemv without w16
// reads the f32 weight). Profiled as Op::MatmulFwd.
void linear_forward(const Linear& p, Tensor out, Tensor inp, const LinearMode& mode = {},
                    LinearCopy* copy = nullptr);
// dinp (+)= dout·W, g.w (+)= doutᵀ·inp, g.b (+)= Σ dout (undefined g.w / g.b: a frozen weight, skipped), then
// p.lora's backward. overwrite_dinp writes dinp instead of adding;
// overwrite_grads writes the weight and bias gradients (the first backward after zero_grad). Op::MatmulBwd.
void linear_backward(const Linear& p, const Linear& g, Tensor dinp, Tensor dout, Tensor inp,
                     bool overwrite_dinp = false, bool overwrite_grads = false);

// Zeroes a tensor on its device.
void zero(Tensor t);

}  // namespace lm::nn
