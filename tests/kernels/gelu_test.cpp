// Finite-difference checks (double) of both reference GELU forms, plus known values.
#include "lm/kernels/ref/gelu.h"

#include <gtest/gtest.h>

#include "kernels/fd_check.h"

namespace lm::test {
namespace {

TEST(RefGelu, GradientsMatchFiniteDifferences) {
  const int64_t n = 2 * 5 * 7;
  for (bool tanh_form : {true, false}) {
    auto x = random_doubles(n, 1, 2.5), r = random_doubles(n, 2);
    std::vector<double> out(n);
    auto loss = [&] {
      ref::gelu_forward(out.data(), x.data(), n, tanh_form);
      return dot(out, r);
    };
    std::vector<double> dx(n, 0.0);
    ref::gelu_backward(dx.data(), r.data(), x.data(), n, tanh_form);
    EXPECT_LT(fd_rel_error(x, dx, loss), kFdTol) << (tanh_form ? "tanh" : "erf");
  }
}

TEST(RefGelu, KnownValues) {
  // torch.nn.functional.gelu(torch.tensor(1.0, dtype=float64)) and approximate='tanh'.
  EXPECT_NEAR(ref::gelu_erf(1.0), 0.8413447460685429, 1e-15);
  EXPECT_NEAR(ref::gelu_tanh(1.0), 0.8411919906082768, 1e-15);
  EXPECT_NEAR(ref::gelu_erf(-2.0), -0.04550026389635842, 1e-15);
}

}  // namespace
}  // namespace lm::test
