// The BERT parameter table (bert_param_table) and everything it drives: the flat arenas of parameters and
// gradients (and same-layout host copies of a device model), param_list() for the optimizer, HF init, load and
// save. Rows are HF tensors with HF names and shapes; q/k/v are row blocks of one fused (3C, C) storage tensor.
#include <fmt/ranges.h>

#include <cstring>
#include <map>
#include <set>

#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/log.h"
#include "lm/core/rng.h"
#include "lm/io/safetensors.h"
#include "lm/models/bert/heads.h"

namespace lm::models {

namespace {

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
bool starts_with(const std::string& s, const std::string& pre) { return s.rfind(pre, 0) == 0; }

// One row of the parameter table: one HF tensor.
struct ParamRow {
  std::string name;  // HF name with the "bert." prefix (a BertModel checkpoint is saved without it)
  Shape shape;       // HF shape
  bool decay;        // AdamW weight decay: the weight matrices except the embeddings
  int64_t block;     // row block of its storage tensor (q/k/v: 0/1/2 of the fused one); -1: the whole tensor
  std::string gguf;  // llama.cpp's GGUF name ("bert" architecture); empty: llama.cpp has no such tensor
};

// THE parameter table. t.row(row, storage) visits every HF tensor in HF state_dict order, which is the order of
// param_list() and gives each tensor its init stream; t.store(storage, shape) lays the storage tensors out in
// arena order, the flat layout that gradient norms, the optimizer state and checkpoints see. A plain tensor is
// its own storage (param() does both); q/k/v share one fused storage pair, and the MLM head is stored in compute
// order (transform, then the decoder bias) while HF's state_dict lists its bias first.
template <typename P, typename Table>
void bert_param_table(const BertConfig& c, P& p, Table& t) {
  const int64_t C = c.hidden_size, I = c.intermediate_size, V = c.vocab_size, L = c.num_hidden_layers;
  auto param = [&](std::string name, Shape s, bool decay, auto& x, std::string gguf) {
    t.store(x, s);
    t.row({std::move(name), s, decay, -1, std::move(gguf)}, x);
  };
  param("bert.embeddings.word_embeddings.weight", Shape{V, C}, false, p.word_emb, "token_embd.weight");
  param("bert.embeddings.position_embeddings.weight", Shape{c.max_position_embeddings, C}, false, p.pos_emb,
        "position_embd.weight");
  param("bert.embeddings.token_type_embeddings.weight", Shape{c.type_vocab_size, C}, false, p.type_emb,
        "token_types.weight");
  param("bert.embeddings.LayerNorm.weight", Shape{C}, false, p.emb_ln_w, "token_embd_norm.weight");
  param("bert.embeddings.LayerNorm.bias", Shape{C}, false, p.emb_ln_b, "token_embd_norm.bias");
  for (int64_t l = 0; l < L; ++l) {
    auto& w = p.layers[static_cast<size_t>(l)];
    const std::string n = "bert.encoder.layer." + std::to_string(l) + ".";
    const std::string g = "blk." + std::to_string(l) + ".";
    t.store(w.qkv_w, Shape{3 * C, C});
    t.store(w.qkv_b, Shape{3 * C});
    const char* qkv[3] = {"query", "key", "value"};
    const char* gqkv[3] = {"attn_q", "attn_k", "attn_v"};
    for (int64_t k = 0; k < 3; ++k) {
      t.row({n + "attention.self." + qkv[k] + ".weight", Shape{C, C}, true, k, g + gqkv[k] + ".weight"}, w.qkv_w);
      t.row({n + "attention.self." + qkv[k] + ".bias", Shape{C}, false, k, g + gqkv[k] + ".bias"}, w.qkv_b);
    }
    param(n + "attention.output.dense.weight", Shape{C, C}, true, w.attn_out_w, g + "attn_output.weight");
    param(n + "attention.output.dense.bias", Shape{C}, false, w.attn_out_b, g + "attn_output.bias");
    param(n + "attention.output.LayerNorm.weight", Shape{C}, false, w.attn_ln_w, g + "attn_output_norm.weight");
    param(n + "attention.output.LayerNorm.bias", Shape{C}, false, w.attn_ln_b, g + "attn_output_norm.bias");
    param(n + "intermediate.dense.weight", Shape{I, C}, true, w.inter_w, g + "ffn_up.weight");
    param(n + "intermediate.dense.bias", Shape{I}, false, w.inter_b, g + "ffn_up.bias");
    param(n + "output.dense.weight", Shape{C, I}, true, w.out_w, g + "ffn_down.weight");
    param(n + "output.dense.bias", Shape{C}, false, w.out_b, g + "ffn_down.bias");
    param(n + "output.LayerNorm.weight", Shape{C}, false, w.out_ln_w, g + "layer_output_norm.weight");
    param(n + "output.LayerNorm.bias", Shape{C}, false, w.out_ln_b, g + "layer_output_norm.bias");
  }
  // llama.cpp's "cls" / "cls.output" are the pooler and the classifier of its rank pooling (convert_hf_to_gguf
  // maps bert.pooler.dense and classifier there); the pretraining and QA heads have no GGUF tensors.
  if (c.has_pooler()) {
    param("bert.pooler.dense.weight", Shape{C, C}, true, p.pooler_w, "cls.weight");
    param("bert.pooler.dense.bias", Shape{C}, false, p.pooler_b, "cls.bias");
  }
  if (c.has_mlm()) {
    t.store(p.mlm_w, Shape{C, C});
    t.store(p.mlm_b, Shape{C});
    t.store(p.mlm_ln_w, Shape{C});
    t.store(p.mlm_ln_b, Shape{C});
    t.store(p.mlm_bias, Shape{V});
    t.row({"cls.predictions.bias", Shape{V}, false, -1}, p.mlm_bias);
    t.row({"cls.predictions.transform.dense.weight", Shape{C, C}, true, -1}, p.mlm_w);
    t.row({"cls.predictions.transform.dense.bias", Shape{C}, false, -1}, p.mlm_b);
    t.row({"cls.predictions.transform.LayerNorm.weight", Shape{C}, false, -1}, p.mlm_ln_w);
    t.row({"cls.predictions.transform.LayerNorm.bias", Shape{C}, false, -1}, p.mlm_ln_b);
  }
  if (c.head == BertHead::PreTraining) {
    param("cls.seq_relationship.weight", Shape{2, C}, true, p.nsp_w, "");
    param("cls.seq_relationship.bias", Shape{2}, false, p.nsp_b, "");
  }
  if (c.head == BertHead::SequenceClassification) {
    param("classifier.weight", Shape{c.num_labels, C}, true, p.cls_w, "cls.output.weight");
    param("classifier.bias", Shape{c.num_labels}, false, p.cls_b, "cls.output.bias");
  }
  if (c.head == BertHead::QuestionAnswering) {
    param("qa_outputs.weight", Shape{2, C}, true, p.qa_w, "");
    param("qa_outputs.bias", Shape{2}, false, p.qa_b, "");
  }
}

// f(row, view) for every row, in table order; view is the row's tensor inside p.
template <typename F>
void for_each_param(const BertConfig& c, const BertParams& p, F&& f) {
  struct Rows {
    F& f;
    void store(const Tensor&, const Shape&) {}
    void row(const ParamRow& r, const Tensor& x) {
      // Undefined x (a frozen model's gradients): undefined blocks too.
      f(r, r.block < 0 || !x.defined() ? x : x.slice0(r.block * r.shape[0], (r.block + 1) * r.shape[0]));
    }
  } rows{f};
  bert_param_table(c, p, rows);
}

// Sizes an arena for the table's storage and binds p's views into it.
Arena bind_params(BertParams& p, const BertConfig& c, const char* name, Device device) {
  struct Binder {
    ArenaPlan plan;
    void store(Tensor& x, const Shape& s) { plan(&x, s); }
    void row(const ParamRow&, const Tensor&) {}
  } binder{ArenaPlan(name, device)};
  p = BertParams{};
  p.layers.assign(static_cast<size_t>(c.num_hidden_layers), BertLayerParams{});
  bert_param_table(c, p, binder);
  return binder.plan.allocate();
}

// HF init of row `index` (its stream: one per tensor, independent of order and thread count).
void init_param(const BertConfig& c, const ParamRow& r, size_t index, uint64_t seed, Tensor t) {
  float* x = t.f32();
  if (ends_with(r.name, "LayerNorm.weight")) {
    for (int64_t k = 0; k < t.numel(); ++k) x[k] = 1.0f;
  } else if (ends_with(r.name, ".bias")) {
    nn::zero(t);
  } else {
    Rng rng(seed, 1000 + index);
    for (int64_t k = 0; k < t.numel(); ++k) x[k] = c.initializer_range * rng.normal(static_cast<uint64_t>(k));
    // nn.Embedding(padding_idx=pad_token_id): HF zeroes that row at init.
    if (r.name == "bert.embeddings.word_embeddings.weight" && c.pad_token_id >= 0 && c.pad_token_id < c.vocab_size)
      std::memset(x + c.pad_token_id * c.hidden_size, 0, sizeof(float) * c.hidden_size);
  }
}

// A checkpoint's tensors by canonical name ("bert."-prefixed, LayerNorm weight/bias, cls.predictions.bias for
// decoder.bias) -> name in the file. The tied decoder weight's file name goes to *decoder_weight.
std::map<std::string, std::string> canonical_names(const SafetensorsFile& f, std::string* decoder_weight) {
  std::map<std::string, std::string> by_canon;
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
      *decoder_weight = e.name;
      continue;
    }
    if (n == "cls.predictions.decoder.bias") {
      // The same Parameter as cls.predictions.bias; either name may be present.
      if (f.contains("cls.predictions.bias")) continue;
      n = "cls.predictions.bias";
    }
    by_canon[n] = e.name;
  }
  return by_canon;
}

}  // namespace

