// Linear layer over sgemm. The bias is written into out first and the GEMM accumulates onto it (beta = 1),
// which saves a second pass over out. dbias is a column sum: each thread owns a fixed column slice and walks
// rows in order (deterministic, thread-count independent).
#include "lm/kernels/cpu/matmul.h"

#include <omp.h>

#include <cstring>

#include "lm/kernels/cpu/gemm.h"
#include "lm/kernels/cpu/parallel.h"

namespace lm::cpu {

void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N,
                    int64_t C, int64_t OC) {
  sync_thread_count();
  if (bias) {
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; ++n) std::memcpy(out + n * OC, bias, static_cast<size_t>(OC) * sizeof(float));
  }
  sgemm(false, true, N, OC, C, 1.0f, inp, C, weight, C, bias ? 1.0f : 0.0f, out, OC);
}

void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int64_t N, int64_t C, int64_t OC, bool overwrite_dinp,
                     bool overwrite_dweight) {
  sync_thread_count();
  if (dinp) sgemm(false, false, N, C, OC, 1.0f, dout, OC, weight, C, overwrite_dinp ? 0.0f : 1.0f, dinp, C);
  if (dweight) sgemm(true, false, OC, C, N, 1.0f, dout, OC, inp, C, overwrite_dweight ? 0.0f : 1.0f, dweight, C);
  if (dbias) {
#pragma omp parallel
    {
      int64_t o0, o1;
      static_chunk(OC, omp_get_thread_num(), omp_get_num_threads(), 16, &o0, &o1);
      if (overwrite_dweight)
        for (int64_t o = o0; o < o1; ++o) dbias[o] = 0.0f;
      for (int64_t n = 0; n < N && o0 < o1; ++n) {
        const float* d = dout + n * OC;
#pragma omp simd
        for (int64_t o = o0; o < o1; ++o) dbias[o] += d[o];
      }
    }
  }
}

}  // namespace lm::cpu
