// models::Model — the run-time interface over model families (models/<family>/), chosen from an HF directory's
// config.json "model_type" through a registry (one line per family, no central switch). Nothing above models/
// names a family: training, evaluation, generation, serving and the tools work through Model (and CausalLM for
// models that generate). Parameters, gradients and AdamW moments live in flat arenas; param_list() names every
// tensor with its HF name. Shapes: ids (B,T) i32.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lm/core/buffer.h"
#include "lm/core/device.h"
#include "lm/core/dtype.h"
#include "lm/core/json.h"
#include "lm/core/tensor.h"

namespace lm::nn {
struct LoraLayer;
}

namespace lm::models {

// One parameter: its HF checkpoint name, the parameter tensor and its gradient, and whether AdamW's weight
// decay applies (2-D weight matrices except embeddings, by default).
struct ParamRef {
  std::string name;
  Tensor param;
  Tensor grad;
  bool decay = false;
  // Mixed precision: the low-precision copy of `param` the model computes with (refreshed by the optimizer as it
  // updates the f32 master `param`); undefined in f32 models.
  Tensor param_copy;
  // The tensor's name in llama.cpp's GGUF files of this architecture (same layout as `param`); empty where
  // llama.cpp has no such tensor (BERT's pretraining heads). gguf_optional: a GGUF file may lack it (it then
  // stays zero: BERT's pooler, which llama.cpp's converter writes for classifiers only).
  std::string gguf_name;
  bool gguf_optional = false;
};

// One batch for any family, as HF's model(**inputs) takes it. Undefined tensors are absent; a family rejects
// inputs it does not use. Host tensors (a device model uploads them).
struct Batch {
  Tensor input_ids;            // (B,T) i32
  Tensor token_type_ids;       // (B,T) i32
  Tensor attention_mask;       // (B,T) i32, 1 = attend, 0 = padding key
  Tensor labels;               // causal LM: targets (B,T) (already shifted: position t predicts labels[t]);
                               // masked LM (B,T); sequence classification (B). -100 = ignored.
  Tensor next_sentence_label;  // (B) i32
  Tensor start_positions;      // (B) i32 span QA
  Tensor end_positions;        // (B) i32 span QA
};

struct ForwardOptions {
  bool training = false;  // dropout on; activations kept for backward
  // Dropout masks are a function of (seed, stream) alone (Philox), so a step is reproducible and resumable.
  uint64_t seed = 0, stream = 0;
};

class CausalLM;

// A linear module a LoRA adapter can wrap (models/lora.h), by the HF module path PEFT matches target_modules
// against ("transformer.h.0.attn.c_attn", "bert.encoder.layer.0.attention.self.query").
struct LinearSite {
  std::string module;
  std::string weight_name;     // the HF name of the module's weight in param_list() (module + ".weight")
  nn::LoraLayer** slot = nullptr;  // the adapter pointer of the nn::Linear the model runs (shared by the modules
                                   // of one fused matrix)
  int64_t row0 = 0, rows = 0;  // the output rows of that linear layer the module owns
  int64_t in_features = 0;
  bool fan_in_fan_out = false;  // HF stores the weight (in, out) (GPT-2's Conv1D)
  Tensor weight;                // (rows, in_features): the module's block of the layer's weight, nn.Linear layout
};

// A tensor adapter training keeps trainable (PEFT's modules_to_save): the model reads `param` and accumulates
// its gradient into `grad` from then on (both owned by the adapter).
struct TrainableTensor {
  std::string name;
  Tensor param, grad;
};

// What a model's head computes, as HF's AutoModelFor* classes name it (config.json architectures[0]).
enum class Head { Base, CausalLM, PreTraining, MaskedLM, SequenceClassification, QuestionAnswering };

class Model {
 public:
  virtual ~Model() = default;
  virtual std::string model_type() const = 0;
  // The HF config.json this model was built from (with defaults filled in).
  virtual const Json& hf_config() const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t max_positions() const = 0;
  virtual int64_t num_parameters() const = 0;
  // The parameters training updates (an adapter's: models/lora.h), and the adapter's PEFT adapter_config.json
  // (null: a plain model).
  virtual int64_t trainable_parameters() const { return num_parameters(); }
  virtual Json adapter_config() const { return nullptr; }
  virtual Device device() const = 0;
  // HF architectures[0] (e.g. "GPT2LMHeadModel", "BertForSequenceClassification") and the head it names.
  virtual std::string architecture() const = 0;
  virtual Head head() const = 0;
  // Sequence classification: the label of each class id (config.json id2label); empty for other heads.
  virtual std::vector<std::string> labels() const { return {}; }

