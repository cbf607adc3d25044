// Softmax cross-entropy over the vocabulary with ignore_index (targets == ignore_index contribute nothing).
// Shapes: logits (N,V) f32, targets (N) i32, losses (N) f32 (0 where ignored).
#pragma once

#include <cstdint>

#include "lm/core/tensor.h"

namespace lm::ops {

constexpr int kIgnoreIndex = -100;

// Per-row loss; returns the number of non-ignored targets. Targets outside [0,V) other than ignore_index throw.
// row_stats (N,2) f32, optional: receives each row's max and Σ exp(x - max) for the backward (CPU; on other
// devices it is left alone and the backward recomputes).
int64_t cross_entropy_forward(Tensor losses, Tensor logits, Tensor targets, int ignore_index = kIgnoreIndex,
                              Tensor row_stats = {});
// dlogits = (softmax(logits) - onehot(target)) * dloss for non-ignored rows, 0 for ignored rows (overwrites,
// does not accumulate: it is the start of the backward pass). dlogits may alias logits (fused, in place).
// row_stats: the forward's, for these logits (saves one read of the logits); undefined recomputes them.
void cross_entropy_backward(Tensor dlogits, Tensor logits, Tensor targets, float dloss,
                            int ignore_index = kIgnoreIndex, Tensor row_stats = {});

}  // namespace lm::ops
