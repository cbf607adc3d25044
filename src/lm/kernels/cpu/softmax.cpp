// Row softmax kernels: rows in parallel, each row max / exp-sum / scale.
#include "lm/kernels/cpu/softmax.h"

#include <cmath>

namespace lm::cpu {

void softmax_row(float* out, const float* x, int64_t n) {
  float m = x[0];
  for (int64_t i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    float e = std::exp(x[i] - m);
    out[i] = e;
    s += e;
  }
  const float inv = 1.0f / s;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] *= inv;
}

void softmax_forward(float* out, const float* inp, int64_t N, int64_t D) {
  if (D == 0) return;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) softmax_row(out + n * D, inp + n * D, D);
}

void softmax_backward(float* dinp, const float* dout, const float* out, int64_t N, int64_t D) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* y = out + n * D;
    const float* dy = dout + n * D;
    float* dx = dinp + n * D;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t d = 0; d < D; ++d) dot += dy[d] * y[d];
#pragma omp simd
    for (int64_t d = 0; d < D; ++d) dx[d] += y[d] * (dy[d] - dot);
  }
}

}  // namespace lm::cpu
