// Reference linear layer and GEMM, templated over float|double.
// matmul: out (N,OC) = inp (N,C) · weight (OC,C)ᵀ + bias (OC, may be null).
// gemm: C (M,N) = alpha * op(A) · op(B) + beta * C, row-major, A (M,K) or (K,M) if trans_a, B (K,N) or (N,K).
#pragma once

#include <cstdint>

namespace lm::ref {

template <typename F>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, F alpha, const F* A, int64_t lda,
          const F* B, int64_t ldb, F beta, F* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      F s = 0;
      for (int64_t k = 0; k < K; ++k) {
        F a = trans_a ? A[k * lda + i] : A[i * lda + k];
        F b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        s += a * b;
      }
      // beta == 0 must not read C (it may be uninitialised), as BLAS specifies.
      C[i * ldc + j] = alpha * s + (beta == F(0) ? F(0) : beta * C[i * ldc + j]);
    }
}

template <typename F>
void matmul_forward(F* out, const F* inp, const F* weight, const F* bias, int64_t N, int64_t C, int64_t OC) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OC; ++o) {
      F s = bias ? bias[o] : F(0);
      for (int64_t c = 0; c < C; ++c) s += inp[n * C + c] * weight[o * C + c];
      out[n * OC + o] = s;
    }
}

// dinp += dout · W, dweight += doutᵀ · inp, dbias += Σ_n dout; any output pointer may be null.
template <typename F>
void matmul_backward(F* dinp, F* dweight, F* dbias, const F* dout, const F* inp, const F* weight, int64_t N,
                     int64_t C, int64_t OC) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OC; ++o) {
      F d = dout[n * OC + o];
      for (int64_t c = 0; c < C; ++c) {
        if (dinp) dinp[n * C + c] += d * weight[o * C + c];
        if (dweight) dweight[o * C + c] += d * inp[n * C + c];
      }
      if (dbias) dbias[o] += d;
    }
}

}  // namespace lm::ref
