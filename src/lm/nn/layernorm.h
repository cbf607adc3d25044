// nn::LayerNorm — y = (x - mean) · rstd · w + b over the last dim C; the per-row mean and rstd are saved for
// backward (and for recomputing y there instead of storing it). Shapes: x, y (..., C); stats (...) f32.
#pragma once

#include "lm/core/tensor.h"

namespace lm::nn {

struct LayerNorm {
  Tensor w, b;  // (C), (C)
};

struct LayerNormStats {
  Tensor mean, rstd;  // (N) each, N = the rows of x
  LayerNormStats rows(int64_t B) const { return {mean.slice0(0, B), rstd.slice0(0, B)}; }
};

// Op::LayerNorm.
void layernorm_forward(const LayerNorm& p, Tensor out, const LayerNormStats& s, Tensor inp, float eps);
// dinp += dy·∂y/∂x; g.w, g.b += their gradients (zero them first where they must be overwritten).
void layernorm_backward(const LayerNorm& p, const LayerNorm& g, Tensor dinp, Tensor dout, const LayerNormStats& s,
                        Tensor inp);

}  // namespace lm::nn
