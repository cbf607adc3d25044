// nn::LayerNorm over the layernorm op, with its profiling scope.
#include "lm/nn/layernorm.h"

#include "lm/core/profile.h"
#include "lm/ops/layernorm.h"

namespace lm::nn {

void layernorm_forward(const LayerNorm& p, Tensor out, const LayerNormStats& s, Tensor inp, float eps) {
  prof::Scope ps(prof::Op::LayerNorm);
  ops::layernorm_forward(out, s.mean, s.rstd, inp, p.w, p.b, eps);
}

void layernorm_backward(const LayerNorm& p, const LayerNorm& g, Tensor dinp, Tensor dout, const LayerNormStats& s,
                        Tensor inp) {
  prof::Scope ps(prof::Op::LayerNorm);
  ops::layernorm_backward(dinp, g.w, g.b, dout, inp, p.w, s.mean, s.rstd);
}

}  // namespace lm::nn
