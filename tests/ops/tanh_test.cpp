// CPU tanh vs the reference (forward, accumulating backward) and shape checks.
#include "lm/kernels/ref/tanh.h"

#include <gtest/gtest.h>

#include "lm/ops/tanh.h"
#include "ops/op_test_util.h"

namespace lm::test {
namespace {

TEST(OpsTanh, MatchesReference) {
  HostF32 x({4, 37}, 1, 3.0f), dout({4, 37}, 2), out({4, 37}, 0.0f), dx({4, 37}, 3);
  std::vector<float> e_out(x.v.size()), e_dx = dx.v;
  ops::tanh_forward(out.t(), x.t());
  ref::tanh_forward(e_out.data(), x.p(), x.n());
  EXPECT_LT(rel_err(out.v, e_out), 1e-6);
  ops::tanh_backward(dx.t(), dout.t(), out.t());
  ref::tanh_backward(e_dx.data(), dout.p(), e_out.data(), x.n());
  EXPECT_LT(rel_err(dx.v, e_dx), 1e-6);
}

TEST(OpsTanh, RejectsBadShapes) {
  HostF32 x({5, 7}, 1), out({5, 8}, 0.0f);
  EXPECT_THROW(ops::tanh_forward(out.t(), x.t()), Error);
  EXPECT_THROW(ops::tanh_backward(out.t(), x.t(), x.t()), Error);
}

}  // namespace
}  // namespace lm::test
