// models::Model — the run-time interface over model families (GPT-2, BERT), chosen from an HF directory's
// config.json "model_type" through a registry (one line per family, no central switch).
// Parameters, gradients and AdamW moments live in flat arenas; param_list() names every tensor with its HF name.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lm/core/buffer.h"
#include "lm/core/json.h"
#include "lm/core/tensor.h"

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
};

class Model {
 public:
  virtual ~Model() = default;
  virtual std::string model_type() const = 0;
  // The HF config.json this model was built from (with defaults filled in).
  virtual const Json& hf_config() const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t max_positions() const = 0;
  virtual int64_t num_parameters() const = 0;

  virtual std::vector<ParamRef> param_list() = 0;
  // Whole arenas, for one-loop optimizers, clipping and all-reduce (padding between tensors is zero).
  virtual Tensor flat_params() = 0;
  virtual Tensor flat_grads() = 0;
  virtual void zero_grad() = 0;

  // Loads HF weights (model.safetensors) into the parameter arena, validating names and shapes.
  virtual void load_safetensors(const std::string& path) = 0;
  // Deterministic initialisation as the HF family does it.
  virtual void init_weights(uint64_t seed) = 0;
  // Writes config.json + model.safetensors (HF names and layouts) into dir, atomically per file.
  virtual void save_hf(const std::string& dir) const = 0;

  // Inference on one batch: the outputs named and shaped as the HF ModelOutput fields of this model's head
  // (GPT-2 "logits" (B,T,V); BERT e.g. "prediction_logits", "pooler_output"). token_type_ids / attention_mask
  // (B,T) i32 may be undefined. Views stay valid until the next forward.
  virtual std::vector<std::pair<std::string, Tensor>> infer(Tensor ids, Tensor token_type_ids,
                                                            Tensor attention_mask) = 0;
};

using ModelFactory = std::function<std::unique_ptr<Model>(const Json& config)>;
// Registers a family under an HF model_type.
bool register_model(const std::string& model_type, ModelFactory factory);
// Builds an uninitialised (zero) model from a config object; throws Unsupported for unknown model_type.
std::unique_ptr<Model> create_model(const Json& config);
// Loads an HF model directory (config.json + model.safetensors); errors name the directory and file.
std::unique_ptr<Model> load_model_dir(const std::string& dir);

}  // namespace lm::models
