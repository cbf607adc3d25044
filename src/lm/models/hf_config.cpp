// HF config.json readers, the label maps, and the key check of user-written model configs (see hf_config.h
// and check_config_keys in model.h).
#include "lm/models/hf_config.h"

#include <algorithm>

#include "lm/core/error.h"
#include "lm/core/suggest.h"

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

// transformers' PretrainedConfig keys, common to every family (configuration_utils.py, v4 and v5): what
// to_dict() writes, the fine-tuning and special-token keys, and the generation parameters older configs
// carry.
const std::vector<std::string>& common_config_keys() {
  // clang-format off
  static const std::vector<std::string> keys = {
      "model_type", "architectures", "transformers_version", "torch_dtype", "dtype", "_name_or_path",
      "name_or_path", "_commit_hash", "_attn_implementation", "attn_implementation", "return_dict",
      "output_hidden_states", "output_attentions", "torchscript", "use_bfloat16", "tf_legacy_loss",
      "pruned_heads", "tie_word_embeddings", "chunk_size_feed_forward", "is_encoder_decoder", "is_decoder",
      "cross_attention_hidden_size", "add_cross_attention", "tie_encoder_decoder", "finetuning_task",
      "id2label", "label2id", "num_labels", "problem_type", "tokenizer_class", "prefix", "bos_token_id",
      "pad_token_id", "eos_token_id", "sep_token_id", "decoder_start_token_id", "task_specific_params",
      "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups",
      "diversity_penalty", "temperature", "top_k", "top_p", "typical_p", "repetition_penalty",
      "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
      "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
      "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty", "suppress_tokens",
      "begin_suppress_tokens"
  };
  // clang-format on
  return keys;
}

std::vector<std::string> known_config_keys(const Json& config) {
  const ModelFamily& family = model_family(config);
  std::vector<std::string> keys = family.config_keys ? family.config_keys() : std::vector<std::string>{};
  for (const auto& k : common_config_keys())
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  return keys;
}

void check_config_keys(const Json& config, const std::string& what) {
  LM_CHECK(config.is_object(), "{} must be a JSON object (an HF-style model config)", what);
  LM_CHECK(config.contains("model_type") && config["model_type"].is_string(),
           "{}: a string \"model_type\" is required", what);
  const ModelFamily& family = model_family(config);
  if (!family.config_keys) return;  // a family without a key list accepts any key
  const std::vector<std::string> keys = known_config_keys(config);
  for (auto it = config.begin(); it != config.end(); ++it) {
    if (std::find(keys.begin(), keys.end(), it.key()) != keys.end()) continue;
    LM_THROW(ErrorCode::InvalidArgument, "{}: unknown key \"{}\"{}", what, it.key(),
             did_you_mean(it.key(), keys));
  }
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
