// Finite-difference checks (double) of the reference row softmax and its backward; and residual add.
#include "lm/kernels/ref/softmax.h"

#include <gtest/gtest.h>

#include "kernels/fd_check.h"
#include "lm/kernels/ref/residual.h"

namespace lm::test {
namespace {

TEST(RefSoftmax, GradientsMatchFiniteDifferences) {
  const int64_t N = 2 * 5, D = 7;
  auto x = random_doubles(N * D, 1, 3.0), r = random_doubles(N * D, 2);
  std::vector<double> out(N * D);
  auto loss = [&] {
    ref::softmax_forward(out.data(), x.data(), N, D);
    return dot(out, r);
  };
  loss();
  std::vector<double> dx(N * D, 0.0);
  ref::softmax_backward(dx.data(), r.data(), out.data(), N, D);
  EXPECT_LT(fd_rel_error(x, dx, loss), kFdTol);
}

TEST(RefResidual, GradientsMatchFiniteDifferences) {
  const int64_t n = 2 * 5 * 7;
  auto a = random_doubles(n, 1), b = random_doubles(n, 2), r = random_doubles(n, 3);
  std::vector<double> out(n);
  auto loss = [&] {
    ref::residual_forward(out.data(), a.data(), b.data(), n);
    return dot(out, r);
  };
  std::vector<double> da(n, 0.0), db(n, 0.0);
  ref::residual_backward(da.data(), db.data(), r.data(), n);
  EXPECT_LT(fd_rel_error(a, da, loss), kFdTol);
  EXPECT_LT(fd_rel_error(b, db, loss), kFdTol);
}

}  // namespace
}  // namespace lm::test
