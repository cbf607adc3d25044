// cuBLASLt GEMMs. Row-major X (r,c) is column-major Xᵀ (c,r) with the same leading dimension, so a row-major
// product C = op(A)·op(B) is the column-major product Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands, keep the flags.
#include "lm/kernels/cuda/common.cuh"
#include "lm/kernels/cuda/gelu.h"
#include "lm/kernels/cuda/matmul.h"

namespace lm::cuda {

namespace {

cudaDataType_t cuda_type(DType dt) { return dt == DType::BF16 ? CUDA_R_16BF : CUDA_R_32F; }

// RAII for the cuBLASLt descriptors of one call.
struct LtDescs {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~LtDescs() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

// Column-major D (m,n) = alpha * op(A) · op(B) + beta * D, with an optional epilogue: bias (m) added per row of D,
// GELU applied after it, and the pre-GELU values stored to aux (ld m). Returns false (nothing launched) when
// cuBLASLt offers no algorithm for this combination.
bool try_lt_matmul(DType dt, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const void* A,
               int64_t lda, const void* B, int64_t ldb, float beta, void* D, int64_t ldd, const void* bias,
               bool gelu, void* aux) {
  if (m == 0 || n == 0) return true;
  const cudaDataType_t ty = cuda_type(dt);
  LtDescs d;
  LM_CUBLAS_CHECK(cublasLtMatmulDescCreate(&d.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, tb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  LM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  LM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
  if (gelu)
    epi = bias ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_AUX;
  else if (bias)
    epi = CUBLASLT_EPILOGUE_BIAS;
  LM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
  if (bias) {
    // The bias has D's type (bf16 in bf16 mode), which is cuBLASLt's default for non-fp8 GEMMs; set it explicitly.
    LM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &ty, sizeof(ty)));
    LM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  }
  if (gelu) {
    const int64_t aux_ld = m;
    LM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof(aux)));
    LM_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &aux_ld, sizeof(aux_ld)));
  }
  // Layouts describe the stored matrices (before op): A is (m,k) or (k,m) when transposed.
  LM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.a, ty, trans_a ? k : m, trans_a ? m : k, lda));
  LM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.b, ty, trans_b ? n : k, trans_b ? k : n, ldb));
  LM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.c, ty, m, n, ldd));
  LM_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&d.pref));
  const size_t ws = kCublasLtWorkspaceBytes;
  LM_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(d.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                                       sizeof(ws)));
  cublasLtMatmulHeuristicResult_t heur;
  int found = 0;
  LM_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(cublaslt(), d.op, d.a, d.b, d.c, d.c, d.pref, 1, &heur, &found));
  if (found == 0) return false;
  LM_CUBLAS_CHECK(cublasLtMatmul(cublaslt(), d.op, &alpha, A, d.a, B, d.b, &beta, D, d.c, D, d.c, &heur.algo,
                                 cublaslt_workspace(), ws, stream()));
  return true;
}

void lt_matmul(DType dt, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const void* A,
               int64_t lda, const void* B, int64_t ldb, float beta, void* D, int64_t ldd, const void* bias) {
  LM_CHECK_AS(ErrorCode::Unsupported,
              try_lt_matmul(dt, trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, D, ldd, bias, false, nullptr),
              "cuBLASLt has no algorithm for a {} GEMM m={} n={} k={} (lda {} ldb {} ldc {}, bias {})",
              dtype_name(dt), m, n, k, lda, ldb, ldd, bias != nullptr);
}

void check_dt(DType dt, const char* op) {
  LM_CHECK_AS(ErrorCode::Unsupported, dt == DType::F32 || dt == DType::BF16, "{}: CUDA GEMMs take f32 or bf16, got {}",
              op, dtype_name(dt));
}

}  // namespace

void matmul_forward(DType dt, void* out, const void* inp, const void* weight, const void* bias, int64_t N,
                    int64_t C, int64_t OC) {
  check_dt(dt, "matmul_forward");
  // outᵀ (OC,N) = Wᵀᵀ · inpᵀ: W stored col-major as (C,OC) -> op T; inp stored col-major as (C,N) -> op N.
  lt_matmul(dt, true, false, OC, N, C, 1.0f, weight, C, inp, C, 0.0f, out, OC, bias);
}

void matmul_gelu_forward(DType dt, void* out, void* pre_gelu, const void* inp, const void* weight, const void* bias,
                         int64_t N, int64_t C, int64_t OC) {
  check_dt(dt, "matmul_gelu_forward");
  if (try_lt_matmul(dt, true, false, OC, N, C, 1.0f, weight, C, inp, C, 0.0f, out, OC, bias, true, pre_gelu)) return;
  // No fused-epilogue algorithm for this shape/type: GEMM + bias into pre_gelu, then the GELU kernel.
  lt_matmul(dt, true, false, OC, N, C, 1.0f, weight, C, inp, C, 0.0f, pre_gelu, OC, bias);
  gelu_forward(dt, out, pre_gelu, N * OC, /*tanh_form=*/true);
}

void matmul_backward(DType dt, void* dinp, void* dweight, void* dbias, const void* dout, const void* inp,
                     const void* weight, int64_t N, int64_t C, int64_t OC, bool overwrite_dinp,
                     bool overwrite_dweight) {
  check_dt(dt, "matmul_backward");
  // dinpᵀ (C,N) (+)= W (C,OC col-major) · doutᵀ (OC,N col-major); beta 0 overwrites without reading dinp.
  if (dinp)
    lt_matmul(dt, false, false, C, N, OC, 1.0f, weight, C, dout, OC, overwrite_dinp ? 0.0f : 1.0f, dinp, C, nullptr);
  // dweightᵀ (C,OC) (+)= inpᵀ (C,N) · dout (N,OC) where dout is stored col-major as (OC,N) -> op T.
  if (dweight)
    lt_matmul(dt, false, true, C, OC, N, 1.0f, inp, C, dout, OC, overwrite_dweight ? 0.0f : 1.0f, dweight, C, nullptr);
  if (dbias && overwrite_dweight)  // the bias gradient follows the weight's mode: start the column sums from zero
    LM_CUDA_CHECK(cudaMemsetAsync(dbias, 0, static_cast<size_t>(OC) * (dt == DType::BF16 ? 2 : 4), stream()));
  if (dbias && N > 0) {
    dispatch_float(dt, "matmul_backward", [&](auto tag) {
      using E = decltype(tag);
      float* partial = static_cast<float*>(scratch(col_sum_scratch_floats(OC) * sizeof(float)));
      col_sum_accumulate<E>(static_cast<E*>(dbias), static_cast<const E*>(dout), N, OC, partial);
    });
  }
}

void gemm(DType dt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const void* A,
          int64_t lda, const void* B, int64_t ldb, float beta, void* C, int64_t ldc) {
  check_dt(dt, "gemm");
  lt_matmul(dt, trans_b, trans_a, N, M, K, alpha, B, ldb, A, lda, beta, C, ldc, nullptr);
}

}  // namespace lm::cuda
