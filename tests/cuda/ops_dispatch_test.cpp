// ops/ on CUDA tensors (f32): every op wired to a CUDA kernel gives what the same op gives on CPU tensors (fp32
// tolerance), device ids/targets are validated through host copies, and dropout (elementwise and inside attention)
// draws the CPU's Philox masks: same kept elements, same values.
#include <gtest/gtest.h>

#include <cmath>

#include "cuda/cuda_test_util.h"
#include "lm/ops/adamw.h"
#include "lm/ops/attention.h"
#include "lm/ops/attention_kv.h"
#include "lm/ops/cross_entropy.h"
#include "lm/ops/dropout.h"
#include "lm/ops/encoder.h"
#include "lm/ops/gelu.h"
#include "lm/ops/layernorm.h"
#include "lm/ops/matmul.h"
#include "lm/ops/residual.h"
#include "lm/ops/tanh.h"
#include "lm/ops/gather_rows.h"
#include "lm/ops/sum_squares.h"
#include "lm/ops/scale.h"

namespace lm::test {
namespace {

// A CPU tensor with random values and its device twin.
struct Pair {
  OwnedTensor cpu;
  Buffer dev_buf;
  Tensor dev;
  Pair(Shape s, uint64_t seed, float std = 1.0f, DType dt = DType::F32) : cpu(s, dt) {
    if (dt == DType::F32) fill_normal(cpu.f32(), cpu.numel(), seed, std);
    dev_buf = Buffer(cpu.t.nbytes() ? cpu.t.nbytes() : 4, Device::CUDA);
    dev = Tensor(dev_buf.data(), s, dt, Device::CUDA);
    copy_tensor(dev, cpu.t);
  }
  void upload() { copy_tensor(dev, cpu.t); }
  // rel error of the device values vs the CPU values
  double err() const {
    OwnedTensor h(cpu.t.shape, cpu.t.dtype);
    copy_tensor(h.t, dev);
    return rel_error(h.f32(), cpu.f32(), cpu.numel());
  }
};

constexpr double kTol = 1e-5;

TEST(CudaOps, MatmulLayernormGeluMatchCpu) {
  LM_REQUIRE_CUDA();
  const int64_t B = 2, T = 5, C = 16, OC = 24;
  Pair inp(Shape{B, T, C}, 1), w(Shape{OC, C}, 2, 0.2f), b(Shape{OC}, 3), out(Shape{B, T, OC}, 4);
  ops::matmul_forward(out.cpu.t, inp.cpu.t, w.cpu.t, b.cpu.t);
  ops::matmul_forward(out.dev, inp.dev, w.dev, b.dev);
  EXPECT_LE(out.err(), kTol);
  Pair dinp(Shape{B, T, C}, 5), dw(Shape{OC, C}, 6), db(Shape{OC}, 7);
  ops::matmul_backward(dinp.cpu.t, dw.cpu.t, db.cpu.t, out.cpu.t, inp.cpu.t, w.cpu.t);
  ops::matmul_backward(dinp.dev, dw.dev, db.dev, out.dev, inp.dev, w.dev);
  EXPECT_LE(dinp.err(), kTol);
  EXPECT_LE(dw.err(), kTol);
  EXPECT_LE(db.err(), kTol);
  // Overwrite mode (beta 0): NaN-filled destinations must not leak into the result.
  for (Pair* p : {&dinp, &dw, &db}) {
    for (int64_t i = 0; i < p->cpu.numel(); ++i) p->cpu.f32()[i] = std::nanf("");
    p->upload();
  }
  ops::matmul_backward(dinp.cpu.t, dw.cpu.t, db.cpu.t, out.cpu.t, inp.cpu.t, w.cpu.t, true, true);
  ops::matmul_backward(dinp.dev, dw.dev, db.dev, out.dev, inp.dev, w.dev, true, true);
  EXPECT_LE(dinp.err(), kTol);
  EXPECT_LE(dw.err(), kTol);
  EXPECT_LE(db.err(), kTol);

  Pair g(Shape{B, T, OC}, 8), dg(Shape{B, T, OC}, 9);
  ops::gelu_forward(g.cpu.t, out.cpu.t, ops::GeluKind::Tanh);
  ops::gelu_forward(g.dev, out.dev, ops::GeluKind::Tanh);
  EXPECT_LE(g.err(), kTol);
  ops::gelu_backward(dg.cpu.t, g.cpu.t, out.cpu.t, ops::GeluKind::Erf);
  ops::gelu_backward(dg.dev, g.dev, out.dev, ops::GeluKind::Erf);
  EXPECT_LE(dg.err(), kTol);

  Pair lw(Shape{OC}, 10), lb(Shape{OC}, 11), ln(Shape{B, T, OC}, 12), mean(Shape{B, T}, 13), rstd(Shape{B, T}, 14);
  ops::layernorm_forward(ln.cpu.t, mean.cpu.t, rstd.cpu.t, g.cpu.t, lw.cpu.t, lb.cpu.t, 1e-5f);
  ops::layernorm_forward(ln.dev, mean.dev, rstd.dev, g.dev, lw.dev, lb.dev, 1e-5f);
  EXPECT_LE(ln.err(), kTol);
  EXPECT_LE(rstd.err(), kTol);
  Pair dx(Shape{B, T, OC}, 15), dlw(Shape{OC}, 16), dlb(Shape{OC}, 17);
  ops::layernorm_backward(dx.cpu.t, dlw.cpu.t, dlb.cpu.t, ln.cpu.t, g.cpu.t, lw.cpu.t, mean.cpu.t, rstd.cpu.t);
  ops::layernorm_backward(dx.dev, dlw.dev, dlb.dev, ln.dev, g.dev, lw.dev, mean.dev, rstd.dev);
  EXPECT_LE(dx.err(), kTol);
  EXPECT_LE(dlw.err(), kTol);
  EXPECT_LE(dlb.err(), kTol);

  Pair a(Shape{7, 9}, 18), bm(Shape{7, 5}, 19), c(Shape{9, 5}, 20);
  ops::gemm(c.cpu.t, a.cpu.t, bm.cpu.t, true, false, 1.5f, 0.5f);
  ops::gemm(c.dev, a.dev, bm.dev, true, false, 1.5f, 0.5f);
  EXPECT_LE(c.err(), kTol);
}

TEST(CudaOps, AttentionKvCacheResidualMatchCpu) {
  LM_REQUIRE_CUDA();
  const int64_t B = 2, T = 7, NH = 2, C = 16;
  ops::AttentionSpec spec;
  spec.n_head = NH;
  spec.scale = 1.0f / std::sqrt(8.0f);
  Pair qkv(Shape{B, T, 3 * C}, 1), out(Shape{B, T, C}, 2), att(Shape{B, NH, T, T}, 3), dout(Shape{B, T, C}, 4),
      dqkv(Shape{B, T, 3 * C}, 5), datt(Shape{B, NH, T, T}, 6);
  ops::attention_forward(out.cpu.t, att.cpu.t, qkv.cpu.t, spec);
  ops::attention_forward(out.dev, att.dev, qkv.dev, spec);
  EXPECT_LE(out.err(), kTol);
  EXPECT_LE(att.err(), kTol);
  ops::attention_backward(dqkv.cpu.t, datt.cpu.t, dout.cpu.t, qkv.cpu.t, att.cpu.t, spec);
  ops::attention_backward(dqkv.dev, datt.dev, dout.dev, qkv.dev, att.dev, spec);
  EXPECT_LE(dqkv.err(), kTol);
  // KV-cache attention: prefill 4 tokens, then decode 1.
  const int64_t Tmax = 8;
  Pair kc(Shape{B, NH, Tmax, C / NH}, 7, 0.0f), vc(Shape{B, NH, Tmax, C / NH}, 8, 0.0f);
  Pair q1(Shape{B, 4, 3 * C}, 9), o1(Shape{B, 4, C}, 10), q2(Shape{B, 1, 3 * C}, 11), o2(Shape{B, 1, C}, 12);
  ops::attention_kv_forward(o1.cpu.t, kc.cpu.t, vc.cpu.t, q1.cpu.t, 0, spec);
  ops::attention_kv_forward(o1.dev, kc.dev, vc.dev, q1.dev, 0, spec);
  ops::attention_kv_forward(o2.cpu.t, kc.cpu.t, vc.cpu.t, q2.cpu.t, 4, spec);
  ops::attention_kv_forward(o2.dev, kc.dev, vc.dev, q2.dev, 4, spec);
  EXPECT_LE(o1.err(), kTol);
  EXPECT_LE(o2.err(), kTol);
  EXPECT_EQ(kc.err(), 0.0);

  // Residual add and its backward.
  Pair r(Shape{B, T, C}, 13), da(Shape{B, T, C}, 14), db(Shape{B, T, C}, 15);
  ops::residual_forward(r.cpu.t, out.cpu.t, dout.cpu.t);
  ops::residual_forward(r.dev, out.dev, dout.dev);
  EXPECT_LE(r.err(), kTol);
  ops::residual_backward(da.cpu.t, db.cpu.t, r.cpu.t);
  ops::residual_backward(da.dev, db.dev, r.dev);
  EXPECT_LE(da.err(), kTol);
  EXPECT_LE(db.err(), kTol);

}

// Attention with dropout: the device regenerates the CPU's mask (flat (b,h,t,j) counter), so the output and the
// gradient match the CPU's at fp32 tolerance, and differ clearly from the same call without dropout.
TEST(CudaOps, AttentionDropoutMatchesCpuMasks) {
  LM_REQUIRE_CUDA();
  const int64_t B = 2, T = 9, NH = 2, C = 16;
  for (bool causal : {true, false}) {
    ops::AttentionSpec spec;
    spec.n_head = NH;
    spec.causal = causal;
    spec.scale = 1.0f / std::sqrt(8.0f);
    spec.dropout = 0.3f;
    spec.seed = 77;
    spec.stream = 5;
    Pair qkv(Shape{B, T, 3 * C}, 21), out(Shape{B, T, C}, 22), att(Shape{B, NH, T, T}, 23),
        dout(Shape{B, T, C}, 24), dqkv(Shape{B, T, 3 * C}, 25), datt(Shape{B, NH, T, T}, 26);
    ops::attention_forward(out.cpu.t, att.cpu.t, qkv.cpu.t, spec);
    ops::attention_forward(out.dev, att.dev, qkv.dev, spec);
    EXPECT_LE(out.err(), kTol) << "causal " << causal;
    EXPECT_LE(att.err(), kTol) << "causal " << causal;  // the undropped probabilities, kept for backward
    ops::attention_backward(dqkv.cpu.t, datt.cpu.t, dout.cpu.t, qkv.cpu.t, att.cpu.t, spec);
    ops::attention_backward(dqkv.dev, datt.dev, dout.dev, qkv.dev, att.dev, spec);
    EXPECT_LE(dqkv.err(), kTol) << "causal " << causal;
    // Without dropout the device output moves far from the CPU's dropped one (the test can fail).
    ops::AttentionSpec plain = spec;
    plain.dropout = 0.0f;
    ops::attention_forward(out.dev, att.dev, qkv.dev, plain);
    EXPECT_GT(out.err(), 1e-2) << "causal " << causal;
  }
}

// Elementwise dropout: bitwise the CPU kernel's values (same Philox words, same float products), including a
// ragged tail; backward accumulates.
TEST(CudaOps, DropoutMatchesCpuBitwise) {
  LM_REQUIRE_CUDA();
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{4096 + 3}}) {
    Pair x(Shape{n}, 31), y(Shape{n}, 32), dx(Shape{n}, 33);
    ops::dropout_forward(y.cpu.t, x.cpu.t, 0.25f, 1234, 9);
    ops::dropout_forward(y.dev, x.dev, 0.25f, 1234, 9);
    EXPECT_EQ(y.err(), 0.0) << n;
    ops::dropout_backward(dx.cpu.t, x.cpu.t, 0.25f, 1234, 9);
    ops::dropout_backward(dx.dev, x.dev, 0.25f, 1234, 9);
    EXPECT_EQ(dx.err(), 0.0) << n;
    ops::dropout_forward(x.dev, x.dev, 0.25f, 1234, 10);  // in place, another stream: not the same mask
    if (n > 16) {
      EXPECT_GT(x.err(), 0.1) << n;
    }
  }
}