  virtual std::vector<ParamRef> param_list() = 0;
  // Whole arenas, for one-loop optimizers, clipping and all-reduce (padding between tensors is zero).
  virtual Tensor flat_params() = 0;
  virtual Tensor flat_grads() = 0;
  virtual void zero_grad() = 0;

  // Loads HF weights (model.safetensors) into the parameter arena, validating names and shapes.
  virtual void load_safetensors(const std::string& path) = 0;
  // Deterministic initialisation as the HF family does it.
  virtual void init_weights(uint64_t seed) = 0;
  // Writes config.json + model.safetensors (HF names and layouts) into dir, atomically per file, plus the
  // family's other files (GPT: generation_config.json).
  virtual void save_hf(const std::string& dir) const = 0;
  // The same model (config and weights) on another device.
  virtual std::unique_ptr<Model> to(Device device) const = 0;

  // Runs one batch. Returns the loss of the model's head when the batch has its labels (else NaN).
  virtual float forward(const Batch& batch, const ForwardOptions& opt = {}) = 0;
  // The weight of the last loss in a sum over batches: the number of counted targets for losses that are means
  // over targets (causal LM), 1 for losses that are already means of means (BERT's heads).
  virtual double loss_weight() const = 0;
  // Backward of the last training forward with labels: gradients ACCUMULATE the gradient of
  // scale · loss · loss_weight() (the first backward after zero_grad may write instead).
  virtual void backward(float scale) = 0;
  // The outputs of the last forward named and shaped as the fields of the HF ModelOutput of this model's head
  // (GPT-2 "logits" (B,T,V); BERT e.g. "prediction_logits", "pooler_output"). Views valid until the next forward;
  // on the model's device. A loss made of parts adds them as 0-d host values in loss_parts().
  virtual std::vector<std::pair<std::string, Tensor>> outputs() const = 0;
  virtual Json loss_parts() const { return Json::object(); }
  // The last forward's final hidden states (B,T,C) whatever the head (an encoder's task-head input), for
  // sentence embeddings; undefined where a family does not expose them.
  virtual Tensor hidden_states() const { return {}; }
  // Targets that counted in the last loss.
  virtual int64_t last_num_targets() const = 0;
  // Training FLOPs per token (forward + backward) at sequence length T, as the MFU numerator.
  virtual double train_flops_per_token(int64_t T) const = 0;
  // Forward-only FLOPs per token at context length T (inference benchmarks); 0 where not counted.
  virtual double forward_flops_per_token(int64_t /*T*/) const { return 0.0; }
  // Weights of eval-mode forwards: F32 (the parameters), or a family's packed BF16 / I8 copies (made lazily,
  // refreshed after the weights change). Throws Unsupported for a dtype the model or this CPU cannot run.
  virtual void set_inference_dtype(DType dt);
  // Heads that predict at labelled positions only (masked LM) run there alone in forwards with labels: the same
  // loss and gradients at a fraction of the cost. expected_fraction: the share of labelled positions, for the
  // FLOP count. A no-op for other heads.
  virtual void set_sparse_prediction(double /*expected_fraction*/) {}

  // Inference on one batch (forward + outputs): token_type_ids / attention_mask may be undefined.
  std::vector<std::pair<std::string, Tensor>> infer(Tensor ids, Tensor token_type_ids, Tensor attention_mask);

  // Adapters (models/lora.h). linear_sites(): every linear module of the blocks, in layer order. freeze():
  // from now on backward computes activation gradients only and the model allocates no parameter gradients
  // (flat_grads() is empty), except for the tensors in `trainable`, read from and accumulated into the given
  // tensors (their values are copied in first); an unknown name throws InvalidArgument. CPU, f32. Both throw
  // Unsupported in a family without adapters.
  virtual std::vector<LinearSite> linear_sites();
  virtual void freeze(const std::vector<TrainableTensor>& trainable);

