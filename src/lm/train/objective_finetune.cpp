// Fine-tuning objectives over task examples: sequence classification, extractive (span) QA and generative QA.
// Every epoch visits the training examples in a fresh permutation of (seed, epoch) (Fisher-Yates on a Philox
// stream); a global micro-batch is batch_size x ranks examples (the epoch's last one may be smaller), each rank
// taking its contiguous slice, so N ranks x B train like one process with batch N*B.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "lm/core/error.h"
#include "lm/core/log.h"
#include "lm/core/rng.h"
#include "lm/train/chat.h"
#include "lm/train/finetune.h"
#include "lm/train/objective.h"

namespace lm::train {

namespace {

// Deterministic permutation of 0..n-1 for an epoch (Fisher-Yates on a Philox stream).
std::vector<size_t> epoch_order(size_t n, uint64_t seed, int64_t epoch) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  Rng rng(seed, 0x5eed0000u + static_cast<uint64_t>(epoch));
  for (size_t i = n; i > 1; --i) {
    const size_t j = static_cast<size_t>(rng.next_u32() % static_cast<uint32_t>(i));
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

// This rank's examples of each global micro-batch, epoch after epoch. The state has the keys of the pretraining
// loaders' cursors (step = global micro-batches of the epoch consumed), so the Trainer can re-split it.
class EpochBatcher {
 public:
  EpochBatcher(size_t n, const TuneSchedule& s, const Communicator& comm)
      : n_(n), batch_(s.batch_size), seed_(s.seed), rank_(comm.rank()), world_(comm.world_size()) {
    LM_CHECK(n > 0, "the training set is empty");
    order_ = epoch_order(n_, seed_, epoch_);
  }
  int64_t batches_per_epoch() const {
    const size_t g = static_cast<size_t>(batch_ * world_);
    return static_cast<int64_t>((n_ + g - 1) / g);
  }
  std::vector<size_t> next() {
    if (static_cast<int64_t>(step_) >= batches_per_epoch()) {
      order_ = epoch_order(n_, seed_, ++epoch_);
      step_ = 0;
    }
    const size_t g0 = step_ * static_cast<size_t>(batch_ * world_);
    const size_t b0 = std::min(n_, g0 + static_cast<size_t>(rank_ * batch_));
    const size_t b1 = std::min(n_, std::min(g0 + static_cast<size_t>(batch_ * world_), b0 + static_cast<size_t>(batch_)));
    ++step_;
    return std::vector<size_t>(order_.begin() + static_cast<std::ptrdiff_t>(b0),
                               order_.begin() + static_cast<std::ptrdiff_t>(b1));
  }
  Json state() const {
    return Json{{"epoch", epoch_}, {"step", step_},       {"batch_size", batch_}, {"world_size", world_},
                {"rank", rank_},   {"examples", n_},      {"seed", seed_}};
  }
  void restore(const Json& s) {
    for (const char* k : {"examples", "seed", "batch_size", "world_size"})
      LM_CHECK(s.contains(k) && s[k] == state()[k], "loader state mismatch on \"{}\": checkpoint has {}, this run has {}",
               k, s.contains(k) ? s[k].dump() : "nothing", state()[k].dump());
    epoch_ = s.at("epoch").get<int64_t>();
    step_ = s.at("step").get<size_t>();
    order_ = epoch_order(n_, seed_, epoch_);
  }

 private:
  size_t n_;
  int64_t batch_;
  uint64_t seed_;
  int rank_, world_;
  int64_t epoch_ = 1;
  size_t step_ = 0;
  std::vector<size_t> order_;
};

// What the three objectives share: the batcher, grad_accum slots of padded batch tensors, the cursor.
class TaskObjective : public Objective {
 public:
  TaskObjective(size_t n, const TuneSchedule& s, Communicator& comm)
      : s_(s), comm_(comm), batcher_(n, s, comm), slots_(static_cast<size_t>(s.grad_accum)) {}
  int64_t steps_per_epoch() const override {
    return (batcher_.batches_per_epoch() + s_.grad_accum - 1) / s_.grad_accum;
  }
  models::Batch batch(int64_t k) const override { return slots_[static_cast<size_t>(k)].batch; }
  int64_t tokens(int64_t k) const override {
    const Tensor& ids = slots_[static_cast<size_t>(k)].batch.input_ids;
    return ids.defined() ? ids.numel() : 0;
  }
  Json loader_state() const override { return batcher_.state(); }
  // The progress line of an evaluation pass: rank 0's, when the run shows progress.
  ProgressSpec eval_progress(std::string label, std::string unit) const {
    if (!s_.progress || comm_.rank() != 0) return {};
    return {std::move(label), std::move(unit)};
  }
  void restore_loader(const Json& state) override { batcher_.restore(state); }
  bool higher_is_better() const override { return true; }

  // Causal-LM micro-batch k: (ids, next-token targets) of the next examples in the slot's two spare tensors,
  // padded with pad; its weight is the number of scored targets.
  double fetch_targets(int64_t k, const std::vector<QaIds>& examples, int32_t pad) {
    Slot& s = slots_[static_cast<size_t>(k)];
    const std::vector<size_t> idx = batcher_.next();
    s.batch = models::Batch{};
    if (idx.empty()) return 0;
    make_qa_batch(examples, idx, pad, s.start, s.end);
    s.batch.input_ids = s.start.t;
    s.batch.labels = s.end.t;
    double n = 0;
    for (int64_t i = 0; i < s.end.numel(); ++i) n += s.end.t.ptr<int32_t>()[i] != -100;
    return n;
  }

 protected:
  struct Slot {
    BertTensors tensors;
    OwnedTensor start, end;
    models::Batch batch;
  };
  TuneSchedule s_;
  Communicator& comm_;
  EpochBatcher batcher_;
  std::vector<Slot> slots_;
};

class ClassifyObjective : public TaskObjective {
 public:
  ClassifyObjective(const ClassifyFeatures& train, const ClassifyFeatures& val, const ClassifyOptions& opt,
                    const models::Model& model, Communicator& comm)
      : TaskObjective(train.size(), opt, comm), train_(train), val_(val), opt_(opt),
        pad_(static_cast<int32_t>(model.hf_config().value("pad_token_id", int64_t{0}))),
        type_vocab_(model.hf_config().value("type_vocab_size", int64_t{2})) {}
  std::string name() const override { return "classify"; }
  std::string data_summary() const override {
    return fmt::format("{} train / {} val examples", train_.size(), val_.size());
  }
  int64_t seq_len() const override { return opt_.max_length; }
  double fetch(int64_t k) override {
    Slot& s = slots_[static_cast<size_t>(k)];
    const std::vector<size_t> idx = batcher_.next();
    s.batch = models::Batch{};
    if (idx.empty()) return 0;
    s.tensors = make_classify_batch(train_, idx, pad_, type_vocab_);
    s.batch = s.tensors.batch();
    return static_cast<double>(idx.size());
  }
  Json evaluate(models::Model& model) override {
    const ClassifyEval ev =
        evaluate_classifier(model, val_, opt_.eval_batch_size, eval_progress("val", "examples"));
    Json cm = Json::array();
    for (const auto& row : ev.confusion) cm.push_back(row);
    return Json{{"val_loss", ev.loss}, {"val_accuracy", ev.accuracy}, {"val_f1", ev.macro_f1},
                {"val_confusion_matrix", cm}};
  }
  std::string best_metric() const override { return "val_accuracy"; }

 private:
  const ClassifyFeatures& train_;
  const ClassifyFeatures& val_;
  ClassifyOptions opt_;
  int32_t pad_;
  int64_t type_vocab_;
};

class SpanQaObjective : public TaskObjective {
 public:
  SpanQaObjective(std::vector<SpanFeature> train, const std::vector<QaExample>& val_examples,
                  std::vector<SpanFeature> val, const SpanOptions& opt, const models::Model& model, Communicator& comm)
      : TaskObjective(train.size(), opt, comm), train_(std::move(train)), val_examples_(val_examples),
        val_(std::move(val)), opt_(opt),
        pad_(static_cast<int32_t>(model.hf_config().value("pad_token_id", int64_t{0}))) {}
  std::string name() const override { return "span_qa"; }
  std::string data_summary() const override {
    return fmt::format("{} train windows, {} val questions in {} windows", train_.size(), val_examples_.size(),
                       val_.size());
  }
  int64_t seq_len() const override { return opt_.max_length; }
  double fetch(int64_t k) override {
    Slot& s = slots_[static_cast<size_t>(k)];
    const std::vector<size_t> idx = batcher_.next();
    s.batch = models::Batch{};
    if (idx.empty()) return 0;
    s.tensors = span_batch(train_, idx, pad_, s.start, s.end);
    s.batch = s.tensors.batch();
    s.batch.labels = Tensor();
    s.batch.start_positions = s.start.t;
    s.batch.end_positions = s.end.t;
    return static_cast<double>(idx.size());
  }
  Json evaluate(models::Model& model) override {
    const QaEval ev =
        evaluate_extractive_qa(model, val_examples_, val_, opt_, eval_progress("val", "windows"));
    return Json{{"val_exact_match", ev.exact_match}, {"val_f1", ev.f1}, {"val_count", ev.count}};
  }
  std::string best_metric() const override { return "val_f1"; }

 private:
  std::vector<SpanFeature> train_;
  const std::vector<QaExample>& val_examples_;
  std::vector<SpanFeature> val_;
  SpanOptions opt_;
  int32_t pad_;
};

class GenerativeQaObjective : public TaskObjective {
 public:
  GenerativeQaObjective(std::vector<QaIds> train, std::vector<QaIds> val, std::vector<QaExample> val_eval,
                        const Tokenizer& tok, int32_t eos, const QaOptions& opt, const models::Model& model,
                        Communicator& comm)
      : TaskObjective(train.size(), opt, comm), train_(std::move(train)), val_(std::move(val)),
        val_eval_(std::move(val_eval)), tok_(tok), eos_(eos), opt_(opt), T_(model.max_positions()) {}
  std::string name() const override { return "generative_qa"; }
  std::string data_summary() const override {
    return fmt::format("{} train / {} val questions ({} generated at each evaluation)", train_.size(), val_.size(),
                       val_eval_.size());
  }
  int64_t seq_len() const override { return T_; }
  double fetch(int64_t k) override { return fetch_targets(k, train_, eos_); }
  Json evaluate(models::Model& model) override {
    const double vloss = qa_answer_loss(model, val_, opt_.batch_size, eval_progress("val loss", "questions"));
    const QaEval ev = evaluate_generative_qa(*model.causal_lm(), tok_, val_eval_, eos_, opt_.max_new_tokens,
                                             eval_progress("val answers", "questions"));
    return Json{{"val_loss", vloss}, {"val_exact_match", ev.exact_match}, {"val_f1", ev.f1}, {"val_count", ev.count}};
  }
  std::string best_metric() const override { return "val_f1"; }

 private:
  std::vector<QaIds> train_, val_;
  std::vector<QaExample> val_eval_;
  const Tokenizer& tok_;
  int32_t eos_;
  QaOptions opt_;
  int64_t T_;
};

// Dialogue: next-token loss on the assistant turns of rendered conversations (train/chat.h), validated by the
// assistant-token loss and perplexity of the validation dialogues.
class ChatObjective : public TaskObjective {
 public:
  ChatObjective(std::vector<QaIds> train, std::vector<QaIds> val, const ChatOptions& opt, Communicator& comm)
      : TaskObjective(train.size(), opt, comm), train_(std::move(train)), val_(std::move(val)), opt_(opt) {
    for (const QaIds& q : train_) T_ = std::max<int64_t>(T_, static_cast<int64_t>(q.ids.size()));
  }
  std::string name() const override { return "chat"; }
  std::string data_summary() const override {
    return fmt::format("{} train / {} val dialogue pieces", train_.size(), val_.size());
  }
  int64_t seq_len() const override { return T_; }
  double fetch(int64_t k) override { return fetch_targets(k, train_, 0); }
  Json evaluate(models::Model& model) override {
    const double vloss = qa_answer_loss(model, val_, opt_.batch_size, eval_progress("val loss", "pieces"));
    return Json{{"val_loss", vloss}, {"val_perplexity", std::exp(vloss)}};
  }
  std::string best_metric() const override { return "val_loss"; }
  bool higher_is_better() const override { return false; }

 private:
  std::vector<QaIds> train_, val_;
  ChatOptions opt_;
  int64_t T_ = 1;
};

}  // namespace

std::unique_ptr<Objective> make_chat_objective(std::vector<QaIds> train, std::vector<QaIds> val,
                                               const ChatOptions& opt, Communicator& comm) {
  return std::make_unique<ChatObjective>(std::move(train), std::move(val), opt, comm);
}

std::unique_ptr<Objective> make_classify_objective(const ClassifyFeatures& train, const ClassifyFeatures& val,
                                                   const ClassifyOptions& opt, const models::Model& model,
                                                   Communicator& comm) {
  return std::make_unique<ClassifyObjective>(train, val, opt, model, comm);
}

std::unique_ptr<Objective> make_span_qa_objective(const Tokenizer& tok, const std::vector<QaExample>& train,
                                                  const std::vector<QaExample>& val, const SpanOptions& opt,
                                                  const models::Model& model, Communicator& comm) {
  std::vector<SpanFeature> tr = build_span_features(tok, train, opt, true);
  LM_CHECK(!tr.empty(), "the training set has no answerable questions");
  return std::make_unique<SpanQaObjective>(std::move(tr), val, build_span_features(tok, val, opt, false), opt, model,
                                           comm);
}

std::unique_ptr<Objective> make_generative_qa_objective(const Tokenizer& tok, const std::vector<QaExample>& train,
                                                        const std::vector<QaExample>& val, int32_t eos,
                                                        const QaOptions& opt, const models::Model& model,
                                                        Communicator& comm) {
  std::vector<QaIds> tr, va;
  std::vector<QaExample> val_eval;
  int64_t truncated = 0;
  for (const auto& ex : train) {
    if (ex.answers.empty()) continue;
    tr.push_back(build_qa_ids(tok, ex, true, eos, model.max_positions(), opt.max_answer_tokens));
    truncated += tr.back().truncated;
  }
  for (const auto& ex : val) {
    if (ex.answers.empty()) continue;
    // --eval-examples bounds the whole evaluation: the loss pass as well as the generated answers.
    if (opt.eval_examples > 0 && static_cast<int64_t>(val_eval.size()) >= opt.eval_examples) break;
    va.push_back(build_qa_ids(tok, ex, true, eos, model.max_positions(), opt.max_answer_tokens));
    val_eval.push_back(ex);
  }
  LM_CHECK(!tr.empty(), "the training set has no answerable questions");
  LM_CHECK(!va.empty(), "the validation set has no answerable questions");
  if (truncated)
    log_info("{} of {} training contexts were cut from the start to fit {} positions", truncated, tr.size(),
             model.max_positions());
  return std::make_unique<GenerativeQaObjective>(std::move(tr), std::move(va), std::move(val_eval), tok, eos, opt,
                                                 model, comm);
}

}  // namespace lm::train
