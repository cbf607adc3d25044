// models::LoraModel — a Model decorator that trains or applies a LoRA adapter (HF PEFT's LoraModel) on any family
// that lists its linear modules (Model::linear_sites). The base model's weights stay frozen and shared; the
// adapter's A/B matrices (and PEFT's modules_to_save copies, e.g. a classifier head) live in the decorator's own
// parameter arena, so the Trainer's optimizer, clipping, all-reduce and checkpoints see the adapter alone.
// The adapter runs unmerged through nn::Linear::lora in every forward (training, eval, KV-cache decode, ragged
// serving batches); merge() folds it into the base weights.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lm/core/buffer.h"
#include "lm/io/peft.h"
#include "lm/io/safetensors.h"
#include "lm/models/model.h"
#include "lm/nn/lora.h"

namespace lm::models {

class LoraModel : public Model {
 public:
  // A new adapter: targets default to the family's (ModelFamily::lora_targets); modules_to_save default to the
  // head as PEFT's task models add them (sequence classification: classifier, score; span QA: qa_outputs), and
  // task_type follows the head. A is Kaiming-uniform (a = √5: U(-1/√in, 1/√in), PEFT's default init), B zero,
  // drawn from seed. Throws InvalidArgument when no module matches the targets.
  LoraModel(std::unique_ptr<Model> base, LoraSpec spec, uint64_t seed);
  // The same over a base the caller owns and may share with other adapters (AdapterSet); such an adapter may not
  // keep modules_to_save copies (they would replace the shared base's tensors for every adapter): Unsupported.
  LoraModel(Model& shared_base, LoraSpec spec, uint64_t seed);
  // The adapter of a PEFT directory (adapter_config.json + adapter_model.safetensors) on base: every tensor the
  // adapter names must be in the file with PEFT's shape; errors name the file and tensor.
  static std::unique_ptr<LoraModel> load(std::unique_ptr<Model> base, const std::string& adapter_dir);
  static std::unique_ptr<LoraModel> load(Model& shared_base, const std::string& adapter_dir);
  ~LoraModel() override { detach(); }  // a shared base must not keep pointers to its layers
  LoraModel(const LoraModel&) = delete;
  LoraModel& operator=(const LoraModel&) = delete;

  Model& base() { return *base_; }
  const Model& base() const { return *base_; }
  const LoraSpec& spec() const { return spec_; }
  int64_t trainable_parameters() const override { return trainable_; }
  Json adapter_config() const override { return spec_.to_json(); }
  // The adapter tensors with PEFT's names and shapes (base_model.model.<module>.lora_A.weight (r, in), ...),
  // as adapter_model.safetensors holds them.
  std::vector<std::pair<std::string, Tensor>> adapter_tensors() const;
  // Per adapted module: the module path, the HF name of its base weight, scale and A, B.
  struct Module {
    std::string module, weight_name;
    float scale;
    Tensor a, b;
    bool fan_in_fan_out;
  };
  std::vector<Module> modules() const;
  // Folds the adapter into the base: W[module rows] += scale · B·A; the adapter is detached, so forwards then run
  // the merged weights (modules_to_save tensors are already what the base reads). save_hf of base() afterwards
  // writes a plain model directory.
  void merge();
  // Binds the adapter's layers into the base's linear slots (the constructor does) / takes them out, so that the
  // base's forwards run without it; detach() clears only the slots holding this adapter's layers. Over a shared
  // base one adapter is attached at a time, between forwards.
  void attach();
  void detach();
  bool attached() const;
  // adapter_config.json + adapter_model.safetensors into dir (atomically per file), and kBaseConfigFile.
  void save_adapter(const std::string& dir) const;

