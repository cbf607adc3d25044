// Row softmax kernels: rows in parallel; each row max / exp-sum / scale in vectorised loops (runtime ISA
// clones, exp_approx).
#include "lm/kernels/cpu/softmax.h"

#include "lm/kernels/cpu/parallel.h"
#include "lm/kernels/cpu/vec_math.h"

namespace lm::cpu {

LM_CPU_CLONES void softmax_row(float* out, const float* x, int64_t n) {
  float m = x[0];
#pragma omp simd reduction(max : m)
  for (int64_t i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) {
    const float e = exp_approx(x[i] - m);
    out[i] = e;
    s += e;
  }
  const float inv = 1.0f / s;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] *= inv;
}

namespace {
LM_CPU_CLONES void softmax_backward_row(float* dx, const float* dy, const float* y, int64_t D) {
  float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
  for (int64_t d = 0; d < D; ++d) dot += dy[d] * y[d];
#pragma omp simd
  for (int64_t d = 0; d < D; ++d) dx[d] += y[d] * (dy[d] - dot);
}
}  // namespace

void softmax_forward(float* out, const float* inp, int64_t N, int64_t D) {
  sync_thread_count();
  if (D == 0) return;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) softmax_row(out + n * D, inp + n * D, D);
}

void softmax_backward(float* dinp, const float* dout, const float* out, int64_t N, int64_t D) {
  sync_thread_count();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) softmax_backward_row(dinp + n * D, dout + n * D, out + n * D, D);
}

}  // namespace lm::cpu
