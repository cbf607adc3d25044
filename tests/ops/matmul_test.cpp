// CPU linear layer and GEMM (oneDNN sgemm) vs the reference on odd shapes: forward with and without bias,
// accumulating backward with optional outputs, all GEMM transposes with alpha/beta, determinism, validation.
#include "lm/kernels/ref/matmul.h"

#include <gtest/gtest.h>

#include <cmath>

#include "lm/core/device_memory.h"
#include "lm/ops/matmul.h"
#include "ops/op_test_util.h"

namespace lm::test {
namespace {

constexpr int64_t B = 2, T = 67, C = 37, OC = 53, N = B * T;

TEST(OpsMatmul, ForwardMatchesReference) {
  HostF32 x({B, T, C}, 1), w({OC, C}, 2), bias({OC}, 3);
  for (bool with_bias : {true, false}) {
    HostF32 out({B, T, OC}, 9.0f);  // overwritten, not accumulated
    std::vector<float> expect(N * OC);
    ops::matmul_forward(out.t(), x.t(), w.t(), with_bias ? bias.t() : Tensor{});
    ref::matmul_forward(expect.data(), x.p(), w.p(), with_bias ? bias.p() : nullptr, N, C, OC);
    EXPECT_LT(rel_err(out.v, expect), 1e-5) << with_bias;
  }
}

TEST(OpsMatmul, BackwardAccumulatesLikeReference) {
  HostF32 x({B, T, C}, 1), w({OC, C}, 2), dout({B, T, OC}, 4);
  HostF32 dx({B, T, C}, 5), dw({OC, C}, 6), db({OC}, 7);
  auto e_dx = dx.v, e_dw = dw.v, e_db = db.v;
  ops::matmul_backward(dx.t(), dw.t(), db.t(), dout.t(), x.t(), w.t());
  ref::matmul_backward(e_dx.data(), e_dw.data(), e_db.data(), dout.p(), x.p(), w.p(), N, C, OC);
  EXPECT_LT(rel_err(dx.v, e_dx), 1e-5);
  EXPECT_LT(rel_err(dw.v, e_dw), 1e-5);
  EXPECT_LT(rel_err(db.v, e_db), 1e-5);
  // Skipped outputs stay untouched; the others still accumulate.
  auto before = dw.v;
  ops::matmul_backward(Tensor{}, Tensor{}, db.t(), dout.t(), x.t(), w.t());
  EXPECT_TRUE(bitwise_equal(dw.v, before));
  ref::matmul_backward<float>(nullptr, nullptr, e_db.data(), dout.p(), x.p(), w.p(), N, C, OC);
  EXPECT_LT(rel_err(db.v, e_db), 1e-5);
}

// overwrite_dinp: dinp = dout · W whatever it held (NaN garbage here: beta 0 must not read it); dweight and
// dbias still accumulate.
TEST(OpsMatmul, BackwardOverwriteIgnoresOldDinp) {
  HostF32 x({B, T, C}, 1), w({OC, C}, 2), dout({B, T, OC}, 4);
  HostF32 dx({B, T, C}, std::nanf("")), dw({OC, C}, 6), db({OC}, 7);
  std::vector<float> e_dx(dx.v.size(), 0.0f);
  auto e_dw = dw.v, e_db = db.v;
  ops::matmul_backward(dx.t(), dw.t(), db.t(), dout.t(), x.t(), w.t(), /*overwrite_dinp=*/true);
  ref::matmul_backward(e_dx.data(), e_dw.data(), e_db.data(), dout.p(), x.p(), w.p(), N, C, OC);
  EXPECT_LT(rel_err(dx.v, e_dx), 1e-5);
  EXPECT_LT(rel_err(dw.v, e_dw), 1e-5);
  EXPECT_LT(rel_err(db.v, e_db), 1e-5);
}

// overwrite_dweight: dweight = doutᵀ · x and dbias = Σ dout whatever they held (NaN); dinp still accumulates.
TEST(OpsMatmul, BackwardOverwriteIgnoresOldDweightAndDbias) {
  HostF32 x({B, T, C}, 1), w({OC, C}, 2), dout({B, T, OC}, 4);
  HostF32 dx({B, T, C}, 5), dw({OC, C}, std::nanf("")), db({OC}, std::nanf(""));
  auto e_dx = dx.v;
  std::vector<float> e_dw(dw.v.size(), 0.0f), e_db(db.v.size(), 0.0f);
  ops::matmul_backward(dx.t(), dw.t(), db.t(), dout.t(), x.t(), w.t(), /*overwrite_dinp=*/false,
                       /*overwrite_dweight=*/true);
  ref::matmul_backward(e_dx.data(), e_dw.data(), e_db.data(), dout.p(), x.p(), w.p(), N, C, OC);
  EXPECT_LT(rel_err(dx.v, e_dx), 1e-5);
  EXPECT_LT(rel_err(dw.v, e_dw), 1e-5);
  EXPECT_LT(rel_err(db.v, e_db), 1e-5);
}

TEST(OpsMatmul, DeterministicAcrossRuns) {
  HostF32 x({B, T, C}, 1), w({OC, C}, 2), bias({OC}, 3), dout({B, T, OC}, 4);
  std::vector<float> first_out, first_dw;
  for (int run = 0; run < 2; ++run) {
    HostF32 out({B, T, OC}, 0.0f), dx({B, T, C}, 0.0f), dw({OC, C}, 0.0f), db({OC}, 0.0f);
    ops::matmul_forward(out.t(), x.t(), w.t(), bias.t());
    ops::matmul_backward(dx.t(), dw.t(), db.t(), dout.t(), x.t(), w.t());
    if (run == 0) {
      first_out = out.v;
      first_dw = dw.v;
    }
    EXPECT_TRUE(bitwise_equal(out.v, first_out));
    EXPECT_TRUE(bitwise_equal(dw.v, first_dw));
  }
}

TEST(OpsMatmul, GemmAllTransposes) {
  const int64_t M = 19, Nn = 23, K = 65;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      HostF32 a(ta ? Shape{K, M} : Shape{M, K}, 1), b(tb ? Shape{Nn, K} : Shape{K, Nn}, 2), c({M, Nn}, 3);
      auto expect = c.v;
      ops::gemm(c.t(), a.t(), b.t(), ta, tb, 0.5f, 2.0f);
      ref::gemm<float>(ta, tb, M, Nn, K, 0.5f, a.p(), ta ? M : K, b.p(), tb ? K : Nn, 2.0f, expect.data(),
                       Nn);
      EXPECT_LT(rel_err(c.v, expect), 1e-5) << ta << tb;
    }
}

TEST(OpsMatmul, RejectsBadShapes) {
  HostF32 x({N, C}, 1), w({OC, C}, 2), bias({OC}, 3), out({N, OC}, 0.0f);
  HostF32 w_bad({OC, C + 1}, 2), bias_bad({OC + 1}, 3), out_bad({N + 1, OC}, 0.0f);
  EXPECT_THROW(ops::matmul_forward(out.t(), x.t(), w_bad.t(), bias.t()), Error);
  EXPECT_THROW(ops::matmul_forward(out.t(), x.t(), w.t(), bias_bad.t()), Error);
  EXPECT_THROW(ops::matmul_forward(out_bad.t(), x.t(), w.t(), bias.t()), Error);
  EXPECT_THROW(ops::matmul_backward(x.t(), w.t(), bias.t(), out_bad.t(), x.t(), w.t()), Error);
  EXPECT_THROW(ops::matmul_backward(x.t(), out.t(), bias.t(), out.t(), x.t(), w.t()),
               Error);                                                  // dweight shape
  EXPECT_THROW(ops::gemm(out.t(), x.t(), w.t(), false, false), Error);  // inner dims differ
}

TEST(OpsMatmul, DeviceChecks) {
  HostF32 x({N, C}, 1), w({OC, C}, 2), out({N, OC}, 0.0f);
  // Without a usable CUDA device (CPU build, or a CUDA build on a machine without a GPU) a CUDA tensor is refused
  // with Unsupported before its memory is touched. (With a device these host pointers must not reach a kernel.)
  Tensor xc = x.t(), wc = w.t(), oc = out.t();
  xc.device = wc.device = oc.device = Device::CUDA;
  if (cuda_device_count() == 0) {
    try {
      ops::matmul_forward(oc, xc, wc, Tensor{});
      FAIL() << "CUDA tensors accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Unsupported) << e.what();
    }
  }
  // Mixed devices are a caller error.
  try {
    ops::matmul_forward(out.t(), xc, w.t(), Tensor{});
    FAIL() << "mixed devices accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  }
}

}  // namespace
}  // namespace lm::test
