// BERT's encoder: embeddings -> LayerNorm -> dropout, then L post-LN layers
//   h1 = LN1(x + dropout(attention(x))),   h2 = LN2(h1 + dropout(mlp(h1))),
// and its backward, the forward read bottom-up with `d` names (post-LN: the gradient enters every layer through
// its output LayerNorm). Also the batch checks, the activation arena and the entry points that hand the encoder
// output h (B,T,C) to the head. Activations (B,T,C), (B,T,I) inner, (B,NH,T,T) attention probabilities.
#include <algorithm>
#include <cmath>

#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/core/profile.h"
#include "lm/models/bert/heads.h"
#include "lm/ops/dropout.h"
#include "lm/ops/residual.h"

namespace lm::models {

namespace {

// Dropout stream ids: one per dropout site, so masks never repeat across sites within a step (the head's
// classifier dropout uses 1000003, the attention probabilities 2000003 + layer).
constexpr uint64_t kStreamEmb = 0;
uint64_t stream_attn(int l) { return 1 + 2 * static_cast<uint64_t>(l); }
uint64_t stream_out(int l) { return 2 + 2 * static_cast<uint64_t>(l); }

// A distinct dropout seed per (seed, stream): the Trainer's step, rank and micro-batch.
uint64_t mix_seed(uint64_t seed, uint64_t stream) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + stream + 1;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 32);
}

Tensor rows_of(const Tensor& t, int64_t B) { return t.defined() ? t.slice0(0, B) : Tensor(); }

void residual_forward(Tensor out, Tensor a, Tensor b) {
  prof::Scope ps(prof::Op::Residual);
  ops::residual_forward(out, a, b);
}

}  // namespace

BertLayerActs BertLayerActs::rows(int64_t B) const {
  return {attn.rows(B), attn_out.slice0(0, B), rows_of(attn_drop, B), res1.slice0(0, B), h1.slice0(0, B),
          ln1.rows(B),  mlp.rows(B),           mlp_out.slice0(0, B),  rows_of(mlp_drop, B), res2.slice0(0, B),
          h2.slice0(0, B), ln2.rows(B)};
}

void Bert::check_batch(const BertBatch& in) const {
  const Tensor& ids = in.input_ids;
  LM_CHECK(ids.dtype == DType::I32 && ids.ndim() == 2, "bert forward: input_ids must be (B,T) int32, got {} {}",
           dtype_name(ids.dtype), ids.shape.str());
  const int64_t B = ids.dim(0), T = ids.dim(1);
  LM_CHECK(B >= 1 && T >= 1 && T <= config_.max_position_embeddings,
           "bert forward: sequence length {} must be in [1, max_position_embeddings {}]", T,
           config_.max_position_embeddings);
  if (in.token_type_ids.defined()) check_tensor(in.token_type_ids, ids.shape, DType::I32, "bert token_type_ids");
  if (in.attention_mask.defined()) check_tensor(in.attention_mask, ids.shape, DType::I32, "bert attention_mask");
  head_->check_labels(in, B, T);
  if (in.next_sentence_label.defined())
    check_tensor(in.next_sentence_label, Shape{B}, DType::I32, "bert next_sentence_label");
  if (in.start_positions.defined()) check_tensor(in.start_positions, Shape{B}, DType::I32, "bert start_positions");
  if (in.end_positions.defined()) check_tensor(in.end_positions, Shape{B}, DType::I32, "bert end_positions");
  if (in.token_type_ids.defined()) {
    const int32_t* tt = in.token_type_ids.ptr<int32_t>();
    for (int64_t i = 0; i < B * T; ++i)
      LM_CHECK(tt[i] >= 0 && tt[i] < config_.type_vocab_size,
               "bert forward: token_type_id {} at {} is out of range for type_vocab_size {}", tt[i], i,
               config_.type_vocab_size);
  }
}

