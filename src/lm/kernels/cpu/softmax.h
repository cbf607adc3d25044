// Fast fp32 row softmax (OpenMP over rows). Shapes: inp/out/dinp/dout (N,D).
#pragma once

#include <cstdint>

namespace lm::cpu {

// Softmax of one row of n values (max-subtracted); out may alias x.
void softmax_row(float* out, const float* x, int64_t n);

void softmax_forward(float* out, const float* inp, int64_t N, int64_t D);
// dinp += out * (dout - Σ dout*out)
void softmax_backward(float* dinp, const float* dout, const float* out, int64_t N, int64_t D);

}  // namespace lm::cpu
