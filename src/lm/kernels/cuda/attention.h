// CUDA multi-head self-attention core (no projections), the materialised-softmax formulation: Q·Kᵀ and P·V as
// cuBLAS strided-batched GEMMs over (B·NH) heads (fp32 accumulation) and a row softmax kernel (fp32 math).
// Shapes as kernels/ref/attention.h: qkv/dqkv (B,T,3C) = q | k | v; out/dout (B,T,C); att/datt (B,NH,T,T)
// probabilities / scratch, all of dtype dt (f32|bf16); key_mask (B,T) i32 or null (0 = masked key), on the device.
// Masking semantics equal the reference (hard causal mask, fully masked rows uniform over the allowed keys).
// Attention dropout (drop.p > 0) uses the CPU kernels' masks (element (b,h,t,j) of the probabilities kept when
// Rng(seed, stream).uniform(((b*NH + h)*T + t)*T + j) >= p, scaled by 1/(1-p)); att keeps the undropped
// probabilities and the backward regenerates the mask. Temporary permuted Q/K/V (and the dropped probabilities)
// live in cuda::scratch.
#pragma once

#include <cstdint>

#include "lm/core/dtype.h"

namespace lm::cuda {

struct AttnDropoutSpec {
  float p = 0.0f;
  uint64_t seed = 0, stream = 0;
};

void attention_forward(DType dt, void* out, void* att, const void* qkv, const int32_t* key_mask, int64_t B, int64_t T,
                       int64_t C, int64_t NH, bool causal, float scale, const AttnDropoutSpec& drop = {});
// dqkv += d(out)/d(qkv)ᵀ dout via the saved probabilities; datt is scratch (overwritten).
void attention_backward(DType dt, void* dqkv, void* datt, const void* dout, const void* qkv, const void* att,
                        int64_t B, int64_t T, int64_t C, int64_t NH, float scale, const AttnDropoutSpec& drop = {});

}  // namespace lm::cuda
