// BERT (HF modeling_bert): word + position + token-type embeddings -> LayerNorm -> L post-LN encoder layers
// (self-attention with key padding mask -> dense -> residual -> LayerNorm; intermediate dense -> GELU -> dense
// -> residual -> LayerNorm), pooler tanh(dense(h[:,0])), and one head chosen by config.json architectures[0]:
// BertModel, BertForPreTraining (MLM + NSP), BertForMaskedLM, BertForSequenceClassification,
// BertForQuestionAnswering. Shapes: ids (B,T) i32, hidden (B,T,C), I = intermediate_size, V vocab, NL labels.
// q/k/v are held fused as one (3C, C) matrix whose row blocks are HF's query | key | value weights.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "lm/core/buffer.h"
#include "lm/core/json.h"
#include "lm/models/model.h"
#include "lm/ops/attention.h"
#include "lm/ops/gelu.h"
#include "lm/ops/attention_bf16.h"
#include "lm/ops/linear_bf16.h"
#include "lm/ops/linear_int8.h"

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
  bool has_pooler() const { return head == BertHead::Base || head == BertHead::PreTraining ||
                                   head == BertHead::SequenceClassification; }
  bool has_mlm() const { return head == BertHead::PreTraining || head == BertHead::MaskedLM; }
  // Parses an HF config.json; unsupported math (position_embedding_type != absolute, is_decoder, regression /
  // multi-label classification) throws Unsupported, bad values throw InvalidArgument naming the key.
  static BertConfig from_hf(const Json& j);
  Json to_hf() const;
};

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
};

// One HF tensor: its name, HF shape, whether AdamW decays it, and the view of it inside a params struct (q/k/v
// are row blocks of the fused qkv matrix).
struct BertParamSpec {
  std::string name;
  Shape shape;
  bool decay = false;
  std::function<Tensor(const BertParams&)> get;
};
std::vector<BertParamSpec> bert_param_specs(const BertConfig& c);

// One batch. Optional tensors may be undefined: token types default to 0, the mask to all ones; labels select
// the loss of the head (MLM labels (B,T) with -100 = ignore; classification labels (B); NSP labels (B);
// QA start/end positions (B), clamped to [0, T] and T ignored, as HF).
struct BertBatch {
  Tensor input_ids;            // (B,T) i32
  Tensor token_type_ids;       // (B,T) i32
  Tensor attention_mask;       // (B,T) i32, 1 = attend, 0 = padding key
  Tensor labels;               // (B,T) i32 MLM or (B) i32 classification
  Tensor next_sentence_label;  // (B) i32
  Tensor start_positions;      // (B) i32
  Tensor end_positions;        // (B) i32
};

struct BertLayerActs {
  Tensor qkv;                      // (B,T,3C)
  Tensor att;                      // (B,NH,T,T) softmax probabilities
  Tensor ctx;                      // (B,T,C) merged heads
  Tensor attn_dense;               // (B,T,C) attention.output.dense output (pre-dropout)
  Tensor attn_drop;                // (B,T,C) after dropout (training with p > 0 only)
  Tensor res1, h1;                 // (B,T,C) residual sum and its LayerNorm
  Tensor mean1, rstd1;             // (B,T)
  Tensor fc, fc_act;               // (B,T,I) intermediate pre/post GELU
  Tensor out_dense, out_drop;      // (B,T,C) output.dense and its dropout (training, p > 0)
  Tensor res2, h2;                 // (B,T,C) residual sum and the layer output
  Tensor mean2, rstd2;             // (B,T)
};

class Bert : public Model {
 public:
  // device: where parameters, gradients and activations live. On Device::CUDA (f32) forward and backward run on
  // the GPU kernels; the batch is given on the HOST and uploaded by forward (masked positions, QA positions and
  // token types are read on the host); outputs() are device tensors. init/load/save stage through host memory;
  // the bf16 inference weights (oneDNN) are CPU-only. In a CPU build Device::CUDA throws Unsupported.
  explicit Bert(const BertConfig& config, Device device = Device::CPU);
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
  Tensor flat_params() override {
    packed_stale_ = true;
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
  float forward(const BertBatch& batch, bool training = false, uint64_t dropout_seed = 0);
  // Backward of the last forward with labels (training = true). Gradients ACCUMULATE; dloss_scale multiplies
  // d loss (1 = the loss as returned; 1/k for k accumulated micro-batches). The head's logits buffers become
  // their gradients in place, so read outputs() before calling it.
  void backward(float dloss_scale = 1.0f) override;
  // HF ModelOutput fields of the last forward, with HF shapes (views valid until the next forward).
  std::vector<std::pair<std::string, Tensor>> outputs() const override;
  // Labels that counted in the last loss (MLM targets, NSP/classification rows, QA rows).
  int64_t last_num_targets() const override { return last_targets_; }
  float last_mlm_loss() const { return mlm_loss_; }
  float last_nsp_loss() const { return nsp_loss_; }

  // Sparse masked-LM (Google BERT's masked_lm_positions): with MLM labels given, the prediction head (transform
  // + tied decoder) runs only at the positions whose label is not -100, which gives the same loss and gradients
  // at ~1/7 of the head's cost with 15% masking. outputs() then holds "masked_prediction_logits" (M,V) for
  // masked_positions() (flat b*T+t indices, ascending) instead of the full (B,T,V) logits. Off by default.
  void set_sparse_mlm(bool on) { sparse_mlm_ = on; }
  const std::vector<int64_t>& masked_positions() const { return masked_pos_; }

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
    packed_stale_ = true;
    return params_;
  }
  BertParams& grads();

