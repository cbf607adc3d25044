// Accuracy of the vectorisable exp / tanh used by the CPU kernels, against libm in double.
#include "lm/kernels/cpu/vec_math.h"

#include <gtest/gtest.h>

#include <cmath>

namespace lm::test {
namespace {

TEST(VecMath, ExpApproxWithinFewUlp) {
  double worst = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.001953125f) {
    const double e = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(cpu::exp_approx(x) - e) / e);
  }
  EXPECT_LT(worst, 4e-7);  // ~3 ulp
  EXPECT_EQ(cpu::exp_approx(0.0f), 1.0f);
  EXPECT_EQ(cpu::exp_approx(-100.0f), 0.0f);
  EXPECT_EQ(cpu::exp_approx(-INFINITY), 0.0f);
  EXPECT_TRUE(std::isfinite(cpu::exp_approx(1000.0f)));
}

TEST(VecMath, TanhApproxAbsoluteError) {
  double worst = 0;
  for (float u = -20.0f; u <= 20.0f; u += 0.0009765625f)
    worst = std::max(worst, std::abs(cpu::tanh_approx(u) - std::tanh(static_cast<double>(u))));
  EXPECT_LT(worst, 3e-7);
  EXPECT_EQ(cpu::tanh_approx(50.0f), 1.0f);
  EXPECT_EQ(cpu::tanh_approx(-50.0f), -1.0f);
}

}  // namespace
}  // namespace lm::test
