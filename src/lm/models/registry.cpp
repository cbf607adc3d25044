// Model registry keyed by HF model_type: one line per family.
#include <map>

#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/models/model.h"

namespace lm::models {

// Each family folder defines its entry.
ModelFamily gpt_family();   // models/gpt/family.cpp
ModelFamily bert_family();  // models/bert/family.cpp

namespace {
std::map<std::string, ModelFamily>& registry() {
  static std::map<std::string, ModelFamily> r = {
      {"gpt2", gpt_family()},
      {"bert", bert_family()},
  };
  return r;
}
}  // namespace

bool register_model(const std::string& model_type, ModelFamily family) {
  return registry().emplace(model_type, std::move(family)).second;
}

const ModelFamily& model_family(const Json& config) {
  LM_CHECK(config.is_object() && config.contains("model_type") && config["model_type"].is_string(),
           "model config needs a string \"model_type\"");
  const std::string type = config["model_type"].get<std::string>();
  auto it = registry().find(type);
  if (it == registry().end()) {
    std::string known;
    for (const auto& [k, v] : registry()) known += (known.empty() ? "" : ", ") + k;
    LM_THROW(ErrorCode::Unsupported, "model_type \"{}\" is not supported (supported: {})", type, known);
  }
  return it->second;
}

Json configure_model(const Json& config, const ConfigRequest& request) {
  return model_family(config).configure(config, request);
}

Head config_head(const Json& config) { return model_family(config).head(config); }

std::vector<std::pair<std::string, Tensor>> Model::infer(Tensor ids, Tensor token_type_ids, Tensor attention_mask) {
  Batch b;
  b.input_ids = ids;
  b.token_type_ids = token_type_ids;
  b.attention_mask = attention_mask;
  forward(b);
  return outputs();
}

void Model::set_inference_dtype(DType dt) {
  LM_CHECK_AS(ErrorCode::Unsupported, dt == DType::F32, "{} models run inference in f32 only, not {}", model_type(),
              dtype_name(dt));
}

std::unique_ptr<Model> create_model(const Json& config, Device device, DType dtype) {
  return model_family(config).create(config, device, dtype);
}

std::unique_ptr<Model> load_model_dir(const std::string& dir, Device device) {
  LM_CHECK_AS(ErrorCode::NotFound, is_directory(dir), "model directory {} does not exist", dir);
  std::string cfg_path = path_join(dir, "config.json");
  LM_CHECK_AS(ErrorCode::NotFound, file_exists(cfg_path), "{} not found (a model directory holds config.json + "
              "model.safetensors)", cfg_path);
  Json cfg = read_json_file(cfg_path);
  std::unique_ptr<Model> m;
  try {
    m = create_model(cfg, device);
  } catch (const Error& e) {
    throw Error(e.code(), fmt::format("{}, in {}", e.what(), cfg_path));
  }
  std::string w = path_join(dir, "model.safetensors");
  LM_CHECK_AS(ErrorCode::NotFound, file_exists(w), "{} not found", w);
  m->load_safetensors(w);
  return m;
}

}  // namespace lm::models
