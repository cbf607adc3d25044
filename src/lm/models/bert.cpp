// BERT forward and backward composed from ops, HF config parsing, and HF checkpoint load/save for all heads.
// The backward is the forward read bottom-up with the same names and a `d` prefix. Post-LN: each layer's
// LayerNorm sits after its residual add, so the gradient enters every layer through its output LayerNorm.
#include "lm/models/bert.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/log.h"
#include "lm/core/profile.h"
#include "lm/core/rng.h"
#include "lm/io/safetensors.h"
#include "lm/ops/cross_entropy.h"
#include "lm/ops/dropout.h"
#include "lm/ops/encoder.h"
#include "lm/ops/layernorm.h"
#include "lm/ops/matmul.h"
#include "lm/ops/residual.h"
#include "lm/ops/tanh.h"

namespace lm::models {

namespace {

int64_t cfg_int(const Json& j, const char* key, int64_t def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  LM_CHECK(j[key].is_number_integer(), "config.json: \"{}\" must be an integer, got {}", key, j[key].dump());
  return j[key].get<int64_t>();
}

float cfg_float(const Json& j, const char* key, float def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  LM_CHECK(j[key].is_number(), "config.json: \"{}\" must be a number, got {}", key, j[key].dump());
  return j[key].get<float>();
}

std::string cfg_str(const Json& j, const char* key, const std::string& def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  LM_CHECK(j[key].is_string(), "config.json: \"{}\" must be a string, got {}", key, j[key].dump());
  return j[key].get<std::string>();
}

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

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
bool starts_with(const std::string& s, const std::string& pre) { return s.rfind(pre, 0) == 0; }

void zero(Tensor t) {
  if (t.nbytes() == 0) return;
  if (t.device == Device::CPU)
    std::memset(t.data, 0, t.nbytes());
  else
    device_zero(t.device, t.data, t.nbytes());
}

// Mean of the first n per-row losses over `count` targets, summed in double in index order (deterministic).
// Device losses are read through a host copy.
float mean_loss(const Tensor& losses, int64_t n, int64_t count) {
  if (count == 0) return std::numeric_limits<float>::quiet_NaN();
  std::vector<float> host;
  const float* l = losses.f32();
  if (losses.device != Device::CPU) {
    host.resize(static_cast<size_t>(n));
    copy_bytes(host.data(), Device::CPU, losses.data, losses.device, static_cast<size_t>(n) * sizeof(float));
    l = host.data();
  }
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += l[i];
  return static_cast<float>(s / static_cast<double>(count));
}

// A host i32 vector into the first values.size() elements of t (any device).
void put_i32(const Tensor& t, const std::vector<int32_t>& values) {
  copy_bytes(t.data, t.device, values.data(), Device::CPU, values.size() * sizeof(int32_t));
}

}  // namespace

BertConfig BertConfig::from_hf(const Json& j) {
  LM_CHECK(j.is_object(), "BERT config must be a JSON object");
  BertConfig c;
  c.extra = j;
  if (j.contains("model_type"))
    LM_CHECK(j["model_type"] == "bert", "config.json: model_type {} is not bert", j["model_type"].dump());
  c.vocab_size = cfg_int(j, "vocab_size", c.vocab_size);
  c.hidden_size = cfg_int(j, "hidden_size", c.hidden_size);
  c.num_hidden_layers = cfg_int(j, "num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = cfg_int(j, "num_attention_heads", c.num_attention_heads);
  c.intermediate_size = cfg_int(j, "intermediate_size", c.intermediate_size);
  c.hidden_act = cfg_str(j, "hidden_act", c.hidden_act);
  // "gelu" is exact erf GELU (BERT's default); gelu_new / gelu_pytorch_tanh the tanh form.
  c.activation = ops::gelu_kind_from_name(c.hidden_act);
  c.hidden_dropout_prob = cfg_float(j, "hidden_dropout_prob", c.hidden_dropout_prob);
  c.attention_probs_dropout_prob = cfg_float(j, "attention_probs_dropout_prob", c.attention_probs_dropout_prob);
  c.classifier_dropout = cfg_float(j, "classifier_dropout", -1.0f);
  c.max_position_embeddings = cfg_int(j, "max_position_embeddings", c.max_position_embeddings);
  c.type_vocab_size = cfg_int(j, "type_vocab_size", c.type_vocab_size);
  c.layer_norm_eps = cfg_float(j, "layer_norm_eps", c.layer_norm_eps);
  c.initializer_range = cfg_float(j, "initializer_range", c.initializer_range);
  c.pad_token_id = cfg_int(j, "pad_token_id", c.pad_token_id);
  const std::string pet = cfg_str(j, "position_embedding_type", "absolute");
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
  // num_labels is len(id2label) when id2label is present (HF PretrainedConfig); its JSON keys are strings.
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
    c.num_labels = cfg_int(j, "num_labels", 2);
    for (int64_t i = 0; i < c.num_labels; ++i) c.id2label.push_back("LABEL_" + std::to_string(i));
  }
  if (c.head == BertHead::SequenceClassification) {
    const std::string pt = cfg_str(j, "problem_type", "single_label_classification");
    LM_CHECK_AS(ErrorCode::Unsupported, pt == "single_label_classification" && c.num_labels >= 2,
                "config.json: only single-label classification with num_labels >= 2 is supported (problem_type "
                "\"{}\", num_labels {})", pt, c.num_labels);
  }
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
    Json id2 = Json::object(), l2i = Json::object();
    for (size_t i = 0; i < id2label.size(); ++i) {
      id2[std::to_string(i)] = id2label[i];
      l2i[id2label[i]] = static_cast<int64_t>(i);
    }
    j["id2label"] = id2;
    j["label2id"] = l2i;
    j.erase("num_labels");
  }
  return j;
}