 private:
  void reserve(int64_t B, int64_t T, bool training);
  bool drop_active() const { return training_ && config_.hidden_dropout_prob > 0.0f; }
  ops::AttentionSpec attn_spec(int layer) const;
  void init_tensor(const BertParamSpec& s, size_t index, uint64_t seed, BertParams& params) const;
  void load_host(BertParams& params, const std::string& path) const;
  // Host-resident parameters for init/load/save (the arena itself on CPU; a same-layout host copy on a device).
  template <typename F>
  void with_host_params(bool copy_in, bool copy_out, F&& fn) const;
  // A device model's copy of a host batch, in batch_buf_.
  BertBatch upload_batch(const BertBatch& in);

  BertConfig config_;
  Device device_ = Device::CPU;
  Buffer batch_buf_;  // device staging of the batch (grow-only)
  Json hf_config_;
  std::vector<BertParamSpec> specs_;
  int64_t num_params_ = 0;
  Arena params_arena_{"params"}, grads_arena_{"grads"};
  BertParams params_, grads_;
  bool grads_ready_ = false;

  struct PackedLayer {
    ops::PackedLinearBf16 qkv, attn_out, inter, out;
  };
  struct PackedLayerI8 {
    ops::PackedLinearInt8 qkv, attn_out, inter, out;
  };
  DType infer_dtype_ = DType::F32;
  std::vector<PackedLayer> packed_;   // bf16 inference weights, one per layer (empty until packed)
  std::vector<PackedLayerI8> packed_i8_;  // int8 inference weights, one per layer (empty until packed)
  bool attn_bf16_ = ops::attention_bf16_available();  // bf16 attention in the bf16 / int8 inference modes
  ops::AttentionBf16 attn_bf16_state_;
  bool packed_stale_ = true;
  std::vector<uint16_t> ffn_mid_;     // (B,T,I) bf16 GELU output between the two feed-forward GEMMs (bf16 mode)
  void pack_inference_weights();

  Arena acts_arena_{"acts"};
  int64_t max_B_ = 0, max_T_ = 0;
  bool acts_training_ = false;
  int64_t cur_B_ = 0, cur_T_ = 0;
  bool training_ = false;
  uint64_t seed_ = 0;
  BertBatch batch_;               // views of the caller's tensors (valid until the next forward)
  Tensor zeros_tt_;               // (B,T) i32 zeros when token_type_ids are not given
  Tensor emb_sum_, emb_mean_, emb_rstd_, emb_ln_, emb_drop_;  // (B,T,C), (B,T), (B,T), (B,T,C), (B,T,C)
  std::vector<BertLayerActs> acts_;
  Tensor first_;                  // (B,C) hidden state of token 0
  Tensor pooled_pre_, pooled_;    // (B,C) pooler dense output and its tanh
  Tensor pooled_drop_;            // (B,C) classifier dropout (training)
  Tensor mlm_t_, mlm_act_, mlm_ln_, mlm_mean_, mlm_rstd_;     // (B,T,C) x3, (B,T) x2
  Tensor pred_;                   // (B*T, V) prediction logits; dlogits in backward
  Tensor mlm_in_;                 // (B*T, C) sparse MLM: gathered hidden states of the masked positions
  Tensor mlm_labels_;             // (B*T) i32 sparse MLM: their labels
  bool sparse_mlm_ = false, sparse_active_ = false;
  double mlm_fraction_ = 0.15;
  std::vector<int64_t> masked_pos_;
  Tensor mlm_losses_;             // (B*T)
  Tensor small_logits_;           // (B, 2 or NL) NSP / classification logits
  Tensor small_losses_;           // (B)
  Tensor qa_;                     // (B,T,2) qa_outputs
  Tensor qa_start_, qa_end_;      // (B,T) each: de-interleaved start/end logits
  Tensor qa_losses_;              // (B)
  Tensor qa_start_pos_, qa_end_pos_;  // (B) i32 clamped positions (T = ignored)
  // Backward scratch.
  Tensor dres_, dtmp_, dctx_, dmid_;  // (B,T,C)
  Tensor dqkv_;                       // (B,T,3C)
  Tensor datt_;                       // (B,NH,T,T)
  Tensor dfc_, dfc_act_;              // (B,T,I)
  Tensor dpooled_, dpooled_pre_, dfirst_;  // (B,C)
  Tensor dqa_;                        // (B,T,2)
  float mlm_loss_ = 0, nsp_loss_ = 0;
  int64_t mlm_targets_ = 0, small_targets_ = 0, qa_start_targets_ = 0, qa_end_targets_ = 0;
  int64_t last_targets_ = 0;
  bool have_loss_ = false;
};

}  // namespace lm::models
