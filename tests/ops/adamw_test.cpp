// CPU AdamW against a hand-computed double torch.optim.AdamW step over several steps (with weight decay);
// sum_squares against a double sum and independent of the thread count; scale_inplace; validation.
#include "lm/ops/adamw.h"
#include "lm/ops/sum_squares.h"
#include "lm/ops/scale.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ops/op_test_util.h"

namespace lm::test {
namespace {

TEST(OpsAdamW, MatchesTorchFormulaInDouble) {
  const int64_t n = 1001;
  HostF32 p({n}, 1), m({n}, 0.0f), v({n}, 0.0f);
  std::vector<double> pd(p.v.begin(), p.v.end()), md(n, 0.0), vd(n, 0.0);
  ops::AdamWParams hp;
  hp.lr = 3e-3f;
  hp.beta1 = 0.9f;
  hp.beta2 = 0.95f;
  hp.eps = 1e-8f;
  hp.weight_decay = 0.1f;
  const double lr = hp.lr, b1 = hp.beta1, b2 = hp.beta2, eps = hp.eps, wd = hp.weight_decay;
  for (int64_t step = 1; step <= 5; ++step) {
    HostF32 g({n}, 100 + static_cast<int>(step), 0.1f);
    hp.step = step;
    ops::adamw_update(p.t(), g.t(), m.t(), v.t(), hp);
    const double bc1 = 1 - std::pow(b1, step), bc2 = 1 - std::pow(b2, step);
    for (int64_t i = 0; i < n; ++i) {
      const double gi = g.v[i];
      pd[i] *= 1 - lr * wd;
      md[i] = b1 * md[i] + (1 - b1) * gi;
      vd[i] = b2 * vd[i] + (1 - b2) * gi * gi;
      pd[i] -= lr * (md[i] / bc1) / (std::sqrt(vd[i] / bc2) + eps);
    }
    double num = 0, den = 0, mnum = 0, mden = 0;
    for (int64_t i = 0; i < n; ++i) {
      num += (p.v[i] - pd[i]) * (p.v[i] - pd[i]);
      den += pd[i] * pd[i];
      mnum += (m.v[i] - md[i]) * (m.v[i] - md[i]) + (v.v[i] - vd[i]) * (v.v[i] - vd[i]);
      mden += md[i] * md[i] + vd[i] * vd[i];
    }
    EXPECT_LT(std::sqrt(num / den), 1e-6) << "step " << step;
    EXPECT_LT(std::sqrt(mnum / mden), 1e-6) << "step " << step;
  }
}

TEST(OpsAdamW, SumSquaresAndScale) {
  const int64_t n = 3 * (1 << 14) + 17;  // several fixed blocks plus a ragged tail
  HostF32 g({n}, 1);
  double expect = 0;
  for (float x : g.v) expect += static_cast<double>(x) * x;
  const double s2 = ops::sum_squares(g.t());
  EXPECT_NEAR(s2, expect, 1e-10 * expect);
  {
    ScopedThreads st(1);
    EXPECT_EQ(ops::sum_squares(g.t()), s2);  // bitwise, whatever the thread count
  }
  EXPECT_EQ(ops::sum_squares(g.t()), s2);
  auto before = g.v;
  ops::scale_inplace(g.t(), 0.25f);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(g.v[i], before[i] * 0.25f);
}

// Clipping folded into the update: grad_scale s gives bitwise the parameters and moments of scaling the
// gradients by s first and updating with s = 1, and leaves the gradients as they were.
TEST(OpsAdamW, GradScaleEqualsScalingFirst) {
  const int64_t n = 777;
  HostF32 p1({n}, 3), m1({n}, 0.0f), v1({n}, 0.0f);
  HostF32 p2 = p1, m2 = m1, v2 = v1;
  ops::AdamWParams hp;
  hp.lr = 1e-2f;
  hp.weight_decay = 0.1f;
  for (int64_t step = 1; step <= 3; ++step) {
    hp.step = step;
    HostF32 g({n}, 200 + static_cast<int>(step), 2.0f);
    const float s = 0.3f / static_cast<float>(step);
    auto g_before = g.v, p_before = p1.v;
    hp.grad_scale = s;
    ops::adamw_update(p1.t(), g.t(), m1.t(), v1.t(), hp);
    ASSERT_EQ(g.v, g_before);
    ops::scale_inplace(g.t(), s);
    hp.grad_scale = 1.0f;
    ops::adamw_update(p2.t(), g.t(), m2.t(), v2.t(), hp);
    ASSERT_EQ(p1.v, p2.v) << "step " << step;
    ASSERT_EQ(m1.v, m2.v);
    ASSERT_EQ(v1.v, v2.v);
    ASSERT_NE(p1.v, p_before);  // the update ran
  }
  hp.grad_scale = std::nanf("");
  EXPECT_THROW(ops::adamw_update(p1.t(), p1.t(), m1.t(), v1.t(), hp), Error);
}

// Arrays of >= 2^20 elements take the AVX-512 or AVX2 path with non-temporal stores (on CPUs that have one); it must give
// the plain loop's bits. The reference is the same update in chunks below that size (the plain loop), including a
// misaligned start (the streaming path's scalar head) and a ragged tail.
TEST(OpsAdamW, StreamingPathIsBitwiseThePlainLoop) {
  const int64_t n = (int64_t{1} << 20) + 37;
  HostF32 p({n + 3}, 11, 0.02f), g({n + 3}, 12, 0.1f), m({n + 3}, 13, 0.01f), v({n + 3}, 14, 0.01f);
  for (auto& x : v.v) x = std::fabs(x);
  HostF32 p2 = p, m2 = m, v2 = v;
  ops::AdamWParams hp;
  hp.lr = 1e-3f;
  hp.weight_decay = 0.1f;
  hp.grad_scale = 0.7f;
  // Start one element in: the arrays share their phase modulo 64 bytes but are not 64-byte aligned there.
  auto view = [&](HostF32& h, int64_t off, int64_t len) { return Tensor(h.v.data() + 1 + off, Shape{len}); };
  for (int64_t step = 1; step <= 3; ++step) {
    hp.step = step;
    ops::adamw_update(view(p, 0, n), view(g, 0, n), view(m, 0, n), view(v, 0, n), hp);
    for (int64_t off = 0; off < n; off += 1000) {
      const int64_t len = std::min<int64_t>(1000, n - off);
      ops::adamw_update(view(p2, off, len), view(g, off, len), view(m2, off, len), view(v2, off, len), hp);
    }
  }
  EXPECT_TRUE(bitwise_equal(p.v, p2.v));
  EXPECT_TRUE(bitwise_equal(m.v, m2.v));
  EXPECT_TRUE(bitwise_equal(v.v, v2.v));
}

TEST(OpsAdamW, RejectsBadInput) {
  HostF32 p({5}, 1), g({5}, 2), m({5}, 0.0f), v({6}, 0.0f), v_ok({5}, 0.0f);
  ops::AdamWParams hp;
  EXPECT_THROW(ops::adamw_update(p.t(), g.t(), m.t(), v.t(), hp), Error);
  hp.step = 0;
  EXPECT_THROW(ops::adamw_update(p.t(), g.t(), m.t(), v_ok.t(), hp), Error);
  HostI32 ints({5}, {1, 2, 3, 4, 5});
  EXPECT_THROW(ops::sum_squares(ints.t()), Error);
}

}  // namespace
}  // namespace lm::test