std::vector<BertParamSpec> bert_param_specs(const BertConfig& c) {
  const int64_t C = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  std::vector<BertParamSpec> s;
  auto top = [&](std::string name, Shape sh, bool decay, Tensor BertParams::*m) {
    s.push_back({std::move(name), sh, decay, [m](const BertParams& p) { return p.*m; }});
  };
  top("bert.embeddings.word_embeddings.weight", Shape{V, C}, false, &BertParams::word_emb);
  top("bert.embeddings.position_embeddings.weight", Shape{c.max_position_embeddings, C}, false, &BertParams::pos_emb);
  top("bert.embeddings.token_type_embeddings.weight", Shape{c.type_vocab_size, C}, false, &BertParams::type_emb);
  top("bert.embeddings.LayerNorm.weight", Shape{C}, false, &BertParams::emb_ln_w);
  top("bert.embeddings.LayerNorm.bias", Shape{C}, false, &BertParams::emb_ln_b);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "bert.encoder.layer." + std::to_string(l) + ".";
    const size_t li = static_cast<size_t>(l);
    const char* qkv[3] = {"query", "key", "value"};
    for (int64_t k = 0; k < 3; ++k) {
      // Row block k of the fused (3C, C) weight and of the (3C) bias: HF's separate nn.Linear tensors.
      s.push_back({p + "attention.self." + qkv[k] + ".weight", Shape{C, C}, true, [li, k, C](const BertParams& q) {
                     return q.layers[li].qkv_w.slice0(k * C, (k + 1) * C);
                   }});
      s.push_back({p + "attention.self." + qkv[k] + ".bias", Shape{C}, false, [li, k, C](const BertParams& q) {
                     return q.layers[li].qkv_b.slice0(k * C, (k + 1) * C);
                   }});
    }
    auto lay = [&](const char* n, Shape sh, bool decay, Tensor BertLayerParams::*m) {
      s.push_back({p + n, sh, decay, [li, m](const BertParams& q) { return q.layers[li].*m; }});
    };
    lay("attention.output.dense.weight", Shape{C, C}, true, &BertLayerParams::attn_out_w);
    lay("attention.output.dense.bias", Shape{C}, false, &BertLayerParams::attn_out_b);
    lay("attention.output.LayerNorm.weight", Shape{C}, false, &BertLayerParams::attn_ln_w);
    lay("attention.output.LayerNorm.bias", Shape{C}, false, &BertLayerParams::attn_ln_b);
    lay("intermediate.dense.weight", Shape{I, C}, true, &BertLayerParams::inter_w);
    lay("intermediate.dense.bias", Shape{I}, false, &BertLayerParams::inter_b);
    lay("output.dense.weight", Shape{C, I}, true, &BertLayerParams::out_w);
    lay("output.dense.bias", Shape{C}, false, &BertLayerParams::out_b);
    lay("output.LayerNorm.weight", Shape{C}, false, &BertLayerParams::out_ln_w);
    lay("output.LayerNorm.bias", Shape{C}, false, &BertLayerParams::out_ln_b);
  }
  if (c.has_pooler()) {
    top("bert.pooler.dense.weight", Shape{C, C}, true, &BertParams::pooler_w);
    top("bert.pooler.dense.bias", Shape{C}, false, &BertParams::pooler_b);
  }
  if (c.has_mlm()) {
    top("cls.predictions.bias", Shape{V}, false, &BertParams::mlm_bias);
    top("cls.predictions.transform.dense.weight", Shape{C, C}, true, &BertParams::mlm_w);
    top("cls.predictions.transform.dense.bias", Shape{C}, false, &BertParams::mlm_b);
    top("cls.predictions.transform.LayerNorm.weight", Shape{C}, false, &BertParams::mlm_ln_w);
    top("cls.predictions.transform.LayerNorm.bias", Shape{C}, false, &BertParams::mlm_ln_b);
  }
  if (c.head == BertHead::PreTraining) {
    top("cls.seq_relationship.weight", Shape{2, C}, true, &BertParams::nsp_w);
    top("cls.seq_relationship.bias", Shape{2}, false, &BertParams::nsp_b);
  }
  if (c.head == BertHead::SequenceClassification) {
    top("classifier.weight", Shape{c.num_labels, C}, true, &BertParams::cls_w);
    top("classifier.bias", Shape{c.num_labels}, false, &BertParams::cls_b);
  }
  if (c.head == BertHead::QuestionAnswering) {
    top("qa_outputs.weight", Shape{2, C}, true, &BertParams::qa_w);
    top("qa_outputs.bias", Shape{2}, false, &BertParams::qa_b);
  }
  return s;
}

namespace {

// Storage tensors (the fused qkv counts once) in a fixed order: sizes the arena and binds the struct.
void bind_params(BertParams& p, Arena& arena, const BertConfig& c) {
  const int64_t C = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  p = BertParams{};
  p.layers.assign(static_cast<size_t>(c.num_hidden_layers), BertLayerParams{});
  std::vector<std::pair<Tensor*, size_t>> pend;
  auto r = [&](Tensor* t, Shape s) { pend.push_back({t, arena.reserve(s)}); };
  r(&p.word_emb, Shape{V, C});
  r(&p.pos_emb, Shape{c.max_position_embeddings, C});
  r(&p.type_emb, Shape{c.type_vocab_size, C});
  r(&p.emb_ln_w, Shape{C});
  r(&p.emb_ln_b, Shape{C});
  for (auto& l : p.layers) {
    r(&l.qkv_w, Shape{3 * C, C});
    r(&l.qkv_b, Shape{3 * C});
    r(&l.attn_out_w, Shape{C, C});
    r(&l.attn_out_b, Shape{C});
    r(&l.attn_ln_w, Shape{C});
    r(&l.attn_ln_b, Shape{C});
    r(&l.inter_w, Shape{I, C});
    r(&l.inter_b, Shape{I});
    r(&l.out_w, Shape{C, I});
    r(&l.out_b, Shape{C});
    r(&l.out_ln_w, Shape{C});
    r(&l.out_ln_b, Shape{C});
  }
  if (c.has_pooler()) {
    r(&p.pooler_w, Shape{C, C});
    r(&p.pooler_b, Shape{C});
  }
  if (c.has_mlm()) {
    r(&p.mlm_w, Shape{C, C});
    r(&p.mlm_b, Shape{C});
    r(&p.mlm_ln_w, Shape{C});
    r(&p.mlm_ln_b, Shape{C});
    r(&p.mlm_bias, Shape{V});
  }
  if (c.head == BertHead::PreTraining) {
    r(&p.nsp_w, Shape{2, C});
    r(&p.nsp_b, Shape{2});
  }
  if (c.head == BertHead::SequenceClassification) {
    r(&p.cls_w, Shape{c.num_labels, C});
    r(&p.cls_b, Shape{c.num_labels});
  }
  if (c.head == BertHead::QuestionAnswering) {
    r(&p.qa_w, Shape{2, C});
    r(&p.qa_b, Shape{2});
  }
  arena.allocate();
  for (auto& [t, slot] : pend) *t = arena.tensor(slot);
}

Tensor prefix(const Tensor& t, int64_t B) { return t.slice0(0, B); }

}  // namespace

Bert::Bert(const BertConfig& config, Device device)
    : config_(config),
      device_(device),
      hf_config_(config.to_hf()),
      params_arena_("params", device),
      grads_arena_("grads", device),
      acts_arena_("acts", device) {
  specs_ = bert_param_specs(config_);
  for (const auto& s : specs_) num_params_ += s.shape.numel();
  bind_params(params_, params_arena_, config_);
}

BertParams& Bert::grads() {
  if (!grads_ready_) {
    bind_params(grads_, grads_arena_, config_);
    grads_ready_ = true;
  }
  return grads_;
}

Tensor Bert::flat_grads() {
  grads();
  return grads_arena_.flat_f32();
}

void Bert::zero_grad() {
  grads();
  zero(grads_arena_.flat_f32());
}

template <typename F>
void Bert::with_host_params(bool copy_in, bool copy_out, F&& fn) const {
  BertParams& mine = const_cast<BertParams&>(params_);
  if (device_ == Device::CPU) {
    fn(mine);
    return;
  }
  // The same reserve order gives the same layout, so the whole arena copies as one block.
  Arena host("params-host", Device::CPU);
  BertParams hp;
  bind_params(hp, host, config_);
  LM_ASSERT(host.bytes() == params_arena_.bytes());
  if (copy_in) copy_bytes(host.data(), Device::CPU, params_arena_.data(), device_, host.bytes());
  fn(hp);
  if (copy_out) copy_bytes(params_arena_.data(), device_, host.data(), Device::CPU, host.bytes());
}

BertBatch Bert::upload_batch(const BertBatch& in) {
  std::vector<std::pair<const Tensor*, Tensor*>> fields;
  BertBatch d;
  fields.push_back({&in.input_ids, &d.input_ids});
  fields.push_back({&in.token_type_ids, &d.token_type_ids});
  fields.push_back({&in.attention_mask, &d.attention_mask});
  fields.push_back({&in.labels, &d.labels});
  fields.push_back({&in.next_sentence_label, &d.next_sentence_label});
  fields.push_back({&in.start_positions, &d.start_positions});
  fields.push_back({&in.end_positions, &d.end_positions});
  size_t need = 0;
  for (const auto& [src, dst] : fields)
    if (src->defined()) need += align_up(src->nbytes() ? src->nbytes() : 4);
  if (batch_buf_.size() < need) batch_buf_ = Buffer(need, device_);
  size_t off = 0;
  for (const auto& [src, dst] : fields) {
    if (!src->defined()) continue;
    LM_CHECK(src->device == Device::CPU, "bert forward: a {} model takes its batch on the host", device_name(device_));
    *dst = Tensor(static_cast<char*>(batch_buf_.data()) + off, src->shape, src->dtype, device_);
    copy_tensor(*dst, *src);
    off += align_up(src->nbytes() ? src->nbytes() : 4);
  }
  return d;
}

