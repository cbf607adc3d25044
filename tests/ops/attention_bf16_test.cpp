// bf16 inference attention (oneDNN batched bf16 matmul) against a double-precision reference computed here over
// the SAME bf16-rounded operands (scale·q, k, v) and bf16-rounded probabilities: every output within
// 2^-8 · Σ_j |p_j·v_j| (one bf16 rounding of a probability may land on the other neighbour, since the kernel's
// probabilities come from f32 scores) plus 1e-6. Also: within 1e-2 normwise of the f32 attention kernel, att
// holds f32 probability rows summing to 1, masked keys get exactly 0, a fully masked sequence is uniform;
// causal and bidirectional, odd T, a scale that is not a power of two; dropout is refused.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lm/core/dtype.h"
#include "lm/core/threads.h"
#include "lm/ops/attention_bf16.h"
#include "ops/op_test_util.h"

namespace lm::test {
namespace {

float rb(float x) { return bf16_to_f32(f32_to_bf16(x)); }

void check(bool causal, float scale) {
  SCOPED_TRACE(::testing::Message() << "causal=" << causal << " scale=" << scale);
  const int64_t B = 3, T = 37, NH = 4, HS = 16, C = NH * HS, C3 = 3 * C;
  HostF32 qkv({B, T, C3}, 1, 2.0f);
  std::vector<int32_t> mask(static_cast<size_t>(B * T), 1);
  for (int64_t t = T - 5; t < T; ++t) mask[t] = 0;          // sequence 0: 5 padding keys at the end
  for (int64_t t = 0; t < T; ++t) mask[2 * T + t] = 0;      // sequence 2: entirely padding
  HostI32 key_mask({B, T}, mask);
  ops::AttentionSpec spec{static_cast<int>(NH), causal, scale};
  HostF32 out({B, T, C}, 7.0f), att({B, NH, T, T}, 7.0f), out32({B, T, C}, 7.0f), att32({B, NH, T, T}, 7.0f);
  ops::AttentionBf16 state;
  ops::attention_bf16_forward(out.t(), att.t(), qkv.t(), spec, key_mask.t(), state);
  ops::attention_forward(out32.t(), att32.t(), qkv.t(), spec, key_mask.t());
  const double e32 = rel_error(out.v.data(), out32.v.data(), static_cast<int64_t>(out.v.size()));
  EXPECT_LT(e32, 1e-2);
  EXPECT_GT(e32, 0.0) << "bf16 rounding cannot be exact";

  double worst = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < NH; ++h)
      for (int64_t t = 0; t < T; ++t) {
        const float* row = qkv.v.data() + (b * T + t) * C3;
        const int64_t L = causal ? t + 1 : T;
        std::vector<double> s(static_cast<size_t>(T), 0.0);
        bool any = false;
        double mx = -INFINITY;
        for (int64_t j = 0; j < L; ++j) {
          const float* kr = qkv.v.data() + (b * T + j) * C3 + C;
          double d = 0;
          for (int64_t i = 0; i < HS; ++i) d += static_cast<double>(rb(row[h * HS + i] * scale)) * rb(kr[h * HS + i]);
          s[static_cast<size_t>(j)] = d;
          if (mask[static_cast<size_t>(b * T + j)]) {
            any = true;
            mx = std::max(mx, d);
          }
        }
        std::vector<double> p(static_cast<size_t>(T), 0.0);
        double sum = 0;
        for (int64_t j = 0; j < L; ++j) {
          const bool vis = mask[static_cast<size_t>(b * T + j)] != 0;
          p[static_cast<size_t>(j)] = !any ? 1.0 / static_cast<double>(L) : (vis ? std::exp(s[static_cast<size_t>(j)] - mx) : 0.0);
          sum += p[static_cast<size_t>(j)];
        }
        const float* arow = att.v.data() + ((b * NH + h) * T + t) * T;
        double asum = 0;
        for (int64_t j = 0; j < T; ++j) {
          p[static_cast<size_t>(j)] /= sum;
          asum += arow[j];
          if (j >= L || (any && !mask[static_cast<size_t>(b * T + j)])) {
            ASSERT_EQ(arow[j], 0.0f) << b << " " << t << " " << j;
          }
        }
        EXPECT_NEAR(asum, 1.0, 1e-5);
        for (int64_t i = 0; i < HS; ++i) {
          double ref = 0, mag = 0;
          for (int64_t j = 0; j < L; ++j) {
            const double v = rb(qkv.v[static_cast<size_t>((b * T + j) * C3 + 2 * C + h * HS + i)]);
            ref += static_cast<double>(rb(static_cast<float>(p[static_cast<size_t>(j)]))) * v;
            mag += std::fabs(p[static_cast<size_t>(j)] * v);
          }
          const double got = out.v[static_cast<size_t>((b * T + t) * C + h * HS + i)];
          worst = std::max(worst, std::fabs(got - ref) / (mag / 256.0 + 1e-6));
        }
      }
  EXPECT_LT(worst, 1.0);
}

TEST(AttentionBf16, MatchesTheRoundedReference) {
  if (!ops::attention_bf16_available()) GTEST_SKIP() << "no native batched bf16 matmul on this CPU";
  set_num_threads(2);
  check(false, 0.25f);
  check(false, 0.3f);
  check(true, 0.3f);
}

TEST(AttentionBf16, RefusesDropoutAndBadShapes) {
  if (!ops::attention_bf16_available()) GTEST_SKIP() << "no native batched bf16 matmul on this CPU";
  HostF32 qkv({1, 8, 48}, 1), out({1, 8, 16}, 0.0f), att({1, 2, 8, 8}, 0.0f), bad_att({1, 2, 8, 7}, 0.0f);
  ops::AttentionBf16 state;
  ops::AttentionSpec spec{2, false, 0.25f};
  spec.dropout = 0.1f;
  EXPECT_THROW(ops::attention_bf16_forward(out.t(), att.t(), qkv.t(), spec, Tensor(), state), Error);
  spec.dropout = 0.0f;
  EXPECT_THROW(ops::attention_bf16_forward(out.t(), bad_att.t(), qkv.t(), spec, Tensor(), state), Error);
  EXPECT_NO_THROW(ops::attention_bf16_forward(out.t(), att.t(), qkv.t(), spec, Tensor(), state));
}

}  // namespace
}  // namespace lm::test
