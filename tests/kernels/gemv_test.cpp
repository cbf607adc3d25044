// The CPU GEMV kernel (cpu::gemv_f32 / cpu::gemv_bf16) across row counts: for N in 1..20 and 33 input rows
// (one to nine blocks of four, partial last blocks, and the output-row tiling that N > 4 uses), at GPT-2
// shapes (C 768; OC 2304, 768, 3072) and an odd width (C 100, OC 3001: several tiles per thread, a partial
// last one), on every path this CPU runs. Each row of an N-row call must be bitwise equal to the 1-row call
// on that row (one dot product per output in a fixed order, whatever N), and the 1-row calls close to a
// double reference (so every row of every batch is); the result must not depend on the thread count either.
#include "lm/kernels/cpu/gemv.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "lm/core/dtype.h"
#include "ops/op_test_util.h"

namespace lm::test {
namespace {

struct Shape2 {
  int64_t C, OC;
};
const Shape2 kShapes[] = {{768, 2304}, {768, 768}, {768, 3072}, {100, 3001}};
constexpr int64_t kMaxRows = 33;

std::vector<int64_t> row_counts() {
  std::vector<int64_t> ns;
  for (int64_t n = 1; n <= 20; ++n) ns.push_back(n);
  ns.push_back(kMaxRows);
  return ns;
}

const cpu::GemvPath kPaths[] = {cpu::GemvPath::Auto, cpu::GemvPath::Avx2, cpu::GemvPath::Generic};

// The weights of one shape, f32 and bf16 (with the f32 values of the bf16 weights for the reference).
struct Weights {
  std::vector<float> f32, bf16_values, bias;
  std::vector<uint16_t> bf16;
  Weights(const Shape2& s, uint64_t seed)
      : f32(random_vec(s.OC * s.C, seed, 0.05f)),
        bf16_values(f32.size()),
        bias(random_vec(s.OC, seed + 1)),
        bf16(f32.size()) {
    for (size_t i = 0; i < f32.size(); ++i) bf16_values[i] = bf16_to_f32(bf16[i] = f32_to_bf16(f32[i]));
  }
};

void run(bool bf16, const Weights& w, float* out, const float* x, int64_t N, const Shape2& s) {
  if (bf16)
    cpu::gemv_bf16(out, x, w.bf16.data(), w.bias.data(), N, s.C, s.OC);
  else
    cpu::gemv_f32(out, x, w.f32.data(), w.bias.data(), N, s.C, s.OC);
}

// Worst |got - ref| / (sum |w x| + |b|) over the first N rows, the reference in double.
double worst_error(const std::vector<float>& got, const std::vector<float>& w, const std::vector<float>& bias,
                   const std::vector<float>& x, int64_t N, const Shape2& s) {
  double worst = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < s.OC; ++o) {
      double sum = bias[o], mag = std::fabs(bias[o]);
      for (int64_t c = 0; c < s.C; ++c) {
        const double p = static_cast<double>(w[o * s.C + c]) * x[n * s.C + c];
        sum += p;
        mag += std::fabs(p);
      }
      worst = std::max(worst, std::fabs(got[n * s.OC + o] - sum) / std::max(mag, 1e-30));
    }
  return worst;
}

std::string where(bool bf16, const Shape2& s, int64_t N) {
  return std::string(bf16 ? "bf16 " : "f32 ") + (bf16 ? cpu::gemv_bf16_isa() : cpu::gemv_f32_isa()) + " C " +
         std::to_string(s.C) + " OC " + std::to_string(s.OC) + " N " + std::to_string(N);
}

bool rows_equal(const float* a, const float* b, int64_t n) {
  return std::memcmp(a, b, n * sizeof(float)) == 0;
}

TEST(GemvKernel, EveryRowOfABatchEqualsItsOneRowCall) {
  ScopedThreads threads(2);
  const std::vector<float> x = random_vec(kMaxRows * 768, 11);
  for (const Shape2& s : kShapes) {
    const Weights w(s, 20 + static_cast<uint64_t>(s.OC));
    for (cpu::GemvPath path : kPaths)
      for (bool bf16 : {false, true}) {
        cpu::gemv_cap_path(path);
        // The 1-row call on each of the kMaxRows input rows.
        std::vector<float> single(static_cast<size_t>(kMaxRows * s.OC));
        for (int64_t n = 0; n < kMaxRows; ++n)
          run(bf16, w, single.data() + n * s.OC, x.data() + n * s.C, 1, s);
        // vdpbf16ps also rounds the activations to bf16: each product then carries up to 2^-8 relative error.
        const bool dp = bf16 && std::string(cpu::gemv_bf16_isa()) == "avx512_bf16";
        const double tol = dp ? 1.0 / 256 : 1e-5;
        EXPECT_LT(worst_error(single, bf16 ? w.bf16_values : w.f32, w.bias, x, kMaxRows, s), tol)
            << where(bf16, s, 1);
        for (int64_t N : row_counts()) {
          std::vector<float> out(static_cast<size_t>(N * s.OC), -1.0f);
          run(bf16, w, out.data(), x.data(), N, s);
          for (int64_t n = 0; n < N; ++n)
            ASSERT_TRUE(rows_equal(out.data() + n * s.OC, single.data() + n * s.OC, s.OC))
                << where(bf16, s, N) << " row " << n;
        }
      }
  }
  cpu::gemv_cap_path(cpu::GemvPath::Auto);
}

TEST(GemvKernel, ManyRowsIndependentOfThreadCount) {
  const Shape2 s{100, 3001};
  const Weights w(s, 31);
  const std::vector<float> x = random_vec(kMaxRows * s.C, 12);
  for (cpu::GemvPath path : kPaths)
    for (bool bf16 : {false, true}) {
      cpu::gemv_cap_path(path);
      std::vector<std::vector<float>> runs;
      for (int t : {1, 2, 3}) {
        ScopedThreads threads(t);
        runs.emplace_back(static_cast<size_t>(kMaxRows * s.OC));
        run(bf16, w, runs.back().data(), x.data(), kMaxRows, s);
      }
      EXPECT_TRUE(bitwise_equal(runs[0], runs[1])) << where(bf16, s, kMaxRows);
      EXPECT_TRUE(bitwise_equal(runs[0], runs[2])) << where(bf16, s, kMaxRows);
    }
  cpu::gemv_cap_path(cpu::GemvPath::Auto);
}

}  // namespace
}  // namespace lm::test
