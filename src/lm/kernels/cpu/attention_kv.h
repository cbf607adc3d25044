// Fast fp32 attention against a KV cache (prefill and decode). Shapes and masking as kernels/ref/attention_kv.h.
#pragma once

#include <cstdint>

namespace lm::cpu {

void attention_kv_forward(float* out, float* k_cache, float* v_cache, const float* qkv, const int32_t* key_mask,
                          int64_t B, int64_t Tn, int64_t C, int64_t NH, int64_t Tmax, int64_t past, float scale);
// Only the append: keys/values of qkv (B,Tn,3C) into the caches at [past, past+Tn).
void kv_append(float* k_cache, float* v_cache, const float* qkv, int64_t B, int64_t Tn, int64_t C, int64_t NH,
               int64_t Tmax, int64_t past);

// One sequence of a ragged batch: its caches (NH,Tmax,HS) each, the positions already cached, and its n new rows
// starting at row `row0` of qkv (R,3C) / out (R,C).
struct KvSeq {
  float* k_cache;
  float* v_cache;
  int64_t Tmax, past, row0, n;
};
// Appends every sequence's new keys/values, then attends each new query to its own sequence's keys up to its
// position, all in one parallel region. Each (sequence, head, row) is computed exactly as attention_kv_forward
// computes it, whatever the other sequences are.
void attention_kv_ragged(float* out, const float* qkv, const KvSeq* seqs, int64_t S, int64_t C, int64_t NH,
                         float scale);

}  // namespace lm::cpu
