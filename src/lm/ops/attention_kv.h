// Attention of Tn new tokens against a KV cache: appends their keys/values at [past, past+Tn) and attends each new
// query to all keys up to its own position (causal), honouring a key padding mask for left-padded batches.
// Shapes: out (B,Tn,C), k_cache/v_cache (B,NH,Tmax,HS), qkv (B,Tn,3C), key_mask (B,Tmax) i32 or undefined.
#pragma once

#include <cstdint>
#include <vector>

#include "lm/core/tensor.h"
#include "lm/ops/attention.h"

namespace lm::ops {

void attention_kv_forward(Tensor out, Tensor k_cache, Tensor v_cache, Tensor qkv, int64_t past,
                          const AttentionSpec& spec, Tensor key_mask = {});
// Only the append of qkv's keys/values at [past, past+Tn) (a prefill whose attention runs elsewhere).
void kv_cache_append(Tensor k_cache, Tensor v_cache, Tensor qkv, int64_t past);

// A ragged batch: sequence i owns rows [row0, row0+n) of qkv (R,3C) / out (R,C) and its caches k, v (1,NH,Tmax,HS)
// holding `past` positions. Appends every sequence's new keys/values and attends each new query causally to its
// own sequence, in one call (CPU). A row's result is the same as attention_kv_forward's for that sequence alone.
struct RaggedSeq {
  Tensor k, v;
  int64_t past = 0, row0 = 0, n = 0;
};
void attention_kv_ragged(Tensor out, Tensor qkv, const std::vector<RaggedSeq>& seqs, const AttentionSpec& spec);

}  // namespace lm::ops
