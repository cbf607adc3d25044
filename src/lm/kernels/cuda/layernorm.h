// CUDA LayerNorm over the last dimension (biased variance, as nn.LayerNorm) with an optional fused residual add.
// Shapes: inp/out/dinp/dout/a/b/residual (N,C) of dtype dt (f32|bf16); w/b/dw/db (C) of dtype dt; mean/rstd (N)
// always f32. Statistics and gradients accumulate in fp32; dw/db reductions over rows are deterministic.
#pragma once

#include <cstdint>

#include "lm/core/dtype.h"

namespace lm::cuda {

void layernorm_forward(DType dt, void* out, float* mean, float* rstd, const void* inp, const void* w,
                       const void* bias, float eps, int64_t N, int64_t C);
// residual = a + b (stored in dt), then out = LayerNorm(residual): the pre-LN block boundary in one pass.
// LayerNorm sees the stored (rounded) residual, the same values backward will read.
void fused_residual_layernorm_forward(DType dt, void* residual, void* out, float* mean, float* rstd, const void* a,
                                      const void* b, const void* w, const void* bias, float eps, int64_t N,
                                      int64_t C);
// dinp += ..., dw += Σ xhat*dout, db += Σ dout (accumulating, like every backward).
void layernorm_backward(DType dt, void* dinp, void* dw, void* db, const void* dout, const void* inp, const void* w,
                        const float* mean, const float* rstd, int64_t N, int64_t C);

}  // namespace lm::cuda
