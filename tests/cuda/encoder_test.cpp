// CUDA encoder (token + position embedding) forward/backward vs kernels/ref, f32 and bf16; repeated ids exercise
// the sorted, deterministic scatter-add; explicit position ids take the same path for dwpe.
#include "lm/kernels/cuda/encoder.h"

#include <gtest/gtest.h>

#include "cuda/cuda_test_util.h"
#include "lm/kernels/ref/encoder.h"

namespace lm::test {
namespace {

class CudaEncoder : public CudaDType {};

void run_encoder(DType dt, bool explicit_pos) {
  const int64_t B = 3, T = 17, C = 40, V = 11, maxT = 32, pos_offset = 5;
  std::vector<int32_t> ids(B * T), pos(B * T);
  for (int64_t i = 0; i < B * T; ++i) {
    ids[i] = static_cast<int32_t>((i * 7 + i / 5) % V);  // many repeats
    pos[i] = static_cast<int32_t>((i * 3) % maxT);
  }
  auto wte = round_to(randn(V * C, 1), dt), wpe = round_to(randn(maxT * C, 2), dt);
  auto dout = round_to(randn(B * T * C, 3), dt);
  auto dwte = round_to(randn(V * C, 4), dt), dwpe = round_to(randn(maxT * C, 5), dt);
  DevArray d_wte(wte, dt), d_wpe(wpe, dt), d_out(B * T * C, dt), d_dout(dout, dt), d_dwte(dwte, dt),
      d_dwpe(dwpe, dt);
  DevInts d_ids(ids), d_pos(pos);
  const int32_t* pp = explicit_pos ? d_pos.p() : nullptr;
  cuda::encoder_forward(dt, d_out.p(), d_ids.p(), d_wte.p(), d_wpe.p(), pos_offset, pp, B, T, C);
  cuda::encoder_backward(dt, d_dwte.p(), d_dwpe.p(), d_dout.p(), d_ids.p(), pos_offset, pp, B, T, C);

  std::vector<double> out(B * T * C);
  const int32_t* hp = explicit_pos ? pos.data() : nullptr;
  ref::encoder_forward(out.data(), ids.data(), wte.data(), wpe.data(), pos_offset, hp, B, T, C);
  ref::encoder_backward(dwte.data(), dwpe.data(), dout.data(), ids.data(), pos_offset, hp, B, T, C);
  EXPECT_LE(rel_err(d_out.get(), out), fwd_tol(dt));
  EXPECT_LE(rel_err(d_dwte.get(), dwte), grad_tol(dt));
  EXPECT_LE(rel_err(d_dwpe.get(), dwpe), grad_tol(dt));

  // Determinism: a second backward from the same start gives bitwise the same gradients.
  auto first = d_dwte.get();
  DevArray again(round_to(randn(V * C, 4), dt), dt);
  cuda::encoder_backward(dt, again.p(), nullptr, d_dout.p(), d_ids.p(), pos_offset, pp, B, T, C);
  EXPECT_EQ(again.get(), first);
}

TEST_P(CudaEncoder, EncoderMatchesRef) {
  LM_REQUIRE_CUDA();
  run_encoder(GetParam(), false);
}
TEST_P(CudaEncoder, EncoderExplicitPositionsMatchesRef) {
  LM_REQUIRE_CUDA();
  run_encoder(GetParam(), true);
}

INSTANTIATE_TEST_SUITE_P(DType, CudaEncoder, ::testing::Values(DType::F32, DType::BF16), dtype_param_name);

}  // namespace
}  // namespace lm::test
