// Fast fp32 token + position embedding kernels (OpenMP). Shapes as kernels/ref/encoder.h: out/dout (B,T,C),
// ids/pos (B,T) i32 (pos may be null), wte (V,C), wpe (maxT,C). Indices validated by the ops layer.
#pragma once

#include <cstdint>

namespace lm::cpu {

void encoder_forward(float* out, const int32_t* ids, const float* wte, const float* wpe, int64_t pos_offset,
                     const int32_t* pos, int64_t B, int64_t T, int64_t C);
void encoder_backward(float* dwte, float* dwpe, const float* dout, const int32_t* ids, int64_t pos_offset,
                      const int32_t* pos, int64_t B, int64_t T, int64_t C);
void embedding_add_forward(float* out, const int32_t* ids, const float* table, int64_t N, int64_t C);
void embedding_add_backward(float* dtable, const float* dout, const int32_t* ids, int64_t N, int64_t C);

}  // namespace lm::cpu
