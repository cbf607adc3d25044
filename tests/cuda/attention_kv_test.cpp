// CUDA KV-cache attention vs kernels/ref: a prefill of several tokens then single-token decode steps into the same
// cache, with a left-padding key mask (including a fully masked row), f32 and bf16; and the residual kernels.
#include "lm/kernels/cuda/attention_kv.h"

#include <gtest/gtest.h>

#include <cmath>

#include "cuda/cuda_test_util.h"
#include "lm/kernels/cuda/residual.h"
#include "lm/kernels/ref/attention_kv.h"
#include "lm/kernels/ref/residual.h"

namespace lm::test {
namespace {

class CudaAttentionKv : public CudaDType {};

TEST_P(CudaAttentionKv, PrefillThenDecodeMatchesRef) {
  LM_REQUIRE_CUDA();
  const DType dt = GetParam();
  const int64_t B = 2, NH = 2, HS = 8, C = NH * HS, Tmax = 12;
  const double scale = 1.0 / std::sqrt(static_cast<double>(HS));
  std::vector<int32_t> mask(B * Tmax, 1);
  mask[Tmax + 0] = mask[Tmax + 1] = 0;  // batch 1 left-padded by two: its first query sees only masked keys
  DevInts d_mask(mask);
  std::vector<double> kc(B * NH * Tmax * HS, 0.0), vc(kc.size(), 0.0);
  DevArray d_kc(kc, dt), d_vc(vc, dt);
  int64_t past = 0;
  for (int64_t Tn : {5, 1, 1, 3}) {
    auto qkv = round_to(randn(B * Tn * 3 * C, 100 + static_cast<uint64_t>(past)), dt);
    DevArray d_qkv(qkv, dt), d_out(B * Tn * C, dt);
    cuda::attention_kv_forward(dt, d_out.p(), d_kc.p(), d_vc.p(), d_qkv.p(), d_mask.p(), B, Tn, C, NH, Tmax, past,
                               static_cast<float>(scale));
    std::vector<double> out(B * Tn * C);
    ref::attention_kv_forward(out.data(), kc.data(), vc.data(), qkv.data(), mask.data(), B, Tn, C, NH, Tmax, past,
                              scale);
    EXPECT_LE(rel_err(d_out.get(), out), dt == DType::BF16 ? 1e-2 : 1e-5) << "past " << past;
    EXPECT_EQ(d_kc.get(), kc) << "past " << past;  // the cache holds exact copies of k and v
    EXPECT_EQ(d_vc.get(), vc) << "past " << past;
    past += Tn;
  }
}

TEST_P(CudaAttentionKv, ResidualForwardBackward) {
  LM_REQUIRE_CUDA();
  const DType dt = GetParam();
  const int64_t n = 777;
  auto a = round_to(randn(n, 1), dt), b = round_to(randn(n, 2), dt), dout = round_to(randn(n, 3), dt);
  auto da = round_to(randn(n, 4), dt), db = round_to(randn(n, 5), dt);
  DevArray d_a(a, dt), d_b(b, dt), d_out(n, dt), d_dout(dout, dt), d_da(da, dt), d_db(db, dt);
  cuda::residual_forward(dt, d_out.p(), d_a.p(), d_b.p(), n);
  cuda::residual_backward(dt, d_da.p(), d_db.p(), d_dout.p(), n);
  std::vector<double> out(n);
  ref::residual_forward(out.data(), a.data(), b.data(), n);
  ref::residual_backward(da.data(), db.data(), dout.data(), n);
  EXPECT_EQ(d_out.get(), round_to(out, dt));  // one correctly rounded add
  EXPECT_EQ(d_da.get(), round_to(da, dt));
  EXPECT_EQ(d_db.get(), round_to(db, dt));
}

INSTANTIATE_TEST_SUITE_P(DType, CudaAttentionKv, ::testing::Values(DType::F32, DType::BF16), dtype_param_name);

}  // namespace
}  // namespace lm::test
