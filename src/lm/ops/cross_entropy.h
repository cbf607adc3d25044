// Softmax cross-entropy over the vocabulary with ignore_index (targets == ignore_index contribute nothing).
// Shapes: logits (N,V) f32, targets (N) i32, losses (N) f32 (0 where ignored).
#pragma once

#include <cstdint>

#include "lm/core/tensor.h"

namespace lm::ops {

constexpr int kIgnoreIndex = -100;

// Per-row loss; returns the number of non-ignored targets. Targets outside [0,V) other than ignore_index throw.
int64_t cross_entropy_forward(Tensor losses, Tensor logits, Tensor targets, int ignore_index = kIgnoreIndex);
// dlogits = (softmax(logits) - onehot(target)) * dloss for non-ignored rows, 0 for ignored rows (overwrites,
// does not accumulate: it is the start of the backward pass). dlogits may alias logits (fused, in place).
void cross_entropy_backward(Tensor dlogits, Tensor logits, Tensor targets, float dloss,
                            int ignore_index = kIgnoreIndex);

}  // namespace lm::ops
