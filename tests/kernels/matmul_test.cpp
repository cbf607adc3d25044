// Finite-difference checks (double) of the reference linear layer, and the reference GEMM against the linear
// layer for every transpose combination.
#include "lm/kernels/ref/matmul.h"

#include <gtest/gtest.h>

#include "kernels/fd_check.h"

namespace lm::test {
namespace {

TEST(RefMatmul, GradientsMatchFiniteDifferences) {
  const int64_t N = 2 * 5, C = 7, OC = 9;
  for (bool with_bias : {true, false}) {
    auto inp = random_doubles(N * C, 1), w = random_doubles(OC * C, 2), bias = random_doubles(OC, 3);
    auto r = random_doubles(N * OC, 4);
    std::vector<double> out(N * OC);
    auto loss = [&] {
      ref::matmul_forward(out.data(), inp.data(), w.data(), with_bias ? bias.data() : nullptr, N, C, OC);
      return dot(out, r);
    };
    std::vector<double> dinp(N * C, 0.0), dw(OC * C, 0.0), db(OC, 0.0);
    ref::matmul_backward(dinp.data(), dw.data(), with_bias ? db.data() : nullptr, r.data(), inp.data(),
                         w.data(), N, C, OC);
    EXPECT_LT(fd_rel_error(inp, dinp, loss), kFdTol);
    EXPECT_LT(fd_rel_error(w, dw, loss), kFdTol);
    if (with_bias) {
      EXPECT_LT(fd_rel_error(bias, db, loss), kFdTol);
    }
  }
}

TEST(RefMatmul, GemmTransposesAgreeWithLinear) {
  const int64_t M = 5, N = 7, K = 3;
  auto a = random_doubles(M * K, 1), bt = random_doubles(N * K, 2);  // a (M,K), bt (N,K)
  std::vector<double> expect(M * N);
  ref::matmul_forward(expect.data(), a.data(), bt.data(), static_cast<const double*>(nullptr), M, K, N);
  std::vector<double> at(K * M), b(K * N);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = 0; k < K; ++k) at[k * M + i] = a[i * K + k];
  for (int64_t j = 0; j < N; ++j)
    for (int64_t k = 0; k < K; ++k) b[k * N + j] = bt[j * K + k];
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      std::vector<double> c(M * N, 1.0);
      ref::gemm<double>(ta, tb, M, N, K, 2.0, ta ? at.data() : a.data(), ta ? M : K,
                        tb ? bt.data() : b.data(), tb ? K : N, 0.5, c.data(), N);
      for (int64_t i = 0; i < M * N; ++i) EXPECT_NEAR(c[i], 2.0 * expect[i] + 0.5, 1e-12);
    }
}

}  // namespace
}  // namespace lm::test
