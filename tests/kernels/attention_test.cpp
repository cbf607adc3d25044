// Finite-difference checks (double) of the reference attention core: causal and bidirectional, with and
// without a key padding mask (every row keeps at least one visible key, so the softmax is differentiable),
// and the masking semantics (masked keys get probability 0, fully masked rows are uniform).
#include "lm/kernels/ref/attention.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/fd_check.h"

namespace lm::test {
namespace {

struct Case {
  bool causal;
  bool masked;
};

TEST(RefAttention, GradientsMatchFiniteDifferences) {
  const int64_t B = 2, T = 5, NH = 3, HS = 3, C = NH * HS;
  // Key 0 of every batch row is visible so no row is fully masked.
  std::vector<int32_t> key_mask = {1, 0, 1, 1, 0, 1, 1, 0, 0, 1};
  for (Case cs : {Case{true, false}, Case{false, false}, Case{true, true}, Case{false, true}}) {
    auto qkv = random_doubles(B * T * 3 * C, 1), r = random_doubles(B * T * C, 2);
    std::vector<double> out(B * T * C), att(B * NH * T * T);
    const double scale = 0.7;
    const int32_t* km = cs.masked ? key_mask.data() : nullptr;
    auto loss = [&] {
      ref::attention_forward(out.data(), att.data(), qkv.data(), km, B, T, C, NH, cs.causal, scale);
      return dot(out, r);
    };
    loss();
    std::vector<double> dqkv(qkv.size(), 0.0), datt(att.size());
    ref::attention_backward(dqkv.data(), datt.data(), r.data(), qkv.data(), att.data(), B, T, C, NH, scale);
    EXPECT_LT(fd_rel_error(qkv, dqkv, loss), kFdTol) << "causal " << cs.causal << " masked " << cs.masked;
  }
}

// With dropout the mask is a fixed function of (seed, stream, index), so the loss stays differentiable.
TEST(RefAttention, DropoutGradientsMatchFiniteDifferences) {
  const int64_t B = 2, T = 6, NH = 2, HS = 3, C = NH * HS;
  for (bool causal : {true, false}) {
    auto qkv = random_doubles(B * T * 3 * C, 4), r = random_doubles(B * T * C, 5);
    std::vector<double> out(B * T * C), att(B * NH * T * T);
    const ref::AttnDropout drop{0.3f, 11, 2};
    auto loss = [&] {
      ref::attention_forward(out.data(), att.data(), qkv.data(), nullptr, B, T, C, NH, causal, 0.5, drop);
      return dot(out, r);
    };
    loss();
    std::vector<double> dqkv(qkv.size(), 0.0), datt(att.size());
    ref::attention_backward(dqkv.data(), datt.data(), r.data(), qkv.data(), att.data(), B, T, C, NH, 0.5, drop);
    EXPECT_LT(fd_rel_error(qkv, dqkv, loss), kFdTol) << "causal " << causal;
  }
  // About p of the multipliers are zero, the rest 1/(1-p).
  const ref::AttnDropout d{0.25f, 3, 0};
  int zeros = 0;
  for (uint64_t i = 0; i < 20000; ++i) {
    const double f = d.factor<double>(i);
    EXPECT_TRUE(f == 0.0 || std::fabs(f - 1.0 / 0.75) < 1e-7);
    zeros += f == 0.0;
  }
  EXPECT_NEAR(zeros / 20000.0, 0.25, 0.015);
}

TEST(RefAttention, MaskSemantics) {
  const int64_t B = 1, T = 4, NH = 1, C = 2;
  auto qkv = random_doubles(B * T * 3 * C, 3);
  std::vector<int32_t> key_mask = {0, 1, 0, 1};
  std::vector<double> out(B * T * C), att(T * T);
  // Bidirectional: masked keys 0 and 2 get exactly 0 in every row.
  ref::attention_forward(out.data(), att.data(), qkv.data(), key_mask.data(), B, T, C, NH, false, 1.0);
  for (int64_t t = 0; t < T; ++t) {
    EXPECT_EQ(att[t * T + 0], 0.0);
    EXPECT_EQ(att[t * T + 2], 0.0);
    EXPECT_NEAR(att[t * T + 1] + att[t * T + 3], 1.0, 1e-15);
  }
  // Causal: row 0 sees only key 0, which is padding: uniform over the visible range [0, 1).
  ref::attention_forward(out.data(), att.data(), qkv.data(), key_mask.data(), B, T, C, NH, true, 1.0);
  EXPECT_EQ(att[0], 1.0);
  for (int64_t j = 1; j < T; ++j) EXPECT_EQ(att[j], 0.0);
  // Everything masked, bidirectional: uniform over all keys, the output is the mean of v.
  std::vector<int32_t> none = {0, 0, 0, 0};
  ref::attention_forward(out.data(), att.data(), qkv.data(), none.data(), B, T, C, NH, false, 1.0);
  for (int64_t i = 0; i < T * T; ++i) EXPECT_NEAR(att[i], 0.25, 1e-15);
  for (int64_t c = 0; c < C; ++c) {
    double mean_v = 0;
    for (int64_t j = 0; j < T; ++j) mean_v += qkv[j * 3 * C + 2 * C + c] / T;
    EXPECT_NEAR(out[c], mean_v, 1e-14);
  }
}

}  // namespace
}  // namespace lm::test
