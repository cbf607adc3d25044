// Fast fp32 multi-head self-attention core (llm.c style: the (B,NH,T,T) probabilities are materialised).
// Shapes as kernels/ref/attention.h: qkv/dqkv (B,T,3C), out/dout (B,T,C), att/datt (B,NH,T,T), key_mask (B,T)
// i32 or null. Same masking semantics as the reference.
#pragma once

#include <cstdint>

#include "lm/kernels/ref/attention.h"

namespace lm::cpu {

void attention_forward(float* out, float* att, const float* qkv, const int32_t* key_mask, int64_t B,
                       int64_t T, int64_t C, int64_t NH, bool causal, float scale,
                       const ref::AttnDropout& drop = {});
// dqkv += ..., datt is scratch (overwritten).
void attention_backward(float* dqkv, float* datt, const float* dout, const float* qkv, const float* att,
                        int64_t B, int64_t T, int64_t C, int64_t NH, bool causal, float scale,
                        const ref::AttnDropout& drop = {});

}  // namespace lm::cpu
