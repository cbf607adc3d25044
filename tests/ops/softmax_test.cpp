// CPU softmax and residual add vs the reference, accumulation, and shape validation.
#include "lm/kernels/ref/softmax.h"

#include <gtest/gtest.h>

#include "lm/kernels/ref/residual.h"
#include "lm/ops/residual.h"
#include "lm/ops/softmax.h"
#include "ops/op_test_util.h"

namespace lm::test {
namespace {

TEST(OpsSoftmax, MatchesReference) {
  const int64_t N = 2 * 13, D = 71;
  HostF32 x({2, 13, D}, 1, 4.0f), out({2, 13, D}, 0.0f), dout({2, 13, D}, 2), dx({2, 13, D}, 3);
  std::vector<float> e_out(N * D), e_dx = dx.v;
  ops::softmax_forward(out.t(), x.t());
  ref::softmax_forward(e_out.data(), x.p(), N, D);
  EXPECT_LT(rel_err(out.v, e_out), 1e-6);
  ops::softmax_backward(dx.t(), dout.t(), out.t());
  ref::softmax_backward(e_dx.data(), dout.p(), e_out.data(), N, D);
  EXPECT_LT(rel_err(dx.v, e_dx), 1e-5);
  HostF32 bad({2, 13, D + 1}, 0.0f);
  EXPECT_THROW(ops::softmax_forward(bad.t(), x.t()), Error);
  EXPECT_THROW(ops::softmax_backward(dx.t(), bad.t(), out.t()), Error);
}

TEST(OpsSoftmax, DeterministicAcrossRunsAndThreads) {
  HostF32 x({37, 129}, 1, 4.0f), dout({37, 129}, 2);
  std::vector<float> first_y, first_d;
  for (int threads : {2, 2, 1}) {
    ScopedThreads st(threads);
    HostF32 y({37, 129}, 0.0f), d({37, 129}, 0.0f);
    ops::softmax_forward(y.t(), x.t());
    ops::softmax_backward(d.t(), dout.t(), y.t());
    if (first_y.empty()) {
      first_y = y.v;
      first_d = d.v;
    }
    EXPECT_TRUE(bitwise_equal(y.v, first_y));
    EXPECT_TRUE(bitwise_equal(d.v, first_d));
  }
}

TEST(OpsResidual, MatchesReferenceAndAccumulates) {
  HostF32 a({3, 5, 7}, 1), b({3, 5, 7}, 2), out({3, 5, 7}, 0.0f), dout({3, 5, 7}, 3), da({3, 5, 7}, 4),
      db({3, 5, 7}, 5);
  std::vector<float> e_out(a.v.size()), e_da = da.v, e_db = db.v;
  ops::residual_forward(out.t(), a.t(), b.t());
  ref::residual_forward(e_out.data(), a.p(), b.p(), a.n());
  EXPECT_TRUE(bitwise_equal(out.v, e_out));
  ops::residual_backward(da.t(), db.t(), dout.t());
  ref::residual_backward(e_da.data(), e_db.data(), dout.p(), a.n());
  EXPECT_TRUE(bitwise_equal(da.v, e_da));
  EXPECT_TRUE(bitwise_equal(db.v, e_db));
  HostF32 bad({3, 5, 8}, 0.0f);
  EXPECT_THROW(ops::residual_forward(out.t(), a.t(), bad.t()), Error);
  EXPECT_THROW(ops::residual_backward(da.t(), da.t(), dout.t()), Error);  // aliasing
}

}  // namespace
}  // namespace lm::test
