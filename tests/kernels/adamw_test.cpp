// Reference AdamW against a hand-written torch.optim.AdamW step (double), over several steps with weight
// decay; and the sum of squares / scale helpers.
#include "lm/kernels/ref/adamw.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/fd_check.h"

namespace lm::test {
namespace {

TEST(RefAdamW, MatchesTorchFormula) {
  const int64_t n = 13;
  auto p = random_doubles(n, 1), p_exp = p;
  std::vector<double> m(n, 0.0), v(n, 0.0), m_exp(n, 0.0), v_exp(n, 0.0);
  const double lr = 1e-2, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
  for (int64_t step = 1; step <= 4; ++step) {
    auto g = random_doubles(n, 10 + static_cast<uint64_t>(step));
    ref::adamw_update(p.data(), g.data(), m.data(), v.data(), n, lr, b1, b2, eps, wd, step);
    for (int64_t i = 0; i < n; ++i) {
      // torch/optim/adamw.py (_single_tensor_adamw): param.mul_(1 - lr*wd); exp_avg.lerp_(grad, 1-beta1);
      // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2); denom = sqrt(exp_avg_sq)/sqrt(bc2) + eps;
      // param.addcdiv_(exp_avg, denom, value=-lr/bc1).
      p_exp[i] *= 1 - lr * wd;
      m_exp[i] = m_exp[i] + (1 - b1) * (g[i] - m_exp[i]);
      v_exp[i] = b2 * v_exp[i] + (1 - b2) * g[i] * g[i];
      const double bc1 = 1 - std::pow(b1, step), bc2 = 1 - std::pow(b2, step);
      p_exp[i] -= lr / bc1 * m_exp[i] / (std::sqrt(v_exp[i]) / std::sqrt(bc2) + eps);
    }
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_NEAR(p[i], p_exp[i], 1e-14);
      EXPECT_NEAR(m[i], m_exp[i], 1e-14);
      EXPECT_NEAR(v[i], v_exp[i], 1e-14);
    }
  }
}

TEST(RefAdamW, SumSquaresAndScale) {
  std::vector<double> x = {1.0, -2.0, 3.0};
  EXPECT_EQ(ref::sum_squares(x.data(), 3), 14.0);
  ref::scale_inplace(x.data(), 3, 0.5);
  EXPECT_EQ(x, (std::vector<double>{0.5, -1.0, 1.5}));
}

}  // namespace
}  // namespace lm::test
