// Tensor-level tanh, elementwise on any shape (the BERT pooler activation). Backward reads the saved output.
#pragma once

#include "lm/core/tensor.h"

namespace lm::ops {

void tanh_forward(Tensor out, Tensor inp);
// Accumulates dinp += dout * (1 - out^2).
void tanh_backward(Tensor dinp, Tensor dout, Tensor out);

}  // namespace lm::ops
