// Fast fp32 multi-head self-attention core (llm.c style: the (B,NH,T,T) probabilities are materialised).
// Shapes as kernels/ref/attention.h: qkv/dqkv (B,T,3C), out/dout (B,T,C), att/datt (B,NH,T,T), key_mask (B,T)
// i32 or null. Same masking semantics as the reference.
#pragma once

#include <cstdint>

#include "lm/kernels/ref/attention.h"

namespace lm::cpu {

// The masked softmax of one query row (shared with the bf16 inference attention): p[0, L) holds the scaled
// scores of the L keys the row may see (L = t+1 causal, else T); turns p[0, T) into probabilities, with masked
// keys (mask_row[j] == 0) and keys j >= L exactly 0, and a row without a visible key uniform over [0, L).
void attention_softmax_row(float* p, int64_t L, int64_t T, const int32_t* mask_row);

void attention_forward(float* out, float* att, const float* qkv, const int32_t* key_mask, int64_t B,
                       int64_t T, int64_t C, int64_t NH, bool causal, float scale,
                       const ref::AttnDropout& drop = {});
// dqkv += ..., datt is scratch (overwritten).
void attention_backward(float* dqkv, float* datt, const float* dout, const float* qkv, const float* att,
                        int64_t B, int64_t T, int64_t C, int64_t NH, bool causal, float scale,
                        const ref::AttnDropout& drop = {});

}  // namespace lm::cpu
