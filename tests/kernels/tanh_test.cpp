// Finite-difference check (double) of the reference tanh, whose backward reads the saved output.
#include "lm/kernels/ref/tanh.h"

#include <gtest/gtest.h>

#include "kernels/fd_check.h"

namespace lm::test {
namespace {

TEST(RefTanh, GradientMatchesFiniteDifferences) {
  const int64_t n = 3 * 11;
  auto x = random_doubles(n, 1, 2.0), r = random_doubles(n, 2);
  std::vector<double> out(n);
  auto loss = [&] {
    ref::tanh_forward(out.data(), x.data(), n);
    return dot(out, r);
  };
  loss();
  std::vector<double> dx(n, 0.0);
  ref::tanh_backward(dx.data(), r.data(), out.data(), n);
  EXPECT_LT(fd_rel_error(x, dx, loss), kFdTol);
}

}  // namespace
}  // namespace lm::test
