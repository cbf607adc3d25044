// HF config.json readers and the label maps (see hf_config.h).
#include "lm/models/hf_config.h"

#include "lm/core/error.h"

namespace lm::models {

int64_t hf_int(const Json& j, const char* key, int64_t def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  LM_CHECK(j[key].is_number_integer(), "config.json: \"{}\" must be an integer, got {}", key, j[key].dump());
  return j[key].get<int64_t>();
}

float hf_float(const Json& j, const char* key, float def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  LM_CHECK(j[key].is_number(), "config.json: \"{}\" must be a number, got {}", key, j[key].dump());
  return j[key].get<float>();
}

bool hf_bool(const Json& j, const char* key, bool def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  LM_CHECK(j[key].is_boolean(), "config.json: \"{}\" must be true or false, got {}", key, j[key].dump());
  return j[key].get<bool>();
}

std::string hf_string(const Json& j, const char* key, const std::string& def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  LM_CHECK(j[key].is_string(), "config.json: \"{}\" must be a string, got {}", key, j[key].dump());
  return j[key].get<std::string>();
}

void set_hf_labels(Json& config, const std::vector<std::string>& names) {
  Json id2 = Json::object(), l2i = Json::object();
  for (size_t i = 0; i < names.size(); ++i) {
    id2[std::to_string(i)] = names[i];
    l2i[names[i]] = static_cast<int64_t>(i);
  }
  config["id2label"] = id2;
  config["label2id"] = l2i;
  config.erase("num_labels");
}

int64_t gguf_int(const Json& kv, const std::string& key) {
  auto it = kv.find(key);
  LM_CHECK_AS(ErrorCode::BadFormat, it != kv.end() && it->is_number_integer(), "GGUF metadata: no integer {}", key);
  return it->get<int64_t>();
}

int64_t gguf_int_or(const Json& kv, const std::string& key, int64_t def) {
  return kv.contains(key) ? gguf_int(kv, key) : def;
}

double gguf_float(const Json& kv, const std::string& key) {
  auto it = kv.find(key);
  LM_CHECK_AS(ErrorCode::BadFormat, it != kv.end() && it->is_number(), "GGUF metadata: no number {}", key);
  return it->get<double>();
}

const Shape& gguf_shape(const GgufShapes& tensors, const std::string& name) {
  auto it = tensors.find(name);
  LM_CHECK_AS(ErrorCode::BadFormat, it != tensors.end(), "GGUF file: no tensor {}", name);
  return it->second;
}

void gguf_expect(const GgufShapes& tensors, const std::string& name, const Shape& want) {
  const Shape& got = gguf_shape(tensors, name);
  LM_CHECK_AS(ErrorCode::BadFormat, got == want, "GGUF file: tensor {} has shape {}; the metadata implies {}", name,
              got.str(), want.str());
}

}  // namespace lm::models