TEST(CudaOps, EncoderCrossEntropyAdamWMatchCpu) {
  LM_REQUIRE_CUDA();
  const int64_t B = 2, T = 6, C = 8, V = 13;
  Pair ids(Shape{B, T}, 0, 1.0f, DType::I32), tg(Shape{B * T}, 0, 1.0f, DType::I32);
  for (int64_t i = 0; i < B * T; ++i) {
    ids.cpu.t.ptr<int32_t>()[i] = static_cast<int32_t>((i * 5) % V);
    tg.cpu.t.ptr<int32_t>()[i] = i % 4 == 1 ? -100 : static_cast<int32_t>((i * 3) % V);
  }
  ids.upload();
  tg.upload();
  Pair wte(Shape{V, C}, 1), wpe(Shape{T, C}, 2), x(Shape{B, T, C}, 3), dwte(Shape{V, C}, 4), dwpe(Shape{T, C}, 5);
  ops::encoder_forward(x.cpu.t, ids.cpu.t, wte.cpu.t, wpe.cpu.t);
  ops::encoder_forward(x.dev, ids.dev, wte.dev, wpe.dev);
  EXPECT_LE(x.err(), kTol);
  ops::encoder_backward(dwte.cpu.t, dwpe.cpu.t, x.cpu.t, ids.cpu.t);
  ops::encoder_backward(dwte.dev, dwpe.dev, x.dev, ids.dev);
  EXPECT_LE(dwte.err(), kTol);
  EXPECT_LE(dwpe.err(), kTol);

  Pair logits(Shape{B * T, V}, 6, 2.0f), losses(Shape{B * T}, 7), dlogits(Shape{B * T, V}, 8);
  const int64_t n_cpu = ops::cross_entropy_forward(losses.cpu.t, logits.cpu.t, tg.cpu.t, -100);
  const int64_t n_dev = ops::cross_entropy_forward(losses.dev, logits.dev, tg.dev, -100);
  EXPECT_EQ(n_cpu, n_dev);
  EXPECT_LE(losses.err(), kTol);
  ops::cross_entropy_backward(dlogits.cpu.t, logits.cpu.t, tg.cpu.t, 0.1f, -100);
  ops::cross_entropy_backward(dlogits.dev, logits.dev, tg.dev, 0.1f, -100);
  EXPECT_LE(dlogits.err(), kTol);

  // Out-of-range device ids / targets are caught on the host copy.
  ids.cpu.t.ptr<int32_t>()[3] = static_cast<int32_t>(V);
  ids.upload();
  EXPECT_THROW(ops::encoder_forward(x.dev, ids.dev, wte.dev, wpe.dev), Error);
  tg.cpu.t.ptr<int32_t>()[2] = -1;
  tg.upload();
  EXPECT_THROW(ops::cross_entropy_forward(losses.dev, logits.dev, tg.dev, -100), Error);

  Pair p(Shape{1000}, 9), gr(Shape{1000}, 10), m(Shape{1000}, 11, 0.0f), v(Shape{1000}, 12, 0.0f);
  ops::AdamWParams hp;
  hp.lr = 1e-2f;
  hp.weight_decay = 0.1f;
  for (int64_t s = 1; s <= 2; ++s) {
    hp.step = s;
    ops::adamw_update(p.cpu.t, gr.cpu.t, m.cpu.t, v.cpu.t, hp);
    ops::adamw_update(p.dev, gr.dev, m.dev, v.dev, hp);
  }
  EXPECT_LE(p.err(), kTol);
  EXPECT_LE(m.err(), kTol);
  EXPECT_LE(v.err(), kTol);
  const double ss_cpu = ops::sum_squares(gr.cpu.t), ss_dev = ops::sum_squares(gr.dev);
  EXPECT_NEAR(ss_dev, ss_cpu, 1e-5 * ss_cpu);
  ops::scale_inplace(gr.cpu.t, 0.5f);
  ops::scale_inplace(gr.dev, 0.5f);
  EXPECT_EQ(gr.err(), 0.0);
}

