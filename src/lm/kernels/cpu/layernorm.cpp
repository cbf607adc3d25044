// LayerNorm kernels. Forward: one row per iteration, two-pass variance (mean first) for accuracy.
// Backward: dinp row-parallel; dw/db are column sums over rows, done with each thread owning a fixed column
// slice and walking rows in order, so they are bitwise independent of the thread count and need no scratch.
#include "lm/kernels/cpu/layernorm.h"

#include <omp.h>

#include <cmath>

#include "lm/kernels/cpu/parallel.h"

namespace lm::cpu {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b,
                       float eps, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;
    float* y = out + n * C;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < C; ++c) s += x[c];
    const float m = s / static_cast<float>(C);
    float v = 0.0f;
#pragma omp simd reduction(+ : v)
    for (int64_t c = 0; c < C; ++c) v += (x[c] - m) * (x[c] - m);
    const float r = 1.0f / std::sqrt(v / static_cast<float>(C) + eps);
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) y[c] = (x[c] - m) * r * w[c] + b[c];
    mean[n] = m;
    rstd[n] = r;
  }
}

void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp, const float* w,
                        const float* mean, const float* rstd, int64_t N, int64_t C) {
  const float inv_c = 1.0f / static_cast<float>(C);
#pragma omp parallel
  {
#pragma omp for schedule(static) nowait
    for (int64_t n = 0; n < N; ++n) {
      const float* x = inp + n * C;
      const float* dy = dout + n * C;
      float* dx = dinp + n * C;
      const float m = mean[n], r = rstd[n];
      float g_sum = 0.0f, gx_sum = 0.0f;
#pragma omp simd reduction(+ : g_sum, gx_sum)
      for (int64_t c = 0; c < C; ++c) {
        float g = w[c] * dy[c];
        g_sum += g;
        gx_sum += g * (x[c] - m) * r;
      }
      const float g_mean = g_sum * inv_c, gx_mean = gx_sum * inv_c;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) dx[c] += (w[c] * dy[c] - g_mean - (x[c] - m) * r * gx_mean) * r;
    }
    // dinp and dw/db are disjoint outputs, hence nowait above.
    int64_t c0, c1;
    static_chunk(C, omp_get_thread_num(), omp_get_num_threads(), 16, &c0, &c1);
    for (int64_t n = 0; n < N && c0 < c1; ++n) {
      const float* x = inp + n * C;
      const float* dy = dout + n * C;
      const float m = mean[n], r = rstd[n];
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) {
        dw[c] += (x[c] - m) * r * dy[c];
        db[c] += dy[c];
      }
    }
  }
}

}  // namespace lm::cpu
