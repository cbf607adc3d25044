// CUDA attention of Tn new queries against a device KV cache (incremental decoding), as kernels/ref/attention_kv.h.
// Shapes: qkv (B,Tn,3C) for the new tokens; k_cache/v_cache (B,NH,Tmax,HS), the new keys/values are written at
// [past, past+Tn); out (B,Tn,C); all of dtype dt (f32|bf16). key_mask (B,Tmax) i32 or null (0 = padding key):
// masked keys get finfo.min as in HF, so a row whose keys are all masked is uniform over them. One block per
// (query, head); scores in shared memory (Tmax <= 8192), fp32 softmax, values summed in key order (deterministic).
#pragma once

#include <cstdint>

#include "lm/core/dtype.h"

namespace lm::cuda {

void attention_kv_forward(DType dt, void* out, void* k_cache, void* v_cache, const void* qkv, const int32_t* key_mask,
                          int64_t B, int64_t Tn, int64_t C, int64_t NH, int64_t Tmax, int64_t past, float scale);

}  // namespace lm::cuda
