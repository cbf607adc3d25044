// Fast fp32 GELU kernels (OpenMP), elementwise over n values; tanh_form selects HF gelu_new vs erf gelu.
#pragma once

#include <cstdint>

namespace lm::cpu {

void gelu_forward(float* out, const float* inp, int64_t n, bool tanh_form);
// dinp += dout * gelu'(inp), or dinp = dout * gelu'(inp) when !accumulate (dinp is then never read)
void gelu_backward(float* dinp, const float* dout, const float* inp, int64_t n, bool tanh_form, bool accumulate = true);

}  // namespace lm::cpu