Bert::Bert(const BertConfig& config, Device device)
    : config_(config),
      device_(device),
      hf_config_(config.to_hf()),
      head_(make_bert_head(config)),
      params_arena_("params", device),
      grads_arena_("grads", device),
      acts_arena_("acts", device) {
  params_arena_ = bind_params(params_, config_, "params", device_);
  for_each_param(config_, params_, [&](const ParamRow& r, Tensor) { num_params_ += r.shape.numel(); });
}

Bert::~Bert() = default;

// Binds the trainable rows of p (whole tensors only) to tensor_of(row) and leaves the rest as they are.
template <typename Fn>
void bind_trainable(const BertConfig& c, BertParams& p, const std::map<std::string, TrainableTensor>& keep, Fn&& tensor_of) {
  struct Rebinder {
    const std::map<std::string, TrainableTensor>& keep;
    Fn& tensor_of;
    void store(Tensor&, const Shape&) {}
    void row(const ParamRow& r, Tensor& x) {
      auto it = keep.find(r.name);
      if (it == keep.end()) return;
      LM_CHECK(r.block < 0, "bert freeze: {} is a block of a fused tensor and cannot be trained alone", r.name);
      x = tensor_of(it->second, x);
    }
  } rb{keep, tensor_of};
  bert_param_table(c, p, rb);
}

