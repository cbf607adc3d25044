// BertConfig: HF config.json parsing (defaults, validation, the head from architectures[0]) and writing back,
// and the training FLOPs per token.
#include <map>
#include <string>
#include <vector>

#include "lm/core/error.h"
#include "lm/models/bert/bert.h"
#include "lm/models/hf_config.h"

namespace lm::models {

namespace {

const std::map<std::string, BertHead>& head_names() {
  static const std::map<std::string, BertHead> m = {
      {"BertModel", BertHead::Base},
      {"BertForPreTraining", BertHead::PreTraining},
      {"BertForMaskedLM", BertHead::MaskedLM},
      {"BertForSequenceClassification", BertHead::SequenceClassification},
      {"BertForQuestionAnswering", BertHead::QuestionAnswering},
  };
  return m;
}

// num_labels is len(id2label) when id2label is present (HF PretrainedConfig); its JSON keys are strings.
void parse_labels(const Json& j, BertConfig& c) {
  if (j.contains("id2label") && j["id2label"].is_object() && !j["id2label"].empty()) {
    const Json& m = j["id2label"];
    c.num_labels = static_cast<int64_t>(m.size());
    c.id2label.assign(static_cast<size_t>(c.num_labels), "");
    for (auto e = m.begin(); e != m.end(); ++e) {
      int64_t k = -1;
      try {
        k = std::stoll(e.key());
      } catch (...) {
      }
      LM_CHECK(k >= 0 && k < c.num_labels && e.value().is_string(),
               "config.json: id2label key \"{}\" must be an integer in [0, {}) mapping to a string", e.key(),
               c.num_labels);
      c.id2label[static_cast<size_t>(k)] = e.value().get<std::string>();
    }
  } else {
    c.num_labels = hf_int(j, "num_labels", 2);
    for (int64_t i = 0; i < c.num_labels; ++i) c.id2label.push_back("LABEL_" + std::to_string(i));
  }
}

void check_ranges(const BertConfig& c) {
  LM_CHECK(c.vocab_size > 0 && c.vocab_size < (1LL << 31), "config.json: vocab_size {} out of range", c.vocab_size);
  LM_CHECK(c.max_position_embeddings > 0 && c.max_position_embeddings <= (1 << 20),
           "config.json: max_position_embeddings {} out of range", c.max_position_embeddings);
  LM_CHECK(c.type_vocab_size > 0 && c.type_vocab_size <= (1 << 20), "config.json: type_vocab_size {} out of range",
           c.type_vocab_size);
  LM_CHECK(c.num_hidden_layers > 0 && c.num_hidden_layers <= 1024, "config.json: num_hidden_layers {} out of range",
           c.num_hidden_layers);
  LM_CHECK(c.num_attention_heads > 0 && c.hidden_size > 0 && c.hidden_size % c.num_attention_heads == 0,
           "config.json: hidden_size {} must be a positive multiple of num_attention_heads {}", c.hidden_size,
           c.num_attention_heads);
  LM_CHECK(c.intermediate_size > 0, "config.json: intermediate_size {} must be positive", c.intermediate_size);
  LM_CHECK(c.layer_norm_eps > 0, "config.json: layer_norm_eps must be positive");
  LM_CHECK(c.num_labels >= 1 && c.num_labels <= (1 << 20), "config.json: num_labels {} out of range", c.num_labels);
  for (float p : {c.hidden_dropout_prob, c.attention_probs_dropout_prob})
    LM_CHECK(p >= 0 && p < 1, "config.json: dropout probability {} must be in [0, 1)", p);
  LM_CHECK(c.classifier_dropout < 1, "config.json: classifier_dropout must be < 1");
}

}  // namespace

// The keys of transformers' BertConfig (configuration_bert.py): its __init__ arguments, plus
// gradient_checkpointing, which older BERT checkpoints on the Hub carry. A user-written bert config may use
// these and PretrainedConfig's common keys.
const std::vector<std::string>& bert_config_keys() {
  // clang-format off
  static const std::vector<std::string> keys = {
      "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
      "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
      "type_vocab_size", "initializer_range", "layer_norm_eps", "pad_token_id", "position_embedding_type",
      "use_cache", "classifier_dropout", "gradient_checkpointing"
  };
  // clang-format on
  return keys;
}

BertConfig BertConfig::from_hf(const Json& j) {
  LM_CHECK(j.is_object(), "BERT config must be a JSON object");
  BertConfig c;
  c.extra = j;
  if (j.contains("model_type"))
    LM_CHECK(j["model_type"] == "bert", "config.json: model_type {} is not bert", j["model_type"].dump());
  c.vocab_size = hf_int(j, "vocab_size", c.vocab_size);
  c.hidden_size = hf_int(j, "hidden_size", c.hidden_size);
  c.num_hidden_layers = hf_int(j, "num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = hf_int(j, "num_attention_heads", c.num_attention_heads);
  c.intermediate_size = hf_int(j, "intermediate_size", c.intermediate_size);
  c.hidden_act = hf_string(j, "hidden_act", c.hidden_act);
  // "gelu" is exact erf GELU (BERT's default); gelu_new / gelu_pytorch_tanh the tanh form.
  c.activation = ops::gelu_kind_from_name(c.hidden_act);
  c.hidden_dropout_prob = hf_float(j, "hidden_dropout_prob", c.hidden_dropout_prob);
  c.attention_probs_dropout_prob = hf_float(j, "attention_probs_dropout_prob", c.attention_probs_dropout_prob);
  c.classifier_dropout = hf_float(j, "classifier_dropout", -1.0f);
  c.max_position_embeddings = hf_int(j, "max_position_embeddings", c.max_position_embeddings);
  c.type_vocab_size = hf_int(j, "type_vocab_size", c.type_vocab_size);
  c.layer_norm_eps = hf_float(j, "layer_norm_eps", c.layer_norm_eps);
  c.initializer_range = hf_float(j, "initializer_range", c.initializer_range);
  c.pad_token_id = hf_int(j, "pad_token_id", c.pad_token_id);
  const std::string pet = hf_string(j, "position_embedding_type", "absolute");
  LM_CHECK_AS(ErrorCode::Unsupported, pet == "absolute",
              "config.json: position_embedding_type \"{}\" is not supported (only \"absolute\")", pet);
  LM_CHECK_AS(ErrorCode::Unsupported, !(j.contains("is_decoder") && j["is_decoder"] == true),
              "config.json: is_decoder=true (BertLMHeadModel) is not supported");
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty()) {
    LM_CHECK(j["architectures"][0].is_string(), "config.json: architectures[0] must be a string");
    c.architecture = j["architectures"][0].get<std::string>();
  }
  auto it = head_names().find(c.architecture);
  LM_CHECK_AS(ErrorCode::Unsupported, it != head_names().end(),
              "config.json: architecture {} is not supported (BertModel, BertForPreTraining, BertForMaskedLM, "
              "BertForSequenceClassification, BertForQuestionAnswering)", c.architecture);
  c.head = it->second;
  parse_labels(j, c);
  if (c.head == BertHead::SequenceClassification) {
    const std::string pt = hf_string(j, "problem_type", "single_label_classification");
    LM_CHECK_AS(ErrorCode::Unsupported, pt == "single_label_classification" && c.num_labels >= 2,
                "config.json: only single-label classification with num_labels >= 2 is supported (problem_type "
                "\"{}\", num_labels {})", pt, c.num_labels);
  }
  check_ranges(c);
  return c;
}

Json BertConfig::to_hf() const {
  Json j = extra.is_object() ? extra : Json::object();
  j["model_type"] = "bert";
  j["architectures"] = Json::array({architecture});
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["intermediate_size"] = intermediate_size;
  j["hidden_act"] = hidden_act;
  j["hidden_dropout_prob"] = hidden_dropout_prob;
  j["attention_probs_dropout_prob"] = attention_probs_dropout_prob;
  j["max_position_embeddings"] = max_position_embeddings;
  j["type_vocab_size"] = type_vocab_size;
  j["layer_norm_eps"] = layer_norm_eps;
  j["initializer_range"] = initializer_range;
  j["pad_token_id"] = pad_token_id;
  j["position_embedding_type"] = "absolute";
  if (!j.contains("torch_dtype")) j["torch_dtype"] = "float32";
  if (head == BertHead::SequenceClassification) {
    set_hf_labels(j, id2label);
  }
  return j;
}

double BertConfig::forward_flops_per_token(int64_t T) const {
  const double C = static_cast<double>(hidden_size), L = static_cast<double>(num_hidden_layers);
  const double I = static_cast<double>(intermediate_size);
  return 2 * L * (4 * C * C + 2 * C * I) + 4 * L * static_cast<double>(T) * C;
}

double BertConfig::train_flops_per_token(int64_t T, double head_fraction) const {
  const double C = static_cast<double>(hidden_size), L = static_cast<double>(num_hidden_layers);
  const double I = static_cast<double>(intermediate_size), V = static_cast<double>(vocab_size);
  double n = L * (4 * C * C + 2 * C * I);
  if (has_mlm()) n += head_fraction * (C * C + C * V);
  return 6.0 * n + 12.0 * L * static_cast<double>(T) * C;
}

}  // namespace lm::models
