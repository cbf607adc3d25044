// CUDA cuBLASLt matmul (bias epilogue, fused GELU epilogue), its backward (accumulating, deterministic bias
// gradient) and the generic row-major GEMM with every transpose combination, vs kernels/ref, f32 and bf16.
#include "lm/kernels/cuda/matmul.h"

#include <gtest/gtest.h>

#include "cuda/cuda_test_util.h"
#include "lm/kernels/ref/gelu.h"
#include "lm/kernels/ref/matmul.h"

namespace lm::test {
namespace {

class CudaMatmul : public CudaDType {};

TEST_P(CudaMatmul, ForwardWithAndWithoutBias) {
  LM_REQUIRE_CUDA();
  const DType dt = GetParam();
  const int64_t N = 48, C = 64, OC = 40;
  auto inp = round_to(randn(N * C, 1), dt), w = round_to(randn(OC * C, 2, 0.1), dt), b = round_to(randn(OC, 3), dt);
  DevArray d_inp(inp, dt), d_w(w, dt), d_b(b, dt), d_out(N * OC, dt), d_out2(N * OC, dt);
  cuda::matmul_forward(dt, d_out.p(), d_inp.p(), d_w.p(), d_b.p(), N, C, OC);
  cuda::matmul_forward(dt, d_out2.p(), d_inp.p(), d_w.p(), nullptr, N, C, OC);
  std::vector<double> out(N * OC), out2(N * OC);
  ref::matmul_forward(out.data(), inp.data(), w.data(), b.data(), N, C, OC);
  ref::matmul_forward(out2.data(), inp.data(), w.data(), static_cast<const double*>(nullptr), N, C, OC);
  EXPECT_LE(rel_err(d_out.get(), out), fwd_tol(dt));
  EXPECT_LE(rel_err(d_out2.get(), out2), fwd_tol(dt));
}

TEST_P(CudaMatmul, FusedGeluEpilogue) {
  LM_REQUIRE_CUDA();
  const DType dt = GetParam();
  const int64_t N = 32, C = 64, OC = 128;
  auto inp = round_to(randn(N * C, 4), dt), w = round_to(randn(OC * C, 5, 0.1), dt), b = round_to(randn(OC, 6), dt);
  DevArray d_inp(inp, dt), d_w(w, dt), d_b(b, dt), d_out(N * OC, dt), d_pre(N * OC, dt);
  cuda::matmul_gelu_forward(dt, d_out.p(), d_pre.p(), d_inp.p(), d_w.p(), d_b.p(), N, C, OC);
  std::vector<double> pre(N * OC), out(N * OC);
  ref::matmul_forward(pre.data(), inp.data(), w.data(), b.data(), N, C, OC);
  ref::gelu_forward(out.data(), pre.data(), N * OC, /*tanh_form=*/true);
  EXPECT_LE(rel_err(d_pre.get(), pre), fwd_tol(dt));
  // cuBLASLt's GELU epilogue is the tanh approximation; its internal tanh may differ in the last bits.
  EXPECT_LE(rel_err(d_out.get(), out), dt == DType::BF16 ? fwd_tol(dt) : 1e-4);
}

TEST_P(CudaMatmul, BackwardAccumulates) {
  LM_REQUIRE_CUDA();
  const DType dt = GetParam();
  const int64_t N = 72, C = 48, OC = 56;
  auto inp = round_to(randn(N * C, 7), dt), w = round_to(randn(OC * C, 8, 0.1), dt), dout = round_to(randn(N * OC, 9), dt);
  auto dinp = round_to(randn(N * C, 10), dt), dw = round_to(randn(OC * C, 11), dt), db = round_to(randn(OC, 12), dt);
  DevArray d_inp(inp, dt), d_w(w, dt), d_dout(dout, dt), d_dinp(dinp, dt), d_dw(dw, dt), d_db(db, dt);
  cuda::matmul_backward(dt, d_dinp.p(), d_dw.p(), d_db.p(), d_dout.p(), d_inp.p(), d_w.p(), N, C, OC);
  ref::matmul_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  EXPECT_LE(rel_err(d_dinp.get(), dinp), grad_tol(dt));
  EXPECT_LE(rel_err(d_dw.get(), dw), grad_tol(dt));
  EXPECT_LE(rel_err(d_db.get(), db), grad_tol(dt));
  // Only dinp requested: the others stay untouched.
  DevArray d_dinp2(N * C, dt);
  cuda::matmul_backward(dt, d_dinp2.p(), nullptr, nullptr, d_dout.p(), d_inp.p(), d_w.p(), N, C, OC);
  std::vector<double> dinp2(N * C, 0.0);
  ref::matmul_backward(dinp2.data(), static_cast<double*>(nullptr), static_cast<double*>(nullptr), dout.data(),
                       inp.data(), w.data(), N, C, OC);
  EXPECT_LE(rel_err(d_dinp2.get(), dinp2), grad_tol(dt));
}

TEST_P(CudaMatmul, GemmAllTransposes) {
  LM_REQUIRE_CUDA();
  const DType dt = GetParam();
  const int64_t M = 24, N = 40, K = 32;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      auto a = round_to(randn(M * K, 20 + ta), dt), b = round_to(randn(K * N, 30 + tb), dt);
      auto c = round_to(randn(M * N, 40), dt);
      DevArray d_a(a, dt), d_b(b, dt), d_c(c, dt);
      const int64_t lda = ta ? M : K, ldb = tb ? K : N;
      cuda::gemm(dt, ta, tb, M, N, K, 0.5f, d_a.p(), lda, d_b.p(), ldb, 2.0f, d_c.p(), N);
      ref::gemm<double>(ta, tb, M, N, K, 0.5, a.data(), lda, b.data(), ldb, 2.0, c.data(), N);
      EXPECT_LE(rel_err(d_c.get(), c), fwd_tol(dt)) << "trans_a " << ta << " trans_b " << tb;
    }
}

INSTANTIATE_TEST_SUITE_P(DType, CudaMatmul, ::testing::Values(DType::F32, DType::BF16), dtype_param_name);

}  // namespace
}  // namespace lm::test