// BERT's extra ops on the GPU: tanh (pooler), the token-type embedding add and its backward, and the row gather
// / scatter-add of masked positions and first-token pooling, against the same ops on the CPU.
TEST(CudaOps, TanhEmbeddingAddRowsMatchCpu) {
  LM_REQUIRE_CUDA();
  const int64_t B = 3, T = 5, C = 8;
  Pair x(Shape{B, C}, 41), y(Shape{B, C}, 42), dy(Shape{B, C}, 43), dx(Shape{B, C}, 44);
  ops::tanh_forward(y.cpu.t, x.cpu.t);
  ops::tanh_forward(y.dev, x.dev);
  EXPECT_LE(y.err(), kTol);
  ops::tanh_backward(dx.cpu.t, dy.cpu.t, y.cpu.t);
  ops::tanh_backward(dx.dev, dy.dev, y.dev);
  EXPECT_LE(dx.err(), kTol);

  Pair tt(Shape{B, T}, 0, 1.0f, DType::I32), table(Shape{2, C}, 45), out(Shape{B, T, C}, 46), dtable(Shape{2, C}, 47);
  for (int64_t i = 0; i < B * T; ++i) tt.cpu.t.ptr<int32_t>()[i] = static_cast<int32_t>((i / 3) % 2);
  tt.upload();
  ops::embedding_add_forward(out.cpu.t, tt.cpu.t, table.cpu.t);
  ops::embedding_add_forward(out.dev, tt.dev, table.dev);
  EXPECT_LE(out.err(), kTol);
  ops::embedding_add_backward(dtable.cpu.t, out.cpu.t, tt.cpu.t);
  ops::embedding_add_backward(dtable.dev, out.dev, tt.dev);
  EXPECT_LE(dtable.err(), kTol);

  const std::vector<int64_t> idx = {7, 0, 14, 3};
  Pair full(Shape{B * T, C}, 48), rows(Shape{4, C}, 49), acc(Shape{B * T, C}, 50);
  ops::gather_rows(rows.cpu.t, full.cpu.t, idx);
  ops::gather_rows(rows.dev, full.dev, idx);
  EXPECT_EQ(rows.err(), 0.0);
  ops::scatter_add_rows(acc.cpu.t, rows.cpu.t, idx);
  ops::scatter_add_rows(acc.dev, rows.dev, idx);
  EXPECT_LE(acc.err(), kTol);
}

}  // namespace
}  // namespace lm::test