std::vector<ParamRef> Bert::param_list() {
  grads();
  std::vector<ParamRef> out;
  for (const auto& s : specs_) out.push_back({s.name, s.get(params_), s.get(grads_), s.decay, Tensor()});
  return out;
}

void Bert::init_tensor(const BertParamSpec& s, size_t index, uint64_t seed, BertParams& params) const {
  Tensor t = s.get(params);
  float* x = t.f32();
  if (ends_with(s.name, "LayerNorm.weight")) {
    for (int64_t k = 0; k < t.numel(); ++k) x[k] = 1.0f;
  } else if (ends_with(s.name, ".bias")) {
    zero(t);
  } else {
    Rng r(seed, 1000 + index);  // one stream per tensor: independent of order and thread count
    for (int64_t k = 0; k < t.numel(); ++k) x[k] = config_.initializer_range * r.normal(static_cast<uint64_t>(k));
    // nn.Embedding(padding_idx=pad_token_id): HF zeroes that row at init.
    if (s.name == "bert.embeddings.word_embeddings.weight" && config_.pad_token_id >= 0 &&
        config_.pad_token_id < config_.vocab_size)
      std::memset(x + config_.pad_token_id * config_.hidden_size, 0, sizeof(float) * config_.hidden_size);
  }
}

void Bert::init_weights(uint64_t seed) {
  packed_stale_ = true;
  with_host_params(false, true, [&](BertParams& params) {
    for (size_t i = 0; i < specs_.size(); ++i) {
      zero(specs_[i].get(params));
      init_tensor(specs_[i], i, seed, params);
    }
  });
}

void Bert::load_safetensors(const std::string& path) {
  packed_stale_ = true;
  with_host_params(false, true, [&](BertParams& params) { load_host(params, path); });
}

void Bert::load_host(BertParams& params, const std::string& path) const {
  SafetensorsFile f(path);
  // Canonical name (prefixed, weight/bias) -> name in the file.
  std::map<std::string, std::string> by_canon;
  std::vector<std::string> unexpected;
  std::string decoder_weight;
  for (const auto& e : f.tensors()) {
    std::string n = e.name;
    if (ends_with(n, "embeddings.position_ids")) continue;  // legacy persistent buffer
    // TF-era LayerNorm names, renamed by HF on load.
    if (ends_with(n, "LayerNorm.gamma")) n = n.substr(0, n.size() - 5) + "weight";
    if (ends_with(n, "LayerNorm.beta")) n = n.substr(0, n.size() - 4) + "bias";
    if (!starts_with(n, "bert.") && !starts_with(n, "cls.") && !starts_with(n, "classifier.") &&
        !starts_with(n, "qa_outputs."))
      n = "bert." + n;  // a bare BertModel save
    if (n == "cls.predictions.decoder.weight") {
      decoder_weight = e.name;
      continue;
    }
    if (n == "cls.predictions.decoder.bias") {
      // The same Parameter as cls.predictions.bias; either name may be present.
      if (f.contains("cls.predictions.bias")) continue;
      n = "cls.predictions.bias";
    }
    by_canon[n] = e.name;
  }
  LM_CHECK_AS(ErrorCode::BadFormat, by_canon.count("bert.embeddings.word_embeddings.weight"),
              "{}: no (bert.)embeddings.word_embeddings.weight; not a BERT checkpoint", path);
  std::set<std::string> used;
  std::vector<std::string> fresh;
  for (size_t i = 0; i < specs_.size(); ++i) {
    const auto& s = specs_[i];
    auto it = by_canon.find(s.name);
    if (it == by_canon.end()) {
      // The encoder must be complete; pooler and heads may come from another architecture's checkpoint.
      LM_CHECK_AS(ErrorCode::BadFormat, !starts_with(s.name, "bert.embeddings") && !starts_with(s.name, "bert.encoder"),
                  "{}: missing tensor {}", path, s.name);
      init_tensor(s, i, 0, params);
      fresh.push_back(s.name);
      continue;
    }
    f.read_f32(it->second, s.get(params).f32(), s.shape);
    used.insert(it->first);
  }
  if (!decoder_weight.empty()) {
    std::vector<float> tmp(static_cast<size_t>(params.word_emb.numel()));
    f.read_f32(decoder_weight, tmp.data(), params.word_emb.shape);
    LM_CHECK_AS(ErrorCode::Unsupported,
                std::memcmp(tmp.data(), params.word_emb.data, params.word_emb.nbytes()) == 0,
                "{}: cls.predictions.decoder.weight differs from the word embeddings (untied decoder is not "
                "supported)", path);
  }
  for (const auto& [canon, name] : by_canon) {
    if (used.count(canon)) continue;
    // Weights of another head (HF: "Some weights of the model checkpoint were not used") are skipped; anything
    // else is an error, since a silently ignored encoder weight is a wrong model.
    const bool other_head = starts_with(canon, "cls.") || starts_with(canon, "classifier.") ||
                            starts_with(canon, "qa_outputs.") || starts_with(canon, "bert.pooler.");
    LM_CHECK_AS(ErrorCode::BadFormat, other_head, "{}: unexpected tensor {} for this bert config", path, name);
    unexpected.push_back(name);
  }
  if (!unexpected.empty())
    log_info("{}: {} weights not used by {} (another head): {}", path, unexpected.size(), config_.architecture,
             fmt::join(unexpected, ", "));
  if (!fresh.empty())
    log_warn("{}: some weights of {} were not in the checkpoint and are newly initialized: {}", path,
             config_.architecture, fmt::join(fresh, ", "));
}

void Bert::save_hf(const std::string& dir) const {
  make_dirs(dir);
  const bool bare = config_.head == BertHead::Base;  // HF BertModel.save_pretrained writes no "bert." prefix
  with_host_params(true, false, [&](BertParams& params) {
    std::vector<NamedTensor> out;
    for (const auto& s : specs_) {
      std::string n = bare && starts_with(s.name, "bert.") ? s.name.substr(5) : s.name;
      out.push_back({n, s.get(params)});
    }
    write_safetensors(path_join(dir, "model.safetensors"), out, {{"format", "pt"}});
  });
  write_file_atomic(path_join(dir, "config.json"), hf_config_.dump(2) + "\n");
}

ops::AttentionSpec Bert::attn_spec(int layer) const {
  ops::AttentionSpec a;
  a.n_head = static_cast<int>(config_.num_attention_heads);
  a.causal = false;
  a.scale = 1.0f / std::sqrt(static_cast<float>(config_.head_size()));
  if (training_ && config_.attention_probs_dropout_prob > 0.0f) {
    // HF BertSelfAttention: dropout on the attention probabilities; masks regenerated in backward.
    a.dropout = config_.attention_probs_dropout_prob;
    a.seed = seed_;
    a.stream = 2000003 + static_cast<uint64_t>(layer);
  }
  return a;
}

