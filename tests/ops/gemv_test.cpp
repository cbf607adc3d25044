// GEMV (decode linear layer) against the reference linear layer in double: f32 weights and bf16 weights
// (reference = the same bf16-rounded weights in double) on every path this CPU runs (AVX-512 / vdpbf16ps,
// AVX2+FMA, portable), for 1..9 input rows (several row blocks), widths that are and are not multiples of the
// vector lengths, with and without bias. Results must not depend on the thread count or on N (one dot per
// output).
#include "lm/kernels/cpu/gemv.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "lm/core/dtype.h"
#include "lm/ops/gemv.h"
#include "ops/op_test_util.h"

namespace lm::test {
namespace {

struct Case {
  int64_t N, C, OC;
};
const Case kCases[] = {{1, 768, 100}, {1, 33, 7}, {3, 64, 41}, {4, 100, 37}, {5, 48, 19}, {2, 120, 29}, {9, 770, 23}};

// out[n,o] reference in double over the given float weights; also sum |w x| per output (the error scale).
void reference(const std::vector<float>& w, const std::vector<float>& x, const float* bias, const Case& k,
               std::vector<double>* out, std::vector<double>* mag) {
  out->assign(static_cast<size_t>(k.N * k.OC), 0.0);
  mag->assign(out->size(), 0.0);
  for (int64_t n = 0; n < k.N; ++n)
    for (int64_t o = 0; o < k.OC; ++o) {
      double s = bias ? bias[o] : 0.0, m = 0;
      for (int64_t c = 0; c < k.C; ++c) {
        s += static_cast<double>(w[o * k.C + c]) * x[n * k.C + c];
        m += std::fabs(static_cast<double>(w[o * k.C + c]) * x[n * k.C + c]);
      }
      (*out)[n * k.OC + o] = s;
      (*mag)[n * k.OC + o] = m + (bias ? std::fabs(bias[o]) : 0.0);
    }
}

// max over outputs of |got - ref| / sum|w x|
double worst(const std::vector<float>& got, const std::vector<double>& ref, const std::vector<double>& mag) {
  double e = 0;
  for (size_t i = 0; i < got.size(); ++i)
    e = std::max(e, std::fabs(got[i] - ref[i]) / std::max(mag[i], 1e-30));
  return e;
}

// The paths of this CPU, each once (a cap above what the CPU has falls back to the same kernel).
const cpu::GemvPath kPaths[] = {cpu::GemvPath::Auto, cpu::GemvPath::Avx2, cpu::GemvPath::Generic};

TEST(Gemv, F32MatchesReference) {
  set_num_threads(2);
  for (cpu::GemvPath path : kPaths) {
    cpu::gemv_cap_path(path);
    for (const Case& k : kCases)
      for (bool with_bias : {true, false}) {
        HostF32 x(Shape{k.N, k.C}, 1), w(Shape{k.OC, k.C}, 2), b(Shape{k.OC}, 3), out(Shape{k.N, k.OC}, 0.0f);
        ops::gemv_forward(out.t(), x.t(), w.t(), with_bias ? b.t() : Tensor());
        std::vector<double> ref, mag;
        reference(w.v, x.v, with_bias ? b.p() : nullptr, k, &ref, &mag);
        EXPECT_LT(worst(out.v, ref, mag), 1e-6)
            << "N " << k.N << " C " << k.C << " isa " << cpu::gemv_f32_isa();
      }
  }
  cpu::gemv_cap_path(cpu::GemvPath::Auto);
}

TEST(Gemv, Bf16MatchesReferenceOnRoundedWeights) {
  set_num_threads(2);
  for (cpu::GemvPath path : kPaths) {
    cpu::gemv_cap_path(path);
    // vdpbf16ps also rounds the activations to bf16: each product then carries up to 2^-8 relative error.
    const bool dp = std::string(cpu::gemv_bf16_isa()) == "avx512_bf16";
    const double tol = dp ? 1.0 / 256 : 1e-6;
    for (const Case& k : kCases) {
      HostF32 x(Shape{k.N, k.C}, 4), w(Shape{k.OC, k.C}, 5), b(Shape{k.OC}, 6), out(Shape{k.N, k.OC}, 0.0f);
      std::vector<uint16_t> w16(w.v.size());
      std::vector<float> wr(w.v.size());
      for (size_t i = 0; i < w.v.size(); ++i) wr[i] = bf16_to_f32(w16[i] = f32_to_bf16(w.v[i]));
      ops::gemv_forward(out.t(), x.t(), Tensor(w16.data(), Shape{k.OC, k.C}, DType::BF16), b.t());
      std::vector<double> ref, mag;
      reference(wr, x.v, b.p(), k, &ref, &mag);
      EXPECT_LT(worst(out.v, ref, mag), tol)
          << "N " << k.N << " C " << k.C << " isa " << cpu::gemv_bf16_isa();
      // And against the f32 weights, the rounding of the weights included (what decoding in bf16 costs).
      std::vector<double> ref32, mag32;
      reference(w.v, x.v, b.p(), k, &ref32, &mag32);
      EXPECT_LT(worst(out.v, ref32, mag32), 2.0 / 256) << "N " << k.N << " C " << k.C;
    }
  }
  cpu::gemv_cap_path(cpu::GemvPath::Auto);
}

TEST(Gemv, IndependentOfThreadsAndRowCount) {
  const Case k{7, 200, 53};
  HostF32 x(Shape{k.N, k.C}, 7), w(Shape{k.OC, k.C}, 8);
  std::vector<uint16_t> w16(w.v.size());
  for (size_t i = 0; i < w.v.size(); ++i) w16[i] = f32_to_bf16(w.v[i]);
  for (cpu::GemvPath path : kPaths)
    for (bool bf16 : {false, true}) {
      cpu::gemv_cap_path(path);
      Tensor wt = bf16 ? Tensor(w16.data(), Shape{k.OC, k.C}, DType::BF16) : w.t();
      std::vector<std::vector<float>> runs;
      for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        HostF32 out(Shape{k.N, k.OC}, 0.0f);
        ops::gemv_forward(out.t(), x.t(), wt, Tensor());
        runs.push_back(out.v);
      }
      EXPECT_TRUE(bitwise_equal(runs[0], runs[1]));
      EXPECT_TRUE(bitwise_equal(runs[0], runs[2]));
      // Row 5 alone equals row 5 of the batch.
      HostF32 one(Shape{1, k.OC}, 0.0f);
      ops::gemv_forward(one.t(), Tensor(x.p() + 5 * k.C, Shape{1, k.C}), wt, Tensor());
      EXPECT_TRUE(
          bitwise_equal(one.v, std::vector<float>(runs[0].begin() + 5 * k.OC, runs[0].begin() + 6 * k.OC)))
          << "isa " << (bf16 ? cpu::gemv_bf16_isa() : cpu::gemv_f32_isa());
    }
  cpu::gemv_cap_path(cpu::GemvPath::Auto);
  set_num_threads(2);
}

TEST(Gemv, RejectsBadShapesAndDtypes) {
  HostF32 x(Shape{2, 8}, 1), w(Shape{4, 8}, 2), out(Shape{2, 4}, 0.0f), bad(Shape{4, 9}, 3);
  EXPECT_THROW(ops::gemv_forward(out.t(), x.t(), bad.t(), Tensor()), Error);
  HostF32 out_bad(Shape{2, 5}, 0.0f);
  EXPECT_THROW(ops::gemv_forward(out_bad.t(), x.t(), w.t(), Tensor()), Error);
  std::vector<int32_t> wi(32);
  EXPECT_THROW(ops::gemv_forward(out.t(), x.t(), Tensor(wi.data(), Shape{4, 8}, DType::I32), Tensor()),
               Error);
}

TEST(MemoryRead, SumsEveryElement) {
  set_num_threads(2);
  std::vector<float> v(1000003, 0.5f);
  EXPECT_DOUBLE_EQ(cpu::read_sum(v.data(), static_cast<int64_t>(v.size())), 0.5 * 1000003);
}

}  // namespace
}  // namespace lm::test
