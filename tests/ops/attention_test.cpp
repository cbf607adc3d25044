// CPU attention (blocked sgemm, causal skipping) vs the reference with T not a multiple of the 64-row block:
// causal and bidirectional, with key padding masks including fully masked rows; accumulating backward;
// determinism; shape validation.
#include "lm/kernels/ref/attention.h"

#include <gtest/gtest.h>

#include <cmath>

#include "lm/ops/attention.h"
#include "ops/op_test_util.h"

namespace lm::test {
namespace {

struct Case {
  int64_t B, T, NH, HS;
  bool causal, masked;
};

void check_case(const Case& cs) {
  const int64_t B = cs.B, T = cs.T, NH = cs.NH, C = NH * cs.HS;
  SCOPED_TRACE(::testing::Message() << "B=" << B << " T=" << T << " NH=" << NH << " HS=" << cs.HS
                                    << " causal=" << cs.causal << " masked=" << cs.masked);
  HostF32 qkv({B, T, 3 * C}, 1), dout({B, T, C}, 2), dqkv({B, T, 3 * C}, 3);
  // Batch 0: left padding of 3 (rows 0..2 of a causal pass are fully masked); batch 1: scattered holes; the
  // last batch (if B > 2) is entirely padding.
  std::vector<int32_t> mask(static_cast<size_t>(B * T), 1);
  for (int64_t t = 0; t < std::min<int64_t>(3, T); ++t) mask[t] = 0;
  if (B > 1)
    for (int64_t t = 1; t < T; t += 3) mask[T + t] = 0;
  if (B > 2)
    for (int64_t t = 0; t < T; ++t) mask[2 * T + t] = 0;
  HostI32 key_mask({B, T}, mask);
  ops::AttentionSpec spec{static_cast<int>(NH), cs.causal, 1.0f / std::sqrt(static_cast<float>(cs.HS))};
  HostF32 out({B, T, C}, 7.0f), att({B, NH, T, T}, 7.0f), datt({B, NH, T, T}, 0.0f);
  ops::attention_forward(out.t(), att.t(), qkv.t(), spec, cs.masked ? key_mask.t() : Tensor{});
  std::vector<float> e_out(out.v.size()), e_att(att.v.size()), e_datt(att.v.size()), e_dqkv = dqkv.v;
  ref::attention_forward(e_out.data(), e_att.data(), qkv.p(), cs.masked ? key_mask.p() : nullptr, B, T, C, NH,
                         cs.causal, spec.scale);
  EXPECT_LT(rel_err(out.v, e_out), 1e-5);
  EXPECT_LT(rel_err(att.v, e_att), 1e-5);
  for (int64_t i = 0; i < att.n(); ++i)
    if (e_att[i] == 0.0f) {
      ASSERT_EQ(att.v[i], 0.0f) << "masked probability must be exactly 0 at " << i;
    }
  ops::attention_backward(dqkv.t(), datt.t(), dout.t(), qkv.t(), att.t(), spec);
  ref::attention_backward(e_dqkv.data(), e_datt.data(), dout.p(), qkv.p(), e_att.data(), B, T, C, NH,
                          spec.scale);
  EXPECT_LT(rel_err(dqkv.v, e_dqkv), 2e-5);
}

TEST(OpsAttention, MatchesReference) {
  for (bool causal : {true, false})
    for (bool masked : {false, true}) {
      check_case({2, 5, 3, 3, causal, masked});
      check_case({3, 130, 3, 8, causal, masked});
    }
  check_case({1, 64, 2, 16, true, false});
  check_case({1, 1, 1, 4, true, false});  // T = 1
  check_case({3, 1, 2, 2, false, true});  // T = 1, fully masked rows
  check_case({1, 65, 1, 7, true, true});
}

TEST(OpsAttention, DropoutMatchesReference) {
  for (bool causal : {true, false})
    for (int64_t T : {7, 70}) {
      const int64_t B = 2, NH = 2, C = 10;
      HostF32 qkv({B, T, 3 * C}, 1), dout({B, T, C}, 2), dqkv({B, T, 3 * C}, 3);
      ops::AttentionSpec spec{2, causal, 0.4f, 0.2f, 77, 5};
      HostF32 out({B, T, C}, 0.0f), att({B, NH, T, T}, 0.0f), datt({B, NH, T, T}, 0.0f);
      ops::attention_forward(out.t(), att.t(), qkv.t(), spec);
      std::vector<float> e_out(out.v.size()), e_att(att.v.size()), e_datt(att.v.size()), e_dqkv = dqkv.v;
      const ref::AttnDropout drop{0.2f, 77, 5};
      ref::attention_forward(e_out.data(), e_att.data(), qkv.p(), nullptr, B, T, C, NH, causal, spec.scale, drop);
      EXPECT_LT(rel_err(out.v, e_out), 1e-5);
      ops::attention_backward(dqkv.t(), datt.t(), dout.t(), qkv.t(), att.t(), spec);
      ref::attention_backward(e_dqkv.data(), e_datt.data(), dout.p(), qkv.p(), e_att.data(), B, T, C, NH, spec.scale,
                              drop);
      EXPECT_LT(rel_err(dqkv.v, e_dqkv), 2e-5);
      // Dropout changes the output relative to p = 0.
      ops::AttentionSpec nodrop{2, causal, 0.4f};
      HostF32 out0({B, T, C}, 0.0f);
      ops::attention_forward(out0.t(), att.t(), qkv.t(), nodrop);
      EXPECT_GT(rel_err(out.v, out0.v), 1e-2);
    }
}

TEST(OpsAttention, BlockBoundarySweep) {
  // Row-block edges of the causal skipping: T just below / at / above multiples of the 64-row block.
  for (int64_t T : {2, 63, 64, 65, 127, 128, 129})
    for (bool masked : {false, true}) check_case({2, T, 2, 5, true, masked});
}

TEST(OpsAttention, DeterministicAcrossRuns) {
  const int64_t B = 2, T = 70, NH = 2, C = 24;
  HostF32 qkv({B, T, 3 * C}, 1), dout({B, T, C}, 2);
  ops::AttentionSpec spec{2, true, 0.3f};
  std::vector<float> first_out, first_d;
  for (int run = 0; run < 2; ++run) {
    HostF32 out({B, T, C}, 0.0f), att({B, NH, T, T}, 0.0f), datt({B, NH, T, T}, 0.0f),
        dqkv({B, T, 3 * C}, 0.0f);
    ops::attention_forward(out.t(), att.t(), qkv.t(), spec);
    ops::attention_backward(dqkv.t(), datt.t(), dout.t(), qkv.t(), att.t(), spec);
    if (run == 0) {
      first_out = out.v;
      first_d = dqkv.v;
    }
    EXPECT_TRUE(bitwise_equal(out.v, first_out));
    EXPECT_TRUE(bitwise_equal(dqkv.v, first_d));
  }
}

TEST(OpsAttention, RejectsBadShapes) {
  const int64_t B = 2, T = 5, C = 6;
  HostF32 qkv({B, T, 3 * C}, 1), out({B, T, C}, 0.0f), att({B, 2, T, T}, 0.0f),
      att_bad({B, 2, T, T + 1}, 0.0f);
  ops::AttentionSpec spec{2, true, 1.0f};
  EXPECT_NO_THROW(ops::attention_forward(out.t(), att.t(), qkv.t(), spec));
  EXPECT_THROW(ops::attention_forward(out.t(), att_bad.t(), qkv.t(), spec), Error);
  ops::AttentionSpec bad_heads{4, true, 1.0f};  // C = 6 is not a multiple of 4
  EXPECT_THROW(ops::attention_forward(out.t(), att.t(), qkv.t(), bad_heads), Error);
  HostF32 qkv_bad({B, T, 3 * C + 1}, 1);
  EXPECT_THROW(ops::attention_forward(out.t(), att.t(), qkv_bad.t(), spec), Error);
  HostF32 mask_f32({B, T}, 1.0f);  // key_mask must be i32
  EXPECT_THROW(ops::attention_forward(out.t(), att.t(), qkv.t(), spec, mask_f32.t()), Error);
  EXPECT_THROW(ops::attention_backward(qkv.t(), att.t(), qkv.t(), qkv.t(), att.t(), spec),
               Error);  // dout shape
}

}  // namespace
}  // namespace lm::test
