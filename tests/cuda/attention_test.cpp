// CUDA attention core (batched-GEMM + softmax formulation) forward and accumulating backward vs kernels/ref:
// causal, causal with a key padding mask (including a query row whose allowed keys are all masked: uniform), and
// bidirectional with a mask; f32 and bf16. bf16 stores the raw scores and probabilities in bf16 (fp32 softmax
// math), so its forward tolerance is the gradient one (1e-2), not the 3e-3 of plain bf16 outputs.
#include "lm/kernels/cuda/attention.h"

#include <gtest/gtest.h>

#include <cmath>

#include "cuda/cuda_test_util.h"
#include "lm/kernels/ref/attention.h"

namespace lm::test {
namespace {

class CudaAttention : public CudaDType {};

void run_attention(DType dt, bool causal, bool masked) {
  const int64_t B = 2, T = 19, NH = 3, HS = 8, C = NH * HS;
  const double scale = 1.0 / std::sqrt(static_cast<double>(HS));
  auto qkv = round_to(randn(B * T * 3 * C, 1), dt), dout = round_to(randn(B * T * C, 2), dt);
  auto dqkv = round_to(randn(B * T * 3 * C, 3), dt);
  std::vector<int32_t> mask(B * T, 1);
  if (masked) {
    for (int64_t t = 0; t < 4; ++t) mask[T + t] = 0;  // batch 1: first keys padding (query 0..3 fully masked)
    mask[7] = mask[12] = 0;                            // batch 0: holes
  }
  DevArray d_qkv(qkv, dt), d_out(B * T * C, dt), d_att(B * NH * T * T, dt), d_dout(dout, dt), d_dqkv(dqkv, dt),
      d_datt(B * NH * T * T, dt);
  DevInts d_mask(mask);
  const int32_t* km = masked ? d_mask.p() : nullptr;
  cuda::attention_forward(dt, d_out.p(), d_att.p(), d_qkv.p(), km, B, T, C, NH, causal, static_cast<float>(scale));
  cuda::attention_backward(dt, d_dqkv.p(), d_datt.p(), d_dout.p(), d_qkv.p(), d_att.p(), B, T, C, NH,
                           static_cast<float>(scale));
  std::vector<double> out(B * T * C), att(B * NH * T * T), datt(B * NH * T * T);
  ref::attention_forward(out.data(), att.data(), qkv.data(), masked ? mask.data() : nullptr, B, T, C, NH, causal,
                         scale);
  ref::attention_backward(dqkv.data(), datt.data(), dout.data(), qkv.data(), att.data(), B, T, C, NH, scale);
  const double ftol = dt == DType::BF16 ? 1e-2 : 1e-5;
  EXPECT_LE(rel_err(d_att.get(), att), ftol);
  EXPECT_LE(rel_err(d_out.get(), out), ftol);
  EXPECT_LE(rel_err(d_dqkv.get(), dqkv), grad_tol(dt));
  // Probabilities of future and masked keys are exactly zero.
  auto a = d_att.get();
  for (int64_t bh = 0; bh < B * NH; ++bh)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < T; ++j)
        if (att[(bh * T + t) * T + j] == 0.0) {
          ASSERT_EQ(a[(bh * T + t) * T + j], 0.0) << bh << " " << t << " " << j;
        }
}

TEST_P(CudaAttention, Causal) {
  LM_REQUIRE_CUDA();
  run_attention(GetParam(), true, false);
}
TEST_P(CudaAttention, CausalWithPaddingMask) {
  LM_REQUIRE_CUDA();
  run_attention(GetParam(), true, true);
}
TEST_P(CudaAttention, BidirectionalWithPaddingMask) {
  LM_REQUIRE_CUDA();
  run_attention(GetParam(), false, true);
}

INSTANTIATE_TEST_SUITE_P(DType, CudaAttention, ::testing::Values(DType::F32, DType::BF16), dtype_param_name);

}  // namespace
}  // namespace lm::test