  // ---- Model: the adapter's parameters, the base's everything else ----
  std::string model_type() const override { return base_->model_type(); }
  const Json& hf_config() const override { return base_->hf_config(); }
  int64_t vocab_size() const override { return base_->vocab_size(); }
  int64_t max_positions() const override { return base_->max_positions(); }
  int64_t num_parameters() const override { return base_->num_parameters(); }
  Device device() const override { return base_->device(); }
  std::string architecture() const override { return base_->architecture(); }
  Head head() const override { return base_->head(); }
  std::vector<std::string> labels() const override { return base_->labels(); }
  std::vector<ParamRef> param_list() override;
  Tensor flat_params() override { return params_arena_.flat_f32(); }
  Tensor flat_grads() override { return grads_arena_.flat_f32(); }
  void zero_grad() override;
  // Reads adapter_model.safetensors: every adapter tensor with its PEFT shape, and nothing else.
  void load_safetensors(const std::string& path) override;
  void load_tensors(const SafetensorsFile& file);
  void init_weights(uint64_t seed) override;
  void save_hf(const std::string& dir) const override { save_adapter(dir); }
  std::unique_ptr<Model> to(Device device) const override;
  float forward(const Batch& batch, const ForwardOptions& opt = {}) override;
  double loss_weight() const override { return base_->loss_weight(); }
  void backward(float scale) override { base_->backward(scale); }
  std::vector<std::pair<std::string, Tensor>> outputs() const override { return base_->outputs(); }
  Json loss_parts() const override { return base_->loss_parts(); }
  Tensor hidden_states() const override { return base_->hidden_states(); }
  int64_t last_num_targets() const override { return base_->last_num_targets(); }
  // Forward 2N, backward 2N (input gradients; the frozen weights' gradient GEMMs do not run) + the adapter's.
  double train_flops_per_token(int64_t T) const override;
  double forward_flops_per_token(int64_t T) const override { return base_->forward_flops_per_token(T); }
  void set_inference_dtype(DType dt) override { base_->set_inference_dtype(dt); }
  void set_sparse_prediction(double f) override { base_->set_sparse_prediction(f); }
  CausalLM* causal_lm() override { return base_->causal_lm(); }

 private:
  struct Entry {  // one adapted module
    std::string module, weight_name;
    size_t layer;       // index into layers_
    size_t in_layer;    // index into layers_[layer].modules
    int64_t in, rows;
    bool fan_in_fan_out;
  };
  struct Saved {  // one modules_to_save tensor
    std::string name;
    Tensor param, grad;
    bool decay;
  };
  void init(LoraSpec spec, uint64_t seed);
  void bind(uint64_t seed);

  std::unique_ptr<Model> owned_;  // null when the base is shared
  Model* base_ = nullptr;
  LoraSpec spec_;
  nn::LoraRun run_;
  std::vector<std::unique_ptr<nn::LoraLayer>> layers_;  // one per adapted nn::Linear
  std::vector<nn::LoraLayer**> slots_;                  // the base's pointer each layer is attached to
  std::vector<Entry> entries_;
  std::vector<Saved> saved_;
  Arena params_arena_{"lora"}, grads_arena_{"lora_grads"};
  int64_t trainable_ = 0;
  bool merged_ = false;
};

// Next to the PEFT files: the HF config.json of the model the adapter was trained on (its head, labels and
// vocabulary), so that an adapter for a task head applies on the plain base it names (PEFT leaves that to the
// user's AutoModelFor<Task> call and its num_labels / id2label). PEFT ignores the file.
inline constexpr const char* kBaseConfigFile = "lmcpp_base_config.json";
// Several adapters over one shared base model (a server choosing an adapter per request): each is loaded once;
// activate(i) attaches adapter i (detaching the one before), activate(-1) leaves the base alone. Not
// thread-safe: the caller activates between forwards of the base, on the thread that runs them.
class AdapterSet {
 public:
  explicit AdapterSet(Model& base) : base_(base) {}
  // Loads the adapter directory under `name` and returns its index (adapters start detached). Errors: a name
  // already taken or empty (InvalidArgument), those of LoraModel::load.
  int add(const std::string& name, const std::string& dir);
  int find(const std::string& name) const;  // -1 when no adapter has that name
  int size() const { return static_cast<int>(adapters_.size()); }
  const std::string& name(int i) const { return names_.at(static_cast<size_t>(i)); }
  const std::string& dir(int i) const { return dirs_.at(static_cast<size_t>(i)); }
  void activate(int i);
  int active() const { return active_; }

 private:
  Model& base_;
  std::vector<std::string> names_, dirs_;
  std::vector<std::unique_ptr<LoraModel>> adapters_;
  int active_ = -1;
};

// The default modules_to_save and PEFT task_type of a head.
std::vector<std::string> lora_head_modules(Head head);
std::string lora_task_type(Head head);

// The vocabulary rows of the embeddings an adapter carries (modules_to_save of the family's lora_embeddings, saved
// when fine-tuning added tokens), when they differ from base's vocab_size: the base must be resized to them
// (models::resize_vocab) before the adapter applies, as HF's resize_token_embeddings before
// PeftModel.from_pretrained. nullopt: no such tensor, or the same size.
std::optional<int64_t> adapter_vocab_rows(const Model& base, const std::string& adapter_dir);

}  // namespace lm::models