void Bert::reserve(int64_t B, int64_t T, bool training) {
  if (B <= max_B_ && T == max_T_ && (!training || acts_training_) && (!sparse_mlm_ || acts_sparse_)) return;
  if (T == max_T_) B = std::max(B, max_B_);
  training = training || (acts_training_ && T == max_T_);
  ArenaPlan plan("acts", device_);
  reserve_encoder(plan, B, T, training);
  head_->reserve(plan, B, T, training, sparse_mlm_);
  acts_arena_ = plan.allocate();
  if (!training)
    for (auto& l : acts_) l = acts_.front();
  nn::zero(zeros_tt_);
  max_B_ = B;
  max_T_ = T;
  acts_training_ = training;
  acts_sparse_ = sparse_mlm_;
}

void Bert::reserve_encoder(ArenaPlan& r, int64_t B, int64_t T, bool training) {
  const int64_t C = config_.hidden_size, I = config_.intermediate_size, NH = config_.num_attention_heads;
  const bool drop = training && config_.hidden_dropout_prob > 0.0f;
  const Shape btc{B, T, C}, bt{B, T}, bti{B, T, I}, bt3c{B, T, 3 * C}, att{B, NH, T, T};
  // The optional tensors are undefined unless reserved here (nothing left pointing into the previous arena).
  emb_drop_ = dh_ = dres2_ = ddrop_ = Tensor();
  attn_scratch_ = {};
  mlp_scratch_ = {};
  r(&zeros_tt_, bt, DType::I32);
  r(&emb_sum_, btc);
  r(&emb_stats_.mean, bt);
  r(&emb_stats_.rstd, bt);
  r(&emb_ln_, btc);
  if (drop) r(&emb_drop_, btc);
  // Eval-only forwards need no per-layer activations (nothing runs backward): every layer then writes the same
  // buffers (layer l reads its input x = h2 of layer l-1 before overwriting h2 at its end), which is L times
  // less activation memory (bert-base, B 32, T 128: 3.0 GB -> 0.25 GB).
  acts_.assign(static_cast<size_t>(config_.num_hidden_layers), BertLayerActs{});
  for (BertLayerActs& a : acts_) {
    if (!training && &a != &acts_.front()) continue;
    r(&a.attn.qkv, bt3c);
    r(&a.attn.att, att);
    for (Tensor* t : {&a.attn.atty, &a.attn_out, &a.res1, &a.h1, &a.mlp_out, &a.res2, &a.h2}) r(t, btc);
    if (drop) r(&a.attn_drop, btc);
    if (drop) r(&a.mlp_drop, btc);
    for (Tensor* t : {&a.ln1.mean, &a.ln1.rstd, &a.ln2.mean, &a.ln2.rstd}) r(t, bt);
    r(&a.mlp.fch, bti);
    r(&a.mlp.fch_act, bti);
  }
  if (!training) return;
  for (Tensor* t : {&dh_, &dres2_, &ddrop_, &attn_scratch_.datty}) r(t, btc);
  r(&attn_scratch_.dqkv, bt3c);
  r(&attn_scratch_.datt, att);
  r(&mlp_scratch_.dact, bti);
  r(&mlp_scratch_.dpre, bti);
}

BertBatch Bert::upload_batch(const BertBatch& in) {
  std::vector<std::pair<const Tensor*, Tensor*>> fields;
  BertBatch d;
  fields.push_back({&in.input_ids, &d.input_ids});
  fields.push_back({&in.token_type_ids, &d.token_type_ids});
  fields.push_back({&in.attention_mask, &d.attention_mask});
  fields.push_back({&in.labels, &d.labels});
  fields.push_back({&in.next_sentence_label, &d.next_sentence_label});
  fields.push_back({&in.start_positions, &d.start_positions});
  fields.push_back({&in.end_positions, &d.end_positions});
  size_t need = 0;
  for (const auto& [src, dst] : fields)
    if (src->defined()) need += align_up(src->nbytes() ? src->nbytes() : 4);
  if (batch_buf_.size() < need) batch_buf_ = Buffer(need, device_);
  size_t off = 0;
  for (const auto& [src, dst] : fields) {
    if (!src->defined()) continue;
    LM_CHECK(src->device == Device::CPU, "bert forward: a {} model takes its batch on the host", device_name(device_));
    *dst = Tensor(static_cast<char*>(batch_buf_.data()) + off, src->shape, src->dtype, device_);
    copy_tensor(*dst, *src);
    off += align_up(src->nbytes() ? src->nbytes() : 4);
  }
  return d;
}

