// BERT (HF modeling_bert): word + position + token-type embeddings -> LayerNorm -> L post-LN encoder layers
// (self-attention with key padding mask -> dense -> residual -> LayerNorm; intermediate dense -> GELU -> dense
// -> residual -> LayerNorm), pooler tanh(dense(h[:,0])), and one head chosen by config.json architectures[0]:
// BertModel, BertForPreTraining (MLM + NSP), BertForMaskedLM, BertForSequenceClassification,
// BertForQuestionAnswering. Shapes: ids (B,T) i32, hidden (B,T,C), I = intermediate_size, V vocab, NL labels.
// q/k/v are held fused as one (3C, C) matrix whose row blocks are HF's query | key | value weights.
// Files: config.cpp (HF config, FLOPs), params.cpp (the parameter table and everything it drives), encoder.cpp
// (forward/backward of embeddings + layers), heads.cpp (the head object), inference.cpp (bf16 / int8 eval).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lm/core/buffer.h"
#include "lm/core/json.h"
#include "lm/models/model.h"
#include "lm/nn/attention.h"
#include "lm/nn/embedding.h"
#include "lm/nn/heads.h"
#include "lm/nn/layernorm.h"
#include "lm/nn/mlp.h"
#include "lm/ops/attention_bf16.h"
#include "lm/ops/gelu.h"

namespace lm::models {

enum class BertHead { Base, PreTraining, MaskedLM, SequenceClassification, QuestionAnswering };

struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";
  ops::GeluKind activation = ops::GeluKind::Erf;
  float hidden_dropout_prob = 0.1f, attention_probs_dropout_prob = 0.1f;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  float layer_norm_eps = 1e-12f;
  float initializer_range = 0.02f;
  int64_t pad_token_id = 0;
  BertHead head = BertHead::PreTraining;
  std::string architecture = "BertForPreTraining";
  int64_t num_labels = 2;
  std::vector<std::string> id2label;  // num_labels entries ("LABEL_i" when the config has none)
  float classifier_dropout = -1.0f;   // < 0: hidden_dropout_prob (HF classifier_dropout null)
  Json extra;                         // the original config (keys we do not interpret are written back)

  int64_t head_size() const { return hidden_size / num_attention_heads; }
  // Training FLOPs per token at sequence length T: 6N over the encoder matmuls, the MLM transform and the tied
  // decoder (at head_fraction of the positions: 1 as HF computes it, the masking rate with the sparse head)
  // plus 12·L·T·C for bidirectional attention.
  double train_flops_per_token(int64_t T, double head_fraction = 1.0) const;
  // Forward FLOPs per token of the encoder (inference): 2·L·(4C² + 2CI) for the linear layers + 4·L·T·C for QKᵀ
  // and PV.
  double forward_flops_per_token(int64_t T) const;
  bool has_pooler() const { return head == BertHead::Base || head == BertHead::PreTraining ||
                                   head == BertHead::SequenceClassification; }
  bool has_mlm() const { return head == BertHead::PreTraining || head == BertHead::MaskedLM; }
  // Parses an HF config.json; unsupported math (position_embedding_type != absolute, is_decoder, regression /
  // multi-label classification) throws Unsupported, bad values throw InvalidArgument naming the key.
  static BertConfig from_hf(const Json& j);
  Json to_hf() const;
};

// Parameters (and, the same type, their gradients): views into one flat arena. The nn views (attn(), mlp(), ...)
// group them as the nn pieces take them.
struct BertLayerParams {
  Tensor qkv_w;                 // (3C, C) rows: query | key | value (each HF nn.Linear (C, C))
  Tensor qkv_b;                 // (3C)
  Tensor attn_out_w;            // (C, C) attention.output.dense
  Tensor attn_out_b;            // (C)
  Tensor attn_ln_w, attn_ln_b;  // (C) attention.output.LayerNorm
  Tensor inter_w;               // (I, C) intermediate.dense
  Tensor inter_b;               // (I)
  Tensor out_w;                 // (C, I) output.dense
  Tensor out_b;                 // (C)
  Tensor out_ln_w, out_ln_b;    // (C) output.LayerNorm
  // Adapters on the four linear layers (models/lora.h; null: none).
  nn::LoraLayer *qkv_lora = nullptr, *attn_out_lora = nullptr, *inter_lora = nullptr, *out_lora = nullptr;

