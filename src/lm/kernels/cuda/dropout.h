// CUDA dropout over n elements of dtype dt (f32|bf16), with the CPU kernels' masks: element i is kept when
// Rng(seed, stream).uniform(i) >= p (Philox4x32-10, four uniforms per counter block) and kept values are scaled by
// 1/(1-p). Forward writes out (may alias inp); backward ACCUMULATES dinp += mask * dout / (1-p), as on the CPU.
#pragma once

#include <cstdint>

#include "lm/core/dtype.h"

namespace lm::cuda {

void dropout_forward(DType dt, void* out, const void* inp, int64_t n, float p, uint64_t seed, uint64_t stream);
void dropout_backward(DType dt, void* dinp, const void* dout, int64_t n, float p, uint64_t seed, uint64_t stream);

}  // namespace lm::cuda
