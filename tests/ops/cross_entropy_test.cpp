// CPU cross-entropy vs the reference (V not a multiple of the vector width), ignore_index rows, in-place
// backward (dlogits aliases logits), determinism and target validation.
#include "lm/kernels/ref/cross_entropy.h"

#include <gtest/gtest.h>

#include "lm/ops/cross_entropy.h"
#include "ops/op_test_util.h"

namespace lm::test {
namespace {

constexpr int64_t B = 2, T = 9, N = B * T, V = 1001;

TEST(OpsCrossEntropy, MatchesReference) {
  HostF32 logits({B, T, V}, 1, 3.0f), losses({B, T}, 5.0f);
  auto tv = random_ids(N, V, 2);
  tv[3] = ops::kIgnoreIndex;
  tv[11] = ops::kIgnoreIndex;
  HostI32 targets({B, T}, tv);
  std::vector<float> e_losses(N);
  const int64_t count = ops::cross_entropy_forward(losses.t(), logits.t(), targets.t());
  EXPECT_EQ(count, N - 2);
  EXPECT_EQ(ref::cross_entropy_forward(e_losses.data(), logits.p(), targets.p(), ops::kIgnoreIndex, N, V),
            count);
  EXPECT_LT(rel_err(losses.v, e_losses), 1e-6);
  EXPECT_EQ(losses.v[3], 0.0f);

  const float dloss = 1.0f / static_cast<float>(count);
  HostF32 dlogits({B, T, V}, 9.0f);  // overwritten
  std::vector<float> e_d(N * V);
  ops::cross_entropy_backward(dlogits.t(), logits.t(), targets.t(), dloss);
  ref::cross_entropy_backward(e_d.data(), logits.p(), targets.p(), dloss, ops::kIgnoreIndex, N, V);
  EXPECT_LT(rel_err(dlogits.v, e_d), 1e-5);
  for (int64_t v = 0; v < V; ++v) EXPECT_EQ(dlogits.v[11 * V + v], 0.0f);

  // In place: the logits buffer becomes dlogits, bitwise equal to the out-of-place result.
  HostF32 inplace = logits;
  ops::cross_entropy_backward(inplace.t(), inplace.t(), targets.t(), dloss);
  EXPECT_TRUE(bitwise_equal(inplace.v, dlogits.v));
}

// The forward's per-row max and Σexp, handed to the backward, give the same bits as recomputing them (in place
// too); a wrong shape is an error.
TEST(OpsCrossEntropy, SavedRowStatsEqualRecomputing) {
  HostF32 logits({B, T, V}, 1, 3.0f), losses({B, T}, 0.0f), stats({N, 2}, 0.0f);
  auto tv = random_ids(N, V, 2);
  tv[5] = ops::kIgnoreIndex;
  HostI32 targets({B, T}, tv);
  HostF32 plain_losses({B, T}, 0.0f);
  ops::cross_entropy_forward(plain_losses.t(), logits.t(), targets.t());
  ops::cross_entropy_forward(losses.t(), logits.t(), targets.t(), ops::kIgnoreIndex, stats.t());
  EXPECT_TRUE(bitwise_equal(losses.v, plain_losses.v));
  HostF32 d1({B, T, V}, 0.0f), d2({B, T, V}, 7.0f);
  ops::cross_entropy_backward(d1.t(), logits.t(), targets.t(), 0.25f);
  ops::cross_entropy_backward(d2.t(), logits.t(), targets.t(), 0.25f, ops::kIgnoreIndex, stats.t());
  EXPECT_TRUE(bitwise_equal(d1.v, d2.v));
  HostF32 inplace = logits;
  ops::cross_entropy_backward(inplace.t(), inplace.t(), targets.t(), 0.25f, ops::kIgnoreIndex, stats.t());
  EXPECT_TRUE(bitwise_equal(inplace.v, d1.v));
  // The backward really reads them: doubling each row's Σexp halves the softmax part of every dlogit.
  HostF32 doubled = stats;
  for (int64_t n = 0; n < N; ++n) doubled.v[static_cast<size_t>(2 * n + 1)] *= 2.0f;
  HostF32 d3({B, T, V}, 0.0f);
  ops::cross_entropy_backward(d3.t(), logits.t(), targets.t(), 0.25f, ops::kIgnoreIndex, doubled.t());
  const int64_t n0 = 0, v0 = tv[0] == 0 ? 1 : 0;  // row 0 (not ignored), a non-target column
  EXPECT_FLOAT_EQ(d3.v[static_cast<size_t>(n0 * V + v0)], 0.5f * d1.v[static_cast<size_t>(n0 * V + v0)]);
  HostF32 bad({N, 3}, 0.0f);
  EXPECT_THROW(ops::cross_entropy_forward(losses.t(), logits.t(), targets.t(), ops::kIgnoreIndex, bad.t()), Error);
  EXPECT_THROW(ops::cross_entropy_backward(d1.t(), logits.t(), targets.t(), 0.25f, ops::kIgnoreIndex, bad.t()),
               Error);
}

TEST(OpsCrossEntropy, DeterministicAcrossRunsAndThreads) {
  HostF32 logits({B, T, V}, 1, 3.0f);
  HostI32 targets({B, T}, random_ids(N, V, 2));
  std::vector<float> first_l, first_d;
  for (int threads : {2, 2, 1}) {
    ScopedThreads st(threads);
    HostF32 losses({B, T}, 0.0f), d({B, T, V}, 0.0f);
    ops::cross_entropy_forward(losses.t(), logits.t(), targets.t());
    ops::cross_entropy_backward(d.t(), logits.t(), targets.t(), 0.5f);
    if (first_l.empty()) {
      first_l = losses.v;
      first_d = d.v;
    }
    EXPECT_TRUE(bitwise_equal(losses.v, first_l));
    EXPECT_TRUE(bitwise_equal(d.v, first_d));
  }
}

TEST(OpsCrossEntropy, CustomIgnoreIndexAndValidation) {
  HostF32 logits({4, 5}, 1), losses({4}, 0.0f);
  HostI32 targets({4}, {0, 7, 4, 7});
  EXPECT_EQ(ops::cross_entropy_forward(losses.t(), logits.t(), targets.t(), 7), 2);
  EXPECT_THROW(ops::cross_entropy_forward(losses.t(), logits.t(), targets.t()), Error);  // 7 out of range
  HostI32 neg({4}, {0, -1, 1, 2});
  EXPECT_THROW(ops::cross_entropy_forward(losses.t(), logits.t(), neg.t()), Error);
  HostI32 short_t({3}, {0, 1, 2});
  EXPECT_THROW(ops::cross_entropy_forward(losses.t(), logits.t(), short_t.t()), Error);
  HostF32 dl_bad({4, 6}, 0.0f);
  HostI32 ok({4}, {0, 1, 2, 3});
  EXPECT_THROW(ops::cross_entropy_backward(dl_bad.t(), logits.t(), ok.t(), 1.0f), Error);
}

}  // namespace
}  // namespace lm::test