  nn::Attention attn() const { return {{qkv_w, qkv_b, qkv_lora}, {attn_out_w, attn_out_b, attn_out_lora}}; }
  nn::LayerNorm ln1() const { return {attn_ln_w, attn_ln_b}; }
  nn::Mlp mlp() const { return {{inter_w, inter_b, inter_lora}, {out_w, out_b, out_lora}}; }
  nn::LayerNorm ln2() const { return {out_ln_w, out_ln_b}; }
};

struct BertParams {
  Tensor word_emb;                // (V, C) also the MLM decoder (tied)
  Tensor pos_emb;                 // (P, C)
  Tensor type_emb;                // (TV, C)
  Tensor emb_ln_w, emb_ln_b;      // (C)
  std::vector<BertLayerParams> layers;
  Tensor pooler_w, pooler_b;      // (C, C), (C)           heads with a pooler
  Tensor mlm_w, mlm_b;            // (C, C), (C)           cls.predictions.transform.dense
  Tensor mlm_ln_w, mlm_ln_b;      // (C)                   cls.predictions.transform.LayerNorm
  Tensor mlm_bias;                // (V)                   cls.predictions.bias (= decoder.bias)
  Tensor nsp_w, nsp_b;            // (2, C), (2)           cls.seq_relationship
  Tensor cls_w, cls_b;            // (NL, C), (NL)         classifier
  Tensor qa_w, qa_b;              // (2, C), (2)           qa_outputs

  nn::Embeddings emb() const { return {word_emb, pos_emb, type_emb}; }
  nn::LayerNorm emb_ln() const { return {emb_ln_w, emb_ln_b}; }
  nn::Pooler pooler() const { return {{pooler_w, pooler_b}}; }
  nn::MlmHead mlm() const { return {{mlm_w, mlm_b}, {mlm_ln_w, mlm_ln_b}, {word_emb, mlm_bias}}; }
  nn::Linear nsp() const { return {nsp_w, nsp_b}; }
  nn::Linear classifier() const { return {cls_w, cls_b}; }
  nn::Linear qa() const { return {qa_w, qa_b}; }
};

// One batch: models::Batch. Optional tensors may be undefined: token types default to 0, the mask to all ones;
// labels select the loss of the head (MLM labels (B,T) with -100 = ignore; classification labels (B); NSP labels
// (B); QA start/end positions (B), clamped to [0, T] and T ignored, as HF).
using BertBatch = Batch;

// Saved activations of one encoder layer (the buffers hold the largest batch so far; rows(B) views the first B).
struct BertLayerActs {
  nn::AttentionActs attn;      // qkv (B,T,3C), att (B,NH,T,T) probabilities, atty (B,T,C) merged heads
  Tensor attn_out, attn_drop;  // (B,T,C) attention.output.dense and its dropout (training, p > 0)
  Tensor res1, h1;             // (B,T,C) residual sum and its LayerNorm
  nn::LayerNormStats ln1;      // (B,T)
  nn::MlpActs mlp;             // fch, fch_act (B,T,I) intermediate pre/post GELU
  Tensor mlp_out, mlp_drop;    // (B,T,C) output.dense and its dropout (training, p > 0)
  Tensor res2, h2;             // (B,T,C) residual sum and the layer output
  nn::LayerNormStats ln2;      // (B,T)
  BertLayerActs rows(int64_t B) const;
};

// One forward as the encoder and the head see it.
struct BertStep {
  int64_t B = 0, T = 0;
  bool training = false;
  uint64_t seed = 0;        // dropout masks
  bool sparse_mlm = false;  // Bert::set_sparse_mlm
  BertBatch batch;          // on the model's device; token_type_ids always defined
};

class BertHeadImpl;  // heads.h: the head's forward, loss, backward and outputs
class ArenaPlan;     // heads.h: tensors reserved in an arena, bound when it is allocated

class Bert : public Model {
 public:
  // device: where parameters, gradients and activations live. On Device::CUDA (f32) forward and backward run on
  // the GPU kernels; the batch is given on the HOST and uploaded by forward (masked positions, QA positions and
  // token types are read on the host); outputs() are device tensors. init/load/save stage through host memory;
  // the bf16 inference weights (oneDNN) are CPU-only. In a CPU build Device::CUDA throws Unsupported.
  explicit Bert(const BertConfig& config, Device device = Device::CPU);
  ~Bert() override;
  const BertConfig& config() const { return config_; }
  Device device() const override { return device_; }

