// Model registry keyed by HF model_type: one line per family.
#include <algorithm>
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

std::vector<std::string> model_types() {
  std::vector<std::string> types;
  for (const auto& [k, f] : registry()) types.push_back(k);
  return types;  // std::map: sorted
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

const ModelFamily& gguf_family(const std::string& arch) {
  std::string known;
  for (const auto& [k, f] : registry()) {
    if (f.gguf_arch.empty()) continue;
    if (f.gguf_arch == arch) return f;
    known += (known.empty() ? "" : ", ") + f.gguf_arch;
  }
  LM_THROW(ErrorCode::Unsupported, "GGUF architecture \"{}\" is not supported (lmcpp reads: {})", arch, known);
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

std::vector<LinearSite> Model::linear_sites() {
  LM_THROW(ErrorCode::Unsupported, "{} models take no adapters", model_type());
}

void Model::freeze(const std::vector<TrainableTensor>&) {
  LM_THROW(ErrorCode::Unsupported, "{} models take no adapters", model_type());
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

std::unique_ptr<Model> resize_vocab(Model& from, const ConfigRequest& request, int64_t mean_rows) {
  LM_CHECK(request.vocab_size && *request.vocab_size >= from.vocab_size(), "resize_vocab needs a vocab_size >= {}",
           from.vocab_size());
  LM_CHECK(from.device() == Device::CPU, "resize_vocab runs on the CPU");
  const int64_t old_v = from.vocab_size(), new_v = *request.vocab_size;
  LM_CHECK(mean_rows >= 1 && mean_rows <= old_v, "resize_vocab: mean over {} rows of {}", mean_rows, old_v);
  auto to = create_model(configure_model(from.hf_config(), request), Device::CPU);
  std::map<std::string, Tensor> old;
  for (auto& p : from.param_list()) old[p.name] = p.param;
  for (auto& p : to->param_list()) {
    auto it = old.find(p.name);
    LM_CHECK_AS(ErrorCode::Internal, it != old.end(), "resize_vocab: parameter {} has no source", p.name);
    const Tensor& src = it->second;
    float* dst = p.param.f32();
    const float* s = src.f32();
    if (src.shape == p.param.shape) {
      std::copy(s, s + src.numel(), dst);
      continue;
    }
    // A vocabulary-sized first dimension: old rows, then the mean of the first mean_rows rows.
    LM_CHECK_AS(ErrorCode::Internal, src.shape[0] == old_v && p.param.shape[0] == new_v,
                "resize_vocab: parameter {} changed shape in another dimension", p.name);
    const int64_t row = src.numel() / old_v;
    std::copy(s, s + src.numel(), dst);
    std::vector<double> mean(static_cast<size_t>(row), 0.0);
    for (int64_t r = 0; r < mean_rows; ++r)
      for (int64_t c = 0; c < row; ++c) mean[static_cast<size_t>(c)] += s[r * row + c];
    for (int64_t r = mean_rows; r < new_v; ++r) {
      for (int64_t c = 0; c < row; ++c)
        dst[r * row + c] = static_cast<float>(mean[static_cast<size_t>(c)] / static_cast<double>(mean_rows));
    }
  }
  return to;
}

}  // namespace lm::models
