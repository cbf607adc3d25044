// Row softmax over the last dimension (numerically stable, max-subtracted). Shapes: inp/out (N,D).
#pragma once

#include "lm/core/tensor.h"

namespace lm::ops {

void softmax_forward(Tensor out, Tensor inp);
// dinp += out * (dout - Σ dout*out)
void softmax_backward(Tensor dinp, Tensor dout, Tensor out);

}  // namespace lm::ops