  std::string model_type() const override { return "bert"; }
  std::string architecture() const override { return config_.architecture; }
  Head head() const override;
  std::vector<std::string> labels() const override {
    return config_.head == BertHead::SequenceClassification ? config_.id2label : std::vector<std::string>{};
  }
  std::unique_ptr<Model> to(Device device) const override;
  // Dropout masks from the seed mix_seed(opt.seed, opt.stream).
  float forward(const Batch& batch, const ForwardOptions& opt = {}) override;
  double loss_weight() const override { return 1.0; }
  Json loss_parts() const override;
  // The head's positions at which the prediction head ran (sparse MLM: the masked share) set the FLOP count.
  double forward_flops_per_token(int64_t T) const override { return config_.forward_flops_per_token(T); }
  double train_flops_per_token(int64_t T) const override {
    return config_.train_flops_per_token(T, sparse_mlm_ ? mlm_fraction_ : 1.0);
  }
  // The expected fraction of masked positions, for train_flops_per_token with the sparse MLM head.
  void set_mlm_fraction(double f) { mlm_fraction_ = f; }
  void set_sparse_prediction(double expected_fraction) override {
    set_sparse_mlm(true);
    set_mlm_fraction(expected_fraction);
  }
  const Json& hf_config() const override { return hf_config_; }
  int64_t vocab_size() const override { return config_.vocab_size; }
  int64_t max_positions() const override { return config_.max_position_embeddings; }
  int64_t num_parameters() const override { return num_params_; }
  std::vector<ParamRef> param_list() override;
  // query, key, value (row blocks of the fused qkv), attention.output.dense, intermediate.dense, output.dense.
  std::vector<LinearSite> linear_sites() override;
  void freeze(const std::vector<TrainableTensor>& trainable) override;
  Tensor flat_params() override {
    copies_stale_ = true;
    return params_arena_.flat_f32();
  }
  Tensor flat_grads() override;
  void zero_grad() override;
  // HF init: normal(0, initializer_range) for Linear/Embedding weights, zero biases (and the padding_idx row of
  // word embeddings), LayerNorm 1/0. Deterministic from seed (one stream per tensor).
  void init_weights(uint64_t seed) override;
  // HF names; "bert." prefix optional; LayerNorm.gamma/beta accepted; cls.predictions.decoder.weight (must equal
  // word embeddings) and decoder.bias (alias of cls.predictions.bias) accepted; legacy position_ids ignored;
  // weights of other heads ignored; head weights missing from a base checkpoint are initialised (logged).
  void load_safetensors(const std::string& path) override;
  // As HF save_pretrained: tied decoder weight omitted; BertModel without the "bert." prefix.
  void save_hf(const std::string& dir) const override;

  // Runs the batch; returns the head's loss when its labels are given (else NaN). training enables dropout
  // (seeded by dropout_seed, different per call through step) and backward.
  float forward(const BertBatch& batch, bool training, uint64_t dropout_seed = 0);
  // Backward of the last forward with labels (training = true). Gradients ACCUMULATE; dloss_scale multiplies
  // d loss (1 = the loss as returned; 1/k for k accumulated micro-batches). The head's logits buffers become
  // their gradients in place, so read outputs() before calling it.
  void backward(float dloss_scale = 1.0f) override;
  // HF ModelOutput fields of the last forward, with HF shapes (views valid until the next forward).
  std::vector<std::pair<std::string, Tensor>> outputs() const override;
  Tensor hidden_states() const override;
  // Labels that counted in the last loss (MLM targets, NSP/classification rows, QA rows).
  int64_t last_num_targets() const override;
  float last_mlm_loss() const;
  float last_nsp_loss() const;

  // Sparse masked-LM (Google BERT's masked_lm_positions): with MLM labels given, the prediction head (transform
  // + tied decoder) runs only at the positions whose label is not -100, which gives the same loss and gradients
  // at ~1/7 of the head's cost with 15% masking. outputs() then holds "masked_prediction_logits" (M,V) for
  // masked_positions() (flat b*T+t indices, ascending) instead of the full (B,T,V) logits. Off by default.
  void set_sparse_mlm(bool on) { sparse_mlm_ = on; }
  const std::vector<int64_t>& masked_positions() const;

