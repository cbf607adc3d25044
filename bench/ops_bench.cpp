// Google Benchmark micro-benchmarks of the CPU ops at GPT-2 small shapes (C=768, NH=12, HS=64, V=50257), on
// the thread count of $OMP_NUM_THREADS / lm::num_threads(). FLOP rates are reported for the GEMM-bound ops.
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "lm/core/dtype.h"
#include "lm/core/rng.h"
#include "lm/core/tensor.h"
#include "lm/kernels/cpu/gemv.h"
#include "lm/kernels/cpu/linear_bf16.h"
#include "lm/kernels/cpu/linear_int8.h"
#include "lm/ops/adamw.h"
#include "lm/ops/attention.h"
#include "lm/ops/attention_bf16.h"
#include "lm/ops/cross_entropy.h"
#include "lm/ops/dropout.h"
#include "lm/ops/gelu.h"
#include "lm/ops/layernorm.h"
#include "lm/ops/matmul.h"
#include "lm/ops/softmax.h"
#include "lm/ops/sum_squares.h"
#include "lm/ops/scale.h"

namespace {

struct Buf {
  std::vector<float> v;
  lm::Shape s;
  explicit Buf(lm::Shape shape, uint64_t seed = 1) : v(static_cast<size_t>(shape.numel())), s(shape) {
    lm::Rng rng(seed);
    for (auto& x : v) x = rng.next_normal();
  }
  lm::Tensor t() { return lm::Tensor(v.data(), s); }
};

void BM_gemm(benchmark::State& st) {
  const int64_t M = st.range(0), N = st.range(1), K = st.range(2);
  Buf a({M, K}), b({N, K}), c({M, N});
  for (auto _ : st) lm::ops::gemm(c.t(), a.t(), b.t(), false, true);
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}
// (B*T, C) x (OC, C)ᵀ for the four GPT-2 small projections at B*T = 1024, and the LM head.
BENCHMARK(BM_gemm)
    ->Args({1024, 2304, 768})
    ->Args({1024, 768, 768})
    ->Args({1024, 3072, 768})
    ->Args({1024, 768, 3072})
    ->Args({256, 50257, 768})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Decode GEMV out (N,OC) = x (N,C) · W (OC,C)ᵀ + b at GPT-2 124M's widest projection (C 768, OC 3072),
// f32 (arg 1 = 0) or bf16 (1) weights, or f32 through sgemm (2, ops::matmul_forward: what decode uses above
// kDecodeRows rows), for N rows (continuous batching). Arg 2 = 1 cycles through a pool of copies of W larger
// than the L3 (as a decode step's 49 GEMVs read 250-500 MB), so the weights come from DRAM as in decoding;
// 0 reuses one matrix (cache-resident where the L3 holds it). OMP_NUM_THREADS=2 for docs/performance.md.
void BM_gemv(benchmark::State& st) {
  const int64_t N = st.range(0), C = 768, OC = 3072, kind = st.range(1);
  const bool bf16 = kind == 1, cold = st.range(2);
  const int64_t per = OC * C, copies = cold ? (int64_t{768} << 20) / (per * (bf16 ? 2 : 4)) + 1 : 1;
  Buf x({N, C}, 2), w({OC, C}, 3), b({OC}, 4), out({N, OC});
  std::vector<float> wf(bf16 ? 0 : static_cast<size_t>(per * copies));
  std::vector<uint16_t> wb(bf16 ? static_cast<size_t>(per * copies) : 0);
  for (int64_t k = 0; k < copies; ++k)
    for (int64_t i = 0; i < per; ++i)
      if (bf16)
        wb[static_cast<size_t>(k * per + i)] = lm::f32_to_bf16(w.v[static_cast<size_t>(i)]);
      else
        wf[static_cast<size_t>(k * per + i)] = w.v[static_cast<size_t>(i)];
  int64_t k = 0;
  for (auto _ : st) {
    if (kind == 2)
      lm::ops::matmul_forward(out.t(), x.t(), lm::Tensor(wf.data() + k * per, lm::Shape{OC, C}), b.t());
    else if (bf16)
      lm::cpu::gemv_bf16(out.v.data(), x.v.data(), wb.data() + k * per, b.v.data(), N, C, OC);
    else
      lm::cpu::gemv_f32(out.v.data(), x.v.data(), wf.data() + k * per, b.v.data(), N, C, OC);
    k = (k + 1) % copies;
  }
  // Weight bytes per call (read once per call, whatever N, when the GEMV streams them once).
  st.SetBytesProcessed(st.iterations() * per * (bf16 ? 2 : 4));
}
BENCHMARK(BM_gemv)
    ->ArgsProduct({{1, 4, 8, 16, 32}, {0, 1}, {1, 0}})
    ->ArgsProduct({{8, 16, 32}, {2}, {1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// bf16 linear layer (oneDNN matmul from pre-packed bf16 weights, f32 accumulation) at the BERT-base shapes
// (M = 32 x 128 tokens): mode 0 f32 in -> f32 out (includes rounding the activations), 1 bf16 in -> f32 out,
// 2 f32 in -> GELU -> bf16 out.
void BM_linear_bf16(benchmark::State& st) {
  const int64_t M = st.range(0), N = st.range(1), K = st.range(2), mode = st.range(3);
  if (!lm::cpu::linear_bf16_available()) {
    st.SkipWithError("no native bf16 matmul on this CPU");
    return;
  }
  Buf x({M, K}), w({N, K}), b({N}), out({M, N});
  std::vector<uint16_t> xb(static_cast<size_t>(M * K), 0x3f80), ob(static_cast<size_t>(M * N));
  lm::cpu::PackedLinearBf16 lin;
  lin.pack(w.v.data(), N, K);
  for (auto _ : st) {
    if (mode == 0) lin.forward(out.v.data(), x.v.data(), b.v.data(), M);
    if (mode == 1) lin.forward_from_bf16(out.v.data(), xb.data(), b.v.data(), M);
    if (mode == 2) lin.forward_gelu_to_bf16(ob.data(), x.v.data(), b.v.data(), M);
  }
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}
BENCHMARK(BM_linear_bf16)
    ->Args({4096, 2304, 768, 0})
    ->Args({4096, 768, 768, 0})
    ->Args({4096, 3072, 768, 2})
    ->Args({4096, 768, 3072, 1})
    ->Args({4096, 3072, 768, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// int8 (dynamic quantization): mode 0 one activation scale for all rows, mode 1 one per 128 rows (BERT's
// per-sequence groups at T 128), mode 2 = 1 with the GELU post-op, mode 3 only the activation quantization.
void BM_linear_int8(benchmark::State& st) {
  const int64_t M = st.range(0), N = st.range(1), K = st.range(2), mode = st.range(3);
  if (!lm::cpu::linear_int8_available()) {
    st.SkipWithError("no native int8 matmul on this CPU");
    return;
  }
  Buf x({M, K}), w({N, K}), b({N}), out({M, N});
  std::vector<int8_t> q(static_cast<size_t>(M * K));
  std::vector<float> scales(static_cast<size_t>(M));
  lm::cpu::PackedLinearInt8 lin;
  lin.pack(w.v.data(), N, K);
  for (auto _ : st) {
    if (mode == 3)
      lm::cpu::quantize_s8_groups(q.data(), scales.data(), x.v.data(), M, K, 128, nullptr, "x");
    else
      lin.forward(out.v.data(), x.v.data(), b.v.data(), M, mode == 2, mode == 0 ? 0 : 128);
  }
  st.counters["GOP/s"] = benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate,
                                            benchmark::Counter::kIs1000);
}
BENCHMARK(BM_linear_int8)
    ->Args({4096, 2304, 768, 1})
    ->Args({4096, 768, 768, 1})
    ->Args({4096, 3072, 768, 2})
    ->Args({4096, 768, 3072, 1})
    ->Args({4096, 768, 3072, 0})
    ->Args({4096, 768, 3072, 3})
    ->Args({4096, 768, 768, 3})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_matmul_backward(benchmark::State& st) {
  const int64_t N = st.range(0), OC = st.range(1), C = st.range(2);
  Buf x({N, C}), w({OC, C}), dout({N, OC}), dx({N, C}), dw({OC, C}), db({OC});
  for (auto _ : st) lm::ops::matmul_backward(dx.t(), dw.t(), db.t(), dout.t(), x.t(), w.t());
  st.counters["GFLOP/s"] = benchmark::Counter(4.0 * N * OC * C, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}
BENCHMARK(BM_matmul_backward)->Args({1024, 3072, 768})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_attention(benchmark::State& st) {
  const int64_t B = 1, T = st.range(0), NH = 12, C = 768;
  const bool backward = st.range(1);
  Buf qkv({B, T, 3 * C}), out({B, T, C}), att({B, NH, T, T}), dout({B, T, C}), dqkv({B, T, 3 * C}),
      datt({B, NH, T, T});
  lm::ops::AttentionSpec spec{12, true, 0.125f};
  lm::ops::attention_forward(out.t(), att.t(), qkv.t(), spec);
  for (auto _ : st) {
    if (backward)
      lm::ops::attention_backward(dqkv.t(), datt.t(), dout.t(), qkv.t(), att.t(), spec);
    else
      lm::ops::attention_forward(out.t(), att.t(), qkv.t(), spec);
  }
  // Causal useful work: 2 GEMMs forward (4 backward) of T*T/2*HS multiply-adds per head.
  const double flops = (backward ? 4.0 : 2.0) * 2.0 * NH * (T * T / 2.0) * (C / NH);
  st.counters["GFLOP/s"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_attention)->Args({1024, 0})->Args({1024, 1})->Unit(benchmark::kMillisecond)->UseRealTime();

// BERT-base inference attention (B 32, T 128, no mask, not causal): f32 kernel (mode 0) vs the bf16 one (1).
void BM_attention_bert(benchmark::State& st) {
  const int64_t B = 32, T = 128, NH = 12, C = 768;
  const bool bf16 = st.range(0);
  if (bf16 && !lm::ops::attention_bf16_available()) {
    st.SkipWithError("no native batched bf16 matmul on this CPU");
    return;
  }
  Buf qkv({B, T, 3 * C}), out({B, T, C}), att({B, NH, T, T});
  lm::ops::AttentionSpec spec{12, false, 0.125f};
  lm::ops::AttentionBf16 state;
  for (auto _ : st) {
    if (bf16)
      lm::ops::attention_bf16_forward(out.t(), att.t(), qkv.t(), spec, lm::Tensor(), state);
    else
      lm::ops::attention_forward(out.t(), att.t(), qkv.t(), spec);
  }
  st.counters["GFLOP/s"] = benchmark::Counter(4.0 * B * NH * T * T * (C / NH),
                                              benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_attention_bert)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_layernorm(benchmark::State& st) {
  const int64_t N = 4096, C = 768;
  const bool backward = st.range(0);
  Buf x({N, C}), w({C}), b({C}), out({N, C}), mean({N}), rstd({N}), dout({N, C}), dx({N, C}), dw({C}),
      db({C});
  lm::ops::layernorm_forward(out.t(), mean.t(), rstd.t(), x.t(), w.t(), b.t(), 1e-5f);
  for (auto _ : st) {
    if (backward)
      lm::ops::layernorm_backward(dx.t(), dw.t(), db.t(), dout.t(), x.t(), w.t(), mean.t(), rstd.t());
    else
      lm::ops::layernorm_forward(out.t(), mean.t(), rstd.t(), x.t(), w.t(), b.t(), 1e-5f);
  }
  st.SetBytesProcessed(st.iterations() * N * C * 4 * (backward ? 4 : 2));
}
BENCHMARK(BM_layernorm)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_gelu(benchmark::State& st) {
  const int64_t n = 1024 * 3072;
  const bool backward = st.range(0);
  const auto kind = st.range(1) ? lm::ops::GeluKind::Tanh : lm::ops::GeluKind::Erf;
  Buf x({n}), out({n}), dout({n}), dx({n});
  for (auto _ : st) {
    if (backward)
      lm::ops::gelu_backward(dx.t(), dout.t(), x.t(), kind);
    else
      lm::ops::gelu_forward(out.t(), x.t(), kind);
  }
  st.SetItemsProcessed(st.iterations() * n);
}
BENCHMARK(BM_gelu)
    ->Args({0, 1})
    ->Args({1, 1})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

void BM_cross_entropy(benchmark::State& st) {
  const int64_t N = 64, V = 50257;
  const bool backward = st.range(0);
  Buf logits({N, V}), losses({N}), dlogits({N, V});
  std::vector<int32_t> targets(N, 7);
  lm::Tensor tt(targets.data(), lm::Shape{N}, lm::DType::I32);
  for (auto _ : st) {
    if (backward)
      lm::ops::cross_entropy_backward(dlogits.t(), logits.t(), tt, 1.0f / N);
    else
      lm::ops::cross_entropy_forward(losses.t(), logits.t(), tt);
  }
  st.SetItemsProcessed(st.iterations() * N * V);
}
BENCHMARK(BM_cross_entropy)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_softmax(benchmark::State& st) {
  const int64_t N = 1024, D = 1024;
  Buf x({N, D}), out({N, D});
  for (auto _ : st) lm::ops::softmax_forward(out.t(), x.t());
  st.SetItemsProcessed(st.iterations() * N * D);
}
BENCHMARK(BM_softmax)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_dropout(benchmark::State& st) {
  const int64_t n = 4 * 1024 * 768;
  const bool backward = st.range(0);
  Buf x({n}), out({n}), dx({n});
  for (auto _ : st) {
    if (backward)
      lm::ops::dropout_backward(dx.t(), x.t(), 0.1f, 1, 2);
    else
      lm::ops::dropout_forward(out.t(), x.t(), 0.1f, 1, 2);
  }
  st.SetItemsProcessed(st.iterations() * n);
}
BENCHMARK(BM_dropout)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

// One clipped AdamW step over the GPT-2 124M parameter count: Σ g² for the norm, then either the gradients scaled
// in a pass of their own and the update (arg 0, the old path) or the clip factor folded into the update (arg 1).
void BM_adamw_clipped(benchmark::State& st) {
  const int64_t n = 124439808;
  const bool folded = st.range(0);
  Buf p({n}), g({n}), m({n}), v({n});
  for (auto& x : v.v) x = std::fabs(x);  // a second moment is >= 0
  lm::ops::AdamWParams hp;
  hp.weight_decay = 0.1f;
  for (auto _ : st) {
    const double norm = std::sqrt(lm::ops::sum_squares(g.t()));
    const float coef = static_cast<float>(1.0 / (norm + 1e-6));  // clip to 1: always below 1 here
    if (folded) {
      hp.grad_scale = coef;
    } else {
      lm::ops::scale_inplace(g.t(), coef);
      hp.grad_scale = 1.0f;
    }
    lm::ops::adamw_update(p.t(), g.t(), m.t(), v.t(), hp);
    ++hp.step;
  }
  // Bytes moved per step: Σ g² reads g; the scale pass reads and writes g; the update reads p, g, m, v and writes p, m, v.
  st.SetBytesProcessed(st.iterations() * n * 4 * (folded ? 8 : 10));
}
BENCHMARK(BM_adamw_clipped)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
