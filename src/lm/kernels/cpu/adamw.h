// Fast fp32 AdamW step (torch.optim.AdamW semantics) over n parameters, plus Σ g² (double, thread-count
// independent) and x *= s for gradient clipping. p, g, m, v are flat arrays of n floats.
#pragma once

#include <cstdint>

namespace lm::cpu {

void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                  float eps, float wd, int64_t step);
double sum_squares(const float* x, int64_t n);
void scale_inplace(float* x, int64_t n, float s);

}  // namespace lm::cpu
