// Finite-difference checks (double) of the reference cross-entropy backward (with ignored rows), and the loss
// against a direct formula.
#include "lm/kernels/ref/cross_entropy.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/fd_check.h"

namespace lm::test {
namespace {

TEST(RefCrossEntropy, GradientsMatchFiniteDifferences) {
  const int64_t N = 2 * 5, V = 7;
  std::vector<int32_t> targets = {3, -100, 0, 6, 6, 1, -100, 2, 5, 4};
  auto logits = random_doubles(N * V, 1, 2.0);
  std::vector<double> losses(N);
  const double dloss = 0.37;
  int64_t count = 0;
  auto loss = [&] {
    count = ref::cross_entropy_forward(losses.data(), logits.data(), targets.data(), -100, N, V);
    double s = 0;
    for (double l : losses) s += l;
    return dloss * s;
  };
  loss();
  EXPECT_EQ(count, 8);
  EXPECT_EQ(losses[1], 0.0);
  std::vector<double> dlogits(N * V, 123.0);  // overwritten, not accumulated
  ref::cross_entropy_backward(dlogits.data(), logits.data(), targets.data(), dloss, -100, N, V);
  EXPECT_LT(fd_rel_error(logits, dlogits, loss), kFdTol);
  for (int64_t v = 0; v < V; ++v) EXPECT_EQ(dlogits[1 * V + v], 0.0);
}

TEST(RefCrossEntropy, LossFormula) {
  std::vector<double> logits = {1.0, 2.0, 3.0};
  std::vector<int32_t> target = {0};
  double loss = 0;
  ref::cross_entropy_forward(&loss, logits.data(), target.data(), -100, 1, 3);
  EXPECT_NEAR(loss, std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 1.0, 1e-15);
}

}  // namespace
}  // namespace lm::test
