// CUDA LayerNorm forward (plain and with the fused residual add) and backward vs kernels/ref, f32 and bf16.
// Gradients start non-zero to check accumulation; C = 50 is not a multiple of the warp size.
#include "lm/kernels/cuda/layernorm.h"

#include <gtest/gtest.h>

#include "cuda/cuda_test_util.h"
#include "lm/kernels/ref/layernorm.h"

namespace lm::test {
namespace {

class CudaLayerNorm : public CudaDType {};

TEST_P(CudaLayerNorm, ForwardBackwardMatchRef) {
  LM_REQUIRE_CUDA();
  const DType dt = GetParam();
  const int64_t N = 37, C = 50;
  auto x = round_to(randn(N * C, 1, 2.0), dt), w = round_to(randn(C, 2), dt), b = round_to(randn(C, 3), dt);
  auto dout = round_to(randn(N * C, 4), dt), dinp = round_to(randn(N * C, 5), dt);
  auto dw = round_to(randn(C, 6), dt), db = round_to(randn(C, 7), dt);
  DevArray d_x(x, dt), d_w(w, dt), d_b(b, dt), d_out(N * C, dt), d_mean(N, DType::F32), d_rstd(N, DType::F32),
      d_dout(dout, dt), d_dinp(dinp, dt), d_dw(dw, dt), d_db(db, dt);
  cuda::layernorm_forward(dt, d_out.p(), d_mean.f32(), d_rstd.f32(), d_x.p(), d_w.p(), d_b.p(), 1e-5f, N, C);
  cuda::layernorm_backward(dt, d_dinp.p(), d_dw.p(), d_db.p(), d_dout.p(), d_x.p(), d_w.p(), d_mean.f32(),
                           d_rstd.f32(), N, C);
  std::vector<double> out(N * C), mean(N), rstd(N);
  ref::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), 1e-5, N, C);
  ref::layernorm_backward(dinp.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), mean.data(),
                          rstd.data(), N, C);
  EXPECT_LE(rel_err(d_out.get(), out), fwd_tol(dt));
  EXPECT_LE(rel_err(d_mean.get(), mean), 1e-5);
  EXPECT_LE(rel_err(d_rstd.get(), rstd), 1e-5);
  EXPECT_LE(rel_err(d_dinp.get(), dinp), grad_tol(dt));
  EXPECT_LE(rel_err(d_dw.get(), dw), grad_tol(dt));
  EXPECT_LE(rel_err(d_db.get(), db), grad_tol(dt));
}

TEST_P(CudaLayerNorm, FusedResidualForwardMatchesRef) {
  LM_REQUIRE_CUDA();
  const DType dt = GetParam();
  const int64_t N = 29, C = 96;
  auto a = round_to(randn(N * C, 11), dt), bb = round_to(randn(N * C, 12), dt);
  auto w = round_to(randn(C, 13), dt), b = round_to(randn(C, 14), dt);
  DevArray d_a(a, dt), d_bb(bb, dt), d_w(w, dt), d_b(b, dt), d_res(N * C, dt), d_out(N * C, dt),
      d_mean(N, DType::F32), d_rstd(N, DType::F32);
  cuda::fused_residual_layernorm_forward(dt, d_res.p(), d_out.p(), d_mean.f32(), d_rstd.f32(), d_a.p(), d_bb.p(),
                                         d_w.p(), d_b.p(), 1e-5f, N, C);
  std::vector<double> res(N * C), out(N * C), mean(N), rstd(N);
  for (int64_t i = 0; i < N * C; ++i) res[i] = round_to(a[i] + bb[i], dt);  // the stored residual
  ref::layernorm_forward(out.data(), mean.data(), rstd.data(), res.data(), w.data(), b.data(), 1e-5, N, C);
  EXPECT_LE(rel_err(d_res.get(), res), dt == DType::BF16 ? 0.0 : 1e-7);  // one rounding of an exact fp32 sum
  EXPECT_LE(rel_err(d_out.get(), out), fwd_tol(dt));
  EXPECT_LE(rel_err(d_rstd.get(), rstd), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(DType, CudaLayerNorm, ::testing::Values(DType::F32, DType::BF16), dtype_param_name);

}  // namespace
}  // namespace lm::test
