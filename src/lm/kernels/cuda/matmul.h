// CUDA linear layer and GEMM on cuBLASLt, fp32 accumulation (CUBLAS_COMPUTE_32F: no TF32 in f32 mode, so f32 is
// exact to fp32 rounding; bf16 inputs/outputs with fp32 accumulation in bf16 mode).
// matmul: out (N,OC) = inp (N,C) · weight (OC,C)ᵀ + bias (OC, may be null), optionally with the GELU (tanh form,
// HF gelu_new) fused into the epilogue: then pre_gelu (N,OC) receives the GEMM + bias result and out its GELU.
// gemm: C (M,N) = alpha * op(A) · op(B) + beta * C, row-major, A (M,K) or (K,M) if trans_a, B (K,N) or (N,K).
// All of dtype dt (f32|bf16); device pointers.
#pragma once

#include <cstdint>

#include "lm/core/dtype.h"

namespace lm::cuda {

void matmul_forward(DType dt, void* out, const void* inp, const void* weight, const void* bias, int64_t N,
                    int64_t C, int64_t OC);
void matmul_gelu_forward(DType dt, void* out, void* pre_gelu, const void* inp, const void* weight, const void* bias,
                         int64_t N, int64_t C, int64_t OC);
// dinp += dout · W, dweight += doutᵀ · inp, dbias += Σ_n dout (deterministic); any output may be null.
void matmul_backward(DType dt, void* dinp, void* dweight, void* dbias, const void* dout, const void* inp,
                     const void* weight, int64_t N, int64_t C, int64_t OC, bool overwrite_dinp = false,
                     bool overwrite_dweight = false);
void gemm(DType dt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const void* A,
          int64_t lda, const void* B, int64_t ldb, float beta, void* C, int64_t ldc);

}  // namespace lm::cuda
