// GPT-2 (HF GPT2LMHeadModel): token + position embeddings, L pre-LN blocks (ln_1 -> causal attention -> residual,
// ln_2 -> MLP (c_fc, GELU, c_proj) -> residual), ln_f, LM head tied to wte; built from the nn/ pieces.
// Weights are held in nn.Linear layout (OC, C); HF's Conv1D (in, out) matrices are transposed at load and save.
// Shapes: ids/targets (B,T) i32, logits (B,T,V), activations (B,T,C) with C = n_embd, I = n_inner.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lm/core/buffer.h"
#include "lm/core/json.h"
#include "lm/models/model.h"
#include "lm/nn/attention.h"
#include "lm/nn/embedding.h"
#include "lm/nn/layernorm.h"
#include "lm/nn/linear.h"
#include "lm/nn/loss.h"
#include "lm/nn/mlp.h"

namespace lm::models {

struct GptConfig {
  int64_t vocab_size = 50257;
  int64_t n_positions = 1024;
  int64_t n_embd = 768;
  int64_t n_layer = 12;
  int64_t n_head = 12;
  int64_t n_inner = 0;  // 0 -> 4 * n_embd
  float layer_norm_epsilon = 1e-5f;
  ops::GeluKind activation = ops::GeluKind::Tanh;
  std::string activation_name = "gelu_new";
  float resid_pdrop = 0.0f, embd_pdrop = 0.0f, attn_pdrop = 0.0f;
  bool scale_attn_weights = true;
  bool scale_attn_by_inverse_layer_idx = false;
  float initializer_range = 0.02f;
  int64_t bos_token_id = 50256, eos_token_id = 50256;

  int64_t inner() const { return n_inner > 0 ? n_inner : 4 * n_embd; }
  int64_t head_size() const { return n_embd / n_head; }
  // FLOPs per token at context length T: training 6N + 6·L·T·C, forward 2N + 2·L·T·C, N = the matmul
  // parameters (blocks + LM head); causal attention counted in full as the PaLM appendix does.
  double train_flops_per_token(int64_t T) const;
  double forward_flops_per_token(int64_t T) const;
  // Parses an HF config.json object; unknown keys that change the math throw Unsupported, bad values throw
  // InvalidArgument naming the key.
  static GptConfig from_hf(const Json& j);
  Json to_hf() const;
};

// One block's parameters (or gradients, or moments: the same type bound to another arena).
struct GptBlockParams {
  nn::LayerNorm ln_1;  // (C)
  nn::Attention attn;  // qkv = attn.c_attn (3C, C) (HF Conv1D (C, 3C) transposed), proj = attn.c_proj (C, C)
  nn::LayerNorm ln_2;  // (C)
  nn::Mlp mlp;         // fc = mlp.c_fc (I, C), proj = mlp.c_proj (C, I)
};

struct GptParams {
  nn::Embeddings emb;  // wte (V, C), also the LM head; wpe (maxT, C)
  std::vector<GptBlockParams> h;
  nn::LayerNorm ln_f;  // (C)
};

// The parameter table: one row per HF tensor, in checkpoint and arena order. shape is ours (Conv1D weights
// transposed to (OC, C)); conv1d: HF stores it (in, out); decay: AdamW weight decay applies.
struct GptParamSpec {
  std::string name;  // HF name
  Shape shape;
  bool conv1d = false;
  bool decay = false;
  std::string gguf;  // llama.cpp's GGUF name ("gpt2" architecture); same (out, in) layout as ours
};
// Calls f(spec, tensor slot) for every parameter of p in table order; p.h must have n_layer blocks. Drives
// sizing, binding, init, load, save and the optimizer's parameter list.
void visit_gpt_params(GptParams& p, const GptConfig& c, const std::function<void(const GptParamSpec&, Tensor&)>& f);
std::vector<GptParamSpec> gpt_param_specs(const GptConfig& c);

// Saved activations for backward, sized for (B, T) at allocation; smaller batches use prefixes. The LayerNorm
// outputs and the GELU output are not kept per layer: backward recomputes them from the saved inputs (and the
// saved mean/rstd) into shared scratch, which is bitwise the same as saving them and costs one LayerNorm/GELU
// forward each, for (2C + I)·B·T floats less per layer.
struct GptBlockActs {
  nn::LayerNormStats ln1;  // (B,T) mean, rstd
  nn::AttentionActs attn;  // qkv (B,T,3C), att (B,NH,T,T), atty (B,T,C)
  Tensor residual2;        // (B,T,C) after the attention residual
  nn::LayerNormStats ln2;  // (B,T) mean, rstd
  Tensor fch;              // (B,T,I) c_fc output (pre-GELU)
  Tensor residual3;        // (B,T,C) block output
  GptBlockActs rows(int64_t B) const {
    return {ln1.rows(B), attn.rows(B), residual2.slice0(0, B), ln2.rows(B), fch.slice0(0, B), residual3.slice0(0, B)};
  }
};

// Inference state for incremental decoding: per-layer key/value caches (B,NH,Tmax,HS) and scratch for up to
// Tmax new tokens at once (prefill), planned once, on the model's device. `logits` is always host memory (the
// sampler reads it); a device cache computes them in dev_logits and copies them back each step.
struct GptKvCache : KvCache {
  Device device = Device::CPU;
  Arena arena{"kv"};
  std::vector<Tensor> k, v;          // per layer (B,NH,Tmax,HS)
  Tensor x, x2, ln, atty, proj;      // (B,Tmax,C)
  Tensor mean, rstd;                 // (B,Tmax)
  Tensor qkv;                        // (B,Tmax,3C)
  Tensor fch, fch_gelu;              // (B,Tmax,I)
  Tensor last;                       // (B,C) final-LN rows of the last position
  Buffer host_logits;                // backs `logits` for a device cache
  Tensor dev_logits;                 // (B,V) device cache: the LM head's output
  Tensor ids_dev, pos_dev, mask_dev; // (B,Tmax) i32 device cache: ids, positions, key mask uploaded from the host
  Tensor att;                        // (B,NH,Tmax,Tmax) probabilities of a prefill from an empty cache, when
                                     // that is at most 64 MB (else undefined and prefill uses the KV kernel)
};

class Gpt : public Model, public CausalLM {
 public:
  // device: where the parameters, gradients and activations live. On Device::CUDA (LM_CUDA=ON builds) forward,
  // backward and the optimizer run on the GPU kernels; ids/targets/masks passed to forward must be on the same
  // device, and init/load/save stage through host memory. bf16 decode weights are CPU-only. In a CPU build
  // Device::CUDA throws Unsupported.
  // dtype: F32, or BF16 (CUDA only) for mixed precision: the parameter arena stays f32 (the master weights that
  // flat_params(), the optimizer and checkpoints see); forward/backward read a bf16 copy laid out element for
  // element like it, and activations and gradients are bf16 (flat_grads() is a bf16 view with the same element
  // offsets as flat_params()); LayerNorm statistics and losses stay f32, every kernel computes in fp32. The
  // optimizer refreshes the copy (ParamRef::param_copy) as it updates the masters.
  explicit Gpt(const GptConfig& config, Device device = Device::CPU, DType dtype = DType::F32);
  const GptConfig& config() const { return config_; }
  DType dtype() const { return dtype_; }

