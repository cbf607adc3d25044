// Pretraining objectives on a prepared directory: causal LM (next-token prediction over windows of the token
// shards) and masked LM (+ next-sentence prediction) on sentence-pair examples built from a sentences-layout
// directory, masked dynamically per (epoch, example).
#include <algorithm>
#include <cmath>

#include "lm/core/buffer.h"
#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/core/log.h"
#include "lm/data/bert_data.h"
#include "lm/data/gpt_loader.h"
#include "lm/tokenize/tokenizer.h"
#include "lm/train/objective.h"

namespace lm::train {

namespace {

GptLoaderConfig loader_config(const TrainConfig& cfg, bool shuffle, const Communicator& comm) {
  GptLoaderConfig lc;
  lc.batch_size = cfg.batch_size;
  lc.seq_len = cfg.seq_len;
  lc.shuffle = shuffle;
  lc.seed = cfg.seed;
  // Sharded: rank r's batch i is its slice of global batch i, so N ranks x B see exactly the batches one
  // process with batch N*B does.
  lc.rank = comm.rank();
  lc.world_size = comm.world_size();
  return lc;
}

// Next-token prediction over windows of the token shards.
class CausalLmObjective : public Objective {
 public:
  CausalLmObjective(const TrainConfig& cfg, Communicator& comm) : cfg_(cfg), comm_(comm) {
    loader_ = std::make_unique<GptLoader>(list_shards(cfg.data, "train"), loader_config(cfg, cfg.shuffle, comm));
    for (int64_t k = 0; k < cfg.grad_accum; ++k) {
      xs_.emplace_back(Shape{cfg.batch_size, cfg.seq_len}, DType::I32);
      ys_.emplace_back(Shape{cfg.batch_size, cfg.seq_len}, DType::I32);
    }
  }
  std::string name() const override { return "causal_lm"; }
  std::string data_summary() const override { return fmt::format("{} train tokens", loader_->total_tokens()); }
  int64_t seq_len() const override { return cfg_.seq_len; }
  double fetch(int64_t k) override {
    loader_->next(xs_[k].t.ptr<int32_t>(), ys_[k].t.ptr<int32_t>());
    const int32_t* y = ys_[k].t.ptr<int32_t>();
    double n = 0;
    for (int64_t i = 0; i < ys_[k].numel(); ++i) n += y[i] != -100;
    return n;
  }
  models::Batch batch(int64_t k) const override {
    models::Batch b;
    b.input_ids = xs_[k].t;
    b.labels = ys_[k].t;
    return b;
  }
  int64_t tokens(int64_t k) const override { return xs_[k].numel(); }
  Json loader_state() const override { return loader_->state(); }
  void restore_loader(const Json& s) override { loader_->restore(s); }
  Json evaluate(models::Model& model) override {
    std::unique_ptr<GptLoader> val;
    try {
      val = std::make_unique<GptLoader>(list_shards(cfg_.data, "val"), loader_config(cfg_, false, comm_));
    } catch (const Error& e) {
      log_warn("no validation: {}", e.what());
      return nullptr;
    }
    const int64_t n = std::min<int64_t>(cfg_.eval_batches, static_cast<int64_t>(val->batches_per_epoch()));
    if (n <= 0) return nullptr;
    OwnedTensor x(Shape{cfg_.batch_size, cfg_.seq_len}, DType::I32), y(Shape{cfg_.batch_size, cfg_.seq_len},
                                                                          DType::I32);
    double acc[2] = {0, 0};  // Σ loss * targets, Σ targets
    for (int64_t i = 0; i < n; ++i) {
      val->next(x.t.ptr<int32_t>(), y.t.ptr<int32_t>());
      models::Batch b;
      b.input_ids = x.t;
      b.labels = y.t;
      const float l = model.forward(b);
      acc[0] += static_cast<double>(l) * static_cast<double>(model.last_num_targets());
      acc[1] += static_cast<double>(model.last_num_targets());
    }
    comm_.all_reduce_sum(acc, 2);
    if (acc[1] <= 0) return nullptr;
    const double vl = acc[0] / acc[1];
    return Json{{"val_loss", vl}, {"val_perplexity", std::exp(vl)}};
  }