void Bert::reserve(int64_t B, int64_t T, bool training) {
  if (B <= max_B_ && T == max_T_ && (!training || acts_training_) &&
      (!sparse_mlm_ || !config_.has_mlm() || mlm_in_.defined()))
    return;
  if (T == max_T_) B = std::max(B, max_B_);
  training = training || (acts_training_ && T == max_T_);
  const int64_t C = config_.hidden_size, I = config_.intermediate_size, NH = config_.num_attention_heads;
  const int64_t V = config_.vocab_size, NL = config_.num_labels;
  const bool drop = training && config_.hidden_dropout_prob > 0.0f;
  Arena a("acts", device_);
  std::vector<std::pair<Tensor*, size_t>> pend;
  auto r = [&](Tensor* t, Shape s, DType dt = DType::F32) { pend.push_back({t, a.reserve(s, dt)}); };
  r(&zeros_tt_, Shape{B, T}, DType::I32);
  r(&emb_sum_, Shape{B, T, C});
  r(&emb_mean_, Shape{B, T});
  r(&emb_rstd_, Shape{B, T});
  r(&emb_ln_, Shape{B, T, C});
  if (drop) r(&emb_drop_, Shape{B, T, C});
  // Eval-only forwards need no per-layer activations (nothing runs backward): every layer then writes the same
  // buffers (layer l reads its input x = h2 of layer l-1 before overwriting h2 at its end), which is L times
  // less activation memory (bert-base, B 32, T 128: 3.0 GB -> 0.25 GB).
  acts_.assign(static_cast<size_t>(config_.num_hidden_layers), BertLayerActs{});
  for (auto& l : acts_) {
    if (!training && &l != &acts_.front()) continue;
    r(&l.qkv, Shape{B, T, 3 * C});
    r(&l.att, Shape{B, NH, T, T});
    r(&l.ctx, Shape{B, T, C});
    r(&l.attn_dense, Shape{B, T, C});
    if (drop) r(&l.attn_drop, Shape{B, T, C});
    r(&l.res1, Shape{B, T, C});
    r(&l.h1, Shape{B, T, C});
    r(&l.mean1, Shape{B, T});
    r(&l.rstd1, Shape{B, T});
    r(&l.fc, Shape{B, T, I});
    r(&l.fc_act, Shape{B, T, I});
    r(&l.out_dense, Shape{B, T, C});
    if (drop) r(&l.out_drop, Shape{B, T, C});
    r(&l.res2, Shape{B, T, C});
    r(&l.h2, Shape{B, T, C});
    r(&l.mean2, Shape{B, T});
    r(&l.rstd2, Shape{B, T});
  }
  if (config_.has_pooler()) {
    r(&first_, Shape{B, C});
    r(&pooled_pre_, Shape{B, C});
    r(&pooled_, Shape{B, C});
    r(&pooled_drop_, Shape{B, C});
  }
  if (config_.has_mlm()) {
    r(&mlm_t_, Shape{B, T, C});
    r(&mlm_act_, Shape{B, T, C});
    r(&mlm_ln_, Shape{B, T, C});
    r(&mlm_mean_, Shape{B, T});
    r(&mlm_rstd_, Shape{B, T});
    r(&pred_, Shape{B * T, V});
    r(&mlm_losses_, Shape{B * T});
    if (sparse_mlm_) {
      r(&mlm_in_, Shape{B * T, C});
      r(&mlm_labels_, Shape{B * T}, DType::I32);
    }
  }
  r(&small_logits_, Shape{B, std::max<int64_t>(NL, 2)});
  r(&small_losses_, Shape{B});
  if (config_.head == BertHead::QuestionAnswering) {
    r(&qa_, Shape{B, T, 2});
    r(&qa_start_, Shape{B, T});
    r(&qa_end_, Shape{B, T});
    r(&qa_losses_, Shape{B});
    r(&qa_start_pos_, Shape{B}, DType::I32);
    r(&qa_end_pos_, Shape{B}, DType::I32);
    r(&dqa_, Shape{B, T, 2});
  }
  if (training) {
    r(&dres_, Shape{B, T, C});
    r(&dtmp_, Shape{B, T, C});
    r(&dctx_, Shape{B, T, C});
    r(&dmid_, Shape{B, T, C});
    r(&dqkv_, Shape{B, T, 3 * C});
    r(&datt_, Shape{B, NH, T, T});
    r(&dfc_, Shape{B, T, I});
    r(&dfc_act_, Shape{B, T, I});
    r(&dpooled_, Shape{B, C});
    r(&dpooled_pre_, Shape{B, C});
    r(&dfirst_, Shape{B, C});
  }
  a.allocate();
  for (auto& [t, slot] : pend) *t = a.tensor(slot);
  if (!training)
    for (auto& l : acts_) l = acts_.front();
  zero(zeros_tt_);
  acts_arena_ = std::move(a);
  max_B_ = B;
  max_T_ = T;
  acts_training_ = training;
}

namespace {

// Dropout stream ids: one per dropout site, so masks never repeat across sites within a step.
uint64_t stream_emb() { return 0; }
uint64_t stream_attn(int l) { return 1 + 2 * static_cast<uint64_t>(l); }
uint64_t stream_out(int l) { return 2 + 2 * static_cast<uint64_t>(l); }
constexpr uint64_t kStreamClassifier = 1000003;

}  // namespace

