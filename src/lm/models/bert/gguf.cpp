// The bert family's GGUF column: llama.cpp's "bert" architecture metadata from a config.json, and a config.json
// from a GGUF file's metadata (llama.cpp's bert loader: src/llama-model.cpp LLM_ARCH_BERT; the converter's
// BertModel in convert_hf_to_gguf.py). Tensor names are the `gguf` column of the parameter table (params.cpp).
#include "lm/core/error.h"
#include "lm/models/bert/bert.h"
#include "lm/models/hf_config.h"

namespace lm::models {

namespace {
// llama.cpp's enum llama_pooling_type.
int64_t pooling_code(const std::string& p) {
  if (p == "mean") return 1;
  if (p == "cls") return 2;
  if (p == "rank") return 4;
  LM_THROW(ErrorCode::InvalidArgument, "GGUF export: pooling \"{}\" is not one of mean, cls, rank", p);
}
}  // namespace

GgufMetadata bert_to_gguf(const Json& config, const GgufOptions& options) {
  const BertConfig c = BertConfig::from_hf(config);
  LM_CHECK_AS(ErrorCode::Unsupported, options.pooling != "rank" || c.head == BertHead::SequenceClassification,
              "GGUF export: --pooling rank needs a sequence-classification model (its classifier is the ranker)");
  GgufMetadata m;
  m.arch = "bert";
  m.kv["bert.context_length"] = c.max_position_embeddings;
  m.kv["bert.embedding_length"] = c.hidden_size;
  m.kv["bert.feed_forward_length"] = c.intermediate_size;
  m.kv["bert.block_count"] = c.num_hidden_layers;
  m.kv["bert.attention.head_count"] = c.num_attention_heads;
  m.kv["bert.attention.layer_norm_epsilon"] = static_cast<double>(c.layer_norm_eps);
  m.kv["bert.attention.causal"] = false;
  m.kv["bert.pooling_type"] = pooling_code(options.pooling);
  m.kv["tokenizer.ggml.token_type_count"] = c.type_vocab_size;
  if (c.head == BertHead::SequenceClassification) m.kv["bert.classifier.output_labels"] = c.id2label;
  return m;
}

Json bert_config_from_gguf(const Json& kv, const GgufShapes& tensors) {
  const Shape& emb = gguf_shape(tensors, "token_embd.weight");
  LM_CHECK_AS(ErrorCode::BadFormat, emb.ndim() == 2, "GGUF file: token_embd.weight must be 2-D");
  Json j;
  j["model_type"] = "bert";
  j["vocab_size"] = emb[0];
  j["hidden_size"] = gguf_int(kv, "bert.embedding_length");
  LM_CHECK_AS(ErrorCode::BadFormat, j["hidden_size"].get<int64_t>() == emb[1],
              "GGUF file: bert.embedding_length {} but token_embd.weight has {} columns",
              j["hidden_size"].get<int64_t>(), emb[1]);
  j["intermediate_size"] = gguf_int(kv, "bert.feed_forward_length");
  j["num_hidden_layers"] = gguf_int(kv, "bert.block_count");
  j["num_attention_heads"] = gguf_int(kv, "bert.attention.head_count");
  j["max_position_embeddings"] = gguf_int(kv, "bert.context_length");
  j["layer_norm_eps"] = gguf_float(kv, "bert.attention.layer_norm_epsilon");
  j["hidden_act"] = "gelu";
  j["hidden_dropout_prob"] = j["attention_probs_dropout_prob"] = 0.0;
  if (auto t = tensors.find("token_types.weight"); t != tensors.end()) {
    j["type_vocab_size"] = t->second[0];
  } else {
    LM_THROW(ErrorCode::Unsupported, "GGUF file: bert without token_types.weight is not supported");
  }
  // Every dimension against the tensors that carry it (and the layer count against the blocks present).
  const int64_t C = emb[1], L = j["num_hidden_layers"].get<int64_t>(), I = j["intermediate_size"].get<int64_t>();
  LM_CHECK_AS(ErrorCode::BadFormat, L >= 1 && !tensors.count("blk." + std::to_string(L) + ".attn_q.weight"),
              "GGUF file: bert.block_count {} does not match the blocks present", L);
  gguf_expect(tensors, "position_embd.weight", Shape{j["max_position_embeddings"].get<int64_t>(), C});
  for (int64_t l = 0; l < L; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    gguf_expect(tensors, b + "attn_q.weight", Shape{C, C});
    gguf_expect(tensors, b + "ffn_up.weight", Shape{I, C});
  }
  if (auto t = tensors.find("token_types.weight"); t != tensors.end() && t->second.ndim() == 2)
    gguf_expect(tensors, "token_types.weight", Shape{t->second[0], C});
  j["pad_token_id"] = gguf_int_or(kv, "tokenizer.ggml.padding_token_id", 0);
  if (auto t = tensors.find("cls.output.weight"); t != tensors.end()) {
    LM_CHECK_AS(ErrorCode::Unsupported, tensors.count("cls.weight"),
                "GGUF file: a bert classifier (cls.output) without its pooler (cls) is not supported");
    j["architectures"] = Json::array({"BertForSequenceClassification"});
    std::vector<std::string> labels;
    if (auto l = kv.find("bert.classifier.output_labels"); l != kv.end() && l->is_array()) {
      for (const auto& x : *l) labels.push_back(x.is_string() ? x.get<std::string>() : "");
    }
    const int64_t n = t->second[0];
    if (static_cast<int64_t>(labels.size()) != n) {
      labels.clear();
      for (int64_t i = 0; i < n; ++i) labels.push_back("LABEL_" + std::to_string(i));
    }
    set_hf_labels(j, labels);
  } else {
    j["architectures"] = Json::array({"BertModel"});
  }
  return j;
}

}  // namespace lm::models
