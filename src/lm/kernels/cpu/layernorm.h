// Fast fp32 LayerNorm kernels (OpenMP). Shapes: inp/out/dinp/dout (N,C), mean/rstd (N), w/b/dw/db (C).
#pragma once

#include <cstdint>

namespace lm::cpu {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b,
                       float eps, int64_t N, int64_t C);
// Accumulates into dinp, dw, db (dw and db both null: dinp only, a frozen LayerNorm).
void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                        const float* w, const float* mean, const float* rstd, int64_t N, int64_t C);

}  // namespace lm::cpu
