// bf16 inference attention (kernels/cpu/attention_bf16.h): the attention_forward of ops/attention.h without
// dropout, with Q, K, V and the probabilities rounded to bf16 for oneDNN's batched AMX / AVX512_BF16 matmul
// (f32 accumulation, f32 masked softmax). CPU tensors; no backward. Implemented in ops/attention.cpp.
#pragma once

#include "lm/core/tensor.h"
#include "lm/kernels/cpu/attention_bf16.h"
#include "lm/ops/attention.h"

namespace lm::ops {

using AttentionBf16 = cpu::AttentionBf16;

// out (B,T,C), att (B,NH,T,T) (ends holding the f32 probabilities), qkv (B,T,3C), key_mask (B,T) i32 or
// undefined; spec.dropout must be 0. state holds the primitives and bf16 buffers between calls.
void attention_bf16_forward(Tensor out, Tensor att, Tensor qkv, const AttentionSpec& spec, Tensor key_mask,
                            AttentionBf16& state);
bool attention_bf16_available();

}  // namespace lm::ops
