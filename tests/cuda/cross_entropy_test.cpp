// CUDA fused softmax cross-entropy (forward, backward, and the in-place forward+backward) vs kernels/ref with
// ignore_index rows, f32 and bf16; V = 1000 is not a multiple of the block size.
#include "lm/kernels/cuda/cross_entropy.h"

#include <gtest/gtest.h>

#include "cuda/cuda_test_util.h"
#include "lm/kernels/ref/cross_entropy.h"

namespace lm::test {
namespace {

class CudaCrossEntropy : public CudaDType {};

TEST_P(CudaCrossEntropy, MatchesRefWithIgnoredRows) {
  LM_REQUIRE_CUDA();
  const DType dt = GetParam();
  const int64_t N = 23, V = 1000;
  const int ignore = -100;
  auto logits = round_to(randn(N * V, 1, 3.0), dt);
  std::vector<int32_t> targets(N);
  for (int64_t n = 0; n < N; ++n) targets[n] = n % 5 == 3 ? ignore : static_cast<int32_t>((n * 397) % V);
  const double dloss = 1.0 / 19.0;
  DevArray d_logits(logits, dt), d_losses(N, DType::F32), d_dlogits(N * V, dt), d_inplace(logits, dt),
      d_losses2(N, DType::F32);
  DevInts d_t(targets);
  cuda::cross_entropy_forward(dt, d_losses.f32(), d_logits.p(), d_t.p(), ignore, N, V);
  cuda::cross_entropy_backward(dt, d_dlogits.p(), d_logits.p(), d_t.p(), static_cast<float>(dloss), ignore, N, V);
  cuda::cross_entropy_forward_backward(dt, d_losses2.f32(), d_inplace.p(), d_t.p(), static_cast<float>(dloss), ignore,
                                       N, V);
  std::vector<double> losses(N), dlogits(N * V);
  const int64_t count = ref::cross_entropy_forward(losses.data(), logits.data(), targets.data(), ignore, N, V);
  EXPECT_EQ(count, 19);
  ref::cross_entropy_backward(dlogits.data(), logits.data(), targets.data(), dloss, ignore, N, V);
  // Losses are fp32 from the (bf16-rounded) logits: tight in both modes.
  EXPECT_LE(rel_err(d_losses.get(), losses), 1e-5);
  EXPECT_LE(rel_err(d_losses2.get(), losses), 1e-5);
  EXPECT_LE(rel_err(d_dlogits.get(), dlogits), grad_tol(dt));
  EXPECT_EQ(d_inplace.get(), d_dlogits.get());  // the fused pass writes exactly what backward writes
}

INSTANTIATE_TEST_SUITE_P(DType, CudaCrossEntropy, ::testing::Values(DType::F32, DType::BF16), dtype_param_name);

}  // namespace
}  // namespace lm::test
