// fp32 tanh kernels, elementwise over n values (pooler-sized inputs: (B,C)).
#pragma once

#include <cstdint>

namespace lm::cpu {

void tanh_forward(float* out, const float* inp, int64_t n);
// dinp += dout * (1 - out^2)
void tanh_backward(float* dinp, const float* dout, const float* out, int64_t n);

}  // namespace lm::cpu
