// Cross-entropy kernels. Per row: max, Σ exp(x - max) (float, vectorised: 16 partial sums, so the ~50k-term
// sum stays accurate to ~1e-6), loss = log(sum) + max - x[target]. Backward reads each logit before writing
// the same index, which is what makes the in-place (dlogits == logits) form safe. Row loops are runtime ISA
// clones using exp_approx (libm expf would keep them scalar).
#include "lm/kernels/cpu/cross_entropy.h"

#include <cmath>

#include "lm/kernels/cpu/parallel.h"
#include "lm/kernels/cpu/vec_math.h"

namespace lm::cpu {

namespace {

LM_CPU_CLONES void row_max_expsum(const float* x, int64_t V, float* max_out, float* sum_out) {
  float m = x[0];
#pragma omp simd reduction(max : m)
  for (int64_t v = 1; v < V; ++v) m = x[v] > m ? x[v] : m;
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t v = 0; v < V; ++v) s += exp_approx(x[v] - m);
  *max_out = m;
  *sum_out = s;
}

// dx may alias x: each element is read, then written, at the same index.
LM_CPU_CLONES void row_softmax_scaled(float* dx, const float* x, int64_t V, float m, float k) {
#pragma omp simd
  for (int64_t v = 0; v < V; ++v) dx[v] = exp_approx(x[v] - m) * k;
}

}  // namespace

int64_t cross_entropy_forward(float* losses, const float* logits, const int32_t* targets, int ignore_index,
                              int64_t N, int64_t V, float* row_stats) {
  sync_thread_count();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    if (targets[n] == ignore_index) {
      losses[n] = 0.0f;
      continue;
    }
    const float* x = logits + n * V;
    float m, s;
    row_max_expsum(x, V, &m, &s);
    losses[n] = std::log(s) + m - x[targets[n]];
    if (row_stats) {
      row_stats[2 * n] = m;
      row_stats[2 * n + 1] = s;
    }
  }
  int64_t count = 0;
  for (int64_t n = 0; n < N; ++n) count += targets[n] != ignore_index;
  return count;
}

void cross_entropy_backward(float* dlogits, const float* logits, const int32_t* targets, float dloss,
                            int ignore_index, int64_t N, int64_t V, const float* row_stats) {
  sync_thread_count();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = logits + n * V;
    float* dx = dlogits + n * V;
    if (targets[n] == ignore_index) {
      for (int64_t v = 0; v < V; ++v) dx[v] = 0.0f;
      continue;
    }
    float m, s;
    if (row_stats) {
      m = row_stats[2 * n];
      s = row_stats[2 * n + 1];
    } else {
      row_max_expsum(x, V, &m, &s);
    }
    row_softmax_scaled(dx, x, V, m, dloss / s);
    dx[targets[n]] -= dloss;
  }
}

}  // namespace lm::cpu