 private:
  const TrainConfig& cfg_;
  Communicator& comm_;
  std::unique_ptr<GptLoader> loader_;
  std::vector<OwnedTensor> xs_, ys_;
};

// One micro-batch of the masked-LM loader: its host arrays and the tensors the model reads.
struct MlmSlot {
  BertBatch host;
  OwnedTensor ids, types, mask, labels, nsl;
  MlmSlot(int64_t B, int64_t T)
      : ids(Shape{B, T}, DType::I32), types(Shape{B, T}, DType::I32), mask(Shape{B, T}, DType::I32),
        labels(Shape{B, T}, DType::I32), nsl(Shape{B}, DType::I32) {}
  void fill() {
    std::copy(host.input_ids.begin(), host.input_ids.end(), ids.t.ptr<int32_t>());
    std::copy(host.token_type_ids.begin(), host.token_type_ids.end(), types.t.ptr<int32_t>());
    std::copy(host.attention_mask.begin(), host.attention_mask.end(), mask.t.ptr<int32_t>());
    std::copy(host.labels.begin(), host.labels.end(), labels.t.ptr<int32_t>());
    std::copy(host.next_sentence_label.begin(), host.next_sentence_label.end(), nsl.t.ptr<int32_t>());
  }
  models::Batch batch(bool with_nsp) const {
    models::Batch b;
    b.input_ids = ids.t;
    b.token_type_ids = types.t;
    b.attention_mask = mask.t;
    b.labels = labels.t;
    if (with_nsp) b.next_sentence_label = nsl.t;
    return b;
  }
};

// Masked LM (+ next-sentence prediction for PreTraining heads).
class MaskedLmObjective : public Objective {
 public:
  MaskedLmObjective(const TrainConfig& cfg, const Json& data_meta, const std::string& tokenizer_dir,
                    models::Model& model, Communicator& comm);
  std::string name() const override { return "masked_lm"; }
  std::string data_summary() const override {
    return fmt::format("{} train tokens in {} documents -> {} sentence-pair examples ({} batches/epoch)",
                       train_tokens_, train_docs_, train_examples_, loader_->batches_per_epoch());
  }
  int64_t seq_len() const override { return cfg_.seq_len; }
  double fetch(int64_t k) override {
    loader_->next(slots_[k].host);
    slots_[k].fill();
    return 1.0;
  }
  models::Batch batch(int64_t k) const override { return slots_[k].batch(nsp_); }
  int64_t tokens(int64_t k) const override { return slots_[k].ids.numel(); }
  Json loader_state() const override {
    Json j = fingerprint();
    j.update(loader_->cursor().to_json());
    return j;
  }
  void restore_loader(const Json& s) override {
    Json mine = fingerprint();
    for (auto& [k, v] : mine.items())
      LM_CHECK(s.contains(k) && s[k] == v, "loader state mismatch on \"{}\": checkpoint has {}, this run has {}", k,
               s.contains(k) ? s[k].dump() : "nothing", v.dump());
    loader_->set_cursor(LoaderCursor::from_json(s));
  }
  Json evaluate(models::Model& model) override;

 private:
  bool open_validation(int64_t vocab_size);
  Json fingerprint() const {
    return Json{{"seed", cfg_.seed},       {"batch_size", cfg_.batch_size},      {"seq_len", cfg_.seq_len},
                {"shuffle", cfg_.shuffle}, {"rank", comm_.rank()},              {"world_size", comm_.world_size()},
                {"examples", train_examples_}, {"mlm_probability", cfg_.mlm_probability},
                {"whole_word_masking", cfg_.whole_word_masking}};
  }

