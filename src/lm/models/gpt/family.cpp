// The gpt2 family's registry entry: building a model, applying a training run's ConfigRequest to a config.json,
// and the head a config describes (always the causal-LM head).
#include "lm/core/error.h"
#include "lm/models/gpt/gpt.h"

namespace lm::models {

namespace {

constexpr const char* kDropoutKeys[] = {"resid_pdrop", "embd_pdrop", "attn_pdrop"};

Json configure_gpt(const Json& config, const ConfigRequest& r) {
  Json m = config;
  if (r.fresh) {
    if (!m.contains("n_positions") && !m.contains("max_position_embeddings") && r.max_positions > 0)
      m["n_positions"] = r.max_positions;
    if (r.eos_id) {
      if (!m.contains("eos_token_id")) m["eos_token_id"] = *r.eos_id;
      if (!m.contains("bos_token_id")) m["bos_token_id"] = *r.eos_id;
    }
    // Training from scratch: dropout defaults to 0 unless configured (HF's GPT-2 default 0.1 is for its 124M).
    for (const char* k : kDropoutKeys)
      if (!m.contains(k)) m[k] = 0.0;
  } else if (r.eos_id) {
    const int64_t vocab = m.value("vocab_size", int64_t{50257});
    const int64_t eos = m.contains("eos_token_id") && m["eos_token_id"].is_number_integer()
                            ? m["eos_token_id"].get<int64_t>()
                            : int64_t{-1};
    if (eos < 0 || eos >= vocab) m["eos_token_id"] = *r.eos_id;
  }
  if (r.dropout)
    for (const char* k : kDropoutKeys) m[k] = *r.dropout;
  if (r.vocab_size) m["vocab_size"] = *r.vocab_size;
  if (r.end_of_turn_id) m["eos_token_id"] = *r.end_of_turn_id;
  LM_CHECK_AS(ErrorCode::Unsupported, !r.head || *r.head == Head::CausalLM,
              "gpt2 models have a causal-LM head only (GPT2LMHeadModel); fine-tune them for generative tasks");
  return m;
}

}  // namespace

GgufMetadata gpt_to_gguf(const Json& config, const GgufOptions& options);  // gguf.cpp
Json gpt_config_from_gguf(const Json& kv, const GgufShapes& tensors);
const std::vector<std::string>& gpt_config_keys();  // config.cpp

ModelFamily gpt_family() {
  ModelFamily f;
  f.create = [](const Json& c, Device d, DType t) -> std::unique_ptr<Model> {
    return std::make_unique<Gpt>(GptConfig::from_hf(c), d, t);
  };
  f.configure = configure_gpt;
  f.head = [](const Json&) { return Head::CausalLM; };
  f.gguf_arch = "gpt2";
  f.to_gguf = gpt_to_gguf;
  f.config_from_gguf = gpt_config_from_gguf;
  f.config_keys = gpt_config_keys;
  f.lora_targets = {"c_attn"};
  f.lora_embeddings = {"wte"};
  return f;
}

}  // namespace lm::models
