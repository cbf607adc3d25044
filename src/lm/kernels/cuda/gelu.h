// CUDA GELU, elementwise over n values of dtype dt (f32|bf16), fp32 arithmetic. tanh_form: HF gelu_new
// 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))); otherwise the erf form (HF gelu).
#pragma once

#include <cstdint>

#include "lm/core/dtype.h"

namespace lm::cuda {

void gelu_forward(DType dt, void* out, const void* inp, int64_t n, bool tanh_form);
// dinp += dout * gelu'(inp)
void gelu_backward(DType dt, void* dinp, const void* dout, const void* inp, int64_t n, bool tanh_form);

}  // namespace lm::cuda
