// CPU dropout vs the reference mask (bitwise), p = 0 identity (also in place), keep rate ~ 1-p, backward
// using the forward's mask, thread-count independence, and p validation.
#include "lm/kernels/ref/dropout.h"

#include <gtest/gtest.h>

#include "lm/ops/dropout.h"
#include "ops/op_test_util.h"

namespace lm::test {
namespace {

TEST(OpsDropout, MatchesReferenceMask) {
  HostF32 x({3, 7, 333}, 1), out({3, 7, 333}, 0.0f), dout({3, 7, 333}, 2), dx({3, 7, 333}, 3);
  std::vector<float> e_out(x.v.size()), e_dx = dx.v;
  ops::dropout_forward(out.t(), x.t(), 0.1f, 1234, 5);
  ref::dropout_forward(e_out.data(), x.p(), x.n(), 0.1f, 1234, 5);
  EXPECT_TRUE(bitwise_equal(out.v, e_out));
  ops::dropout_backward(dx.t(), dout.t(), 0.1f, 1234, 5);
  ref::dropout_backward(e_dx.data(), dout.p(), x.n(), 0.1f, 1234, 5);
  EXPECT_TRUE(bitwise_equal(dx.v, e_dx));
}

TEST(OpsDropout, IdentityAtZero) {
  HostF32 x({5, 7}, 1), out({5, 7}, 0.0f);
  ops::dropout_forward(out.t(), x.t(), 0.0f, 1, 2);
  EXPECT_TRUE(bitwise_equal(out.v, x.v));
  auto before = x.v;
  ops::dropout_forward(x.t(), x.t(), 0.0f, 1, 2);  // in place
  EXPECT_TRUE(bitwise_equal(x.v, before));
}

TEST(OpsDropout, RateAndBackwardMask) {
  const int64_t n = 100003;
  const float p = 0.3f;
  HostF32 x({n}, 1), out({n}, 0.0f), ones({n}, 1.0f), dx({n}, 0.0f);
  for (float& v : x.v) v = v == 0.0f ? 1.0f : v;
  ops::dropout_forward(out.t(), x.t(), p, 99, 3);
  ops::dropout_backward(dx.t(), ones.t(), p, 99, 3);
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    const bool k = out.v[i] != 0.0f;
    kept += k;
    ASSERT_EQ(k, dx.v[i] != 0.0f) << i;  // same mask in backward
    if (k) {
      ASSERT_FLOAT_EQ(dx.v[i], 1.0f / (1.0f - p));
    }
  }
  EXPECT_NEAR(static_cast<double>(kept) / n, 1.0 - p, 0.01);
  // Another stream gives another mask.
  HostF32 out2({n}, 0.0f);
  ops::dropout_forward(out2.t(), x.t(), p, 99, 4);
  EXPECT_FALSE(bitwise_equal(out.v, out2.v));
  // Thread count does not change the mask.
  ScopedThreads st(1);
  HostF32 out1({n}, 0.0f);
  ops::dropout_forward(out1.t(), x.t(), p, 99, 3);
  EXPECT_TRUE(bitwise_equal(out.v, out1.v));
}

TEST(OpsDropout, RejectsBadInput) {
  HostF32 x({5}, 1), out({5}, 0.0f), bad({6}, 0.0f);
  EXPECT_THROW(ops::dropout_forward(out.t(), x.t(), 1.0f, 1, 2), Error);
  EXPECT_THROW(ops::dropout_forward(out.t(), x.t(), -0.1f, 1, 2), Error);
  EXPECT_THROW(ops::dropout_forward(bad.t(), x.t(), 0.1f, 1, 2), Error);
  EXPECT_THROW(ops::dropout_backward(bad.t(), x.t(), 0.1f, 1, 2), Error);
}

}  // namespace
}  // namespace lm::test
