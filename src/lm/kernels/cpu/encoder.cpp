// Embedding kernels. Forward is parallel over rows. Backward scatters rows into tables: to stay deterministic
// without atomics each thread owns a fixed slice of the C columns and walks all rows in order, so every table
// element is summed in row order whatever the thread count.
#include "lm/kernels/cpu/encoder.h"

#include <omp.h>

#include "lm/kernels/cpu/parallel.h"
#include "lm/kernels/ref/encoder.h"

namespace lm::cpu {

void encoder_forward(float* out, const int32_t* ids, const float* wte, const float* wpe, int64_t pos_offset,
                     const int32_t* pos, int64_t B, int64_t T, int64_t C) {
  sync_thread_count();
#pragma omp parallel for schedule(static)
  for (int64_t bt = 0; bt < B * T; ++bt) {
    const float* we = wte + static_cast<int64_t>(ids[bt]) * C;
    const float* pe = wpe + ref::encoder_position(pos, pos_offset, bt, bt % T) * C;
    float* o = out + bt * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) o[c] = we[c] + pe[c];
  }
}

void encoder_backward(float* dwte, float* dwpe, const float* dout, const int32_t* ids, int64_t pos_offset,
                      const int32_t* pos, int64_t B, int64_t T, int64_t C) {
  sync_thread_count();
#pragma omp parallel
  {
    int64_t c0, c1;
    static_chunk(C, omp_get_thread_num(), omp_get_num_threads(), 16, &c0, &c1);
    for (int64_t bt = 0; bt < B * T && c0 < c1; ++bt) {
      const float* d = dout + bt * C;
      float* dwe = dwte + static_cast<int64_t>(ids[bt]) * C;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) dwe[c] += d[c];
      if (dwpe) {
        float* dpe = dwpe + ref::encoder_position(pos, pos_offset, bt, bt % T) * C;
#pragma omp simd
        for (int64_t c = c0; c < c1; ++c) dpe[c] += d[c];
      }
    }
  }
}

void embedding_add_forward(float* out, const int32_t* ids, const float* table, int64_t N, int64_t C) {
  sync_thread_count();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* e = table + static_cast<int64_t>(ids[n]) * C;
    float* o = out + n * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) o[c] += e[c];
  }
}

void embedding_add_backward(float* dtable, const float* dout, const int32_t* ids, int64_t N, int64_t C) {
  sync_thread_count();
#pragma omp parallel
  {
    int64_t c0, c1;
    static_chunk(C, omp_get_thread_num(), omp_get_num_threads(), 16, &c0, &c1);
    for (int64_t n = 0; n < N && c0 < c1; ++n) {
      const float* d = dout + n * C;
      float* dt = dtable + static_cast<int64_t>(ids[n]) * C;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) dt[c] += d[c];
    }
  }
}

}  // namespace lm::cpu
