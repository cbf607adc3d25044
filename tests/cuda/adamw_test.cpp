// CUDA AdamW (fp32 master + optional bf16 copy, gradient scale for clipping) vs kernels/ref over several steps, and
// the deterministic sum of squares (bitwise equal across runs), scaling and dtype conversion.
#include "lm/kernels/cuda/adamw.h"

#include <gtest/gtest.h>

#include "cuda/cuda_test_util.h"
#include "lm/kernels/cuda/convert.h"
#include "lm/kernels/cuda/global_norm.h"
#include "lm/kernels/ref/adamw.h"

namespace lm::test {
namespace {

class CudaAdamW : public CudaDType {};

// GetParam() is the gradient / parameter-copy dtype.
TEST_P(CudaAdamW, MatchesRefWithMasterWeights) {
  LM_REQUIRE_CUDA();
  const DType dt = GetParam();
  const int64_t n = 5003;
  const double lr = 1e-2, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1, gscale = 0.5;
  auto p = round_to(randn(n, 1), DType::F32);
  std::vector<double> m(n, 0.0), v(n, 0.0);
  DevArray d_p(p, DType::F32), d_m(n, DType::F32), d_v(n, DType::F32), d_copy(n, dt);
  for (int64_t step = 1; step <= 3; ++step) {
    auto g = round_to(randn(n, 10 + static_cast<uint64_t>(step)), dt);
    DevArray d_g(g, dt);
    cuda::adamw_update(d_p.f32(), dt == DType::BF16 ? d_copy.p() : nullptr, dt, d_g.p(), dt, d_m.f32(), d_v.f32(), n,
                       static_cast<float>(lr), static_cast<float>(b1), static_cast<float>(b2),
                       static_cast<float>(eps), static_cast<float>(wd), step, static_cast<float>(gscale));
    for (auto& x : g) x *= gscale;
    ref::adamw_update(p.data(), g.data(), m.data(), v.data(), n, lr, b1, b2, eps, wd, step);
  }
  EXPECT_LE(rel_err(d_p.get(), p), 1e-6);
  EXPECT_LE(rel_err(d_m.get(), m), 1e-6);
  EXPECT_LE(rel_err(d_v.get(), v), 1e-6);
  if (dt == DType::BF16) {
    EXPECT_EQ(d_copy.get(), round_to(d_p.get(), DType::BF16));  // copy = RNE(master)
  }
}

TEST_P(CudaAdamW, SumSquaresDeterministicScaleConvert) {
  LM_REQUIRE_CUDA();
  const DType dt = GetParam();
  const int64_t n = 1000003;
  auto x = round_to(randn(n, 5), dt);
  DevArray d_x(x, dt);
  const double s1 = cuda::sum_squares_host(dt, d_x.p(), n), s2 = cuda::sum_squares_host(dt, d_x.p(), n);
  EXPECT_EQ(s1, s2);
  EXPECT_NEAR(s1, ref::sum_squares(x.data(), n), 1e-5 * s1);
  cuda::scale_inplace(dt, d_x.p(), n, 0.25f);
  std::vector<double> xs = x;
  for (auto& e : xs) e *= 0.25;  // a power of two: exact in any dtype
  EXPECT_EQ(d_x.get(), xs);
  DevArray d_f(n, DType::F32), d_b(n, DType::BF16);
  cuda::convert(DType::F32, d_f.p(), dt, d_x.p(), n);
  EXPECT_EQ(d_f.get(), xs);
  cuda::convert(DType::BF16, d_b.p(), DType::F32, d_f.p(), n);
  EXPECT_EQ(d_b.get(), round_to(xs, DType::BF16));
}

INSTANTIATE_TEST_SUITE_P(DType, CudaAdamW, ::testing::Values(DType::F32, DType::BF16), dtype_param_name);

}  // namespace
}  // namespace lm::test
