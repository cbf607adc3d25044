// Reference dropout: finite-difference gradient (double), mask reuse between forward and backward, p = 0
// identity, and the kept fraction close to 1-p.
#include "lm/kernels/ref/dropout.h"

#include <gtest/gtest.h>

#include "kernels/fd_check.h"

namespace lm::test {
namespace {

TEST(RefDropout, GradientMatchesFiniteDifferences) {
  const int64_t n = 2 * 5 * 7;
  auto x = random_doubles(n, 1), r = random_doubles(n, 2);
  std::vector<double> out(n);
  auto loss = [&] {
    ref::dropout_forward(out.data(), x.data(), n, 0.3f, 42, 7);
    return dot(out, r);
  };
  std::vector<double> dx(n, 0.0);
  ref::dropout_backward(dx.data(), r.data(), n, 0.3f, 42, 7);
  EXPECT_LT(fd_rel_error(x, dx, loss), kFdTol);
}

TEST(RefDropout, IdentityAtZeroAndRate) {
  const int64_t n = 20000;
  auto x = random_doubles(n, 3);
  std::vector<double> out(n);
  ref::dropout_forward(out.data(), x.data(), n, 0.0f, 1, 2);
  EXPECT_EQ(out, x);
  ref::dropout_forward(out.data(), x.data(), n, 0.25f, 1, 2);
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i)
    if (out[i] != 0.0) {
      ++kept;
      EXPECT_NEAR(out[i], x[i] / 0.75, 1e-12);
    }
  EXPECT_NEAR(static_cast<double>(kept) / n, 0.75, 0.015);
}

}  // namespace
}  // namespace lm::test
