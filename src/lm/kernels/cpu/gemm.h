// The one fp32 GEMM of the CPU backend, over oneDNN's dnnl_sgemm (row-major):
//   C (M,N) = alpha * op(A) · op(B) + beta * C, op(A) (M,K) stored (M,lda) or (K,lda) when trans_a.
// oneDNN runs on OpenMP, so it uses the team size set by lm::set_num_threads; called inside a parallel region
// it runs on the calling thread only.
#pragma once

#include <cstdint>

namespace lm::cpu {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace lm::cpu