  // ---- Model ----
  std::string model_type() const override { return "gpt2"; }
  const Json& hf_config() const override { return hf_config_; }
  int64_t vocab_size() const override { return config_.vocab_size; }
  int64_t max_positions() const override { return config_.n_positions; }
  int64_t num_parameters() const override { return num_params_; }
  Device device() const override { return device_; }
  std::string architecture() const override { return "GPT2LMHeadModel"; }
  Head head() const override { return Head::CausalLM; }
  std::vector<ParamRef> param_list() override;
  Tensor flat_params() override { return params_arena_.flat_f32(); }
  Tensor flat_grads() override;
  void zero_grad() override;
  // GPT-2 init as HF: normal(0, initializer_range) for weights and embeddings, c_proj weights with
  // std / sqrt(2 * n_layer), biases 0, LayerNorm weight 1. Deterministic from seed.
  void init_weights(uint64_t seed) override;
  // Loads weights from an HF model.safetensors (prefix "transformer." optional; legacy attn.bias/masked_bias
  // buffers ignored; lm_head.weight, if present, must equal wte).
  void load_safetensors(const std::string& path) override;
  // config.json, model.safetensors and generation_config.json (bos/eos/pad ids).
  void save_hf(const std::string& dir) const override;
  std::unique_ptr<Model> to(Device device) const override;
  // Causal LM: batch.labels are the next-token targets; token types and other heads' labels are rejected.
  // Dropout (training) masks come from Philox streams of (opt.seed, opt.stream). A device model uploads a host
  // batch into its staging buffer.
  float forward(const Batch& batch, const ForwardOptions& opt = {}) override;
  double loss_weight() const override { return static_cast<double>(last_targets_); }
  std::vector<std::pair<std::string, Tensor>> outputs() const override { return {{"logits", logits()}}; }
  // The final LayerNorm's output of the last forward, (B,T,C): what embeddings pool.
  Tensor hidden_states() const override {
    return lnf_.slice0(0, cur_B_).view(Shape{cur_B_, cur_T_, config_.n_embd});
  }
  int64_t last_num_targets() const override { return last_targets_; }
  double train_flops_per_token(int64_t T) const override { return config_.train_flops_per_token(T); }
  double forward_flops_per_token(int64_t T) const override { return config_.forward_flops_per_token(T); }
  CausalLM* causal_lm() override { return this; }
  // c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj of every block (Conv1D: fan_in_fan_out).
  std::vector<LinearSite> linear_sites() override;
  void freeze(const std::vector<TrainableTensor>& trainable) override;