std::vector<LinearSite> Bert::linear_sites() {
  std::vector<LinearSite> out;
  const int64_t C = config_.hidden_size, I = config_.intermediate_size;
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    BertLayerParams& w = params_.layers[static_cast<size_t>(l)];
    // Module paths as PEFT sees them: a bare BertModel has no "bert." attribute (its modules are
    // encoder.layer.N...), the task models hold it as .bert; weight names are param_list()'s.
    const std::string p = "bert.encoder.layer." + std::to_string(l) + ".";
    const std::string n = config_.head == BertHead::Base ? p.substr(5) : p;
    auto site = [&](const std::string& m, nn::LoraLayer** slot, int64_t row0, int64_t rows, int64_t in, Tensor wt) {
      out.push_back({n + m, p + m + ".weight", slot, row0, rows, in, false, wt});
    };
    const char* qkv[3] = {"query", "key", "value"};
    for (int64_t k = 0; k < 3; ++k)
      site(std::string("attention.self.") + qkv[k], &w.qkv_lora, k * C, C, C, w.qkv_w.slice0(k * C, (k + 1) * C));
    site("attention.output.dense", &w.attn_out_lora, 0, C, C, w.attn_out_w);
    site("intermediate.dense", &w.inter_lora, 0, I, C, w.inter_w);
    site("output.dense", &w.out_lora, 0, C, I, w.out_w);
  }
  return out;
}

void Bert::freeze(const std::vector<TrainableTensor>& trainable) {
  LM_CHECK_AS(ErrorCode::Unsupported, device_ == Device::CPU, "bert: adapters train on the CPU");
  std::map<std::string, TrainableTensor> keep;
  for (const auto& t : trainable) keep[t.name] = t;
  std::set<std::string> found;
  bind_trainable(config_, params_, keep, [&](const TrainableTensor& t, const Tensor& old) {
    LM_CHECK(t.param.shape == old.shape && t.grad.shape == old.shape, "bert freeze: {} is {}, the trainable copy is {}",
             t.name, old.shape.str(), t.param.shape.str());
    std::memcpy(t.param.data, old.data, old.nbytes());
    found.insert(t.name);
    return t.param;
  });
  for (const auto& [name, t] : keep) LM_CHECK(found.count(name), "bert freeze: no parameter named {}", name);
  frozen_ = true;
  trainable_ = std::move(keep);
  grads_ready_ = false;
  grads_arena_ = Arena("grads", device_);
  copies_stale_ = true;
}

