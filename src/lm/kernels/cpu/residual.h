// Fast fp32 residual add over n elements: out = a + b; backward da += dout, db += dout.
#pragma once

#include <cstdint>

namespace lm::cpu {

void residual_forward(float* out, const float* a, const float* b, int64_t n);
void residual_backward(float* da, float* db, const float* dout, int64_t n);

}  // namespace lm::cpu
