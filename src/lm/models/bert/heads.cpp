// The BERT heads over the nn heads, one class per BertHead: BertModel (pooler), BertForPreTraining (pooler, MLM,
// NSP), BertForMaskedLM (MLM), BertForSequenceClassification (pooler, dropout, classifier) and
// BertForQuestionAnswering (span). Losses as HF computes them: cross-entropy means; pretraining adds the MLM
// and NSP losses, span QA averages the start and end losses. Shapes: h (B,T,C); logits as each output names.
#include <algorithm>

#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/models/bert/heads.h"
#include "lm/nn/loss.h"
#include "lm/ops/encoder.h"
#include "lm/ops/gather_rows.h"

namespace lm::models {

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr uint64_t kStreamClassifier = 1000003;  // the classifier's dropout stream (the encoder's are below it)

// A host i32 vector into the first values.size() elements of t (any device).
void put_i32(const Tensor& t, const std::vector<int32_t>& values) {
  copy_bytes(t.data, t.device, values.data(), Device::CPU, values.size() * sizeof(int32_t));
}

// Per-row cross-entropy into losses; *count = the targets that counted; returns their mean loss (NaN for none).
float ce_forward(Tensor losses, Tensor logits, Tensor targets, int64_t* count, int ignore = ops::kIgnoreIndex) {
  const nn::LossResult r = nn::cross_entropy_forward({losses, Tensor()}, logits, targets, ignore);
  *count = r.count;
  return r.mean;
}

// The logits become d logits, for dloss = d loss / d (mean loss).
void ce_backward(Tensor logits, Tensor targets, float dloss, int ignore = ops::kIgnoreIndex) {
  nn::cross_entropy_backward({}, logits, targets, dloss, ignore);
}

// The pooler of BertModel, BertForPreTraining and BertForSequenceClassification.
struct PoolerPart {
  nn::PoolerActs a;     // (B,C) each
  Tensor out, dout;     // (B,C) pooler_output and its gradient
  nn::PoolerScratch s;  // (B,C) each

  void reserve(ArenaPlan& plan, int64_t B, int64_t C, bool training) {
    *this = PoolerPart{};  // nothing left pointing into the previous arena
    for (Tensor* t : {&a.first, &a.pre, &out}) plan(t, Shape{B, C});
    if (training)
      for (Tensor* t : {&dout, &s.dpre, &s.dfirst}) plan(t, Shape{B, C});
  }
  Tensor forward(const BertParams& p, Tensor h) {
    nn::pooler_forward(p.pooler(), out.slice0(0, h.dim(0)), a.rows(h.dim(0)), h);
    return out.slice0(0, h.dim(0));
  }
  Tensor zeroed_dout(int64_t B) const {
    nn::zero(dout.slice0(0, B));
    return dout.slice0(0, B);
  }
  void backward(const BertParams& p, const BertParams& g, Tensor dh) const {
    const int64_t B = dh.dim(0);
    nn::pooler_backward(p.pooler(), g.pooler(), dh, dout.slice0(0, B), out.slice0(0, B), a.rows(B), s.rows(B));
  }
};

// The masked-LM prediction head of BertForPreTraining and BertForMaskedLM: on every position, or (sparse MLM
// with labels) on the labelled positions only, their hidden states gathered into rows first.
class MlmPart {
 public:
  explicit MlmPart(const BertConfig& c) : c_(c) {}
  void reserve(ArenaPlan& plan, int64_t B, int64_t T, bool training, bool sparse) {
    const int64_t N = B * T, C = c_.hidden_size;
    s_ = {};  // nothing left pointing into the previous arena
    rows_in_ = rows_labels_ = drows_in_ = Tensor();
    for (Tensor* t : {&a_.t, &a_.t_act, &a_.t_ln}) plan(t, Shape{N, C});
    for (Tensor* t : {&a_.ln.mean, &a_.ln.rstd, &losses_}) plan(t, Shape{N});
    plan(&logits_, Shape{N, c_.vocab_size});
    if (sparse) plan(&rows_in_, Shape{N, C});
    if (sparse) plan(&rows_labels_, Shape{N}, DType::I32);
    if (training)
      for (Tensor* t : {&s_.dln, &s_.dact, &s_.dt}) plan(t, Shape{N, C});
    if (training && sparse) plan(&drows_in_, Shape{N, C});
  }