float Bert::forward(const BertBatch& in, bool training, uint64_t dropout_seed) {
  Tensor ids = in.input_ids;
  LM_CHECK(ids.dtype == DType::I32 && ids.ndim() == 2, "bert forward: input_ids must be (B,T) int32, got {} {}",
           dtype_name(ids.dtype), ids.shape.str());
  const int64_t B = ids.dim(0), T = ids.dim(1);
  LM_CHECK(B >= 1 && T >= 1 && T <= config_.max_position_embeddings,
           "bert forward: sequence length {} must be in [1, max_position_embeddings {}]", T,
           config_.max_position_embeddings);
  if (in.token_type_ids.defined()) check_tensor(in.token_type_ids, ids.shape, DType::I32, "bert token_type_ids");
  if (in.attention_mask.defined()) check_tensor(in.attention_mask, ids.shape, DType::I32, "bert attention_mask");
  const bool mlm_labels = config_.has_mlm() && in.labels.defined();
  if (mlm_labels) check_tensor(in.labels, ids.shape, DType::I32, "bert MLM labels");
  if (config_.head == BertHead::SequenceClassification && in.labels.defined())
    check_tensor(in.labels, Shape{B}, DType::I32, "bert classification labels");
  if (in.next_sentence_label.defined())
    check_tensor(in.next_sentence_label, Shape{B}, DType::I32, "bert next_sentence_label");
  if (in.start_positions.defined()) check_tensor(in.start_positions, Shape{B}, DType::I32, "bert start_positions");
  if (in.end_positions.defined()) check_tensor(in.end_positions, Shape{B}, DType::I32, "bert end_positions");
  if (in.token_type_ids.defined()) {
    const int32_t* tt = in.token_type_ids.ptr<int32_t>();
    for (int64_t i = 0; i < B * T; ++i)
      LM_CHECK(tt[i] >= 0 && tt[i] < config_.type_vocab_size,
               "bert forward: token_type_id {} at {} is out of range for type_vocab_size {}", tt[i], i,
               config_.type_vocab_size);
  }
  reserve(B, T, training);
  training_ = training;
  seed_ = dropout_seed;
  cur_B_ = B;
  cur_T_ = T;
  // The batch the kernels read: the caller's tensors on CPU, a device copy otherwise (host-side logic below, the
  // masked positions and QA positions, keeps reading `in`).
  batch_ = device_ == Device::CPU ? in : upload_batch(in);
  if (!batch_.token_type_ids.defined()) batch_.token_type_ids = prefix(zeros_tt_, B);
  const int64_t C = config_.hidden_size;
  const float eps = config_.layer_norm_eps, p = config_.hidden_dropout_prob;
  const bool drop = drop_active();
  // Inverted dropout into buf when training with p > 0, else the identity (no copy).
  auto dropout = [&](const Tensor& buf, Tensor x, uint64_t stream) {
    if (!drop) return x;
    Tensor o = prefix(buf, B);
    ops::dropout_forward(o, x, p, seed_, stream);
    return o;
  };

  // Embeddings: (word + token_type) + position, LayerNorm, dropout.
  Tensor emb = prefix(emb_sum_, B);
  ops::encoder_forward(emb, batch_.input_ids, params_.word_emb, params_.pos_emb);
  ops::embedding_add_forward(emb, batch_.token_type_ids, params_.type_emb);
  ops::layernorm_forward(prefix(emb_ln_, B), prefix(emb_mean_, B), prefix(emb_rstd_, B), emb, params_.emb_ln_w,
                         params_.emb_ln_b, eps);
  Tensor x = dropout(emb_drop_, prefix(emb_ln_, B), stream_emb());
  if (training) packed_stale_ = true;  // the optimizer may change the weights after this
  const bool bf16 = !training && infer_dtype_ == DType::BF16;
  const bool i8 = !training && infer_dtype_ == DType::I8;
  if ((bf16 || i8) && packed_stale_) pack_inference_weights();
  for (int l = 0; l < config_.num_hidden_layers; ++l) {
    const BertLayerParams& w = params_.layers[static_cast<size_t>(l)];
    BertLayerActs& a = acts_[static_cast<size_t>(l)];
    Tensor qkv = prefix(a.qkv, B), ctx = prefix(a.ctx, B), ad = prefix(a.attn_dense, B);
    Tensor res1 = prefix(a.res1, B), h1 = prefix(a.h1, B), fc = prefix(a.fc, B), fca = prefix(a.fc_act, B);
    Tensor od = prefix(a.out_dense, B), res2 = prefix(a.res2, B), h2 = prefix(a.h2, B);
    PackedLayer* pk = bf16 ? &packed_[static_cast<size_t>(l)] : nullptr;
    PackedLayerI8* pq = i8 ? &packed_i8_[static_cast<size_t>(l)] : nullptr;
    struct Member {
      ops::PackedLinearBf16 PackedLayer::*bf16;
      ops::PackedLinearInt8 PackedLayerI8::*i8;
    };
    const Member m_qkv{&PackedLayer::qkv, &PackedLayerI8::qkv}, m_ao{&PackedLayer::attn_out, &PackedLayerI8::attn_out};
    const Member m_in{&PackedLayer::inter, &PackedLayerI8::inter}, m_out{&PackedLayer::out, &PackedLayerI8::out};
    // The layer's four linear maps: f32 GEMM, or the packed bf16 / int8 copy of the same weight (member m).
    auto linear = [&](Tensor out, Tensor inp, Tensor wt, Tensor bias, auto m) {
      prof::Scope ps(prof::Op::MatmulFwd);
      if (pk)
        ops::linear_bf16_forward(out, inp, pk->*m.bf16, bias);
      else if (pq)
        ops::linear_int8_forward(out, inp, pq->*m.i8, bias, false, T, batch_.attention_mask);
      else
        ops::matmul_forward(out, inp, wt, bias);
    };
    using prof::Op;
    linear(qkv, x, w.qkv_w, w.qkv_b, m_qkv);
    {
      // Keys with attention_mask 0 get finfo.min added before the softmax (HF's extended attention mask).
      prof::Scope ps(Op::AttnFwd);
      if ((pk || pq) && attn_bf16_)
        ops::attention_bf16_forward(ctx, prefix(a.att, B), qkv, attn_spec(l), batch_.attention_mask, attn_bf16_state_);
      else
        ops::attention_forward(ctx, prefix(a.att, B), qkv, attn_spec(l), batch_.attention_mask);
    }
    linear(ad, ctx, w.attn_out_w, w.attn_out_b, m_ao);
    {
      prof::Scope ps(Op::Residual);
      ops::residual_forward(res1, dropout(a.attn_drop, ad, stream_attn(l)), x);
    }
    {
      prof::Scope ps(Op::LayerNorm);
      ops::layernorm_forward(h1, prefix(a.mean1, B), prefix(a.rstd1, B), res1, w.attn_ln_w, w.attn_ln_b, eps);
    }
    if (pk && config_.activation == ops::GeluKind::Erf) {
      // bf16: GELU fused into the first GEMM (oneDNN post-op), its bf16 output read directly by the second.
      prof::Scope ps(Op::MatmulFwd);
      const int64_t I = config_.intermediate_size;
      if (ffn_mid_.size() < static_cast<size_t>(B * T * I)) ffn_mid_.resize(static_cast<size_t>(B * T * I));
      Tensor mid(ffn_mid_.data(), Shape{B, T, I}, DType::U16);
      ops::linear_bf16_gelu_forward(mid, h1, pk->inter, w.inter_b);
      ops::linear_bf16_from_bf16_forward(od, mid, pk->out, w.out_b);
    } else if (pq && config_.activation == ops::GeluKind::Erf) {
      // int8: GELU fused into the first GEMM (oneDNN post-op on the dequantized accumulator).
      prof::Scope ps(Op::MatmulFwd);
      ops::linear_int8_forward(fca, h1, pq->inter, w.inter_b, /*gelu=*/true, T, batch_.attention_mask);
      ops::linear_int8_forward(od, fca, pq->out, w.out_b, false, T, batch_.attention_mask);
    } else {
      linear(fc, h1, w.inter_w, w.inter_b, m_in);
      {
        prof::Scope ps(Op::Gelu);
        ops::gelu_forward(fca, fc, config_.activation);
      }
      linear(od, fca, w.out_w, w.out_b, m_out);
    }
    {
      prof::Scope ps(Op::Residual);
      ops::residual_forward(res2, dropout(a.out_drop, od, stream_out(l)), h1);
    }
    {
      prof::Scope ps(Op::LayerNorm);
      ops::layernorm_forward(h2, prefix(a.mean2, B), prefix(a.rstd2, B), res2, w.out_ln_w, w.out_ln_b, eps);
    }
    x = h2;
  }
  Tensor seq = x;  // (B,T,C) last_hidden_state

  if (config_.has_pooler()) {
    Tensor first = prefix(first_, B);
    std::vector<int64_t> cls_rows(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) cls_rows[static_cast<size_t>(b)] = b * T;  // token 0 of each sequence
    ops::gather_rows(first, seq.view(Shape{B * T, C}), cls_rows);
    ops::matmul_forward(prefix(pooled_pre_, B), first, params_.pooler_w, params_.pooler_b);
    ops::tanh_forward(prefix(pooled_, B), prefix(pooled_pre_, B));
  }
  sparse_active_ = false;
  masked_pos_.clear();
  int64_t R = B * T;  // rows of the prediction head
  Tensor head_in = seq.view(Shape{B * T, C});
  if (config_.has_mlm() && sparse_mlm_ && mlm_labels) {
    // Gather the masked positions (and their labels) into dense rows.
    sparse_active_ = true;
    const int32_t* lab = in.labels.ptr<int32_t>();
    for (int64_t i = 0; i < B * T; ++i)
      if (lab[i] != -100) masked_pos_.push_back(i);
    R = static_cast<int64_t>(masked_pos_.size());
    std::vector<int32_t> labels(static_cast<size_t>(R));
    for (int64_t r = 0; r < R; ++r) labels[static_cast<size_t>(r)] = lab[masked_pos_[static_cast<size_t>(r)]];
    put_i32(mlm_labels_, labels);
    ops::gather_rows(mlm_in_.slice0(0, R), seq.view(Shape{B * T, C}), masked_pos_);
    head_in = mlm_in_.slice0(0, R);
  }
  if (config_.has_mlm() && R > 0) {
    // Buffers sized for the largest batch so far: the first B sequences, then the first R rows.
    auto rows = [&](const Tensor& buf) { return prefix(buf, B).view(Shape{B * T, C}).slice0(0, R); };
    auto stat_rows = [&](const Tensor& buf) { return prefix(buf, B).view(Shape{B * T}).slice0(0, R); };
    Tensor t = rows(mlm_t_), ta = rows(mlm_act_), tl = rows(mlm_ln_);
    ops::matmul_forward(t, head_in, params_.mlm_w, params_.mlm_b);
    ops::gelu_forward(ta, t, config_.activation);
    ops::layernorm_forward(tl, stat_rows(mlm_mean_), stat_rows(mlm_rstd_),
                           ta, params_.mlm_ln_w, params_.mlm_ln_b, eps);
    // Decoder tied to the word embeddings, with cls.predictions.bias.
    ops::matmul_forward(pred_.slice0(0, R), tl, params_.word_emb, params_.mlm_bias);
  }
  Tensor small;
  if (config_.head == BertHead::PreTraining) {
    small = Tensor(small_logits_.data, Shape{B, 2});
    ops::matmul_forward(small, prefix(pooled_, B), params_.nsp_w, params_.nsp_b);
  } else if (config_.head == BertHead::SequenceClassification) {
    small = Tensor(small_logits_.data, Shape{B, config_.num_labels});
    const float pc = config_.classifier_dropout >= 0 ? config_.classifier_dropout : p;
    Tensor pd = prefix(pooled_, B);
    if (training && pc > 0.0f) {
      pd = prefix(pooled_drop_, B);
      ops::dropout_forward(pd, prefix(pooled_, B), pc, seed_, kStreamClassifier);
    }
    ops::matmul_forward(small, pd, params_.cls_w, params_.cls_b);
  } else if (config_.head == BertHead::QuestionAnswering) {
    Tensor qa = prefix(qa_, B);
    ops::matmul_forward(qa, seq, params_.qa_w, params_.qa_b);
    // logits.split(1, dim=-1): start = channel 0, end = channel 1 (a row gather over the (B*T*2, 1) view).
    std::vector<int64_t> even(static_cast<size_t>(B * T)), odd(static_cast<size_t>(B * T));
    for (int64_t i = 0; i < B * T; ++i) {
      even[static_cast<size_t>(i)] = 2 * i;
      odd[static_cast<size_t>(i)] = 2 * i + 1;
    }
    const Tensor qa_col = qa.view(Shape{2 * B * T, 1});
    ops::gather_rows(prefix(qa_start_, B).view(Shape{B * T, 1}), qa_col, even);
    ops::gather_rows(prefix(qa_end_, B).view(Shape{B * T, 1}), qa_col, odd);
  }

  // Losses.
  have_loss_ = false;
  mlm_targets_ = small_targets_ = qa_start_targets_ = qa_end_targets_ = 0;
  mlm_loss_ = nsp_loss_ = std::numeric_limits<float>::quiet_NaN();
  float loss = std::numeric_limits<float>::quiet_NaN();
  if (config_.head == BertHead::PreTraining || config_.head == BertHead::MaskedLM) {
    float total = 0;
    bool any = false;
    if (mlm_labels && sparse_active_) {
      if (R > 0) {
        Tensor losses = mlm_losses_.slice0(0, R);
        mlm_targets_ = ops::cross_entropy_forward(losses, pred_.slice0(0, R), mlm_labels_.slice0(0, R));
        mlm_loss_ = mean_loss(losses, R, mlm_targets_);
      } else {
        mlm_loss_ = mean_loss(mlm_losses_, 0, 0);  // no masked position: NaN, as the dense path
      }
      total += mlm_loss_;
      any = true;
    } else if (mlm_labels) {
      Tensor losses = mlm_losses_.slice0(0, B * T);
      mlm_targets_ = ops::cross_entropy_forward(losses, pred_.slice0(0, B * T), batch_.labels.view(Shape{B * T}));
      mlm_loss_ = mean_loss(losses, B * T, mlm_targets_);
      total += mlm_loss_;
      any = true;
    }
    if (config_.head == BertHead::PreTraining && in.next_sentence_label.defined()) {
      small_targets_ = ops::cross_entropy_forward(prefix(small_losses_, B), small, batch_.next_sentence_label);
      nsp_loss_ = mean_loss(small_losses_, B, small_targets_);
      total += nsp_loss_;
      any = true;
    }
    if (any) loss = total;  // BertForPreTraining: masked_lm_loss + next_sentence_loss
    last_targets_ = mlm_targets_ + small_targets_;
    have_loss_ = any;
  } else if (config_.head == BertHead::SequenceClassification && in.labels.defined()) {
    small_targets_ = ops::cross_entropy_forward(prefix(small_losses_, B), small, batch_.labels);
    loss = mean_loss(small_losses_, B, small_targets_);
    last_targets_ = small_targets_;
    have_loss_ = true;
  } else if (config_.head == BertHead::QuestionAnswering && in.start_positions.defined() &&
             in.end_positions.defined()) {
    // HF: positions outside the sequence are clamped to T, which is the ignore index.
    std::vector<int32_t> sp(static_cast<size_t>(B)), ep(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
      sp[static_cast<size_t>(b)] = std::clamp<int32_t>(in.start_positions.ptr<int32_t>()[b], 0, static_cast<int32_t>(T));
      ep[static_cast<size_t>(b)] = std::clamp<int32_t>(in.end_positions.ptr<int32_t>()[b], 0, static_cast<int32_t>(T));
    }
    put_i32(qa_start_pos_, sp);
    put_i32(qa_end_pos_, ep);
    const int ign = static_cast<int>(T);
    Tensor ls = prefix(qa_losses_, B);
    qa_start_targets_ = ops::cross_entropy_forward(ls, prefix(qa_start_, B), prefix(qa_start_pos_, B), ign);
    float s = mean_loss(ls, B, qa_start_targets_);
    qa_end_targets_ = ops::cross_entropy_forward(ls, prefix(qa_end_, B), prefix(qa_end_pos_, B), ign);
    float e = mean_loss(ls, B, qa_end_targets_);
    loss = 0.5f * (s + e);
    last_targets_ = qa_start_targets_;
    have_loss_ = true;
  }
  return loss;
}

