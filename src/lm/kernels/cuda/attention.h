// CUDA multi-head self-attention core (no projections), the materialised-softmax formulation: Q·Kᵀ and P·V as
// cuBLAS strided-batched GEMMs over (B·NH) heads (fp32 accumulation) and a row softmax kernel (fp32 math).
// Shapes as kernels/ref/attention.h: qkv/dqkv (B,T,3C) = q | k | v; out/dout (B,T,C); att/datt (B,NH,T,T)
// probabilities / scratch, all of dtype dt (f32|bf16); key_mask (B,T) i32 or null (0 = masked key), on the device.
// Masking semantics equal the reference (hard causal mask, fully masked rows uniform over the allowed keys).
// No attention dropout on CUDA (callers reject attn_pdrop > 0). Temporary permuted Q/K/V live in cuda::scratch.
#pragma once

#include <cstdint>

#include "lm/core/dtype.h"

namespace lm::cuda {

void attention_forward(DType dt, void* out, void* att, const void* qkv, const int32_t* key_mask, int64_t B, int64_t T,
                       int64_t C, int64_t NH, bool causal, float scale);
// dqkv += d(out)/d(qkv)ᵀ dout via the saved probabilities; datt is scratch (overwritten).
void attention_backward(DType dt, void* dqkv, void* datt, const void* dout, const void* qkv, const void* att,
                        int64_t B, int64_t T, int64_t C, int64_t NH, float scale);

}  // namespace lm::cuda
