// Fast fp32 AdamW step (torch.optim.AdamW semantics) over n parameters, plus Σ g² (double, thread-count
// independent) and x *= s. grad_scale multiplies every gradient as it is read (global-norm clipping folded into
// the update: one pass over the gradients fewer; bitwise the same as scaling them first). p, g, m, v are flat arrays of n floats.
#pragma once

#include <cstdint>

namespace lm::cpu {

void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                  float eps, float wd, int64_t step, float grad_scale = 1.0f);
double sum_squares(const float* x, int64_t n);
void scale_inplace(float* x, int64_t n, float s);

}  // namespace lm::cpu