void Bert::set_inference_dtype(DType dt) {
  LM_CHECK(dt == DType::F32 || dt == DType::BF16 || dt == DType::I8,
           "bert: inference dtype must be f32, bf16 or i8, got {}", dtype_name(dt));
  LM_CHECK_AS(ErrorCode::Unsupported, dt == DType::F32 || device_ == Device::CPU,
              "bert: {} inference weights are a CPU (oneDNN) option; this model is on {}", dtype_name(dt),
              device_name(device_));
  LM_CHECK_AS(ErrorCode::Unsupported, dt != DType::BF16 || ops::linear_bf16_available(),
              "bert: bf16 inference needs a CPU with a native bf16 matmul (AMX or AVX512_BF16); this one has none");
  LM_CHECK_AS(ErrorCode::Unsupported, dt != DType::I8 || ops::linear_int8_available(),
              "bert: int8 inference needs a CPU with a native int8 matmul (AMX or AVX512-VNNI); this one has none");
  infer_dtype_ = dt;
  packed_stale_ = true;
  packed_.clear();
  packed_i8_.clear();
}

void Bert::pack_inference_weights() {
  packed_.clear();
  packed_i8_.clear();
  const size_t L = params_.layers.size();
  if (infer_dtype_ == DType::BF16) packed_.resize(L);
  if (infer_dtype_ == DType::I8) packed_i8_.resize(L);
  for (size_t l = 0; l < L; ++l) {
    const BertLayerParams& w = params_.layers[l];
    if (infer_dtype_ == DType::BF16) {
      ops::pack_linear_bf16(packed_[l].qkv, w.qkv_w);
      ops::pack_linear_bf16(packed_[l].attn_out, w.attn_out_w);
      ops::pack_linear_bf16(packed_[l].inter, w.inter_w);
      ops::pack_linear_bf16(packed_[l].out, w.out_w);
    } else {
      ops::pack_linear_int8(packed_i8_[l].qkv, w.qkv_w);
      ops::pack_linear_int8(packed_i8_[l].attn_out, w.attn_out_w);
      ops::pack_linear_int8(packed_i8_[l].inter, w.inter_w);
      ops::pack_linear_int8(packed_i8_[l].out, w.out_w);
    }
  }
  packed_stale_ = false;
}

