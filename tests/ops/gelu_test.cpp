// CPU GELU (tanh and erf) vs the reference, accumulating backward, and the HF activation-name mapping.
#include "lm/kernels/ref/gelu.h"

#include <gtest/gtest.h>

#include <cmath>

#include "lm/ops/gelu.h"
#include "ops/op_test_util.h"

namespace lm::test {
namespace {

TEST(OpsGelu, MatchesReference) {
  for (auto kind : {ops::GeluKind::Tanh, ops::GeluKind::Erf}) {
    const bool tf = kind == ops::GeluKind::Tanh;
    HostF32 x({3, 7, 41}, 1, 3.0f), dout({3, 7, 41}, 2), out({3, 7, 41}, 0.0f), dx({3, 7, 41}, 3);
    std::vector<float> e_out(x.v.size()), e_dx = dx.v;
    ops::gelu_forward(out.t(), x.t(), kind);
    ref::gelu_forward(e_out.data(), x.p(), x.n(), tf);
    EXPECT_LT(rel_err(out.v, e_out), 1e-6);
    ops::gelu_backward(dx.t(), dout.t(), x.t(), kind);
    ref::gelu_backward(e_dx.data(), dout.p(), x.p(), x.n(), tf);
    EXPECT_LT(rel_err(dx.v, e_dx), 1e-6);
  }
}

// overwrite: dinp = dout * gelu'(inp) whatever dinp held (NaN garbage here), equal to accumulating onto zeros.
TEST(OpsGelu, BackwardOverwriteIgnoresOldDinp) {
  for (auto kind : {ops::GeluKind::Tanh, ops::GeluKind::Erf}) {
    HostF32 x({5, 301}, 1, 3.0f), dout({5, 301}, 2), dx({5, 301}, std::nanf("")), zeros({5, 301}, 0.0f);
    ops::gelu_backward(dx.t(), dout.t(), x.t(), kind, /*overwrite=*/true);
    ops::gelu_backward(zeros.t(), dout.t(), x.t(), kind);
    EXPECT_EQ(dx.v, zeros.v);  // value-equal (0 + d may turn -0 into +0)
  }
}

TEST(OpsGelu, DeterministicAcrossRunsAndThreads) {
  HostF32 x({1000, 37}, 1, 3.0f), dout({1000, 37}, 2);
  for (auto kind : {ops::GeluKind::Tanh, ops::GeluKind::Erf}) {
    std::vector<float> first_y, first_d;
    for (int threads : {2, 2, 1}) {
      ScopedThreads st(threads);
      HostF32 y({1000, 37}, 0.0f), d({1000, 37}, 0.0f);
      ops::gelu_forward(y.t(), x.t(), kind);
      ops::gelu_backward(d.t(), dout.t(), x.t(), kind);
      if (first_y.empty()) {
        first_y = y.v;
        first_d = d.v;
      }
      EXPECT_TRUE(bitwise_equal(y.v, first_y));
      EXPECT_TRUE(bitwise_equal(d.v, first_d));
    }
  }
}

TEST(OpsGelu, KindFromName) {
  EXPECT_EQ(ops::gelu_kind_from_name("gelu_new"), ops::GeluKind::Tanh);
  EXPECT_EQ(ops::gelu_kind_from_name("gelu_pytorch_tanh"), ops::GeluKind::Tanh);
  EXPECT_EQ(ops::gelu_kind_from_name("gelu"), ops::GeluKind::Erf);
  try {
    ops::gelu_kind_from_name("relu");
    FAIL() << "relu accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
  }
}

TEST(OpsGelu, RejectsBadShapes) {
  HostF32 x({5, 7}, 1), out({5, 8}, 0.0f);
  EXPECT_THROW(ops::gelu_forward(out.t(), x.t(), ops::GeluKind::Tanh), Error);
  EXPECT_THROW(ops::gelu_backward(out.t(), x.t(), x.t(), ops::GeluKind::Erf), Error);
}

}  // namespace
}  // namespace lm::test
