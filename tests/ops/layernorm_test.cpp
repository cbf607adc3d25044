// CPU LayerNorm vs the reference on (B,T,C) with odd C, accumulating backward, determinism across thread
// counts, and shape validation.
#include "lm/kernels/ref/layernorm.h"

#include <gtest/gtest.h>

#include "lm/ops/layernorm.h"
#include "ops/op_test_util.h"

namespace lm::test {
namespace {

constexpr int64_t B = 2, T = 67, C = 77, N = B * T;

TEST(OpsLayerNorm, ForwardBackwardMatchReference) {
  HostF32 x({B, T, C}, 1, 2.0f), w({C}, 2), b({C}, 3), dout({B, T, C}, 4);
  for (float& v : x.v) v += 3.0f;  // a non-zero mean exercises the two-pass variance
  HostF32 out({B, T, C}, 0.0f), mean({B, T}, 0.0f), rstd({B, T}, 0.0f);
  ops::layernorm_forward(out.t(), mean.t(), rstd.t(), x.t(), w.t(), b.t(), 1e-5f);
  std::vector<float> e_out(N * C), e_mean(N), e_rstd(N);
  ref::layernorm_forward(e_out.data(), e_mean.data(), e_rstd.data(), x.p(), w.p(), b.p(), 1e-5f, N, C);
  EXPECT_LT(rel_err(out.v, e_out), 1e-5);
  EXPECT_LT(rel_err(mean.v, e_mean), 1e-5);
  EXPECT_LT(rel_err(rstd.v, e_rstd), 1e-5);

  HostF32 dx({B, T, C}, 5), dw({C}, 6), db({C}, 7);  // non-zero: backward accumulates
  auto e_dx = dx.v, e_dw = dw.v, e_db = db.v;
  ops::layernorm_backward(dx.t(), dw.t(), db.t(), dout.t(), x.t(), w.t(), mean.t(), rstd.t());
  ref::layernorm_backward(e_dx.data(), e_dw.data(), e_db.data(), dout.p(), x.p(), w.p(), e_mean.data(),
                          e_rstd.data(), N, C);
  EXPECT_LT(rel_err(dx.v, e_dx), 1e-5);
  EXPECT_LT(rel_err(dw.v, e_dw), 1e-5);
  EXPECT_LT(rel_err(db.v, e_db), 1e-5);
}

TEST(OpsLayerNorm, DeterministicAcrossRunsAndThreads) {
  HostF32 x({B, T, C}, 1), w({C}, 2), b({C}, 3), dout({B, T, C}, 4);
  HostF32 out({B, T, C}, 0.0f), mean({B, T}, 0.0f), rstd({B, T}, 0.0f);
  ops::layernorm_forward(out.t(), mean.t(), rstd.t(), x.t(), w.t(), b.t(), 1e-5f);
  std::vector<float> first_dx, first_dw;
  for (int threads : {2, 2, 1}) {
    ScopedThreads st(threads);
    HostF32 dx({B, T, C}, 0.0f), dw({C}, 0.0f), db({C}, 0.0f);
    ops::layernorm_backward(dx.t(), dw.t(), db.t(), dout.t(), x.t(), w.t(), mean.t(), rstd.t());
    if (first_dx.empty()) {
      first_dx = dx.v;
      first_dw = dw.v;
    }
    EXPECT_TRUE(bitwise_equal(dx.v, first_dx));
    EXPECT_TRUE(bitwise_equal(dw.v, first_dw));
  }
}

TEST(OpsLayerNorm, RejectsBadShapes) {
  HostF32 x({N, C}, 1), w({C}, 2), b({C}, 3), out({N, C}, 0.0f), mean({N}, 0.0f), rstd({N}, 0.0f);
  HostF32 w_bad({C + 1}, 2), mean_bad({N - 1}, 0.0f), out_bad({N, C - 1}, 0.0f);
  EXPECT_THROW(ops::layernorm_forward(out.t(), mean.t(), rstd.t(), x.t(), w_bad.t(), b.t(), 1e-5f), Error);
  EXPECT_THROW(ops::layernorm_forward(out.t(), mean_bad.t(), rstd.t(), x.t(), w.t(), b.t(), 1e-5f), Error);
  EXPECT_THROW(ops::layernorm_forward(out_bad.t(), mean.t(), rstd.t(), x.t(), w.t(), b.t(), 1e-5f), Error);
  EXPECT_THROW(ops::layernorm_backward(out_bad.t(), w.t(), b.t(), x.t(), x.t(), w.t(), mean.t(), rstd.t()),
               Error);
  EXPECT_THROW(ops::layernorm_forward(out.t(), mean.t(), rstd.t(), x.t(), w.t(), Tensor{}, 1e-5f), Error);
}

}  // namespace
}  // namespace lm::test
