// Multi-head self-attention core (no projections): qkv (B,T,3C) holds q | k | v along the last dim (each C =
// NH*HS, head h = columns h*HS:(h+1)*HS, as HF GPT-2's split + _split_heads). out (B,T,C) merged heads.
// att (B,NH,T,T) saves the softmax probabilities for backward. scores = q·kᵀ * scale (scale = 1/sqrt(HS) for
// HF, optionally further divided by layer_idx+1), causal mask and/or key padding mask (key_mask (B,T) i32, 0 =
// masked key) applied as finfo.min before the softmax, as HF does. Rows whose keys are all masked give uniform
// probabilities, as HF's finfo.min masking does.
#pragma once

#include "lm/core/tensor.h"

namespace lm::ops {

struct AttentionSpec {
  int n_head = 1;
  bool causal = true;
  float scale = 1.0f;
  // Dropout on the attention probabilities (HF attn_dropout), mask from Philox(seed, stream) over the
  // (B,NH,T,T) element index; att keeps the probabilities before dropout.
  float dropout = 0.0f;
  uint64_t seed = 0, stream = 0;
};

void attention_forward(Tensor out, Tensor att, Tensor qkv, const AttentionSpec& spec, Tensor key_mask = {});
// Accumulates into dqkv. datt (B,NH,T,T) is scratch (overwritten).
void attention_backward(Tensor dqkv, Tensor datt, Tensor dout, Tensor qkv, Tensor att, const AttentionSpec& spec);

}  // namespace lm::ops
