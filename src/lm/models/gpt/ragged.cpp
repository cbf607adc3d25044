// GPT-2 ragged batches for continuous batching: per-sequence KV caches and one forward pass over chunks of
// several sequences at different positions. Rows are laid out decode rows first (the single-token chunks, one
// GEMV group: the weights are streamed once for all of them), then each longer chunk (a prefill piece, its own
// GEMM). Every kernel computes a row the same way whatever else is in the pass, so a sequence's logits do not
// depend on the batch it shares (greedy output equals its solo run).
#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>

#include "lm/core/buffer.h"
#include "lm/core/error.h"
#include "lm/models/gpt/gpt.h"
#include "lm/ops/attention_kv.h"
#include "lm/ops/encoder.h"
#include "lm/ops/matmul.h"
#include "lm/ops/residual.h"

namespace lm::models {

namespace {

struct GptSeqCache : SeqCache {
  Buffer mem;
  std::vector<Tensor> k, v;  // per layer (1,NH,Tmax,HS)
};

// Activations of one ragged pass, grown as needed and kept by the calling thread.
struct RaggedScratch {
  std::vector<float> f;
  std::vector<int32_t> ids, pos;
  float* take(size_t n, size_t* off) {
    float* p = f.data() + *off;
    *off += n;
    return p;
  }
};

// A contiguous range of rows that one linear call covers, and how.
struct RowGroup {
  int64_t r0, n;
  bool decode;
};

// Prompt pieces of several sequences share one GEMM when the GEMM computes a row the same way whatever the other
// rows and their number (at least kMinGemmRows rows, so the small-M path of the library is never taken): checked
// once per process and shape on random data (rows of 16- and 23-row calls against the same rows inside a 48-row
// call, at other offsets). Where it does not hold, each piece keeps a GEMM of its own.
constexpr int64_t kMinGemmRows = 16;

bool gemm_rows_invariant(int64_t C, int64_t I) {
  static std::mutex mu;
  static std::map<std::pair<int64_t, int64_t>, bool> known;
  std::lock_guard<std::mutex> lk(mu);
  auto it = known.find({C, I});
  if (it != known.end()) return it->second;
  bool ok = true;
  for (auto [in, out] : {std::pair{C, 3 * C}, {C, C}, {C, I}, {I, C}}) {
    std::vector<float> w(static_cast<size_t>(in * out)), b(static_cast<size_t>(out)), x(static_cast<size_t>(48 * in));
    uint32_t z = 12345;
    auto rnd = [&] { return static_cast<float>((z = z * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f; };
    for (auto* v : {&w, &b, &x})
      for (auto& e : *v) e = rnd();
    std::vector<float> full(static_cast<size_t>(48 * out)), part(static_cast<size_t>(23 * out));
    const Tensor W(w.data(), Shape{out, in}), B(b.data(), Shape{out});
    ops::matmul_forward(Tensor(full.data(), Shape{48, out}), Tensor(x.data(), Shape{48, in}), W, B);
    for (auto [r0, m] : {std::pair<int64_t, int64_t>{5, 16}, {20, 23}}) {
      ops::matmul_forward(Tensor(part.data(), Shape{m, out}), Tensor(x.data() + r0 * in, Shape{m, in}), W, B);
      ok = ok && std::memcmp(part.data(), full.data() + r0 * out, sizeof(float) * static_cast<size_t>(m * out)) == 0;
    }
  }
  return known[{C, I}] = ok;
}

}  // namespace

std::unique_ptr<SeqCache> Gpt::make_seq_cache(int64_t Tmax) const {
  LM_CHECK_AS(ErrorCode::Unsupported, device_ == Device::CPU, "gpt2: ragged batches run on the CPU only");
  LM_CHECK(Tmax >= 1 && Tmax <= config_.n_positions, "sequence cache: {} positions must be in [1, n_positions {}]",
           Tmax, config_.n_positions);
  const int64_t C = config_.n_embd, NH = config_.n_head, HS = config_.head_size(), L = config_.n_layer;
  auto c = std::make_unique<GptSeqCache>();
  c->Tmax = Tmax;
  const size_t per = static_cast<size_t>(C * Tmax);
  c->mem = Buffer(per * 2 * static_cast<size_t>(L) * sizeof(float));
  float* base = static_cast<float*>(c->mem.data());
  for (int64_t l = 0; l < L; ++l) {
    c->k.emplace_back(base + static_cast<size_t>(2 * l) * per, Shape{1, NH, Tmax, HS});
    c->v.emplace_back(base + static_cast<size_t>(2 * l + 1) * per, Shape{1, NH, Tmax, HS});
  }
  return c;
}

void Gpt::forward_ragged(const std::vector<SeqChunk>& chunks) const {
  LM_CHECK_AS(ErrorCode::Unsupported, device_ == Device::CPU, "gpt2: ragged batches run on the CPU only");
  LM_CHECK(!chunks.empty(), "forward_ragged: no chunks");
  const int64_t C = config_.n_embd, I = config_.inner(), V = config_.vocab_size;
  // Decode rows first, then the longer chunks in their given order.
  std::vector<size_t> order;
  for (size_t i = 0; i < chunks.size(); ++i)
    if (chunks[i].n == 1) order.push_back(i);
  const int64_t k = static_cast<int64_t>(order.size());
  for (size_t i = 0; i < chunks.size(); ++i)
    if (chunks[i].n != 1) order.push_back(i);
  int64_t N = 0, M = 0;
  for (const SeqChunk& ch : chunks) {
    auto* sc = dynamic_cast<GptSeqCache*>(ch.cache);
    LM_CHECK(sc != nullptr, "forward_ragged: a chunk's cache was not made by this gpt2 model");
    LM_CHECK(ch.n >= 1 && ch.ids != nullptr, "forward_ragged: a chunk needs at least one token");
    LM_CHECK(sc->past + ch.n <= sc->Tmax, "forward_ragged: {} cached + {} new tokens exceed the sequence cache ({})",
             sc->past, ch.n, sc->Tmax);
    for (int64_t t = 0; t < ch.n; ++t)
      LM_CHECK(ch.ids[t] >= 0 && ch.ids[t] < V, "forward_ragged: id {} is out of range for vocab_size {}", ch.ids[t],
               V);
    N += ch.n;
    M += ch.logits != nullptr;
  }
  // Prompt pieces: one GEMM over all of them (padded to kMinGemmRows) where that is batch-invariant.
  const bool one_gemm = N > k && gemm_rows_invariant(C, I);
  const int64_t NP = one_gemm ? std::max(N, k + kMinGemmRows) : N;
  thread_local RaggedScratch s;
  const size_t need = static_cast<size_t>(NP * (8 * C + 2 * I + 2) + M * (2 * C + V + 2));
  if (s.f.size() < need) s.f.resize(need);
  s.ids.resize(static_cast<size_t>(N));
  s.pos.resize(static_cast<size_t>(N));
  size_t off = 0;
  auto t2 = [&](int64_t rows, int64_t d) {
    LM_ASSERT(off + static_cast<size_t>(rows * d) <= s.f.size(), "forward_ragged: scratch too small");
    return Tensor(s.take(static_cast<size_t>(rows * d), &off), Shape{rows, d});
  };
  Tensor x = t2(N, C), x2 = t2(N, C), ln = t2(NP, C), atty = t2(NP, C), proj = t2(NP, C), qkv = t2(NP, 3 * C);
  Tensor fch = t2(NP, I), fch_gelu = t2(NP, I), mean = t2(1, N).view(Shape{N}), rstd = t2(1, N).view(Shape{N});
  // Padding rows of the GEMM inputs are zeros (LayerNorm and attention write only the N real rows).
  if (NP > N) {
    std::memset(ln.f32() + N * C, 0, sizeof(float) * static_cast<size_t>((NP - N) * C));
    std::memset(atty.f32() + N * C, 0, sizeof(float) * static_cast<size_t>((NP - N) * C));
  }
  std::vector<RowGroup> groups;
  std::vector<int64_t> row0(chunks.size());
  int64_t r = 0;
  for (size_t oi = 0; oi < order.size(); ++oi) {
    const SeqChunk& ch = chunks[order[oi]];
    row0[order[oi]] = r;
    for (int64_t t = 0; t < ch.n; ++t) {
      s.ids[static_cast<size_t>(r + t)] = ch.ids[t];
      s.pos[static_cast<size_t>(r + t)] = static_cast<int32_t>(ch.cache->past + t);
    }
    if (static_cast<int64_t>(oi) >= k && !one_gemm) groups.push_back({r, ch.n, false});
    r += ch.n;
  }
  if (one_gemm) groups.push_back({k, NP - k, false});
  if (k > 0) groups.insert(groups.begin(), RowGroup{0, k, true});
  const float eps = config_.layer_norm_epsilon;
  const GptParams& p = params_;
  const bool bf16 = decode_dtype_ == DType::BF16;
  auto* copies = const_cast<std::vector<DecodeCopies>*>(&decode_);
  auto rows = [](const Tensor& t, const RowGroup& g) { return t.slice0(g.r0, g.r0 + g.n); };
  ops::encoder_forward(x.view(Shape{1, N, C}), Tensor(s.ids.data(), Shape{1, N}, DType::I32), p.emb.wte, p.emb.wpe, 0,
                       Tensor(s.pos.data(), Shape{1, N}, DType::I32));
  const nn::LayerNormStats st{mean.view(Shape{1, N}), rstd.view(Shape{1, N})};
  for (int l = 0; l < config_.n_layer; ++l) {
    const GptBlockParams& b = p.h[static_cast<size_t>(l)];
    DecodeCopies* dc = bf16 ? &(*copies)[static_cast<size_t>(l)] : nullptr;
    ops::AttentionSpec spec = attn_spec(l);
    spec.dropout = 0.0f;
    nn::layernorm_forward(b.ln_1, ln.slice0(0, N).view(Shape{1, N, C}), st, x.view(Shape{1, N, C}), eps);
    for (const RowGroup& g : groups)
      nn::linear_forward(b.attn.qkv, rows(qkv, g), rows(ln, g),
                         nn::LinearMode{g.decode ? nn::LinearKind::Gemv : nn::LinearKind::F32},
                         g.decode && dc ? &dc->attn.qkv : nullptr);
    std::vector<ops::RaggedSeq> seqs;
    for (size_t i = 0; i < chunks.size(); ++i) {
      auto& sc = static_cast<GptSeqCache&>(*chunks[i].cache);
      seqs.push_back({sc.k[static_cast<size_t>(l)], sc.v[static_cast<size_t>(l)], sc.past, row0[i], chunks[i].n});
    }
    ops::attention_kv_ragged(atty, qkv, seqs, spec);
    for (const RowGroup& g : groups)
      nn::linear_forward(b.attn.proj, rows(proj, g), rows(atty, g),
                         nn::LinearMode{g.decode ? nn::LinearKind::Gemv : nn::LinearKind::F32},
                         g.decode && dc ? &dc->attn.proj : nullptr);
    ops::residual_forward(x2, x, proj.slice0(0, N));
    nn::layernorm_forward(b.ln_2, ln.slice0(0, N).view(Shape{1, N, C}), st, x2.view(Shape{1, N, C}), eps);
    for (const RowGroup& g : groups)
      nn::mlp_forward(b.mlp, rows(proj, g), {rows(fch, g), rows(fch_gelu, g)}, rows(ln, g), config_.activation,
                      nn::LinearMode{g.decode ? nn::LinearKind::Gemv : nn::LinearKind::F32},
                      g.decode && dc ? &dc->mlp : nullptr);
    ops::residual_forward(x, x2, proj.slice0(0, N));
  }
  for (const SeqChunk& ch : chunks) ch.cache->past += ch.n;
  if (M == 0) return;
  // The LM head on the last row of each chunk that wants logits: one GEMV over those M rows.
  Tensor last = t2(M, C), lastn = t2(M, C), logits = t2(M, V);
  Tensor m1 = t2(1, M).view(Shape{1, M}), r1 = t2(1, M).view(Shape{1, M});
  int64_t m = 0;
  for (size_t i = 0; i < chunks.size(); ++i)
    if (chunks[i].logits)
      std::memcpy(last.f32() + (m++) * C, x.f32() + (row0[i] + chunks[i].n - 1) * C, sizeof(float) * C);
  nn::layernorm_forward(p.ln_f, lastn.view(Shape{1, M, C}), {m1, r1}, last.view(Shape{1, M, C}), eps);
  nn::linear_forward({p.emb.wte, Tensor()}, logits, lastn, nn::LinearMode{nn::LinearKind::Gemv},
                     bf16 ? const_cast<nn::LinearCopy*>(&decode_wte_) : nullptr);
  m = 0;
  for (const SeqChunk& ch : chunks)
    if (ch.logits) std::memcpy(ch.logits, logits.f32() + (m++) * V, sizeof(float) * V);
}

}  // namespace lm::models
