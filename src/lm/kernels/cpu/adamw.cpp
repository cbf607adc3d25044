// AdamW in torch's order of operations: p *= 1 - lr*wd; m, v moment updates; denom = sqrt(v)/sqrt(bc2) + eps;
// p -= (lr/bc1) * m / denom. Bias corrections are computed once in double.
// sum_squares sums fixed blocks of kSumBlock elements (double) and then the block sums in index order, so the
// result does not depend on the thread count at all.
#include "lm/kernels/cpu/adamw.h"

#include <cmath>
#include <vector>

#include "lm/kernels/cpu/parallel.h"

namespace lm::cpu {

namespace {
constexpr int64_t kSumBlock = 1 << 14;
}

void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                  float eps, float wd, int64_t step, float grad_scale) {
  sync_thread_count();
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  const float step_size = static_cast<float>(lr / bc1);
  const float sqrt_bc2 = static_cast<float>(std::sqrt(bc2));
  const float decay = 1.0f - lr * wd;
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    float gi = g[i] * grad_scale;  // exact when grad_scale == 1
    float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step_size * mi / (std::sqrt(vi) / sqrt_bc2 + eps);
  }
}

double sum_squares(const float* x, int64_t n) {
  sync_thread_count();
  const int64_t nblocks = (n + kSumBlock - 1) / kSumBlock;
  std::vector<double> partial(static_cast<size_t>(nblocks));
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < nblocks; ++blk) {
    const int64_t b = blk * kSumBlock, e = b + kSumBlock < n ? b + kSumBlock : n;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = b; i < e; ++i) s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
    partial[static_cast<size_t>(blk)] = s;
  }
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

void scale_inplace(float* x, int64_t n, float s) {
  sync_thread_count();
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

}  // namespace lm::cpu