  // The generation interface of causal LMs; null for other models.
  virtual CausalLM* causal_lm() { return nullptr; }
  const CausalLM* causal_lm() const { return const_cast<Model*>(this)->causal_lm(); }
};

// Incremental-decoding state of a causal LM for B sequences of up to Tmax positions (prompt + generated).
struct KvCache {
  virtual ~KvCache() = default;
  int64_t B = 0, Tmax = 0;
  int64_t past = 0;  // positions already in the cache
  Tensor logits;     // (B,V) host: the logits of each row's last new position
};

// One sequence's KV cache in a ragged batch (continuous batching: every sequence is at its own length).
struct SeqCache {
  virtual ~SeqCache() = default;
  int64_t Tmax = 0;
  int64_t past = 0;  // positions already in the cache
};

// One sequence's share of a ragged forward: n new tokens (host ids) appended to its cache; logits, when not
// null, receives the vocabulary logits (V floats) of its last new position.
struct SeqChunk {
  SeqCache* cache = nullptr;
  const int32_t* ids = nullptr;
  int64_t n = 0;
  float* logits = nullptr;
};

class CausalLM {
 public:
  virtual ~CausalLM() = default;
  virtual Model& model() = 0;
  virtual const Model& model() const = 0;
  virtual int64_t eos_token_id() const = 0;
  virtual std::unique_ptr<KvCache> make_kv_cache(int64_t B, int64_t Tmax) const = 0;
  // Runs Tn new tokens (ids (B,Tn) i32, host) through the model, appending their keys/values to the cache.
  // position_ids (B,Tn) i32 default to past..past+Tn-1; key_mask (B,Tmax) i32 masks padding keys (left-padded
  // batches). Leaves the last position's logits in cache.logits; all_logits (B,Tn,V), if given, receives every
  // position's logits.
  virtual void forward_cached(Tensor ids, KvCache& cache, Tensor position_ids = {}, Tensor key_mask = {},
                              Tensor all_logits = {}) const = 0;
  // Beam search: row b of the cache becomes the old row src[b] (src.size() == cache.B).
  virtual void reorder_cache(KvCache& cache, const std::vector<int64_t>& src) const = 0;
  // Continuous batching: a cache for one sequence of up to Tmax positions, and one forward pass over chunks of
  // several sequences, each at its own position. A row's result does not depend on the other chunks of the pass
  // (batch-invariant): single-token chunks run together through the row-independent GEMV kernels, longer chunks
  // each through its own GEMM, attention per sequence. CPU only.
  virtual std::unique_ptr<SeqCache> make_seq_cache(int64_t Tmax) const = 0;
  virtual void forward_ragged(const std::vector<SeqChunk>& chunks) const = 0;
  // Weights decode steps read: F32 (the parameters) or BF16 (a copy made now; call again after the weights
  // change). decode_weight_bytes(): bytes one decode step reads.
  virtual void set_decode_dtype(DType dt) = 0;
  virtual DType decode_dtype() const = 0;
  virtual int64_t decode_weight_bytes() const = 0;
  // Bytes of keys and values one position adds to the cache (f32), and the hidden size (bytes of the embedding
  // rows a step reads = 2 · hidden · 4): the rest of a decode step's memory traffic.
  virtual int64_t kv_bytes_per_position() const = 0;
  virtual int64_t hidden_size() const = 0;
};

// How a training run wants a family's config.json changed before the model is built; a family applies it in its
// own keys (GPT-2 n_positions / *_pdrop, BERT max_position_embeddings / hidden_dropout_prob / architectures).
struct ConfigRequest {
  bool fresh = false;                  // random initialisation (pretraining from scratch): fill in the defaults
  int64_t max_positions = 0;           // fresh: the context length where the config sets none
  std::optional<int64_t> eos_id;       // the data's end-of-text id: used where the config has none (fresh) or
                                       // one outside the vocabulary
  std::optional<int64_t> pad_id;       // fresh: the data's padding id where the config has none
  std::optional<float> dropout;        // every dropout probability of the model
  std::optional<Head> head;            // switch to this head (fine-tuning a base or pretraining checkpoint)
  std::vector<std::string> labels;     // Head::SequenceClassification: the class names
  std::optional<int64_t> vocab_size;   // embedding rows (resize_vocab: tokens added to the tokenizer)
  std::optional<int64_t> end_of_turn_id;  // causal LMs: the eos generation stops at (chat: <|im_end|>), always set
};

// GGUF (llama.cpp) metadata of a family: `lmcpp export` writes it and a .gguf model is built back from it.
struct GgufOptions {
  std::string pooling = "mean";  // encoders: llama.cpp's pooling type (mean | cls | rank)
};
struct GgufMetadata {
  std::string arch;  // general.architecture
  // Key -> value: integers are written as uint32, floats as float32, plus booleans, strings and string arrays
  // (the types llama.cpp's loader checks).
  Json kv = Json::object();
  // Extra GGUF tensors written as copies of a parameter: {GGUF name, param_list() name} (GPT-2's tied
  // output.weight, which llama.cpp builds before mid-2025 require).
  std::vector<std::pair<std::string, std::string>> copies;
};
// The tensors of a GGUF file by name, with their shapes in PyTorch order, for config_from_gguf.
using GgufShapes = std::map<std::string, Shape>;

struct ModelFamily {
  std::function<std::unique_ptr<Model>(const Json& config, Device device, DType dtype)> create;
  // The config with a ConfigRequest applied; throws Unsupported for a head the family does not have.
  std::function<Json(const Json& config, const ConfigRequest& request)> configure;
  // The head a config describes (without building the model).
  std::function<Head(const Json& config)> head;
  // GGUF: the architecture name, the metadata of a config, and the HF config of a file's metadata (`kv`: every
  // key/value of the file as JSON) and tensor shapes; errors name the missing or bad key.
  std::string gguf_arch;
  std::function<GgufMetadata(const Json& config, const GgufOptions& options)> to_gguf;
  std::function<Json(const Json& kv, const GgufShapes& tensors)> config_from_gguf;
  // The keys the family's HF config class defines (transformers' configuration_<family>.py, its attribute_map
  // aliases included); PretrainedConfig's common keys are added by check_config_keys.
  std::function<const std::vector<std::string>&()> config_keys;
  // PEFT's default LoRA target_modules for the family (peft.utils.constants
  // TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING).
  std::vector<std::string> lora_targets;
  // The modules holding vocabulary rows (GPT-2: wte, which the LM head shares): trained whole and saved with an
  // adapter (modules_to_save) when fine-tuning added tokens.
  std::vector<std::string> lora_embeddings;
};
// Registers a family under an HF model_type.
bool register_model(const std::string& model_type, ModelFamily family);
// The family registered for config["model_type"]; throws Unsupported for an unknown type.
const ModelFamily& model_family(const Json& config);
// The family whose GGUF architecture is `arch`; throws Unsupported naming the architectures lmcpp reads.
const ModelFamily& gguf_family(const std::string& arch);
// A config a user wrote (a train config's "model", `lmcpp init --config`) must use only keys its family
// knows: an unknown key throws InvalidArgument "WHAT: unknown key \"k\" (did you mean \"key\"?)". config.json
// files read from a model directory are not checked (transformers keeps and ignores unknown keys, and so does
// lmcpp).
void check_config_keys(const Json& config, const std::string& what);
// The keys check_config_keys accepts for config's family: the family's own and PretrainedConfig's common
// keys.
std::vector<std::string> known_config_keys(const Json& config);
// transformers' PretrainedConfig keys, which every family's config may carry (`lmcpp train --help` lists them).
const std::vector<std::string>& common_config_keys();
// The registered model_types, sorted (listings such as `lmcpp train --help`; model_family gives each one's keys).
std::vector<std::string> model_types();
// Shorthands over model_family(config).
Json configure_model(const Json& config, const ConfigRequest& request);
Head config_head(const Json& config);
// Builds an uninitialised (zero) model from a config object on a device in a compute dtype; throws Unsupported
// for an unknown model_type (or a device/dtype the family does not support).
std::unique_ptr<Model> create_model(const Json& config, Device device = Device::CPU, DType dtype = DType::F32);
// Loads an HF model directory (config.json + model.safetensors); errors name the directory and file.
std::unique_ptr<Model> load_model_dir(const std::string& dir, Device device = Device::CPU);
// A model with `request.vocab_size` embedding rows built from `from` (its config with `request` applied): every
// parameter is copied; those with vocabulary rows (embeddings, an untied output layer, its bias) keep their
// first rows and the rows of ids [mean_rows, new) are set to the mean of rows [0, mean_rows) — HF's
// resize_token_embeddings with mean resizing, whose draw from N(mean, 1e-9 cov) is the mean to ~3e-5 sigma
// (lmcpp takes the mean itself: deterministic). On the CPU.
std::unique_ptr<Model> resize_vocab(Model& from, const ConfigRequest& request, int64_t mean_rows);

}  // namespace lm::models
