// GPT-2 config: HF config.json parsing and writing, and the FLOPs per token for MFU.
#include <string>
#include <vector>

#include "lm/core/error.h"
#include "lm/models/gpt/gpt.h"
#include "lm/models/hf_config.h"

namespace lm::models {

// The keys of transformers' GPT2Config (configuration_gpt2.py): its __init__ arguments, the attribute_map
// aliases (hidden_size, max_position_embeddings, num_attention_heads, num_hidden_layers) and n_ctx, which
// OpenAI's checkpoints on the Hub still carry. A user-written gpt2 config may use these and
// PretrainedConfig's common keys.
const std::vector<std::string>& gpt_config_keys() {
  // clang-format off
  static const std::vector<std::string> keys = {
      "vocab_size", "n_positions", "n_ctx", "n_embd", "n_layer", "n_head", "n_inner", "activation_function",
      "resid_pdrop", "embd_pdrop", "attn_pdrop", "layer_norm_epsilon", "initializer_range", "summary_type",
      "summary_use_proj", "summary_activation", "summary_proj_to_labels", "summary_first_dropout",
      "scale_attn_weights", "use_cache", "bos_token_id", "eos_token_id", "scale_attn_by_inverse_layer_idx",
      "reorder_and_upcast_attn", "hidden_size", "max_position_embeddings", "num_attention_heads",
      "num_hidden_layers"
  };
  // clang-format on
  return keys;
}

GptConfig GptConfig::from_hf(const Json& j) {
  LM_CHECK(j.is_object(), "GPT-2 config must be a JSON object");
  GptConfig c;
  if (j.contains("model_type"))
    LM_CHECK(j["model_type"] == "gpt2", "config.json: model_type {} is not gpt2", j["model_type"].dump());
  c.vocab_size = hf_int(j, "vocab_size", c.vocab_size);
  // GPT2Config.attribute_map: the common names are aliases of GPT-2's own (which win when both are given).
  c.n_positions = hf_int(j, "n_positions", hf_int(j, "max_position_embeddings", c.n_positions));
  c.n_embd = hf_int(j, "n_embd", hf_int(j, "hidden_size", c.n_embd));
  c.n_layer = hf_int(j, "n_layer", hf_int(j, "num_hidden_layers", c.n_layer));
  c.n_head = hf_int(j, "n_head", hf_int(j, "num_attention_heads", c.n_head));
  c.n_inner = hf_int(j, "n_inner", 0);
  c.layer_norm_epsilon = hf_float(j, "layer_norm_epsilon", c.layer_norm_epsilon);
  c.resid_pdrop = hf_float(j, "resid_pdrop", 0.1f);
  c.embd_pdrop = hf_float(j, "embd_pdrop", 0.1f);
  c.attn_pdrop = hf_float(j, "attn_pdrop", 0.1f);
  c.scale_attn_weights = hf_bool(j, "scale_attn_weights", true);
  c.scale_attn_by_inverse_layer_idx = hf_bool(j, "scale_attn_by_inverse_layer_idx", false);
  c.initializer_range = hf_float(j, "initializer_range", 0.02f);
  c.bos_token_id = hf_int(j, "bos_token_id", 50256);
  c.eos_token_id = hf_int(j, "eos_token_id", 50256);
  if (j.contains("activation_function")) {
    LM_CHECK(j["activation_function"].is_string(), "config.json: \"activation_function\" must be a string");
    c.activation_name = j["activation_function"].get<std::string>();
  }
  // gelu_new, gelu_pytorch_tanh and gelu_fast are the same tanh formula; "gelu" is exact erf.
  c.activation = ops::gelu_kind_from_name(c.activation_name);
  LM_CHECK_AS(ErrorCode::Unsupported, !hf_bool(j, "add_cross_attention", false),
              "config.json: add_cross_attention=true (encoder-decoder GPT-2) is not supported");
  LM_CHECK_AS(ErrorCode::Unsupported, hf_bool(j, "tie_word_embeddings", true),
              "config.json: tie_word_embeddings=false is not supported for gpt2 (the LM head is tied to wte)");
  LM_CHECK(c.vocab_size > 0 && c.vocab_size < (1LL << 31), "config.json: vocab_size {} out of range", c.vocab_size);
  LM_CHECK(c.n_positions > 0 && c.n_positions <= (1 << 20), "config.json: n_positions {} out of range",
           c.n_positions);
  LM_CHECK(c.n_layer > 0 && c.n_layer <= 1024, "config.json: n_layer {} out of range", c.n_layer);
  LM_CHECK(c.n_head > 0 && c.n_embd > 0 && c.n_embd % c.n_head == 0,
           "config.json: n_embd {} must be a positive multiple of n_head {}", c.n_embd, c.n_head);
  LM_CHECK(c.n_inner >= 0, "config.json: n_inner {} must be positive or null", c.n_inner);
  LM_CHECK(c.layer_norm_epsilon > 0, "config.json: layer_norm_epsilon must be positive");
  for (float p : {c.resid_pdrop, c.embd_pdrop, c.attn_pdrop})
    LM_CHECK(p >= 0 && p < 1, "config.json: dropout probability {} must be in [0, 1)", p);
  return c;
}

Json GptConfig::to_hf() const {
  Json j;
  j["model_type"] = "gpt2";
  j["architectures"] = Json::array({"GPT2LMHeadModel"});
  j["vocab_size"] = vocab_size;
  j["n_positions"] = n_positions;
  j["n_ctx"] = n_positions;
  j["n_embd"] = n_embd;
  j["n_layer"] = n_layer;
  j["n_head"] = n_head;
  j["n_inner"] = n_inner > 0 ? Json(n_inner) : Json(nullptr);
  j["activation_function"] = activation_name;
  j["layer_norm_epsilon"] = layer_norm_epsilon;
  j["resid_pdrop"] = resid_pdrop;
  j["embd_pdrop"] = embd_pdrop;
  j["attn_pdrop"] = attn_pdrop;
  j["scale_attn_weights"] = scale_attn_weights;
  j["scale_attn_by_inverse_layer_idx"] = scale_attn_by_inverse_layer_idx;
  j["reorder_and_upcast_attn"] = false;
  j["initializer_range"] = initializer_range;
  j["tie_word_embeddings"] = true;
  j["bos_token_id"] = bos_token_id;
  j["eos_token_id"] = eos_token_id;
  j["use_cache"] = true;
  j["torch_dtype"] = "float32";
  return j;
}

namespace {
// Matmul parameters (blocks + LM head) and attention FLOPs per token per pass unit, for the FLOP counts.
double gpt_matmul_params(const GptConfig& c) {
  const double C = static_cast<double>(c.n_embd), L = static_cast<double>(c.n_layer);
  const double I = static_cast<double>(c.inner()), V = static_cast<double>(c.vocab_size);
  return L * (3 * C * C + C * C + 2 * C * I) + V * C;
}
double gpt_attention_units(const GptConfig& c, int64_t T) {
  return static_cast<double>(c.n_layer) * static_cast<double>(T) * static_cast<double>(c.n_embd);
}
}  // namespace

double GptConfig::train_flops_per_token(int64_t T) const {
  return 6.0 * gpt_matmul_params(*this) + 6.0 * gpt_attention_units(*this, T);
}

double GptConfig::forward_flops_per_token(int64_t T) const {
  return 2.0 * gpt_matmul_params(*this) + 2.0 * gpt_attention_units(*this, T);
}

}  // namespace lm::models
