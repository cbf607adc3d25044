// Fast fp32 attention against a KV cache (prefill and decode). Shapes and masking as kernels/ref/attention_kv.h.
#pragma once

#include <cstdint>

namespace lm::cpu {

void attention_kv_forward(float* out, float* k_cache, float* v_cache, const float* qkv, const int32_t* key_mask,
                          int64_t B, int64_t Tn, int64_t C, int64_t NH, int64_t Tmax, int64_t past, float scale);
// Only the append: keys/values of qkv (B,Tn,3C) into the caches at [past, past+Tn).
void kv_append(float* k_cache, float* v_cache, const float* qkv, int64_t B, int64_t Tn, int64_t C, int64_t NH,
               int64_t Tmax, int64_t past);

}  // namespace lm::cpu
