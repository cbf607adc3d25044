// LayerNorm over the last dimension C (biased variance, as nn.LayerNorm):
//   out = (x - mean) * rstd * w + b,  rstd = 1/sqrt(var + eps).
// Shapes: inp/out (N,C) (any leading dims flattened), mean/rstd (N) saved for backward, w/b (C).
#pragma once

#include "lm/core/tensor.h"

namespace lm::ops {

void layernorm_forward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor w, Tensor b, float eps);
// Accumulates into dinp, dw, db. dw and db both undefined: dinp only (a frozen LayerNorm; CPU).
void layernorm_backward(Tensor dinp, Tensor dw, Tensor db, Tensor dout, Tensor inp, Tensor w, Tensor mean,
                        Tensor rstd);

}  // namespace lm::ops