float Bert::forward(const BertBatch& in, bool training, uint64_t dropout_seed) {
  check_batch(in);
  const int64_t B = in.input_ids.dim(0), T = in.input_ids.dim(1);
  reserve(B, T, training);
  step_.B = B;
  step_.T = T;
  step_.training = training;
  step_.seed = dropout_seed;
  step_.sparse_mlm = sparse_mlm_;
  // The batch the kernels read: the caller's tensors on CPU, a device copy otherwise (the head reads labels and
  // positions on the host, from `in`).
  step_.batch = device_ == Device::CPU ? in : upload_batch(in);
  if (!step_.batch.token_type_ids.defined()) step_.batch.token_type_ids = zeros_tt_.slice0(0, B);
  prepare_inference_copies();
  const Tensor h = encoder_forward();
  return head_->run(params_, h, in, step_);
}

float Bert::forward(const Batch& in, const ForwardOptions& opt) {
  return forward(in, opt.training, opt.training ? mix_seed(opt.seed, opt.stream) : 0);
}

ops::AttentionSpec Bert::attn_spec(int layer) const {
  ops::AttentionSpec a;
  a.n_head = static_cast<int>(config_.num_attention_heads);
  a.causal = false;
  a.scale = 1.0f / std::sqrt(static_cast<float>(config_.head_size()));
  if (step_.training && config_.attention_probs_dropout_prob > 0.0f) {
    // HF BertSelfAttention: dropout on the attention probabilities; masks regenerated in backward.
    a.dropout = config_.attention_probs_dropout_prob;
    a.seed = step_.seed;
    a.stream = 2000003 + static_cast<uint64_t>(layer);
  }
  return a;
}

// Inverted dropout of x into buf when training with p > 0, else x itself (no copy).
Tensor Bert::dropout(Tensor buf, Tensor x, uint64_t stream) const {
  if (!drop_active()) return x;
  prof::Scope ps(prof::Op::Residual);
  const Tensor out = buf.slice0(0, step_.B);
  ops::dropout_forward(out, x, config_.hidden_dropout_prob, step_.seed, stream);
  return out;
}

// d of a dropout site's input: into the scratch when the dropout ran, else the incoming gradient itself.
Tensor Bert::ddropout(Tensor dout, uint64_t stream) const {
  if (!drop_active()) return dout;
  prof::Scope ps(prof::Op::Residual);
  const Tensor d = ddrop_.slice0(0, step_.B);
  nn::zero(d);
  ops::dropout_backward(d, dout, config_.hidden_dropout_prob, step_.seed, stream);
  return d;
}

Tensor Bert::encoder_forward() {
  const int64_t B = step_.B;
  const Tensor emb = emb_sum_.slice0(0, B), emb_ln = emb_ln_.slice0(0, B);
  nn::embeddings_forward(params_.emb(), emb, step_.batch.input_ids, step_.batch.token_type_ids);
  nn::layernorm_forward(params_.emb_ln(), emb_ln, emb_stats_.rows(B), emb, config_.layer_norm_eps);
  Tensor x = dropout(emb_drop_, emb_ln, kStreamEmb);
  for (int l = 0; l < static_cast<int>(config_.num_hidden_layers); ++l) x = layer_forward(l, x);
  return x;  // (B,T,C) last_hidden_state
}

// One post-LN layer. Keys with attention_mask 0 get finfo.min added before the softmax (HF's extended mask).
Tensor Bert::layer_forward(int l, Tensor x) {
  const BertLayerParams& w = params_.layers[static_cast<size_t>(l)];
  const BertLayerActs a = acts_[static_cast<size_t>(l)].rows(step_.B);
  const LayerRun run = layer_run(l);
  const float eps = config_.layer_norm_eps;
  nn::attention_forward(w.attn(), a.attn_out, a.attn, x, run.attn);
  residual_forward(a.res1, dropout(a.attn_drop, a.attn_out, stream_attn(l)), x);
  nn::layernorm_forward(w.ln1(), a.h1, a.ln1, a.res1, eps);
  nn::mlp_forward(w.mlp(), a.mlp_out, a.mlp, a.h1, config_.activation, run.attn.mode, run.mlp);
  residual_forward(a.res2, dropout(a.mlp_drop, a.mlp_out, stream_out(l)), a.h1);
  nn::layernorm_forward(w.ln2(), a.h2, a.ln2, a.res2, eps);
  return a.h2;
}

