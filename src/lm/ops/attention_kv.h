// Attention of Tn new tokens against a KV cache: appends their keys/values at [past, past+Tn) and attends each new
// query to all keys up to its own position (causal), honouring a key padding mask for left-padded batches.
// Shapes: out (B,Tn,C), k_cache/v_cache (B,NH,Tmax,HS), qkv (B,Tn,3C), key_mask (B,Tmax) i32 or undefined.
#pragma once

#include <cstdint>

#include "lm/core/tensor.h"
#include "lm/ops/attention.h"

namespace lm::ops {

void attention_kv_forward(Tensor out, Tensor k_cache, Tensor v_cache, Tensor qkv, int64_t past,
                          const AttentionSpec& spec, Tensor key_mask = {});
// Only the append of qkv's keys/values at [past, past+Tn) (a prefill whose attention runs elsewhere).
void kv_cache_append(Tensor k_cache, Tensor v_cache, Tensor qkv, int64_t past);

}  // namespace lm::ops