  void forward(const BertParams& p, Tensor h, const BertBatch& in, const BertStep& s) {
    const int64_t N = s.B * s.T;
    targets_ = 0;
    masked_.clear();
    sparse_ = s.sparse_mlm && in.labels.defined();
    Tensor x = sparse_ ? gather_labelled(h, in.labels) : h.view(Shape{N, c_.hidden_size});
    rows_ = sparse_ ? static_cast<int64_t>(masked_.size()) : N;
    if (rows_ > 0)
      nn::mlm_head_forward(p.mlm(), logits_.slice0(0, rows_), a_.rows(rows_), x, c_.activation, c_.layer_norm_eps);
  }

  // The MLM loss into *loss when MLM labels are given (NaN when none is labelled); false without labels.
  bool loss(const BertBatch& in, const BertStep& s, float* loss) {
    if (!in.labels.defined()) return false;
    // No labelled position (sparse): NaN, the mean over no target, as the dense path gives it.
    *loss = rows_ == 0 ? kNaN : ce_forward(losses_.slice0(0, rows_), logits_.slice0(0, rows_), labels(s), &targets_);
    return true;
  }

  void backward(const BertParams& p, const BertParams& g, Tensor dh, Tensor h, const BertStep& s, float scale) {
    if (targets_ == 0) return;
    const int64_t N = s.B * s.T, C = c_.hidden_size;
    const Tensor logits = logits_.slice0(0, rows_);
    ce_backward(logits, labels(s), scale / static_cast<float>(targets_));
    if (!sparse_) {
      nn::mlm_head_backward(p.mlm(), g.mlm(), dh.view(Shape{N, C}), logits, a_.rows(N), h.view(Shape{N, C}),
                            c_.activation, s_.rows(N));
      return;
    }
    // d of the gathered rows, then scattered back into d h.
    const Tensor dx = drows_in_.slice0(0, rows_);
    nn::zero(dx);
    nn::mlm_head_backward(p.mlm(), g.mlm(), dx, logits, a_.rows(rows_), rows_in_.slice0(0, rows_), c_.activation,
                          s_.rows(rows_));
    ops::scatter_add_rows(dh.view(Shape{N, C}), dx, masked_);
  }

  // The logits output: dense_name (B,T,V), or with sparse MLM "masked_prediction_logits" (M,V).
  std::pair<std::string, Tensor> output(const char* dense_name, const BertStep& s) const {
    if (sparse_) return {"masked_prediction_logits", logits_.slice0(0, rows_)};
    return {dense_name, logits_.slice0(0, s.B * s.T).view(Shape{s.B, s.T, c_.vocab_size})};
  }
  const std::vector<int64_t>& masked_positions() const { return masked_; }
  int64_t targets() const { return targets_; }

 private:
  // Gathers the positions whose label is not -100 (and their labels) into dense rows.
  Tensor gather_labelled(Tensor h, Tensor host_labels) {
    const int64_t N = host_labels.numel();
    const int32_t* lab = host_labels.ptr<int32_t>();
    for (int64_t i = 0; i < N; ++i)
      if (lab[i] != ops::kIgnoreIndex) masked_.push_back(i);
    std::vector<int32_t> labels(masked_.size());
    for (size_t r = 0; r < masked_.size(); ++r) labels[r] = lab[masked_[r]];
    put_i32(rows_labels_, labels);
    const Tensor x = rows_in_.slice0(0, static_cast<int64_t>(masked_.size()));
    ops::gather_rows(x, h.view(Shape{N, c_.hidden_size}), masked_);
    return x;
  }
  Tensor labels(const BertStep& s) const {
    return sparse_ ? rows_labels_.slice0(0, rows_) : s.batch.labels.view(Shape{s.B * s.T});
  }

