// LayerNorm kernels. Forward: one row per iteration, two-pass variance (mean first) for accuracy.
// Backward: dinp row-parallel; dw/db are column sums over rows, done with each thread owning a fixed column
// slice and walking rows in order, so they are bitwise independent of the thread count and need no scratch.
// Row loops are runtime ISA clones (AVX-512 on the target machines).
#include "lm/kernels/cpu/layernorm.h"

#include <omp.h>

#include <cmath>

#include "lm/kernels/cpu/parallel.h"
#include "lm/kernels/cpu/vec_math.h"

namespace lm::cpu {

namespace {

LM_CPU_CLONES void forward_row(float* y, float* mean, float* rstd, const float* x, const float* w,
                               const float* b, float eps, int64_t C) {
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
  *mean = m;
  *rstd = r;
}

// dx += rstd * (g - mean(g) - xhat * mean(g*xhat)), g = w*dy, xhat = (x-mean)*rstd.
LM_CPU_CLONES void backward_row(float* dx, const float* dy, const float* x, const float* w, float m, float r,
                                int64_t C) {
  float g_sum = 0.0f, gx_sum = 0.0f;
#pragma omp simd reduction(+ : g_sum, gx_sum)
  for (int64_t c = 0; c < C; ++c) {
    const float g = w[c] * dy[c];
    g_sum += g;
    gx_sum += g * (x[c] - m) * r;
  }
  const float g_mean = g_sum / static_cast<float>(C), gx_mean = gx_sum / static_cast<float>(C);
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) dx[c] += (w[c] * dy[c] - g_mean - (x[c] - m) * r * gx_mean) * r;
}

// dw[c0:c1] += Σ_n xhat*dy, db[c0:c1] += Σ_n dy, rows in order.
LM_CPU_CLONES void param_grad_columns(float* dw, float* db, const float* dout, const float* inp,
                                      const float* mean, const float* rstd, int64_t N, int64_t C, int64_t c0,
                                      int64_t c1) {
  for (int64_t n = 0; n < N; ++n) {
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

}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b,
                       float eps, int64_t N, int64_t C) {
  sync_thread_count();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) forward_row(out + n * C, mean + n, rstd + n, inp + n * C, w, b, eps, C);
}

void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                        const float* w, const float* mean, const float* rstd, int64_t N, int64_t C) {
  sync_thread_count();
#pragma omp parallel
  {
    // dinp and dw/db are disjoint outputs, hence nowait.
#pragma omp for schedule(static) nowait
    for (int64_t n = 0; n < N; ++n)
      backward_row(dinp + n * C, dout + n * C, inp + n * C, w, mean[n], rstd[n], C);
    int64_t c0, c1;
    static_chunk(C, omp_get_thread_num(), omp_get_num_threads(), 16, &c0, &c1);
    if (dw != nullptr && c0 < c1) param_grad_columns(dw, db, dout, inp, mean, rstd, N, C, c0, c1);
  }
}

}  // namespace lm::cpu
