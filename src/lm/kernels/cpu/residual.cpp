// Residual add kernels: memory-bound elementwise loops, static chunks.
#include "lm/kernels/cpu/residual.h"

#include "lm/kernels/cpu/parallel.h"

namespace lm::cpu {

void residual_forward(float* out, const float* a, const float* b, int64_t n) {
  sync_thread_count();
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void residual_backward(float* da, float* db, const float* dout, int64_t n) {
  sync_thread_count();
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    da[i] += dout[i];
    db[i] += dout[i];
  }
}

}  // namespace lm::cpu
