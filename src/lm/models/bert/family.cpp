// The bert family's registry entry: building a model, applying a training run's ConfigRequest to a config.json
// (fresh pretraining defaults, dropout, switching the head for fine-tuning with its labels), and the head a
// config's architectures[0] names.
#include "lm/core/error.h"
#include "lm/models/bert/bert.h"
#include "lm/models/hf_config.h"

namespace lm::models {

namespace {

const char* architecture_of(Head h) {
  switch (h) {
    case Head::Base: return "BertModel";
    case Head::PreTraining: return "BertForPreTraining";
    case Head::MaskedLM: return "BertForMaskedLM";
    case Head::SequenceClassification: return "BertForSequenceClassification";
    case Head::QuestionAnswering: return "BertForQuestionAnswering";
    case Head::CausalLM: break;
  }
  LM_THROW(ErrorCode::Unsupported, "bert models have no causal-LM head (BertLMHeadModel is not supported)");
}

bool is_int_sequence(const std::vector<std::string>& names) {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] != std::to_string(i)) return false;
  return true;
}

// A classifier head for `labels`. A config that already is a classifier keeps its id2label when the labels are
// the plain integers 0..K-1 with K its num_labels; a classifier with another number of labels is an error (its
// head cannot be reused).
void set_classifier(Json& cfg, const std::vector<std::string>& labels) {
  LM_CHECK(labels.size() >= 2, "classification needs at least 2 labels; the data has {}", labels.size());
  const BertConfig old = BertConfig::from_hf(cfg);
  std::vector<std::string> names = labels;
  if (old.head == BertHead::SequenceClassification) {
    LM_CHECK(old.num_labels == static_cast<int64_t>(names.size()),
             "the model is a classifier with {} labels but the data has {}; start from its base model instead",
             old.num_labels, names.size());
    if (is_int_sequence(names)) names = old.id2label;
  }
  set_hf_labels(cfg, names);
}

Json configure_bert(const Json& config, const ConfigRequest& r) {
  Json m = config;
  if (r.fresh) {
    if (!m.contains("architectures")) m["architectures"] = Json::array({"BertForPreTraining"});
    if (!m.contains("max_position_embeddings") && r.max_positions > 0) m["max_position_embeddings"] = r.max_positions;
    if (!m.contains("pad_token_id") && r.pad_id) m["pad_token_id"] = *r.pad_id;
  }
  if (r.dropout)
    for (const char* k : {"hidden_dropout_prob", "attention_probs_dropout_prob"}) m[k] = *r.dropout;
  if (r.vocab_size) m["vocab_size"] = *r.vocab_size;
  if (r.head) {
    if (*r.head == Head::SequenceClassification) set_classifier(m, r.labels);
    m["architectures"] = Json::array({architecture_of(*r.head)});
  }
  return m;
}

Head bert_head(BertHead h) {
  switch (h) {
    case BertHead::Base: return Head::Base;
    case BertHead::PreTraining: return Head::PreTraining;
    case BertHead::MaskedLM: return Head::MaskedLM;
    case BertHead::SequenceClassification: return Head::SequenceClassification;
    case BertHead::QuestionAnswering: return Head::QuestionAnswering;
  }
  return Head::Base;
}

}  // namespace

GgufMetadata bert_to_gguf(const Json& config, const GgufOptions& options);  // gguf.cpp
Json bert_config_from_gguf(const Json& kv, const GgufShapes& tensors);
const std::vector<std::string>& bert_config_keys();  // config.cpp

Head Bert::head() const { return bert_head(config_.head); }

ModelFamily bert_family() {
  ModelFamily f;
  f.create = [](const Json& c, Device d, DType t) -> std::unique_ptr<Model> {
    LM_CHECK_AS(ErrorCode::Unsupported, t == DType::F32, "bert computes in f32 (bf16 mixed precision is gpt2 only)");
    return std::make_unique<Bert>(BertConfig::from_hf(c), d);
  };
  f.configure = configure_bert;
  f.head = [](const Json& c) { return bert_head(BertConfig::from_hf(c).head); };
  f.gguf_arch = "bert";
  f.to_gguf = bert_to_gguf;
  f.config_from_gguf = bert_config_from_gguf;
  f.config_keys = bert_config_keys;
  f.lora_targets = {"query", "value"};
  f.lora_embeddings = {"word_embeddings"};
  return f;
}

}  // namespace lm::models
