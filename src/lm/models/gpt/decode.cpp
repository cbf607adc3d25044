// GPT-2 incremental decoding: the KV cache, the cached forward (prefill and decode steps as a flat list of nn
// calls; decode steps run their linear layers as GEMVs over f32 or bf16 weights), beam reordering, and the bf16
// decode weights with the byte count a decode step reads (the bandwidth bound of `lmcpp bench decode`).
#include <array>
#include <cstring>

#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/models/gpt/gpt.h"
#include "lm/ops/encoder.h"
#include "lm/ops/residual.h"

namespace lm::models {

std::unique_ptr<KvCache> Gpt::make_kv_cache(int64_t B, int64_t Tmax) const {
  LM_CHECK(B >= 1 && Tmax >= 1, "kv cache: batch {} and length {} must be positive", B, Tmax);
  LM_CHECK(Tmax <= config_.n_positions, "kv cache: {} positions exceed n_positions {}", Tmax, config_.n_positions);
  const int64_t C = config_.n_embd, I = config_.inner(), NH = config_.n_head, HS = config_.head_size();
  auto c = std::make_unique<GptKvCache>();
  c->B = B;
  c->Tmax = Tmax;
  c->device = device_;
  c->arena = Arena("kv", device_);
  const bool dev = device_ != Device::CPU;
  std::vector<std::pair<Tensor*, size_t>> pend;
  auto r = [&](Tensor* t, Shape s) { pend.push_back({t, c->arena.reserve(s)}); };
  c->k.resize(static_cast<size_t>(config_.n_layer));
  c->v.resize(static_cast<size_t>(config_.n_layer));
  for (int64_t l = 0; l < config_.n_layer; ++l) {
    r(&c->k[static_cast<size_t>(l)], Shape{B, NH, Tmax, HS});
    r(&c->v[static_cast<size_t>(l)], Shape{B, NH, Tmax, HS});
  }
  for (Tensor* t : {&c->x, &c->x2, &c->ln, &c->atty, &c->proj}) r(t, Shape{B, Tmax, C});
  r(&c->mean, Shape{B, Tmax});
  r(&c->rstd, Shape{B, Tmax});
  r(&c->qkv, Shape{B, Tmax, 3 * C});
  r(&c->fch, Shape{B, Tmax, I});
  r(&c->fch_gelu, Shape{B, Tmax, I});
  r(&c->last, Shape{B, C});
  if (dev) {
    r(&c->dev_logits, Shape{B, config_.vocab_size});
    for (Tensor* t : {&c->ids_dev, &c->pos_dev, &c->mask_dev}) pend.push_back({t, c->arena.reserve(Shape{B, Tmax}, DType::I32)});
  } else {
    r(&c->logits, Shape{B, config_.vocab_size});
  }
  // A prefill from an empty cache runs the blocked-sgemm attention of training (much faster than row-by-row
  // against the cache for long prompts); its probabilities need (B,NH,T,T), so only for modest sizes. (CPU: on a
  // device the KV kernel's prefill is used.)
  if (!dev && B * NH * Tmax * Tmax * 4 <= (int64_t{64} << 20)) r(&c->att, Shape{B, NH, Tmax, Tmax});
  c->arena.allocate();
  for (auto& [t, slot] : pend) *t = c->arena.tensor(slot);
  if (dev) {
    c->host_logits = Buffer(static_cast<size_t>(B * config_.vocab_size) * sizeof(float));
    c->logits = Tensor(c->host_logits.data(), Shape{B, config_.vocab_size});
  }
  return c;
}

namespace {

GptKvCache& gpt_cache(KvCache& cache) {
  auto* c = dynamic_cast<GptKvCache*>(&cache);
  LM_CHECK(c != nullptr, "gpt2: the KV cache was not made by a gpt2 model");
  return *c;
}

// Host inputs of a device cache are uploaded into its staging (device inputs are used as they are).
void upload(Tensor& in, const Tensor& staging, Shape s, Device d) {
  if (!in.defined() || in.device == d) return;
  check_tensor(in, s, DType::I32, "gpt2 forward_cached input");
  Tensor dst(staging.data, s, DType::I32, d);
  copy_tensor(dst, in);
  in = dst;
}

}  // namespace

void Gpt::forward_cached(Tensor ids, KvCache& cache, Tensor position_ids, Tensor key_mask, Tensor all_logits) const {
  GptKvCache& c = gpt_cache(cache);
  LM_CHECK(ids.dtype == DType::I32 && ids.ndim() == 2 && ids.dim(0) == c.B,
           "gpt2 forward_cached: ids must be ({}, Tn) int32, got {} {}", c.B, dtype_name(ids.dtype), ids.shape.str());
  LM_CHECK(c.device == device_, "gpt2 forward_cached: the cache is on {} but the model on {}", device_name(c.device),
           device_name(device_));
  const int64_t B = c.B, Tn = ids.dim(1), C = config_.n_embd, I = config_.inner(), V = config_.vocab_size;
  LM_CHECK(Tn >= 1 && c.past + Tn <= c.Tmax, "gpt2 forward_cached: {} cached + {} new tokens exceed the cache ({})",
           c.past, Tn, c.Tmax);
  const float eps = config_.layer_norm_epsilon;
  const bool dev = device_ != Device::CPU;
  const Device d = device_;
  if (dev) {
    LM_CHECK_AS(ErrorCode::Unsupported, !all_logits.defined(),
                "gpt2 forward_cached: all_logits is not available for a {} model", device_name(d));
    upload(ids, c.ids_dev, Shape{B, Tn}, d);
    upload(position_ids, c.pos_dev, Shape{B, Tn}, d);
    upload(key_mask, c.mask_dev, Shape{B, c.Tmax}, d);
  }
  // Views of the scratch for this chunk: (B, Tn, ...) taken from the front of (B, Tmax, ...) buffers.
  auto v3 = [&](const Tensor& t, int64_t dd) { return Tensor(t.data, Shape{B, Tn, dd}, DType::F32, d); };
  Tensor x = v3(c.x, C), x2 = v3(c.x2, C), ln = v3(c.ln, C), atty = v3(c.atty, C), proj = v3(c.proj, C);
  Tensor qkv = v3(c.qkv, 3 * C), fch = v3(c.fch, I), fch_gelu = v3(c.fch_gelu, I);
  const nn::LayerNormStats st{Tensor(c.mean.data, Shape{B, Tn}, DType::F32, d),
                              Tensor(c.rstd.data, Shape{B, Tn}, DType::F32, d)};
  const GptParams& p = params_;
  // Decode steps (few rows) are GEMVs over the decode weights (f32, or the bf16 copies); longer chunks go
  // through sgemm. The GEMV kernels are CPU kernels.
  const bool decode = B * Tn <= kDecodeRows && !dev;
  const bool bf16 = decode && decode_dtype_ == DType::BF16;
  nn::LinearMode mode{decode ? nn::LinearKind::Gemv : nn::LinearKind::F32};
  // A whole prompt from an empty cache without padding: the training attention kernel (no dropout in inference).
  const bool full_prefill = c.past == 0 && !decode && !key_mask.defined() && c.att.defined();
  Tensor prefill_att = full_prefill ? Tensor(c.att.data, Shape{B, config_.n_head, Tn, Tn}) : Tensor();
  auto* copies = const_cast<std::vector<DecodeCopies>*>(&decode_);
  ops::encoder_forward(x, ids, p.emb.wte, p.emb.wpe, c.past, position_ids);
  for (int l = 0; l < config_.n_layer; ++l) {
    const GptBlockParams& b = p.h[static_cast<size_t>(l)];
    DecodeCopies* dc = bf16 ? &(*copies)[static_cast<size_t>(l)] : nullptr;
    ops::AttentionSpec spec = attn_spec(l);
    spec.dropout = 0.0f;
    nn::layernorm_forward(b.ln_1, ln, st, x, eps);
    nn::attention_kv_forward(b.attn, proj, qkv, atty, c.k[static_cast<size_t>(l)], c.v[static_cast<size_t>(l)], ln,
                             c.past, {spec, key_mask, mode, dc ? &dc->attn : nullptr}, prefill_att);
    ops::residual_forward(x2, x, proj);
    nn::layernorm_forward(b.ln_2, ln, st, x2, eps);
    nn::mlp_forward(b.mlp, proj, {fch, fch_gelu}, ln, config_.activation, mode, dc ? &dc->mlp : nullptr);
    ops::residual_forward(x, x2, proj);
  }
  c.past += Tn;
  if (all_logits.defined()) {
    check_tensor(all_logits, Shape{B, Tn, V}, DType::F32, "gpt2 forward_cached all_logits");
    nn::layernorm_forward(p.ln_f, ln, st, x, eps);
    nn::linear_forward({p.emb.wte, Tensor()}, all_logits.view(Shape{B * Tn, V}), ln.view(Shape{B * Tn, C}));
    for (int64_t bb = 0; bb < B; ++bb)
      std::memcpy(c.logits.f32() + bb * V, all_logits.f32() + (bb * Tn + Tn - 1) * V, sizeof(float) * V);
    return;
  }
  // Only the last position's logits are needed to pick the next token: gather those rows first.
  Tensor last_x(c.x2.data, Shape{B, 1, C}, DType::F32, d);
  for (int64_t bb = 0; bb < B; ++bb)
    copy_bytes(static_cast<float*>(last_x.data) + bb * C, d, static_cast<float*>(x.data) + (bb * Tn + Tn - 1) * C, d,
               sizeof(float) * static_cast<size_t>(C));
  const nn::LayerNormStats st1{Tensor(c.mean.data, Shape{B, 1}, DType::F32, d),
                               Tensor(c.rstd.data, Shape{B, 1}, DType::F32, d)};
  nn::layernorm_forward(p.ln_f, c.last.view(Shape{B, 1, C}), st1, last_x, eps);
  if (dev) {
    nn::linear_forward({p.emb.wte, Tensor()}, c.dev_logits, c.last);
    copy_tensor(c.logits, c.dev_logits);
    return;
  }
  // The LM head on B rows is a GEMV whatever Tn was (wte is ~30% of GPT-2 small's weight bytes).
  const nn::LinearMode head{B <= kDecodeRows ? nn::LinearKind::Gemv : nn::LinearKind::F32};
  nn::linear_forward({p.emb.wte, Tensor()}, c.logits, c.last, head, bf16 ? const_cast<nn::LinearCopy*>(&decode_wte_) : nullptr);
}

void Gpt::reorder_cache(KvCache& cache, const std::vector<int64_t>& src) const {
  GptKvCache& c = gpt_cache(cache);
  LM_CHECK(static_cast<int64_t>(src.size()) == c.B, "reorder_cache: {} sources for {} rows", src.size(), c.B);
  for (int64_t s : src) LM_CHECK(s >= 0 && s < c.B, "reorder_cache: source row {} out of range [0, {})", s, c.B);
  // One snapshot of a layer's cache (on its device), then row copies out of it.
  Buffer snap;
  for (size_t l = 0; l < c.k.size(); ++l) {
    for (Tensor* t : {&c.k[l], &c.v[l]}) {
      const size_t row = t->nbytes() / static_cast<size_t>(c.B);
      if (snap.size() < t->nbytes()) snap = Buffer(t->nbytes(), c.device);
      copy_bytes(snap.data(), c.device, t->data, c.device, t->nbytes());
      for (int64_t b = 0; b < c.B; ++b)
        copy_bytes(static_cast<char*>(t->data) + static_cast<size_t>(b) * row, c.device,
                   static_cast<char*>(snap.data()) + static_cast<size_t>(src[static_cast<size_t>(b)]) * row, c.device,
                   row);
    }
  }
}

void Gpt::set_decode_dtype(DType dt) {
  LM_CHECK_AS(ErrorCode::Unsupported, device_ == Device::CPU, "gpt2 decode weights: decoding runs on the CPU only");
  LM_CHECK_AS(ErrorCode::Unsupported, dt == DType::F32 || dt == DType::BF16,
              "gpt2 decode weights must be f32 or bf16, got {}", dtype_name(dt));
  decode_.clear();
  decode_wte_ = nn::LinearCopy{};
  decode_arena_ = Arena("decode");
  decode_dtype_ = dt;
  if (dt == DType::F32) return;
  const size_t L = static_cast<size_t>(config_.n_layer);
  auto linears = [&](size_t l) {
    const GptBlockParams& b = params_.h[l];
    return std::array<const nn::Linear*, 4>{&b.attn.qkv, &b.attn.proj, &b.mlp.fc, &b.mlp.proj};
  };
  std::vector<size_t> slots;
  for (size_t l = 0; l < L; ++l)
    for (const nn::Linear* w : linears(l)) slots.push_back(decode_arena_.reserve(w->w.shape, DType::BF16));
  const size_t wte_slot = decode_arena_.reserve(params_.emb.wte.shape, DType::BF16);
  decode_arena_.allocate();
  decode_.resize(L);
  size_t i = 0;
  for (size_t l = 0; l < L; ++l) {
    DecodeCopies& dc = decode_[l];
    nn::LinearCopy* out[4] = {&dc.attn.qkv, &dc.attn.proj, &dc.mlp.fc, &dc.mlp.proj};
    const auto in = linears(l);
    for (size_t k = 0; k < 4; ++k)
      nn::make_linear_copy(*out[k], *in[k], nn::LinearKind::Gemv, decode_arena_.tensor(slots[i++]));
  }
  nn::make_linear_copy(decode_wte_, {params_.emb.wte, Tensor()}, nn::LinearKind::Gemv, decode_arena_.tensor(wte_slot));
}

int64_t Gpt::decode_weight_bytes() const {
  const int64_t w = static_cast<int64_t>(dtype_size(decode_dtype_));
  int64_t matrices = params_.emb.wte.numel(), vectors = params_.ln_f.w.numel() + params_.ln_f.b.numel();
  for (const auto& b : params_.h) {
    for (const nn::Linear* l : {&b.attn.qkv, &b.attn.proj, &b.mlp.fc, &b.mlp.proj}) {
      matrices += l->w.numel();
      vectors += l->b.numel();
    }
    vectors += b.ln_1.w.numel() + b.ln_1.b.numel() + b.ln_2.w.numel() + b.ln_2.b.numel();
  }
  return matrices * w + vectors * 4;
}

}  // namespace lm::models