  // ---- CausalLM (decode.cpp) ----
  Model& model() override { return *this; }
  const Model& model() const override { return *this; }
  int64_t eos_token_id() const override { return config_.eos_token_id; }
  std::unique_ptr<KvCache> make_kv_cache(int64_t B, int64_t Tmax) const override;
  // A CUDA model takes ids/positions/mask from the host and uploads them; it runs in f32 from the f32 (master)
  // parameters whatever its training dtype; all_logits is CPU-only.
  void forward_cached(Tensor ids, KvCache& cache, Tensor position_ids = {}, Tensor key_mask = {},
                      Tensor all_logits = {}) const override;
  void reorder_cache(KvCache& cache, const std::vector<int64_t>& src) const override;
  // Ragged batches (ragged.cpp): decode rows read the decode weights (f32 or bf16) as forward_cached's decode
  // steps do; chunks of two or more tokens run through the f32 GEMM.
  std::unique_ptr<SeqCache> make_seq_cache(int64_t Tmax) const override;
  void forward_ragged(const std::vector<SeqChunk>& chunks) const override;
  // Decode steps (forward_cached chunks of at most kDecodeRows = B*Tn rows) run as GEMVs that stream each matrix
  // once. BF16: a bf16 copy of the four block matrices and of wte (the LM head), read with f32 accumulation;
  // halves the bytes per decoded token. Longer chunks (prefill) and the embedding lookup always use the f32
  // parameters.
  static constexpr int64_t kDecodeRows = 8;
  void set_decode_dtype(DType dt) override;
  DType decode_dtype() const override { return decode_dtype_; }
  int64_t decode_weight_bytes() const override;
  int64_t kv_bytes_per_position() const override { return 2 * config_.n_layer * config_.n_embd * 4; }
  int64_t hidden_size() const override { return config_.n_embd; }

  // ---- family API ----
  // The parameters of `src` (same config, any device or dtype): e.g. a model loaded on the CPU moved to a GPU.
  void copy_params_from(const Gpt& src);
  // Allocates activations for batches up to (B, T); called lazily by forward.
  void reserve(int64_t B, int64_t T, bool training);
  // ids (B,T) i32. targets (B,T) i32 or undefined (then no loss). Returns the mean loss over non-ignored
  // targets (NaN without targets or with zero targets). Logits stay available via logits().
  // attention_mask (B,T) i32 (1 = attend, 0 = padding key), optional, as HF's attention_mask.
  float forward(Tensor ids, Tensor targets, Tensor attention_mask = {});
  // Backward of the last forward with targets. Gradients ACCUMULATE into the grads arena (the first backward after
  // zero_grad writes them instead, which is the same values without a zeroing pass); dloss_scale is the
  // weight of each target's loss (default 1/num_targets of that forward, i.e. the mean). Grad accumulation over
  // micro-batches passes 1/total_targets_of_all_micro_batches.
  void backward(float dloss_scale = 0.0f) override;
  Tensor logits() const { return logits_.slice0(0, cur_B_ * cur_T_).view(Shape{cur_B_, cur_T_, config_.vocab_size}); }
  // Dropout (resid/embd/attn_pdrop of the config) applies only in training mode; masks come from Philox with
  // streams derived from (seed, step), so a step's masks are reproducible and resumable. Gradient accumulation
  // passes a distinct step per micro-batch.
  void set_training(bool training, uint64_t seed = 0, uint64_t step = 0) {
    training_ = training;
    dropout_seed_ = seed;
    dropout_step_ = step;
  }
  GptParams& params() { return params_; }
  // The gradients (zeros first if zero_grad was called and no backward has run since).
  GptParams& grads();