  BertConfig c_;
  nn::MlmActs a_;               // (N,C), stats (N); N = B*T rows, of which the first rows_ are used
  Tensor logits_, losses_;      // (N,V) prediction logits (d logits after backward), (N) per-row losses
  Tensor rows_in_, rows_labels_;  // sparse: (N,C) gathered hidden states, (N) i32 their labels
  nn::MlmScratch s_;            // (N,C) each
  Tensor drows_in_;             // sparse: (N,C) d of the gathered rows
  bool sparse_ = false;         // the last forward ran on the labelled positions only
  std::vector<int64_t> masked_;  // their flat indices b*T+t, ascending
  int64_t rows_ = 0, targets_ = 0;
};

class BaseHead : public BertHeadImpl {
 public:
  explicit BaseHead(const BertConfig& c) : C_(c.hidden_size) {}
  void reserve(ArenaPlan& plan, int64_t B, int64_t T, bool training, bool sparse) override {
    pooler_.reserve(plan, B, C_, training);
  }
  std::vector<std::pair<std::string, Tensor>> outputs(Tensor h, const BertStep& s) const override {
    return {{"last_hidden_state", h}, {"pooler_output", pooler_.out.slice0(0, s.B)}};
  }

 protected:
  float forward(const BertParams& p, Tensor h, const BertBatch& in, const BertStep& s) override {
    pooler_.forward(p, h);
    return kNaN;
  }
  void backward(const BertParams&, const BertParams&, Tensor, Tensor, const BertStep&, float) override {}

 private:
  int64_t C_;
  PoolerPart pooler_;
};

class MlmHeadBase : public BertHeadImpl {
 public:
  explicit MlmHeadBase(const BertConfig& c) : c_(c), mlm_(c) {}
  void check_labels(const BertBatch& in, int64_t B, int64_t T) const override {
    if (in.labels.defined()) check_tensor(in.labels, Shape{B, T}, DType::I32, "bert MLM labels");
  }
  const std::vector<int64_t>& masked_positions() const override { return mlm_.masked_positions(); }
  Json loss_parts() const override { return {{"mlm_loss", mlm_loss_}}; }

 protected:
  BertConfig c_;
  MlmPart mlm_;
};

class MaskedLmHead : public MlmHeadBase {
 public:
  using MlmHeadBase::MlmHeadBase;
  void reserve(ArenaPlan& plan, int64_t B, int64_t T, bool training, bool sparse) override {
    mlm_.reserve(plan, B, T, training, sparse);
  }
  std::vector<std::pair<std::string, Tensor>> outputs(Tensor, const BertStep& s) const override {
    return {mlm_.output("logits", s)};
  }

 protected:
  float forward(const BertParams& p, Tensor h, const BertBatch& in, const BertStep& s) override {
    mlm_.forward(p, h, in, s);
    has_loss_ = mlm_.loss(in, s, &mlm_loss_);
    targets_ = mlm_.targets();
    return has_loss_ ? mlm_loss_ : kNaN;
  }
  void backward(const BertParams& p, const BertParams& g, Tensor dh, Tensor h, const BertStep& s,
                float scale) override {
    mlm_.backward(p, g, dh, h, s, scale);
  }
};

class PreTrainingHead : public MlmHeadBase {
 public:
  using MlmHeadBase::MlmHeadBase;
  void reserve(ArenaPlan& plan, int64_t B, int64_t T, bool training, bool sparse) override {
    pooler_.reserve(plan, B, c_.hidden_size, training);
    mlm_.reserve(plan, B, T, training, sparse);
    plan(&nsp_logits_, Shape{B, 2});
    plan(&nsp_losses_, Shape{B});
  }
  std::vector<std::pair<std::string, Tensor>> outputs(Tensor, const BertStep& s) const override {
    return {mlm_.output("prediction_logits", s), {"seq_relationship_logits", nsp_logits_.slice0(0, s.B)}};
  }
  Json loss_parts() const override { return {{"mlm_loss", mlm_loss_}, {"nsp_loss", nsp_loss_}}; }