  const TrainConfig& cfg_;
  Communicator& comm_;
  BertSpecialTokens sp_;
  MaskConfig mask_;
  std::vector<uint8_t> continuation_;
  bool nsp_ = true;
  std::unique_ptr<BertLoader> loader_, val_;
  std::vector<MlmSlot> slots_;
  std::unique_ptr<MlmSlot> val_slot_;
  uint64_t train_tokens_ = 0, train_docs_ = 0, train_examples_ = 0;
};

MaskedLmObjective::MaskedLmObjective(const TrainConfig& cfg, const Json& data_meta, const std::string& tokenizer_dir,
                                     models::Model& model, Communicator& comm)
    : cfg_(cfg), comm_(comm) {
  LM_CHECK(data_meta.value("layout", std::string("tokens")) == "sentences",
           "masked-LM pretraining needs data prepared with sentence boundaries: run lmcpp prepare with a WordPiece "
           "tokenizer (or --layout sentences); {} has layout \"{}\"",
           cfg.data, data_meta.value("layout", std::string("tokens")));
  LM_CHECK_AS(ErrorCode::NotFound, !tokenizer_dir.empty(),
              "{}: no tokenizer directory; masked-LM pretraining needs its [CLS] [SEP] [MASK] [PAD] ids", cfg.data);
  auto tok = load_tokenizer(tokenizer_dir);
  sp_ = bert_special_tokens(*tok);
  sp_.vocab_size = std::min<int64_t>(sp_.vocab_size, model.vocab_size());
  nsp_ = model.head() == models::Head::PreTraining;
  model.set_sparse_prediction(cfg.mlm_probability);  // the prediction head only at masked positions
  mask_.mlm_probability = cfg.mlm_probability;
  mask_.whole_word = cfg.whole_word_masking;
  if (mask_.whole_word) continuation_ = wordpiece_continuations(*tok);
  auto docs = read_sentence_documents(list_shards(cfg.data, "train"), sp_.sep, model.vocab_size());
  for (const auto& d : docs)
    for (const auto& s : d) train_tokens_ += s.size();
  NspConfig nc;
  nc.max_seq_len = cfg.seq_len;
  nc.seed = cfg.seed;
  auto examples = create_nsp_examples(docs, nc);
  train_docs_ = docs.size();
  train_examples_ = examples.size();
  loader_ = std::make_unique<BertLoader>(std::move(examples), sp_, mask_, loader_config(cfg, cfg.shuffle, comm),
                                         continuation_);
  for (int64_t k = 0; k < cfg.grad_accum; ++k) slots_.emplace_back(cfg.batch_size, cfg.seq_len);
}

bool MaskedLmObjective::open_validation(int64_t vocab_size) {
  if (val_) return true;
  std::vector<TokenizedDocument> docs;
  try {
    docs = read_sentence_documents(list_shards(cfg_.data, "val"), sp_.sep, vocab_size);
  } catch (const Error& e) {
    log_warn("no validation: {}", e.what());
    return false;
  }
  NspConfig nc;
  nc.max_seq_len = cfg_.seq_len;
  nc.seed = cfg_.seed + 1;
  auto examples = create_nsp_examples(docs, nc);
  try {
    // Masks of epoch 0 of a fixed seed: every evaluation scores the same masked positions.
    val_ = std::make_unique<BertLoader>(std::move(examples), sp_, mask_, loader_config(cfg_, false, comm_),
                                        continuation_);
  } catch (const Error& e) {
    log_warn("no validation: {}", e.what());
    return false;
  }
  val_slot_ = std::make_unique<MlmSlot>(cfg_.batch_size, cfg_.seq_len);
  return true;
}

Json MaskedLmObjective::evaluate(models::Model& model) {
  if (!open_validation(model.vocab_size())) return nullptr;
  val_->set_cursor(LoaderCursor{});
  const int64_t n = std::min<int64_t>(cfg_.eval_batches, static_cast<int64_t>(val_->batches_per_epoch()));
  if (n <= 0) return nullptr;
  const int64_t B = cfg_.batch_size, V = model.vocab_size();
  // Σ mlm loss*targets, Σ targets, Σ correct, Σ nsp loss*rows, Σ rows, Σ correct
  double acc[6] = {0, 0, 0, 0, 0, 0};
  std::vector<float> pred, rel;  // the outputs, read to the host
  for (int64_t i = 0; i < n; ++i) {
    val_->next(val_slot_->host);
    val_slot_->fill();
    model.forward(val_slot_->batch(nsp_));
    pred.clear();
    rel.clear();
    for (const auto& [name, t] : model.outputs()) {
      std::vector<float>* dst = name == "masked_prediction_logits" ? &pred
                                : name == "seq_relationship_logits" ? &rel
                                                                    : nullptr;
      if (!dst) continue;
      dst->resize(static_cast<size_t>(t.numel()));
      copy_bytes(dst->data(), Device::CPU, t.data, t.device, t.nbytes());
    }
    // The masked positions, ascending: the rows of masked_prediction_logits.
    const auto& lab = val_slot_->host.labels;
    std::vector<int32_t> gold;
    for (int32_t l : lab)
      if (l != -100) gold.push_back(l);
    LM_CHECK_AS(ErrorCode::Internal, !pred.empty() || gold.empty(), "the masked-LM forward gave no prediction logits");
    double correct = 0;
    for (size_t r = 0; r < gold.size(); ++r) {
      const float* row = pred.data() + static_cast<int64_t>(r) * V;
      correct += std::max_element(row, row + V) - row == gold[r];
    }
    const Json parts = model.loss_parts();
    acc[0] += parts.at("mlm_loss").get<double>() * static_cast<double>(gold.size());
    acc[1] += static_cast<double>(gold.size());
    acc[2] += correct;
    if (nsp_ && !rel.empty()) {
      for (int64_t b = 0; b < B; ++b)
        acc[5] += (rel[2 * b + 1] > rel[2 * b] ? 1 : 0) == val_slot_->host.next_sentence_label[static_cast<size_t>(b)];
      acc[3] += parts.at("nsp_loss").get<double>() * static_cast<double>(B);
      acc[4] += static_cast<double>(B);
    }
  }
  comm_.all_reduce_sum(acc, 6);
  if (acc[1] <= 0) return nullptr;
  const double mlm = acc[0] / acc[1];
  Json j{{"val_mlm_loss", mlm}, {"val_mlm_perplexity", std::exp(mlm)}, {"val_mlm_accuracy", acc[2] / acc[1]}};
  double total = mlm;
  if (nsp_ && acc[4] > 0) {
    j["val_nsp_loss"] = acc[3] / acc[4];
    j["val_nsp_accuracy"] = acc[5] / acc[4];
    total += acc[3] / acc[4];
  }
  j["val_loss"] = total;  // HF BertForPreTraining's loss: MLM + NSP
  return j;
}

}  // namespace

std::unique_ptr<Objective> make_pretraining_objective(const TrainConfig& cfg, const Json& data_meta,
                                                      const std::string& tokenizer_dir, models::Model& model,
                                                      Communicator& comm) {
  const models::Head h = model.head();
  if (h == models::Head::CausalLM) return std::make_unique<CausalLmObjective>(cfg, comm);
  if (h == models::Head::PreTraining || h == models::Head::MaskedLM)
    return std::make_unique<MaskedLmObjective>(cfg, data_meta, tokenizer_dir, model, comm);
  LM_THROW(ErrorCode::Unsupported, "lmcpp train pretrains causal LMs (gpt2), and BertForPreTraining (MLM + NSP) or "
           "BertForMaskedLM models; this config is {}", model.architecture());
}

}  // namespace lm::train
