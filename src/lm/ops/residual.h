// Residual add: out = a + b (same shape). Backward accumulates dout into both da and db.
#pragma once

#include "lm/core/tensor.h"

namespace lm::ops {

void residual_forward(Tensor out, Tensor a, Tensor b);
void residual_backward(Tensor da, Tensor db, Tensor dout);

}  // namespace lm::ops