  // Weights of eval-mode forwards (training = false). F32 (default): the parameters. BF16: the four linear
  // layers of every encoder layer run from a bf16 copy packed for oneDNN's AMX / AVX512_BF16 matmul
  // (activations rounded to bf16 at each of those GEMMs, f32 accumulation). I8: the same four layers run
  // dynamically quantized on oneDNN's AMX / VNNI int8 matmul (weights s8 per output channel, activations s8 per
  // sequence at each GEMM, exact int32 products, f32 dequantized output; kernels/cpu/linear_int8.h). In both, the
  // attention's two batched products run in bf16 too where oneDNN has a native batched bf16 matmul (Q, K, V and
  // the probabilities rounded to bf16, f32 softmax; ops/attention_bf16.h; set_inference_bf16_attention(false)
  // keeps it f32). Embeddings, LayerNorm, the softmax, pooler and heads stay f32. The copy is made lazily at the
  // next eval forward and made again after any training forward, weight load or params() access. Throws
  // Unsupported for BF16 / I8 on a CPU without a native bf16 / int8 matmul, or on a CUDA model.
  void set_inference_dtype(DType dt) override;
  DType inference_dtype() const { return infer_dtype_; }
  void set_inference_bf16_attention(bool on) { attn_bf16_ = on && ops::attention_bf16_available(); }

  // Mutable access marks the bf16 inference copy stale.
  BertParams& params() {
    copies_stale_ = true;
    return params_;
  }
  BertParams& grads();

 private:
  // params.cpp
  // Host-resident parameters for init/load/save (the arena itself on CPU; a same-layout host copy on a device).
  template <typename F>
  void with_host_params(bool copy_in, bool copy_out, F&& fn) const;
  void load_host(BertParams& params, const std::string& path) const;
  // encoder.cpp
  void check_batch(const BertBatch& in) const;
  void reserve(int64_t B, int64_t T, bool training);
  void reserve_encoder(ArenaPlan& plan, int64_t B, int64_t T, bool training);
  BertBatch upload_batch(const BertBatch& in);  // a device model's copy of a host batch, in batch_buf_
  bool drop_active() const { return step_.training && config_.hidden_dropout_prob > 0.0f; }
  Tensor dropout(Tensor buf, Tensor x, uint64_t stream) const;
  Tensor ddropout(Tensor dout, uint64_t stream) const;
  ops::AttentionSpec attn_spec(int layer) const;
  Tensor encoder_forward();
  Tensor layer_forward(int l, Tensor x);
  void layer_backward(int l, Tensor dh, Tensor x);
  void encoder_backward(Tensor dh);
  // inference.cpp: the run settings of layer l in this forward (f32, or the packed bf16 / int8 copies).
  struct LayerRun {
    nn::AttentionRun attn;
    nn::MlpCopies* mlp = nullptr;
  };
  void prepare_inference_copies();
  LayerRun layer_run(int l);

  BertConfig config_;
  Device device_ = Device::CPU;
  Json hf_config_;
  std::unique_ptr<BertHeadImpl> head_;
  int64_t num_params_ = 0;
  Arena params_arena_{"params"}, grads_arena_{"grads"};
  BertParams params_, grads_;
  bool grads_ready_ = false;
  bool frozen_ = false;  // freeze(): only trainable_ has gradients (no grads arena)
  std::map<std::string, TrainableTensor> trainable_;

  // bf16 / int8 inference copies of each layer's four linear weights (empty until made; inference.cpp).
  struct LayerCopies {
    nn::AttentionCopies attn;
    nn::MlpCopies mlp;
  };
  DType infer_dtype_ = DType::F32;
  std::vector<LayerCopies> copies_;
  bool copies_stale_ = true;
  bool attn_bf16_ = ops::attention_bf16_available();  // bf16 attention in the bf16 / int8 inference modes
  ops::AttentionBf16 attn_bf16_state_;

  bool sparse_mlm_ = false;
  double mlm_fraction_ = 0.15;
  BertStep step_;     // the last forward (its batch: views of the caller's tensors until the next forward)
  Buffer batch_buf_;  // device staging of the batch (grow-only)

  // Activations (one arena, sized for the largest batch so far).
  Arena acts_arena_{"acts"};
  int64_t max_B_ = 0, max_T_ = 0;
  bool acts_training_ = false, acts_sparse_ = false;
  Tensor zeros_tt_;                  // (B,T) i32 zeros when token_type_ids are not given
  Tensor emb_sum_, emb_ln_, emb_drop_;  // (B,T,C) embeddings sum, its LayerNorm, its dropout
  nn::LayerNormStats emb_stats_;     // (B,T)
  std::vector<BertLayerActs> acts_;  // eval-only forwards: every layer shares one set of buffers
  // Backward scratch (B,T,C): d h (the gradient flowing down the layers), d res2 (= d h1 through the residual),
  // d of a dropout's input; the attention's and the MLP's own scratch.
  Tensor dh_, dres2_, ddrop_;
  nn::AttentionScratch attn_scratch_;
  nn::MlpScratch mlp_scratch_;
};

}  // namespace lm::models