 private:
  GptParams& grad_slots();  // binds the arena, leaves a pending zero_grad pending
  // Parameters in host memory for init/load/save: the arena itself on CPU; on CUDA a host arena with the same
  // layout, filled from the device first (copy_in) and written back after fn (copy_out).
  void with_host_params(bool copy_in, bool copy_out, const std::function<void(GptParams&)>& fn) const;
  void zero_bytes(void* p, size_t n) const;  // on the model's device
  void init_host(GptParams& params, uint64_t seed) const;
  void load_host(GptParams& params, const std::string& path) const;
  // BF16 mode: params16_ = bf16(params_) (after init/load; the optimizer keeps it current afterwards).
  void sync_param_copy();
  // The parameters forward/backward read: the bf16 copy in BF16 mode, the f32 parameters otherwise.
  const GptParams& compute_params() const { return dtype_ == DType::BF16 ? params16_ : params_; }
  ops::AttentionSpec attn_spec(int layer) const;
  // Training dropout at a site: in place on x (forward) / into proj_ scratch (backward; returns the gradient to
  // use, dx itself when the site is off).
  void dropout_forward(Tensor x, float p, int layer, int site) const;
  Tensor dropout_backward(Tensor dx, float p, int layer, int site);
  void block_backward(int l, Tensor dres, bool fresh);

  GptConfig config_;
  Device device_ = Device::CPU;
  DType dtype_ = DType::F32;
  Buffer params16_buf_, grads16_buf_;  // BF16 mode: the parameter copy and the gradients
  Buffer batch_buf_;                   // a device model's staging of host batches (grow-only)
  GptParams params16_;
  void* grads_base_ = nullptr;  // the gradient storage (grads arena, or grads16_buf_) and its size in bytes
  size_t grads_bytes_ = 0;
  Json hf_config_;
  int64_t num_params_ = 0;
  Arena params_arena_{"params"}, grads_arena_{"grads"};
  GptParams params_, grads_;
  bool grads_ready_ = false;
  bool frozen_ = false;                             // freeze(): only trainable_ has gradients
  std::map<std::string, TrainableTensor> trainable_;
  bool grads_zero_pending_ = false;  // zero_grad called, not yet materialised: the next backward overwrites
  std::vector<std::pair<size_t, size_t>> grad_gaps_;  // (offset, bytes) of the grads arena outside any tensor

  // Activations.
  Arena acts_arena_{"acts"};
  int64_t max_B_ = 0, max_T_ = 0;
  bool acts_training_ = false;
  int64_t cur_B_ = 0, cur_T_ = 0;
  Tensor ids_, targets_;  // views of the caller's tensors for backward (valid until the next forward)
  Tensor encoded_;        // (B,T,C)
  std::vector<GptBlockActs> acts_;
  Tensor lnf_;                        // (B,T,C)
  nn::LayerNormStats lnf_stats_;      // (B,T)
  Tensor logits_;                     // (B*T, V); becomes dlogits in backward
  nn::LossActs loss_;                 // (B*T) losses, (B*T,2) per-row max and Σexp for backward
  Tensor proj_;                       // (B,T,C) scratch for c_proj outputs
  Tensor ln_;                         // (B,T,C) ln_1 / ln_2 output of the current layer (recomputed in backward)
  Tensor fch_gelu_;                   // (B,T,I) GELU output of the current layer; dfch in backward
  // Backward scratch.
  Tensor dres_, dln_, datty_;  // (B,T,C)
  Tensor dqkv_;                // (B,T,3C)
  Tensor datt_;                // (B,NH,T,T)
  Tensor dfch_gelu_;           // (B,T,I)
  Tensor dlnf_;                // (B,T,C)
  // bf16 decode weights (set_decode_dtype): per block the copies of the four matrices; wte for the head.
  DType decode_dtype_ = DType::F32;
  Arena decode_arena_{"decode"};
  struct DecodeCopies {
    nn::AttentionCopies attn;
    nn::MlpCopies mlp;
  };
  std::vector<DecodeCopies> decode_;
  nn::LinearCopy decode_wte_;

  int64_t last_targets_ = 0;
  bool have_loss_ = false;
  bool training_ = false;
  uint64_t dropout_seed_ = 0, dropout_step_ = 0;
  bool dropout_active_ = false;  // of the last forward
  // Philox stream of dropout site `site` (0 embd, then per layer: 1 attn probs, 2 attn resid, 3 mlp resid).
  uint64_t dropout_stream(int layer, int site) const {
    return dropout_step_ * static_cast<uint64_t>(3 * config_.n_layer + 1) +
           (layer < 0 ? 0 : static_cast<uint64_t>(3 * layer + site));
  }
};

}  // namespace lm::models
