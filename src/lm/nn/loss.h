// nn cross-entropy loss: per-row softmax cross-entropy of logits against integer targets (ignore_index rows do
// not count), reduced to the mean over counted rows in double, in row order (deterministic, and the same on any
// device: device losses are read through a host copy). Shapes: logits (N,V), targets (N) i32, losses (N).
#pragma once

#include <cstdint>

#include "lm/core/tensor.h"
#include "lm/ops/cross_entropy.h"

namespace lm::nn {

struct LossActs {
  Tensor losses;  // (N) per-row losses
  Tensor stats;   // (N,2) per-row max and Σexp kept for backward, or undefined (backward recomputes them)
  LossActs rows(int64_t n) const { return {losses.slice0(0, n), stats.defined() ? stats.slice0(0, n) : Tensor()}; }
};

struct LossResult {
  float mean;     // NaN when no row counted
  int64_t count;  // rows whose target is not ignore_index
};

// Op::LmHead.
LossResult cross_entropy_forward(const LossActs& a, Tensor logits, Tensor targets,
                                 int ignore_index = ops::kIgnoreIndex);
// The logits buffer becomes d logits in place: dlogits = (softmax - onehot) · dloss on counted rows, 0 elsewhere.
void cross_entropy_backward(const LossActs& a, Tensor logits, Tensor targets, float dloss,
                            int ignore_index = ops::kIgnoreIndex);
// Σ losses[0..n) / count in double, NaN for count 0.
float mean_loss(Tensor losses, int64_t count);

}  // namespace lm::nn
