// Σ g² of a tensor in double, with a fixed partition of the work so the result is bitwise reproducible for a
// given thread count (gradient norms). Shapes: g (n), f32 (or bf16 on cuda).
#pragma once

#include "lm/core/tensor.h"

namespace lm::ops {

double sum_squares(Tensor g);

}  // namespace lm::ops
