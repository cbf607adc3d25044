// Fast fp32 softmax cross-entropy with ignore_index (OpenMP over rows).
// Shapes: logits/dlogits (N,V), targets (N) i32 (validated by the ops layer), losses (N).
#pragma once

#include <cstdint>

namespace lm::cpu {

// Returns the number of non-ignored targets. row_stats (N,2), if not null, receives each row's max and
// Σ exp(x - max) (rows with ignored targets: not written).
int64_t cross_entropy_forward(float* losses, const float* logits, const int32_t* targets, int ignore_index,
                              int64_t N, int64_t V, float* row_stats = nullptr);
// dlogits = (softmax - onehot) * dloss, zero rows for ignored targets; dlogits may alias logits. row_stats, if
// not null, are the forward's (same logits): the pass that recomputes them is skipped, the result is the same.
void cross_entropy_backward(float* dlogits, const float* logits, const int32_t* targets, float dloss,
                            int ignore_index, int64_t N, int64_t V, const float* row_stats = nullptr);

}  // namespace lm::cpu
