// CPU embedding ops vs the reference: forward (offset and explicit position ids), accumulating backward,
// determinism across runs and thread counts, and id/position/shape validation.
#include "lm/kernels/ref/encoder.h"

#include <gtest/gtest.h>

#include "lm/ops/encoder.h"
#include "lm/ops/gather_rows.h"
#include "ops/op_test_util.h"

namespace lm::test {
namespace {

constexpr int64_t B = 3, T = 7, C = 37, V = 11, maxT = 13;

TEST(OpsEncoder, ForwardMatchesReference) {
  HostI32 ids({B, T}, random_ids(B * T, V, 1));
  HostI32 pos({B, T}, random_ids(B * T, maxT, 2));
  HostF32 wte({V, C}, 3), wpe({maxT, C}, 4);
  for (bool with_pos : {false, true}) {
    HostF32 out({B, T, C}, 0.0f), expect({B, T, C}, 0.0f);
    ops::encoder_forward(out.t(), ids.t(), wte.t(), wpe.t(), 2, with_pos ? pos.t() : Tensor{});
    ref::encoder_forward(expect.p(), ids.p(), wte.p(), wpe.p(), 2, with_pos ? pos.p() : nullptr, B, T, C);
    EXPECT_TRUE(bitwise_equal(out.v, expect.v));
  }
}

TEST(OpsEncoder, BackwardAccumulatesLikeReference) {
  HostI32 ids({B, T}, random_ids(B * T, V, 1));
  HostF32 dout({B, T, C}, 5);
  HostF32 dwte({V, C}, 6), dwpe({maxT, C}, 7);
  auto ref_wte = dwte.v, ref_wpe = dwpe.v;
  ops::encoder_backward(dwte.t(), dwpe.t(), dout.t(), ids.t(), 1);
  ref::encoder_backward(ref_wte.data(), ref_wpe.data(), dout.p(), ids.p(), 1, nullptr, B, T, C);
  EXPECT_LT(rel_err(dwte.v, ref_wte), 1e-6);
  EXPECT_LT(rel_err(dwpe.v, ref_wpe), 1e-6);
  // dwpe undefined: only dwte accumulates.
  HostF32 dwte2({V, C}, 0.0f);
  ops::encoder_backward(dwte2.t(), Tensor{}, dout.t(), ids.t(), 1);
}

TEST(OpsEncoder, BackwardDeterministicAcrossThreadCounts) {
  HostI32 ids({B, T}, random_ids(B * T, 3, 1));  // few distinct ids: many rows sum into one
  HostF32 dout({B, T, C}, 5);
  std::vector<float> first;
  for (int threads : {1, 2, 2}) {
    ScopedThreads st(threads);
    HostF32 dwte({V, C}, 0.0f), dwpe({maxT, C}, 0.0f);
    ops::encoder_backward(dwte.t(), dwpe.t(), dout.t(), ids.t());
    if (first.empty()) first = dwte.v;
    EXPECT_TRUE(bitwise_equal(dwte.v, first)) << threads;
  }
}

TEST(OpsEncoder, EmbeddingAddMatchesReference) {
  HostI32 ids({B, T}, random_ids(B * T, 2, 8));
  HostF32 table({2, C}, 9), out({B, T, C}, 10), dout({B, T, C}, 11), dtable({2, C}, 12);
  auto expect = out.v;
  auto expect_d = dtable.v;
  ops::embedding_add_forward(out.t(), ids.t(), table.t());
  ref::embedding_add_forward(expect.data(), ids.p(), table.p(), B * T, C);
  EXPECT_TRUE(bitwise_equal(out.v, expect));
  ops::embedding_add_backward(dtable.t(), dout.t(), ids.t());
  ref::embedding_add_backward(expect_d.data(), dout.p(), ids.p(), B * T, C);
  EXPECT_LT(rel_err(dtable.v, expect_d), 1e-6);
}

// Row gather and its adjoint on a worked example: out[r] = in[idx[r]]; dst[idx[r]] += src[r] (a repeated index
// receives both rows).
TEST(OpsEncoder, GatherAndScatterAddRows) {
  HostF32 in({4, 2}, 0.0f), out({3, 2}, 0.0f), dst({4, 2}, 1.0f);
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 2; ++c) in.v[static_cast<size_t>(r * 2 + c)] = static_cast<float>(10 * r + c);
  ops::gather_rows(out.t(), in.t(), {2, 0, 2});
  EXPECT_EQ(out.v, (std::vector<float>{20, 21, 0, 1, 20, 21}));
  ops::scatter_add_rows(dst.t(), out.t(), {1, 3, 1});
  EXPECT_EQ(dst.v, (std::vector<float>{1, 1, 41, 43, 1, 1, 1, 2}));
  EXPECT_THROW(ops::gather_rows(out.t(), in.t(), {0, 4, 1}), Error);      // index out of range
  EXPECT_THROW(ops::scatter_add_rows(dst.t(), out.t(), {0, 1}), Error);  // 3 rows, 2 indices
}

TEST(OpsEncoder, RejectsBadInput) {
  HostI32 ids({B, T}, random_ids(B * T, V, 1));
  HostF32 wte({V, C}, 3), wpe({maxT, C}, 4), out({B, T, C}, 0.0f), bad_out({B, T, C + 1}, 0.0f);
  EXPECT_THROW(ops::encoder_forward(bad_out.t(), ids.t(), wte.t(), wpe.t()), Error);
  EXPECT_THROW(ops::encoder_forward(out.t(), ids.t(), wte.t(), wpe.t(), maxT - T + 1), Error);
  ids.v[5] = V;
  EXPECT_THROW(ops::encoder_forward(out.t(), ids.t(), wte.t(), wpe.t()), Error);
  ids.v[5] = -1;
  EXPECT_THROW(ops::encoder_forward(out.t(), ids.t(), wte.t(), wpe.t()), Error);
  ids.v[5] = 0;
  HostI32 pos({B, T}, std::vector<int32_t>(B * T, maxT));
  EXPECT_THROW(ops::encoder_forward(out.t(), ids.t(), wte.t(), wpe.t(), 0, pos.t()), Error);
  EXPECT_THROW(ops::encoder_forward(out.t(), out.t(), wte.t(), wpe.t()), Error);  // f32 ids
}

}  // namespace
}  // namespace lm::test
