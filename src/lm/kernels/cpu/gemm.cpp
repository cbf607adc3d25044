// dnnl_sgemm wrapper. oneDNN (2.6, OpenMP runtime) measured 180-280 GFLOP/s on 2 threads here vs 35-50 for
// the installed OpenBLAS, hence the choice. oneDNN's sgemm is deterministic for a fixed thread count.
#include "lm/kernels/cpu/gemm.h"

#include <oneapi/dnnl/dnnl.h>

#include "lm/core/error.h"
#include "lm/kernels/cpu/parallel.h"

namespace lm::cpu {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  sync_thread_count();
  if (M == 0 || N == 0) return;
  if (K == 0) {
    // Degenerate product: C = beta * C (beta == 0 must not read C).
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  dnnl_status_t st =
      dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  LM_CHECK_AS(ErrorCode::Internal, st == dnnl_success, "dnnl_sgemm failed with status {} (M={} N={} K={})",
              static_cast<int>(st), M, N, K);
}

}  // namespace lm::cpu