std::vector<std::pair<std::string, Tensor>> Bert::outputs() const {
  const int64_t B = cur_B_, T = cur_T_, C = config_.hidden_size;
  LM_CHECK(B > 0, "bert outputs: no forward has run");
  Tensor seq = prefix(acts_.back().h2, B);
  switch (config_.head) {
    case BertHead::Base:
      return {{"last_hidden_state", seq}, {"pooler_output", prefix(pooled_, B)}};
    case BertHead::PreTraining:
      if (sparse_active_)
        return {{"masked_prediction_logits",
                 pred_.slice0(0, static_cast<int64_t>(masked_pos_.size()))},
                {"seq_relationship_logits", Tensor(small_logits_.data, Shape{B, 2})}};
      return {{"prediction_logits", pred_.slice0(0, B * T).view(Shape{B, T, config_.vocab_size})},
              {"seq_relationship_logits", Tensor(small_logits_.data, Shape{B, 2})}};
    case BertHead::MaskedLM:
      if (sparse_active_)
        return {{"masked_prediction_logits", pred_.slice0(0, static_cast<int64_t>(masked_pos_.size()))}};
      return {{"logits", pred_.slice0(0, B * T).view(Shape{B, T, config_.vocab_size})}};
    case BertHead::SequenceClassification:
      return {{"logits", Tensor(small_logits_.data, Shape{B, config_.num_labels})}};
    case BertHead::QuestionAnswering:
      return {{"start_logits", prefix(qa_start_, B)}, {"end_logits", prefix(qa_end_, B)}};
  }
  (void)C;
  return {};
}

namespace {
// A distinct dropout seed per (seed, stream): the Trainer's step, rank and micro-batch.
uint64_t mix_seed(uint64_t seed, uint64_t stream) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + stream + 1;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 32);
}
}  // namespace

float Bert::forward(const Batch& in, const ForwardOptions& opt) {
  BertBatch b;
  b.input_ids = in.input_ids;
  b.token_type_ids = in.token_type_ids;
  b.attention_mask = in.attention_mask;
  b.labels = in.labels;
  b.next_sentence_label = in.next_sentence_label;
  b.start_positions = in.start_positions;
  b.end_positions = in.end_positions;
  return forward(b, opt.training, opt.training ? mix_seed(opt.seed, opt.stream) : 0);
}

Json Bert::loss_parts() const {
  Json j = Json::object();
  if (config_.has_mlm()) j["mlm_loss"] = mlm_loss_;
  if (config_.head == BertHead::PreTraining) j["nsp_loss"] = nsp_loss_;
  return j;
}

std::unique_ptr<Model> Bert::to(Device device) const {
  auto m = std::make_unique<Bert>(config_, device);
  m->set_sparse_mlm(sparse_mlm_);
  m->set_mlm_fraction(mlm_fraction_);
  Tensor src = const_cast<Bert*>(this)->params_arena_.flat_f32();
  Tensor dst = m->flat_params();
  copy_bytes(dst.data, device, src.data, device_, src.nbytes());
  return m;
}

double BertConfig::train_flops_per_token(int64_t T, double head_fraction) const {
  const double C = static_cast<double>(hidden_size), L = static_cast<double>(num_hidden_layers);
  const double I = static_cast<double>(intermediate_size), V = static_cast<double>(vocab_size);
  double n = L * (4 * C * C + 2 * C * I);
  if (has_mlm()) n += head_fraction * (C * C + C * V);
  return 6.0 * n + 12.0 * L * static_cast<double>(T) * C;
}

