// Fast fp32 softmax cross-entropy with ignore_index (OpenMP over rows).
// Shapes: logits/dlogits (N,V), targets (N) i32 (validated by the ops layer), losses (N).
#pragma once

#include <cstdint>

namespace lm::cpu {

// Returns the number of non-ignored targets.
int64_t cross_entropy_forward(float* losses, const float* logits, const int32_t* targets, int ignore_index,
                              int64_t N, int64_t V);
// dlogits = (softmax - onehot) * dloss, zero rows for ignored targets; dlogits may alias logits.
void cross_entropy_backward(float* dlogits, const float* logits, const int32_t* targets, float dloss,
                            int ignore_index, int64_t N, int64_t V);

}  // namespace lm::cpu
