// Model registry keyed by HF model_type: one line per family.
#include <map>

#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/models/bert/bert.h"
#include "lm/models/gpt.h"
#include "lm/models/model.h"

namespace lm::models {

namespace {
std::map<std::string, ModelFactory>& registry() {
  static std::map<std::string, ModelFactory> r = {
      {"gpt2", [](const Json& c, Device d, DType t) -> std::unique_ptr<Model> {
         return std::make_unique<Gpt>(GptConfig::from_hf(c), d, t);
       }},
      {"bert", [](const Json& c, Device d, DType t) -> std::unique_ptr<Model> {
         LM_CHECK_AS(ErrorCode::Unsupported, t == DType::F32, "bert computes in f32 (bf16 mixed precision is gpt2 only)");
         return std::make_unique<Bert>(BertConfig::from_hf(c), d);
       }},
  };
  return r;
}
}  // namespace

bool register_model(const std::string& model_type, ModelFactory factory) {
  return registry().emplace(model_type, std::move(factory)).second;
}

std::vector<std::pair<std::string, Tensor>> Model::infer(Tensor ids, Tensor token_type_ids, Tensor attention_mask) {
  Batch b;
  b.input_ids = ids;
  b.token_type_ids = token_type_ids;
  b.attention_mask = attention_mask;
  forward(b);
  return outputs();
}

std::unique_ptr<Model> create_model(const Json& config, Device device, DType dtype) {
  LM_CHECK(config.is_object() && config.contains("model_type") && config["model_type"].is_string(),
           "model config needs a string \"model_type\"");
  std::string type = config["model_type"].get<std::string>();
  auto it = registry().find(type);
  LM_CHECK_AS(ErrorCode::Unsupported, it != registry().end(), "model_type \"{}\" is not supported (supported: bert, gpt2)",
              type);
  return it->second(config, device, dtype);
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
