// CUDA tanh over n elements of dtype dt (f32|bf16), fp32 math: out = tanh(inp); backward ACCUMULATES
// dinp += dout * (1 - out²) from the forward's output, as the CPU kernel does.
#pragma once

#include <cstdint>

#include "lm/core/dtype.h"

namespace lm::cuda {

void tanh_forward(DType dt, void* out, const void* inp, int64_t n);
void tanh_backward(DType dt, void* dinp, const void* dout, const void* out, int64_t n);

}  // namespace lm::cuda