 protected:
  // loss = masked_lm_loss + next_sentence_loss (of those whose labels are given).
  float forward(const BertParams& p, Tensor h, const BertBatch& in, const BertStep& s) override {
    const Tensor pooled = pooler_.forward(p, h), logits = nsp_logits_.slice0(0, s.B);
    mlm_.forward(p, h, in, s);
    nn::linear_forward(p.nsp(), logits, pooled);
    float total = 0;
    has_loss_ = false;
    nsp_targets_ = 0;
    if (mlm_.loss(in, s, &mlm_loss_)) {
      total += mlm_loss_;
      has_loss_ = true;
    }
    if (in.next_sentence_label.defined()) {
      nsp_loss_ = ce_forward(nsp_losses_.slice0(0, s.B), logits, s.batch.next_sentence_label, &nsp_targets_);
      total += nsp_loss_;
      has_loss_ = true;
    }
    targets_ = mlm_.targets() + nsp_targets_;
    return has_loss_ ? total : kNaN;
  }
  void backward(const BertParams& p, const BertParams& g, Tensor dh, Tensor h, const BertStep& s,
                float scale) override {
    mlm_.backward(p, g, dh, h, s, scale);
    if (nsp_targets_ == 0) return;
    const Tensor logits = nsp_logits_.slice0(0, s.B);
    ce_backward(logits, s.batch.next_sentence_label, scale / static_cast<float>(nsp_targets_));
    nn::linear_backward(p.nsp(), g.nsp(), pooler_.zeroed_dout(s.B), logits, pooler_.out.slice0(0, s.B));
    pooler_.backward(p, g, dh);
  }

 private:
  PoolerPart pooler_;
  Tensor nsp_logits_, nsp_losses_;  // (B,2), (B)
  int64_t nsp_targets_ = 0;
};

class ClassificationHead : public BertHeadImpl {
 public:
  explicit ClassificationHead(const BertConfig& c)
      : c_(c), p_drop_(c.classifier_dropout >= 0 ? c.classifier_dropout : c.hidden_dropout_prob) {}
  void reserve(ArenaPlan& plan, int64_t B, int64_t T, bool training, bool sparse) override {
    pooler_.reserve(plan, B, c_.hidden_size, training);
    plan(&logits_, Shape{B, c_.num_labels});
    plan(&losses_, Shape{B});
    a_ = {};  // defined only when reserved here (rows() views it)
    ddropped_ = Tensor();
    if (training)
      for (Tensor* t : {&a_.dropped, &ddropped_}) plan(t, Shape{B, c_.hidden_size});
  }
  void check_labels(const BertBatch& in, int64_t B, int64_t T) const override {
    if (in.labels.defined()) check_tensor(in.labels, Shape{B}, DType::I32, "bert classification labels");
  }
  std::vector<std::pair<std::string, Tensor>> outputs(Tensor, const BertStep& s) const override {
    return {{"logits", logits_.slice0(0, s.B)}};
  }

 protected:
  float forward(const BertParams& p, Tensor h, const BertBatch& in, const BertStep& s) override {
    const Tensor pooled = pooler_.forward(p, h), logits = logits_.slice0(0, s.B);
    nn::classifier_forward(p.classifier(), logits, a_.rows(s.B), pooled, dropout(s));
    if (!in.labels.defined()) return kNaN;
    has_loss_ = true;
    return ce_forward(losses_.slice0(0, s.B), logits, s.batch.labels, &targets_);
  }
  void backward(const BertParams& p, const BertParams& g, Tensor dh, Tensor h, const BertStep& s,
                float scale) override {
    if (targets_ == 0) return;
    const Tensor logits = logits_.slice0(0, s.B);
    ce_backward(logits, s.batch.labels, scale / static_cast<float>(targets_));
    nn::classifier_backward(p.classifier(), g.classifier(), pooler_.zeroed_dout(s.B), logits, a_.rows(s.B),
                            pooler_.out.slice0(0, s.B), dropout(s), ddropped_.slice0(0, s.B));
    pooler_.backward(p, g, dh);
  }

 private:
  nn::DropoutSpec dropout(const BertStep& s) const {
    return {s.training ? p_drop_ : 0.0f, s.seed, kStreamClassifier};
  }