void Bert::backward(float dloss_scale) {
  LM_CHECK(head_->has_loss() && acts_training_, "bert backward: call forward with labels (training) first");
  grads();
  const int64_t B = step_.B;
  const Tensor h = acts_.back().h2.slice0(0, B), dh = dh_.slice0(0, B);
  nn::zero(dh);  // d last_hidden_state
  head_->run_backward(params_, grads_, dh, h, step_, dloss_scale);
  // The layers, top first: dh holds d(layer output) on entry to each and d(its input) after it.
  const Tensor x0 = drop_active() ? emb_drop_.slice0(0, B) : emb_ln_.slice0(0, B);
  for (int l = static_cast<int>(config_.num_hidden_layers) - 1; l >= 0; --l)
    layer_backward(l, dh, l == 0 ? x0 : acts_[static_cast<size_t>(l - 1)].h2.slice0(0, B));
  // Embeddings: x0 = dropout(LN(emb)).
  const Tensor demb_ln = ddropout(dh, kStreamEmb), demb = dres2_.slice0(0, B);
  nn::zero(demb);
  nn::layernorm_backward(params_.emb_ln(), grads_.emb_ln(), demb, demb_ln, emb_stats_.rows(B), emb_sum_.slice0(0, B));
  nn::embeddings_backward(grads_.emb(), demb, step_.batch.input_ids, step_.batch.token_type_ids);
}

// layer_forward read bottom-up. dh: d h2 on entry, d x on return.
void Bert::layer_backward(int l, Tensor dh, Tensor x) {
  const int64_t B = step_.B;
  const BertLayerParams& w = params_.layers[static_cast<size_t>(l)];
  const BertLayerParams& g = grads_.layers[static_cast<size_t>(l)];
  const BertLayerActs a = acts_[static_cast<size_t>(l)].rows(B);
  const nn::MlpScratch mlp_scratch{mlp_scratch_.dact.slice0(0, B), mlp_scratch_.dpre.slice0(0, B)};
  // h2 = LN2(res2), res2 = h1 + dropout(mlp_out): dres2 is d res2, and so d h1 through the residual.
  const Tensor dres2 = dres2_.slice0(0, B);
  nn::zero(dres2);
  nn::layernorm_backward(w.ln2(), g.ln2(), dres2, dh, a.ln2, a.res2);
  nn::mlp_backward(w.mlp(), g.mlp(), dres2, ddropout(dres2, stream_out(l)), a.mlp, a.h1, config_.activation,
                   mlp_scratch, /*recompute_act=*/false, /*overwrite_dinp=*/false, /*overwrite_grads=*/false);
  // h1 = LN1(res1), res1 = x + dropout(attn_out): dh becomes d res1, and so d x through the residual.
  nn::zero(dh);
  nn::layernorm_backward(w.ln1(), g.ln1(), dh, dres2, a.ln1, a.res1);
  nn::attention_backward(w.attn(), g.attn(), dh, ddropout(dh, stream_attn(l)), a.attn, x, attn_scratch_.rows(B),
                         attn_spec(l), /*overwrite_dinp=*/false, /*overwrite_grads=*/false);
}

// The head's results.
std::vector<std::pair<std::string, Tensor>> Bert::outputs() const {
  LM_CHECK(step_.B > 0, "bert outputs: no forward has run");
  return head_->outputs(acts_.back().h2.slice0(0, step_.B), step_);
}

Tensor Bert::hidden_states() const {
  LM_CHECK(step_.B > 0, "bert hidden states: no forward has run");
  return acts_.back().h2.slice0(0, step_.B);
}

Json Bert::loss_parts() const { return head_->loss_parts(); }
int64_t Bert::last_num_targets() const { return head_->targets(); }
float Bert::last_mlm_loss() const { return head_->mlm_loss(); }
float Bert::last_nsp_loss() const { return head_->nsp_loss(); }
const std::vector<int64_t>& Bert::masked_positions() const { return head_->masked_positions(); }

}  // namespace lm::models
