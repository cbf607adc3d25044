// GPT-2 training forward and backward as a flat list of nn calls; the backward is the forward read bottom-up
// with the same names and a `d` prefix.
#include "lm/models/gpt/gpt.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/core/profile.h"
#include "lm/ops/dropout.h"
#include "lm/ops/matmul.h"
#include "lm/ops/residual.h"

namespace lm::models {

namespace {

void residual_forward(Tensor out, Tensor a, Tensor b) {
  prof::Scope ps(prof::Op::Residual);
  ops::residual_forward(out, a, b);
}

}  // namespace

ops::AttentionSpec Gpt::attn_spec(int layer) const {
  ops::AttentionSpec a;
  a.n_head = static_cast<int>(config_.n_head);
  a.causal = true;
  a.scale = config_.scale_attn_weights ? 1.0f / std::sqrt(static_cast<float>(config_.head_size())) : 1.0f;
  if (config_.scale_attn_by_inverse_layer_idx) a.scale /= static_cast<float>(layer + 1);
  if (dropout_active_ && config_.attn_pdrop > 0) {
    a.dropout = config_.attn_pdrop;
    a.seed = dropout_seed_;
    a.stream = dropout_stream(layer, 1);
  }
  return a;
}

void Gpt::reserve(int64_t B, int64_t T, bool training) {
  if (B <= max_B_ && T == max_T_ && (!training || acts_training_)) return;
  if (T == max_T_) B = std::max(B, max_B_);
  training = training || (acts_training_ && T == max_T_);
  const int64_t C = config_.n_embd, I = config_.inner(), NH = config_.n_head, V = config_.vocab_size;
  Arena a("acts", device_);
  std::vector<std::pair<Tensor*, size_t>> pend;
  // Activations in the compute dtype; LayerNorm statistics, losses and the loss's row statistics always f32.
  auto r = [&](Tensor* t, Shape s) { pend.push_back({t, a.reserve(s, dtype_)}); };
  auto rf = [&](Tensor* t, Shape s) { pend.push_back({t, a.reserve(s, DType::F32)}); };
  acts_.assign(static_cast<size_t>(config_.n_layer), GptBlockActs{});
  r(&encoded_, Shape{B, T, C});
  for (auto& l : acts_) {
    rf(&l.ln1.mean, Shape{B, T});
    rf(&l.ln1.rstd, Shape{B, T});
    r(&l.attn.qkv, Shape{B, T, 3 * C});
    r(&l.attn.att, Shape{B, NH, T, T});
    r(&l.attn.atty, Shape{B, T, C});
    r(&l.residual2, Shape{B, T, C});
    rf(&l.ln2.mean, Shape{B, T});
    rf(&l.ln2.rstd, Shape{B, T});
    r(&l.fch, Shape{B, T, I});
    r(&l.residual3, Shape{B, T, C});
  }
  r(&lnf_, Shape{B, T, C});
  rf(&lnf_stats_.mean, Shape{B, T});
  rf(&lnf_stats_.rstd, Shape{B, T});
  r(&logits_, Shape{B * T, V});
  rf(&loss_.losses, Shape{B * T});
  rf(&loss_.stats, Shape{B * T, 2});
  r(&proj_, Shape{B, T, C});
  r(&ln_, Shape{B, T, C});
  r(&fch_gelu_, Shape{B, T, I});
  if (training) {
    for (Tensor* t : {&dres_, &dln_, &datty_}) r(t, Shape{B, T, C});
    r(&dqkv_, Shape{B, T, 3 * C});
    r(&datt_, Shape{B, NH, T, T});
    r(&dfch_gelu_, Shape{B, T, I});
    r(&dlnf_, Shape{B, T, C});
  }
  a.allocate();
  for (auto& [t, slot] : pend) *t = a.tensor(slot);
  acts_arena_ = std::move(a);
  max_B_ = B;
  max_T_ = T;
  acts_training_ = training;
}

void Gpt::dropout_forward(Tensor x, float p, int layer, int site) const {
  if (dropout_active_ && p > 0) ops::dropout_forward(x, x, p, dropout_seed_, dropout_stream(layer, site));
}

Tensor Gpt::dropout_backward(Tensor dx, float p, int layer, int site) {
  if (!dropout_active_ || p <= 0) return dx;
  Tensor d = proj_.slice0(0, dx.dim(0));  // forward scratch, free during backward
  zero_bytes(d.data, d.nbytes());
  ops::dropout_backward(d, dx, p, dropout_seed_, dropout_stream(layer, site));
  return d;
}

float Gpt::forward(const Batch& batch, const ForwardOptions& opt) {
  LM_CHECK(!batch.token_type_ids.defined(),
           "token_type_ids are not used by gpt2 models (HF would embed them with wte); omit them");
  LM_CHECK(!batch.next_sentence_label.defined() && !batch.start_positions.defined() && !batch.end_positions.defined(),
           "gpt2 forward: the batch has labels of another head (next sentence / span positions)");
  set_training(opt.training, opt.seed, opt.stream);
  Tensor in[3] = {batch.input_ids, batch.labels, batch.attention_mask};
  if (device_ != Device::CPU) {
    // A device model takes host batches too: they are copied into its staging buffer (grow-only).
    size_t need = 0;
    for (const Tensor& t : in)
      if (t.defined() && t.device == Device::CPU) need += align_up(std::max<size_t>(t.nbytes(), 4));
    if (batch_buf_.size() < need) batch_buf_ = Buffer(need, device_);
    size_t off = 0;
    for (Tensor& t : in) {
      if (!t.defined() || t.device != Device::CPU) continue;
      Tensor dst(static_cast<char*>(batch_buf_.data()) + off, t.shape, t.dtype, device_);
      copy_tensor(dst, t);
      off += align_up(std::max<size_t>(t.nbytes(), 4));
      t = dst;
    }
  }
  return forward(in[0], in[1], in[2]);
}

float Gpt::forward(Tensor ids, Tensor targets, Tensor attention_mask) {
  LM_CHECK(ids.dtype == DType::I32 && ids.ndim() == 2, "gpt2 forward: ids must be (B,T) int32, got {} {}",
           dtype_name(ids.dtype), ids.shape.str());
  const int64_t B = ids.dim(0), T = ids.dim(1), C = config_.n_embd;
  LM_CHECK(T >= 1 && T <= config_.n_positions, "gpt2 forward: sequence length {} exceeds n_positions {}", T,
           config_.n_positions);
  if (targets.defined()) check_tensor(targets, ids.shape, DType::I32, "gpt2 forward targets");
  if (attention_mask.defined()) check_tensor(attention_mask, ids.shape, DType::I32, "gpt2 forward attention_mask");
  for (const auto& [t, what] : {std::pair{&ids, "ids"}, {&targets, "targets"}, {&attention_mask, "attention_mask"}})
    LM_CHECK(!t->defined() || t->device == device_, "gpt2 forward: {} are on {} but the model is on {}", what,
             device_name(t->device), device_name(device_));
  const bool training = targets.defined();
  reserve(B, T, training);  // plans memory only when the shape grows or T changes (once in a training loop)
  cur_B_ = B;
  cur_T_ = T;
  ids_ = ids;
  targets_ = targets;
  const float eps = config_.layer_norm_epsilon;
  const GptParams& W = compute_params();
  dropout_active_ = training_ && (config_.embd_pdrop > 0 || config_.resid_pdrop > 0 || config_.attn_pdrop > 0);
  Tensor ln = ln_.slice0(0, B), proj = proj_.slice0(0, B), fch_gelu = fch_gelu_.slice0(0, B);

  Tensor x = encoded_.slice0(0, B);
  nn::embeddings_forward(W.emb, x, ids);
  dropout_forward(x, config_.embd_pdrop, -1, 0);
  for (int l = 0; l < config_.n_layer; ++l) {
    const GptBlockParams& p = W.h[static_cast<size_t>(l)];
    const GptBlockActs a = acts_[static_cast<size_t>(l)].rows(B);
    nn::layernorm_forward(p.ln_1, ln, a.ln1, x, eps);
    nn::attention_forward(p.attn, proj, a.attn, ln, {attn_spec(l), attention_mask});
    dropout_forward(proj, config_.resid_pdrop, l, 2);
    residual_forward(a.residual2, x, proj);
    nn::layernorm_forward(p.ln_2, ln, a.ln2, a.residual2, eps);
    nn::mlp_forward(p.mlp, proj, {a.fch, fch_gelu}, ln, config_.activation);
    dropout_forward(proj, config_.resid_pdrop, l, 3);
    residual_forward(a.residual3, a.residual2, proj);
    x = a.residual3;
  }
  Tensor lnf = lnf_.slice0(0, B), logits = logits_.slice0(0, B * T);
  nn::layernorm_forward(W.ln_f, lnf, lnf_stats_.rows(B), x, eps);
  {
    prof::Scope ps(prof::Op::LmHead);
    ops::matmul_forward(logits, lnf.view(Shape{B * T, C}), W.emb.wte, Tensor());
  }
  have_loss_ = false;
  if (!targets.defined()) return std::numeric_limits<float>::quiet_NaN();
  const nn::LossResult loss = nn::cross_entropy_forward(loss_.rows(B * T), logits, targets.view(Shape{B * T}));
  last_targets_ = loss.count;
  have_loss_ = true;
  return loss.mean;
}

void Gpt::backward(float dloss_scale) {
  LM_CHECK(have_loss_ && acts_training_, "gpt2 backward: call forward with targets first");
  grad_slots();
  // The first backward after zero_grad writes each gradient instead of adding to it: the weight GEMMs run with
  // beta 0, the LayerNorm and position-embedding gradients (small) are zeroed here first.
  const bool fresh = grads_zero_pending_;
  grads_zero_pending_ = false;
  if (fresh)
    for (const auto& [off, n] : grad_gaps_) zero_bytes(static_cast<char*>(grads_base_) + off, n);
  const int64_t B = cur_B_, T = cur_T_, C = config_.n_embd;
  const GptParams& W = compute_params();
  GptParams& g = grads_;
  if (dloss_scale == 0.0f) dloss_scale = last_targets_ > 0 ? 1.0f / static_cast<float>(last_targets_) : 0.0f;
  auto zero_if_fresh = [&](const nn::LayerNorm& t) {
    if (fresh) zero_bytes(t.w.data, t.w.nbytes()), zero_bytes(t.b.data, t.b.nbytes());
  };

  Tensor logits = logits_.slice0(0, B * T);
  nn::cross_entropy_backward(loss_.rows(B * T), logits, targets_.view(Shape{B * T}), dloss_scale);
  have_loss_ = false;  // the logits buffer now holds dlogits
  Tensor dlnf = dlnf_.slice0(0, B), lnf = lnf_.slice0(0, B);
  {
    prof::Scope ps(prof::Op::LmHead);
    ops::matmul_backward(dlnf.view(Shape{B * T, C}), g.emb.wte, Tensor(), logits, lnf.view(Shape{B * T, C}),
                         W.emb.wte, /*overwrite_dinp=*/true, fresh);
  }
  Tensor dres = dres_.slice0(0, B);
  zero_bytes(dres.data, dres.nbytes());
  Tensor last = config_.n_layer > 0 ? acts_.back().residual3.slice0(0, B) : encoded_.slice0(0, B);
  zero_if_fresh(g.ln_f);
  nn::layernorm_backward(W.ln_f, g.ln_f, dres, dlnf, lnf_stats_.rows(B), last);
  for (int l = static_cast<int>(config_.n_layer) - 1; l >= 0; --l) block_backward(l, dres, fresh);
  Tensor denc = dropout_backward(dres, config_.embd_pdrop, -1, 0);
  if (fresh) zero_bytes(g.emb.wpe.data, g.emb.wpe.nbytes());  // rows past T get no gradient; wte was written whole
  nn::embeddings_backward(g.emb, denc, ids_);
}

// One block, bottom-up. dres holds d residual3 on entry and d (block input) on exit.
void Gpt::block_backward(int l, Tensor dres, bool fresh) {
  const int64_t B = cur_B_;
  const float eps = config_.layer_norm_epsilon;
  const GptBlockParams& p = compute_params().h[static_cast<size_t>(l)];
  const GptBlockParams& g = grads_.h[static_cast<size_t>(l)];
  const GptBlockActs a = acts_[static_cast<size_t>(l)].rows(B);
  auto zero_if_fresh = [&](const nn::LayerNorm& t) {
    if (fresh) zero_bytes(t.w.data, t.w.nbytes()), zero_bytes(t.b.data, t.b.nbytes());
  };
  Tensor x = l == 0 ? encoded_.slice0(0, B) : acts_[static_cast<size_t>(l - 1)].residual3.slice0(0, B);
  Tensor ln = ln_.slice0(0, B), dln = dln_.slice0(0, B), fch_gelu = fch_gelu_.slice0(0, B);
  // residual3 = residual2 + dropout(mlp(ln_2(residual2))). The LayerNorm output and the GELU output are
  // recomputed from the saved inputs; fch_gelu becomes d fch once read.
  Tensor dproj = dropout_backward(dres, config_.resid_pdrop, l, 3);
  nn::layernorm_forward(p.ln_2, ln, a.ln2, a.residual2, eps);
  nn::mlp_backward(p.mlp, g.mlp, dln, dproj, {a.fch, fch_gelu}, ln, config_.activation,
                   {dfch_gelu_.slice0(0, B), fch_gelu}, /*recompute_act=*/true, /*overwrite_dinp=*/true, fresh);
  zero_if_fresh(g.ln_2);
  nn::layernorm_backward(p.ln_2, g.ln_2, dres, dln, a.ln2, a.residual2);
  // residual2 = x + dropout(attn(ln_1(x))); dres now holds d residual2.
  dproj = dropout_backward(dres, config_.resid_pdrop, l, 2);
  nn::layernorm_forward(p.ln_1, ln, a.ln1, x, eps);
  nn::attention_backward(p.attn, g.attn, dln, dproj, a.attn, ln,
                         {datty_.slice0(0, B), dqkv_.slice0(0, B), datt_.slice0(0, B)}, attn_spec(l),
                         /*overwrite_dinp=*/true, fresh);
  zero_if_fresh(g.ln_1);
  nn::layernorm_backward(p.ln_1, g.ln_1, dres, dln, a.ln1, x);
}

}  // namespace lm::models
