// Finite-difference checks (double) of the reference embedding kernels: token + position (with pos_offset and
// with explicit position_ids, repeated ids so rows accumulate) and the generic embedding-add.
#include "lm/kernels/ref/encoder.h"

#include <gtest/gtest.h>

#include "kernels/fd_check.h"

namespace lm::test {
namespace {

TEST(RefEncoder, GradientsMatchFiniteDifferences) {
  const int64_t B = 2, T = 5, C = 7, V = 4, maxT = 9, off = 3;
  std::vector<int32_t> ids = {0, 3, 3, 1, 0, 2, 2, 3, 0, 1};
  for (bool with_pos : {false, true}) {
    std::vector<int32_t> pos = {4, 0, 1, 2, 8, 0, 0, 5, 6, 7};
    const int32_t* pp = with_pos ? pos.data() : nullptr;
    auto wte = random_doubles(V * C, 1), wpe = random_doubles(maxT * C, 2), r = random_doubles(B * T * C, 3);
    std::vector<double> out(B * T * C);
    auto loss = [&] {
      ref::encoder_forward(out.data(), ids.data(), wte.data(), wpe.data(), off, pp, B, T, C);
      return dot(out, r);
    };
    std::vector<double> dwte(V * C, 0.0), dwpe(maxT * C, 0.0);
    ref::encoder_backward(dwte.data(), dwpe.data(), r.data(), ids.data(), off, pp, B, T, C);
    EXPECT_LT(fd_rel_error(wte, dwte, loss), kFdTol);
    EXPECT_LT(fd_rel_error(wpe, dwpe, loss), kFdTol);
  }
}

TEST(RefEncoder, EmbeddingAddGradient) {
  const int64_t N = 6, C = 5, V = 3;
  std::vector<int32_t> ids = {2, 0, 2, 1, 2, 0};
  auto table = random_doubles(V * C, 4), base = random_doubles(N * C, 5), r = random_doubles(N * C, 6);
  std::vector<double> out(N * C);
  auto loss = [&] {
    out = base;
    ref::embedding_add_forward(out.data(), ids.data(), table.data(), N, C);
    return dot(out, r);
  };
  std::vector<double> dtable(V * C, 0.0);
  ref::embedding_add_backward(dtable.data(), r.data(), ids.data(), N, C);
  EXPECT_LT(fd_rel_error(table, dtable, loss), kFdTol);
}

}  // namespace
}  // namespace lm::test
