// Fast fp32 inverted dropout over n elements with the Philox mask of kernels/ref/dropout.h (element i kept
// iff Rng(seed, stream).uniform(i) >= p); one Philox block serves four consecutive elements.
#pragma once

#include <cstdint>

namespace lm::cpu {

void dropout_forward(float* out, const float* inp, int64_t n, float p, uint64_t seed, uint64_t stream);
// dinp += mask * dout / (1-p)
void dropout_backward(float* dinp, const float* dout, int64_t n, float p, uint64_t seed, uint64_t stream);

}  // namespace lm::cpu