  BertConfig c_;
  float p_drop_;  // classifier_dropout, or hidden_dropout_prob when it is null
  PoolerPart pooler_;
  nn::ClassifierActs a_;     // (B,C)
  Tensor logits_, losses_;   // (B,NL), (B)
  Tensor ddropped_;          // (B,C)
};

class SpanQaHead : public BertHeadImpl {
 public:
  explicit SpanQaHead(const BertConfig&) {}
  void reserve(ArenaPlan& plan, int64_t B, int64_t T, bool training, bool sparse) override {
    for (Tensor* t : {&start_, &end_}) plan(t, Shape{B, T});
    for (Tensor* t : {&start_pos_, &end_pos_}) plan(t, Shape{B}, DType::I32);
    plan(&span_, Shape{B, T, 2});
    plan(&losses_, Shape{B});
    dspan_ = Tensor();
    if (training) plan(&dspan_, Shape{B, T, 2});
  }
  std::vector<std::pair<std::string, Tensor>> outputs(Tensor, const BertStep& s) const override {
    return {{"start_logits", start_.slice0(0, s.B)}, {"end_logits", end_.slice0(0, s.B)}};
  }

 protected:
  // loss = (start CE + end CE) / 2, each a mean over its rows; positions are clamped to [0, T], T = ignored (HF).
  float forward(const BertParams& p, Tensor h, const BertBatch& in, const BertStep& s) override {
    const int64_t B = s.B;
    nn::span_head_forward(p.qa(), start_.slice0(0, B), end_.slice0(0, B), span_.slice0(0, B), h);
    start_targets_ = end_targets_ = 0;
    if (!in.start_positions.defined() || !in.end_positions.defined()) return kNaN;
    const int32_t T = static_cast<int32_t>(s.T);
    std::vector<int32_t> sp(static_cast<size_t>(B)), ep(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
      sp[static_cast<size_t>(b)] = std::clamp<int32_t>(in.start_positions.ptr<int32_t>()[b], 0, T);
      ep[static_cast<size_t>(b)] = std::clamp<int32_t>(in.end_positions.ptr<int32_t>()[b], 0, T);
    }
    put_i32(start_pos_, sp);
    put_i32(end_pos_, ep);
    const Tensor losses = losses_.slice0(0, B);
    const float ls = ce_forward(losses, start_.slice0(0, B), start_pos_.slice0(0, B), &start_targets_, T);
    const float le = ce_forward(losses, end_.slice0(0, B), end_pos_.slice0(0, B), &end_targets_, T);
    targets_ = start_targets_;
    has_loss_ = true;
    return 0.5f * (ls + le);
  }
  void backward(const BertParams& p, const BertParams& g, Tensor dh, Tensor h, const BertStep& s,
                float scale) override {
    const int64_t B = s.B;
    const int ignore = static_cast<int>(s.T);
    const Tensor ds = start_.slice0(0, B), de = end_.slice0(0, B);
    if (start_targets_ > 0)
      ce_backward(ds, start_pos_.slice0(0, B), 0.5f * scale / static_cast<float>(start_targets_), ignore);
    else
      nn::zero(ds);
    if (end_targets_ > 0)
      ce_backward(de, end_pos_.slice0(0, B), 0.5f * scale / static_cast<float>(end_targets_), ignore);
    else
      nn::zero(de);
    nn::span_head_backward(p.qa(), g.qa(), dh, ds, de, h, dspan_.slice0(0, B));
  }

 private:
  Tensor span_, start_, end_;        // (B,T,2) qa_outputs, (B,T) start / end logits (d logits after backward)
  Tensor losses_;                    // (B)
  Tensor start_pos_, end_pos_;       // (B) i32 clamped positions
  Tensor dspan_;                     // (B,T,2)
  int64_t start_targets_ = 0, end_targets_ = 0;
};

}  // namespace

std::unique_ptr<BertHeadImpl> make_bert_head(const BertConfig& c) {
  switch (c.head) {
    case BertHead::Base:
      return std::make_unique<BaseHead>(c);
    case BertHead::PreTraining:
      return std::make_unique<PreTrainingHead>(c);
    case BertHead::MaskedLM:
      return std::make_unique<MaskedLmHead>(c);
    case BertHead::SequenceClassification:
      return std::make_unique<ClassificationHead>(c);
    case BertHead::QuestionAnswering:
      return std::make_unique<SpanQaHead>(c);
  }
  LM_THROW(ErrorCode::Internal, "bert: unknown head");
}

}  // namespace lm::models
