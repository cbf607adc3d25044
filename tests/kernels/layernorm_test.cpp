// Finite-difference checks (double) of the reference LayerNorm backward w.r.t. inp, w and b.
#include "lm/kernels/ref/layernorm.h"

#include <gtest/gtest.h>

#include "kernels/fd_check.h"

namespace lm::test {
namespace {

TEST(RefLayerNorm, GradientsMatchFiniteDifferences) {
  const int64_t N = 2 * 5, C = 7;
  auto x = random_doubles(N * C, 1, 2.0), w = random_doubles(C, 2), b = random_doubles(C, 3);
  auto r = random_doubles(N * C, 4);
  std::vector<double> out(N * C), mean(N), rstd(N);
  auto loss = [&] {
    ref::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), 1e-5, N, C);
    return dot(out, r);
  };
  loss();
  std::vector<double> dx(N * C, 0.0), dw(C, 0.0), db(C, 0.0);
  ref::layernorm_backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), mean.data(),
                          rstd.data(), N, C);
  EXPECT_LT(fd_rel_error(x, dx, loss), kFdTol);
  EXPECT_LT(fd_rel_error(w, dw, loss), kFdTol);
  EXPECT_LT(fd_rel_error(b, db, loss), kFdTol);
}

TEST(RefLayerNorm, ForwardNormalises) {
  const int64_t N = 3, C = 11;
  auto x = random_doubles(N * C, 5, 3.0);
  std::vector<double> w(C, 1.0), b(C, 0.0), out(N * C), mean(N), rstd(N);
  ref::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), 0.0, N, C);
  for (int64_t n = 0; n < N; ++n) {
    double s = 0, s2 = 0;
    for (int64_t c = 0; c < C; ++c) {
      s += out[n * C + c];
      s2 += out[n * C + c] * out[n * C + c];
    }
    EXPECT_NEAR(s / C, 0.0, 1e-12);
    EXPECT_NEAR(s2 / C, 1.0, 1e-12);
  }
}

}  // namespace
}  // namespace lm::test
