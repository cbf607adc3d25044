// bf16 inference linear layer (oneDNN matmul with pre-packed bf16 weights) against a double reference over the
// SAME bf16-rounded weights and activations: each output within 1e-5 · Σ|w·x| (f32 accumulation) of it, and
// within 2/256 · Σ|w·x| of the unrounded f32 product. One packed weight serves several M (1, 5, 37, 300) in any
// order, with and without bias; shapes that are and are not multiples of the AMX tile sizes; argument errors.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lm/core/dtype.h"
#include "lm/core/rng.h"
#include "lm/core/threads.h"
#include "lm/ops/linear_bf16.h"
#include "ops/op_test_util.h"

namespace lm::test {
namespace {

std::vector<float> randn(int64_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = r.next_normal();
  return v;
}

float round_bf16(float x) { return bf16_to_f32(f32_to_bf16(x)); }

// Shapes (N, K): (70, 45) is not a multiple of the AMX tile sizes (partial tiles everywhere); (96, 64) and
// (64, 160) are (full 16 x 32 tiles, several K blocks), with M = 300 and 37 leaving partial row blocks.
class LinearBf16Shapes : public ::testing::TestWithParam<std::pair<int64_t, int64_t>> {};

TEST_P(LinearBf16Shapes, MatchesTheRoundedReferenceForAnyRowCount) {
  if (!ops::linear_bf16_available()) GTEST_SKIP() << "no native bf16 matmul on this CPU";
  set_num_threads(2);
  const int64_t OC = GetParam().first, C = GetParam().second;
  auto w = randn(OC * C, 1), bias = randn(OC, 2);
  OwnedTensor wt(Shape{OC, C});
  std::copy(w.begin(), w.end(), wt.t.f32());
  OwnedTensor bt(Shape{OC});
  std::copy(bias.begin(), bias.end(), bt.t.f32());
  ops::PackedLinearBf16 packed;
  ops::pack_linear_bf16(packed, wt.t);
  for (int64_t M : {37, 1, 300, 5, 37}) {
    for (bool with_bias : {true, false}) {
      auto x = randn(M * C, 10 + static_cast<uint64_t>(M));
      OwnedTensor xt(Shape{M, C}), out(Shape{M, OC});
      std::copy(x.begin(), x.end(), xt.t.f32());
      ops::linear_bf16_forward(out.t, xt.t, packed, with_bias ? bt.t : Tensor());
      double worst_rounded = 0, worst_f32 = 0;
      for (int64_t m = 0; m < M; ++m)
        for (int64_t o = 0; o < OC; ++o) {
          double s_r = with_bias ? bias[o] : 0.0, s_f = s_r, mag = std::fabs(s_r);
          for (int64_t c = 0; c < C; ++c) {
            const float wv = w[o * C + c], xv = x[m * C + c];
            s_r += static_cast<double>(round_bf16(wv)) * round_bf16(xv);
            s_f += static_cast<double>(wv) * xv;
            mag += std::fabs(static_cast<double>(wv) * xv);
          }
          const double got = out.t.f32()[m * OC + o];
          worst_rounded = std::max(worst_rounded, std::fabs(got - s_r) / mag);
          worst_f32 = std::max(worst_f32, std::fabs(got - s_f) / mag);
        }
      EXPECT_LT(worst_rounded, 1e-5) << "M " << M;
      EXPECT_LT(worst_f32, 2.0 / 256) << "M " << M;
      EXPECT_GT(worst_f32, 0.0) << "bf16 rounding cannot be exact on random data";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(LinearBf16, LinearBf16Shapes,
                         ::testing::Values(std::make_pair(int64_t{70}, int64_t{45}),
                                           std::make_pair(int64_t{96}, int64_t{64}),
                                           std::make_pair(int64_t{64}, int64_t{160})));

// The feed-forward pair: GELU(erf) fused into the first GEMM with a bf16 output (each value within bf16 rounding,
// 2^-8 relative, plus 1e-5 · Σ|w·x| of gelu of the rounded-input reference), and a GEMM reading that bf16 matrix
// directly equals the f32-input GEMM on the same values exactly (the conversion of bf16 values is exact).
// C 40: partial K tiles in the first GEMM; C 64: full tiles in both GEMMs.
class LinearBf16Ffn : public ::testing::TestWithParam<int64_t> {};

TEST_P(LinearBf16Ffn, FusedGeluToBf16AndBf16Input) {
  if (!ops::linear_bf16_available()) GTEST_SKIP() << "no native bf16 matmul on this CPU";
  set_num_threads(2);
  const int64_t M = 45, C = GetParam(), I = 96;
  auto w1 = randn(I * C, 3), b1 = randn(I, 4), w2 = randn(C * I, 5), x = randn(M * C, 6);
  OwnedTensor w1t(Shape{I, C}), b1t(Shape{I}), w2t(Shape{C, I}), xt(Shape{M, C});
  std::copy(w1.begin(), w1.end(), w1t.t.f32());
  std::copy(b1.begin(), b1.end(), b1t.t.f32());
  std::copy(w2.begin(), w2.end(), w2t.t.f32());
  std::copy(x.begin(), x.end(), xt.t.f32());
  ops::PackedLinearBf16 p1, p2;
  ops::pack_linear_bf16(p1, w1t.t);
  ops::pack_linear_bf16(p2, w2t.t);
  OwnedTensor mid(Shape{M, I}, DType::U16);
  ops::linear_bf16_gelu_forward(mid.t, xt.t, p1, b1t.t);
  double worst = 0;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t o = 0; o < I; ++o) {
      double s = b1[o], mag = std::fabs(b1[o]);
      for (int64_t c = 0; c < C; ++c) {
        s += static_cast<double>(round_bf16(w1[o * C + c])) * round_bf16(x[m * C + c]);
        mag += std::fabs(static_cast<double>(w1[o * C + c]) * x[m * C + c]);
      }
      const double ref = 0.5 * s * (1.0 + std::erf(s / std::sqrt(2.0)));
      const double got = bf16_to_f32(mid.t.ptr<uint16_t>()[m * I + o]);
      const double err = std::fabs(got - ref);
      worst = std::max(worst, err / (std::fabs(ref) / 256 + 1e-5 * mag));
    }
  EXPECT_LT(worst, 1.0);
  OwnedTensor mid_f32(Shape{M, I}), out_a(Shape{M, C}), out_b(Shape{M, C});
  for (int64_t i = 0; i < M * I; ++i) mid_f32.t.f32()[i] = bf16_to_f32(mid.t.ptr<uint16_t>()[i]);
  ops::linear_bf16_from_bf16_forward(out_a.t, mid.t, p2, Tensor());
  ops::linear_bf16_forward(out_b.t, mid_f32.t, p2, Tensor());
  for (int64_t i = 0; i < M * C; ++i) ASSERT_EQ(out_a.t.f32()[i], out_b.t.f32()[i]) << i;
  OwnedTensor wrong(Shape{M, I});  // f32, not bf16 bits
  EXPECT_THROW(ops::linear_bf16_gelu_forward(wrong.t, xt.t, p1, b1t.t), Error);
}

INSTANTIATE_TEST_SUITE_P(LinearBf16, LinearBf16Ffn, ::testing::Values(int64_t{40}, int64_t{64}));

TEST(LinearBf16, RejectsMismatchedShapesAndUnpackedWeights) {
  if (!ops::linear_bf16_available()) GTEST_SKIP() << "no native bf16 matmul on this CPU";
  ops::PackedLinearBf16 packed;
  OwnedTensor x(Shape{4, 8}), out(Shape{4, 6}), w(Shape{6, 8});
  EXPECT_THROW(ops::linear_bf16_forward(out.t, x.t, packed, Tensor()), Error);
  ops::pack_linear_bf16(packed, w.t);
  OwnedTensor bad_x(Shape{4, 7}), bad_out(Shape{4, 5}), bad_bias(Shape{5});
  EXPECT_THROW(ops::linear_bf16_forward(out.t, bad_x.t, packed, Tensor()), Error);
  EXPECT_THROW(ops::linear_bf16_forward(bad_out.t, x.t, packed, Tensor()), Error);
  EXPECT_THROW(ops::linear_bf16_forward(out.t, x.t, packed, bad_bias.t), Error);
}

}  // namespace
}  // namespace lm::test