BertParams& Bert::grads() {
  if (!grads_ready_ && frozen_) {  // undefined gradients except the trainable tensors'
    grads_ = BertParams{};
    grads_.layers.assign(static_cast<size_t>(config_.num_hidden_layers), BertLayerParams{});
    bind_trainable(config_, grads_, trainable_, [](const TrainableTensor& t, const Tensor&) { return t.grad; });
    grads_ready_ = true;
  }
  if (!grads_ready_) {
    grads_arena_ = bind_params(grads_, config_, "grads", device_);
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
  nn::zero(grads_arena_.flat_f32());
  for (auto& [name, t] : trainable_) nn::zero(t.grad);
}

std::vector<ParamRef> Bert::param_list() {
  grads();
  std::vector<ParamRef> out;
  for_each_param(config_, params_, [&](const ParamRow& r, Tensor t) {
    out.push_back({r.name, t, Tensor(), r.decay, Tensor(), r.gguf, r.gguf == "cls.weight" || r.gguf == "cls.bias"});
  });
  size_t i = 0;
  for_each_param(config_, grads_, [&](const ParamRow&, Tensor t) { out[i++].grad = t; });
  return out;
}

template <typename F>
void Bert::with_host_params(bool copy_in, bool copy_out, F&& fn) const {
  BertParams& mine = const_cast<BertParams&>(params_);
  if (device_ == Device::CPU) {
    fn(mine);
    return;
  }
  // The same table gives the same layout, so the whole arena copies as one block.
  BertParams hp;
  Arena host = bind_params(hp, config_, "params-host", Device::CPU);
  LM_ASSERT(host.bytes() == params_arena_.bytes());
  if (copy_in) copy_bytes(host.data(), Device::CPU, params_arena_.data(), device_, host.bytes());
  fn(hp);
  if (copy_out) copy_bytes(params_arena_.data(), device_, host.data(), Device::CPU, host.bytes());
}

void Bert::init_weights(uint64_t seed) {
  copies_stale_ = true;
  with_host_params(false, true, [&](BertParams& params) {
    size_t index = 0;
    for_each_param(config_, params, [&](const ParamRow& r, Tensor t) {
      nn::zero(t);
      init_param(config_, r, index++, seed, t);
    });
  });
}

void Bert::load_safetensors(const std::string& path) {
  copies_stale_ = true;
  with_host_params(false, true, [&](BertParams& params) { load_host(params, path); });
}

void Bert::load_host(BertParams& params, const std::string& path) const {
  SafetensorsFile f(path);
  std::string decoder_weight;
  const std::map<std::string, std::string> by_canon = canonical_names(f, &decoder_weight);
  LM_CHECK_AS(ErrorCode::BadFormat, by_canon.count("bert.embeddings.word_embeddings.weight"),
              "{}: no (bert.)embeddings.word_embeddings.weight; not a BERT checkpoint", path);
  std::set<std::string> used;
  std::vector<std::string> fresh, unexpected;
  size_t index = 0;
  for_each_param(config_, params, [&](const ParamRow& r, Tensor t) {
    const size_t i = index++;
    auto it = by_canon.find(r.name);
    if (it == by_canon.end()) {
      // The encoder must be complete; pooler and heads may come from another architecture's checkpoint.
      LM_CHECK_AS(ErrorCode::BadFormat, !starts_with(r.name, "bert.embeddings") && !starts_with(r.name, "bert.encoder"),
                  "{}: missing tensor {}", path, r.name);
      init_param(config_, r, i, 0, t);
      fresh.push_back(r.name);
      return;
    }
    f.read_f32(it->second, t.f32(), r.shape);
    used.insert(it->first);
  });
  if (!decoder_weight.empty()) {
    std::vector<float> tmp(static_cast<size_t>(params.word_emb.numel()));
    f.read_f32(decoder_weight, tmp.data(), params.word_emb.shape);
    LM_CHECK_AS(ErrorCode::Unsupported, std::memcmp(tmp.data(), params.word_emb.data, params.word_emb.nbytes()) == 0,
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
    for_each_param(config_, params, [&](const ParamRow& r, Tensor t) {
      out.push_back({bare && starts_with(r.name, "bert.") ? r.name.substr(5) : r.name, t});
    });
    write_safetensors(path_join(dir, "model.safetensors"), out, {{"format", "pt"}});
  });
  write_file_atomic(path_join(dir, "config.json"), hf_config_.dump(2) + "\n");
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

}  // namespace lm::models