void Bert::backward(float dloss_scale) {
  LM_CHECK(have_loss_ && acts_training_, "bert backward: call forward with labels (training) first");
  grads();
  const int64_t B = cur_B_, T = cur_T_, C = config_.hidden_size;
  const bool drop = drop_active();
  const float p = config_.hidden_dropout_prob;
  BertParams& g = grads_;
  const BertParams& w = params_;
  // Gradient of a dropout site: into buf when dropout was applied, else the incoming gradient itself.
  auto ddropout = [&](Tensor dout, uint64_t stream) {
    if (!drop) return dout;
    Tensor d = prefix(dmid_, B);
    zero(d);
    ops::dropout_backward(d, dout, p, seed_, stream);
    return d;
  };
  Tensor seq = prefix(acts_.back().h2, B);
  Tensor dres = prefix(dres_, B);
  zero(dres);  // d last_hidden_state

  // Heads.
  bool dpool = false;
  Tensor dpooled = config_.has_pooler() ? prefix(dpooled_, B) : Tensor();
  if (dpooled.defined()) zero(dpooled);
  if (config_.has_mlm() && mlm_targets_ > 0 && sparse_active_) {
    const int64_t R = static_cast<int64_t>(masked_pos_.size());
    Tensor pred = pred_.slice0(0, R);
    ops::cross_entropy_backward(pred, pred, mlm_labels_.slice0(0, R), dloss_scale / static_cast<float>(mlm_targets_));
    auto rows = [&](const Tensor& buf) { return prefix(buf, B).view(Shape{B * T, C}).slice0(0, R); };
    Tensor dtl = rows(dtmp_), dta = rows(dmid_), dt = rows(dctx_);
    zero(dtl);
    ops::matmul_backward(dtl, g.word_emb, g.mlm_bias, pred, rows(mlm_ln_), w.word_emb);
    zero(dta);
    auto stat_rows = [&](const Tensor& buf) { return prefix(buf, B).view(Shape{B * T}).slice0(0, R); };
    ops::layernorm_backward(dta, g.mlm_ln_w, g.mlm_ln_b, dtl, rows(mlm_act_), w.mlm_ln_w, stat_rows(mlm_mean_),
                            stat_rows(mlm_rstd_));
    zero(dt);
    ops::gelu_backward(dt, dta, rows(mlm_t_), config_.activation);
    // d of the gathered rows, then scattered back into d last_hidden_state.
    Tensor din = prefix(dqkv_, B).view(Shape{B * T * 3, C}).slice0(0, R);
    zero(din);
    ops::matmul_backward(din, g.mlm_w, g.mlm_b, dt, mlm_in_.slice0(0, R), w.mlm_w);
    ops::scatter_add_rows(dres.view(Shape{B * T, C}), din, masked_pos_);
  } else if (config_.has_mlm() && mlm_targets_ > 0) {
    Tensor pred = pred_.slice0(0, B * T);
    // Fused: the logits buffer becomes dlogits in place (mean over the MLM targets).
    ops::cross_entropy_backward(pred, pred, batch_.labels.view(Shape{B * T}),
                                dloss_scale / static_cast<float>(mlm_targets_));
    Tensor dtl = prefix(dtmp_, B), dta = prefix(dmid_, B), dt = prefix(dctx_, B);
    zero(dtl);
    ops::matmul_backward(dtl.view(Shape{B * T, C}), g.word_emb, g.mlm_bias, pred,
                         prefix(mlm_ln_, B).view(Shape{B * T, C}), w.word_emb);
    zero(dta);
    ops::layernorm_backward(dta, g.mlm_ln_w, g.mlm_ln_b, dtl, prefix(mlm_act_, B), w.mlm_ln_w, prefix(mlm_mean_, B),
                            prefix(mlm_rstd_, B));
    zero(dt);
    ops::gelu_backward(dt, dta, prefix(mlm_t_, B), config_.activation);
    ops::matmul_backward(dres, g.mlm_w, g.mlm_b, dt, seq, w.mlm_w);
  }
  if (config_.head == BertHead::PreTraining && small_targets_ > 0) {
    Tensor small(small_logits_.data, Shape{B, 2});
    ops::cross_entropy_backward(small, small, batch_.next_sentence_label,
                                dloss_scale / static_cast<float>(small_targets_));
    ops::matmul_backward(dpooled, g.nsp_w, g.nsp_b, small, prefix(pooled_, B), w.nsp_w);
    dpool = true;
  }
  if (config_.head == BertHead::SequenceClassification && small_targets_ > 0) {
    Tensor small(small_logits_.data, Shape{B, config_.num_labels});
    ops::cross_entropy_backward(small, small, batch_.labels, dloss_scale / static_cast<float>(small_targets_));
    const float pc = config_.classifier_dropout >= 0 ? config_.classifier_dropout : p;
    if (training_ && pc > 0.0f) {
      Tensor dpd = prefix(dfirst_, B);
      zero(dpd);
      ops::matmul_backward(dpd, g.cls_w, g.cls_b, small, prefix(pooled_drop_, B), w.cls_w);
      ops::dropout_backward(dpooled, dpd, pc, seed_, kStreamClassifier);
    } else {
      ops::matmul_backward(dpooled, g.cls_w, g.cls_b, small, prefix(pooled_, B), w.cls_w);
    }
    dpool = true;
  }
  if (dpool) {
    Tensor dpre = prefix(dpooled_pre_, B), dfirst = prefix(dfirst_, B);
    zero(dpre);
    ops::tanh_backward(dpre, dpooled, prefix(pooled_, B));
    zero(dfirst);
    ops::matmul_backward(dfirst, g.pooler_w, g.pooler_b, dpre, prefix(first_, B), w.pooler_w);
    std::vector<int64_t> cls_rows(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) cls_rows[static_cast<size_t>(b)] = b * T;
    ops::scatter_add_rows(dres.view(Shape{B * T, C}), dfirst, cls_rows);
  }
  if (config_.head == BertHead::QuestionAnswering) {
    // loss = (start CE + end CE) / 2, each a mean over its non-ignored rows.
    Tensor ds = prefix(qa_start_, B), de = prefix(qa_end_, B), dqa = prefix(dqa_, B);
    const int ign = static_cast<int>(T);
    if (qa_start_targets_ > 0)
      ops::cross_entropy_backward(ds, ds, prefix(qa_start_pos_, B),
                                  0.5f * dloss_scale / static_cast<float>(qa_start_targets_), ign);
    else
      zero(ds);
    if (qa_end_targets_ > 0)
      ops::cross_entropy_backward(de, de, prefix(qa_end_pos_, B),
                                  0.5f * dloss_scale / static_cast<float>(qa_end_targets_), ign);
    else
      zero(de);
    // Interleave back into (B*T, 2): zero, then each channel added into its rows (exactly the values).
    std::vector<int64_t> even(static_cast<size_t>(B * T)), odd(static_cast<size_t>(B * T));
    for (int64_t i = 0; i < B * T; ++i) {
      even[static_cast<size_t>(i)] = 2 * i;
      odd[static_cast<size_t>(i)] = 2 * i + 1;
    }
    zero(dqa);
    const Tensor dqa_col = dqa.view(Shape{2 * B * T, 1});
    ops::scatter_add_rows(dqa_col, ds.view(Shape{B * T, 1}), even);
    ops::scatter_add_rows(dqa_col, de.view(Shape{B * T, 1}), odd);
    ops::matmul_backward(dres, g.qa_w, g.qa_b, dqa, seq, w.qa_w);
  }
  have_loss_ = false;  // logits buffers now hold gradients

  // Encoder, top layer first. dres holds d(layer output) on entry to each iteration.
  Tensor dtmp = prefix(dtmp_, B), dctx = prefix(dctx_, B), dqkv = prefix(dqkv_, B), datt = prefix(datt_, B);
  Tensor dfc = prefix(dfc_, B), dfca = prefix(dfc_act_, B);
  Tensor emb_out = drop ? prefix(emb_drop_, B) : prefix(emb_ln_, B);
  for (int l = static_cast<int>(config_.num_hidden_layers) - 1; l >= 0; --l) {
    const BertLayerParams& lw = w.layers[static_cast<size_t>(l)];
    BertLayerParams& lg = g.layers[static_cast<size_t>(l)];
    BertLayerActs& a = acts_[static_cast<size_t>(l)];
    Tensor x = l == 0 ? emb_out : prefix(acts_[static_cast<size_t>(l - 1)].h2, B);
    // h2 = LN(dropout(out_dense) + h1): dtmp = d res2, which is both d h1 (residual) and d dropout output.
    zero(dtmp);
    ops::layernorm_backward(dtmp, lg.out_ln_w, lg.out_ln_b, dres, prefix(a.res2, B), lw.out_ln_w, prefix(a.mean2, B),
                            prefix(a.rstd2, B));
    Tensor dod = ddropout(dtmp, stream_out(l));
    // These backward GEMMs and the GELU overwrite their input gradients (no zeroing pass first).
    ops::matmul_backward(dfca, lg.out_w, lg.out_b, dod, prefix(a.fc_act, B), lw.out_w, /*overwrite_dinp=*/true);
    ops::gelu_backward(dfc, dfca, prefix(a.fc, B), config_.activation, /*overwrite=*/true);
    // dtmp += intermediate path: now the whole d h1 (dod, if it aliased dtmp, has been consumed above).
    ops::matmul_backward(dtmp, lg.inter_w, lg.inter_b, dfc, prefix(a.h1, B), lw.inter_w);
    // h1 = LN(dropout(attn_dense) + x): dres = d res1 = d x (residual) and d dropout output.
    zero(dres);
    ops::layernorm_backward(dres, lg.attn_ln_w, lg.attn_ln_b, dtmp, prefix(a.res1, B), lw.attn_ln_w,
                            prefix(a.mean1, B), prefix(a.rstd1, B));
    Tensor dad = ddropout(dres, stream_attn(l));
    ops::matmul_backward(dctx, lg.attn_out_w, lg.attn_out_b, dad, prefix(a.ctx, B), lw.attn_out_w, true);
    zero(dqkv);
    ops::attention_backward(dqkv, datt, dctx, prefix(a.qkv, B), prefix(a.att, B), attn_spec(l));
    ops::matmul_backward(dres, lg.qkv_w, lg.qkv_b, dqkv, x, lw.qkv_w);
  }
  // Embeddings: dres = d(dropout(LN(sum))).
  Tensor dln = ddropout(dres, stream_emb());
  zero(dtmp);
  ops::layernorm_backward(dtmp, g.emb_ln_w, g.emb_ln_b, dln, prefix(emb_sum_, B), w.emb_ln_w, prefix(emb_mean_, B),
                          prefix(emb_rstd_, B));
  ops::encoder_backward(g.word_emb, g.pos_emb, dtmp, batch_.input_ids);
  ops::embedding_add_backward(g.type_emb, dtmp, batch_.token_type_ids);
}

}  // namespace lm::models
