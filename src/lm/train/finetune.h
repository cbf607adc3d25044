// Fine-tuning and task evaluation.
// Classification: a BERT directory (any head) becomes BertForSequenceClassification (base / pretraining
// checkpoints get a freshly initialised classifier), trained on ClassificationData with AdamW, linear warmup +
// linear decay, evaluated each epoch (accuracy, macro F1, confusion matrix); the best epoch is kept.
// Generative QA: a GPT-2 model learns p(answer | prompt) with the prompt
//   "{context}\nQuestion: {question}\nAnswer:" followed by " {answer}" + eos,
// the loss on the answer tokens and eos only (targets -100 on the prompt); evaluation generates greedily until
// eos or a newline and scores SQuAD exact match / F1 against all gold answers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lm/core/buffer.h"
#include "lm/data/task_data.h"
#include "lm/models/bert/bert.h"
#include "lm/models/gpt.h"
#include "lm/tokenize/batch.h"
#include "lm/tokenize/tokenizer.h"
#include "lm/train/metrics.h"

namespace lm::train {

// ---- classification ----

struct ClassifyOptions {
  int64_t epochs = 3;
  int64_t batch_size = 32;
  double lr = 2e-5;
  int64_t max_length = 128;     // tokens including [CLS]/[SEP]; clamped to max_position_embeddings
  double warmup_ratio = 0.1;    // of the total optimizer steps
  double weight_decay = 0.01;
  double grad_clip = 1.0;       // global norm; <= 0 disables
  uint64_t seed = 42;
  int64_t eval_batch_size = 64;
  int64_t log_every = 10;       // steps between metrics.jsonl train lines
  bool progress = true;         // progress line on stderr
};

// The config.json of model_dir turned into a BertForSequenceClassification config with the given labels
// (num_labels = label_names.size()). A directory that already is a classifier keeps its id2label when the
// data's labels are the plain integers 0..K-1 with K equal to its num_labels; a classifier with another
// number of labels is an error (its head cannot be reused).
Json classification_config(const std::string& model_dir, const std::vector<std::string>& label_names);
// Loads model_dir as a classifier for label_names (see classification_config); head weights absent from the
// checkpoint are initialised from seed.
// device: where the model runs (Device::CUDA in LM_CUDA=ON builds; batches stay on the host, logits are read back).
std::unique_ptr<models::Bert> load_bert_classifier(const std::string& model_dir,
                                                   const std::vector<std::string>& label_names, uint64_t seed,
                                                   Device device = Device::CPU);

// Tokenized examples: [CLS] A [SEP] (B [SEP]) truncated to max_length (longest_first), unpadded.
struct ClassifyFeatures {
  std::vector<Encoding> enc;
  std::vector<int32_t> labels;
  size_t size() const { return labels.size(); }
};
ClassifyFeatures encode_classification(const Tokenizer& tok, const ClassificationData& data, int64_t max_length);

// A padded batch of rows idx of features (dynamic padding to the longest row, attention mask 0 on padding).
struct BertTensors {
  OwnedTensor ids, types, mask, labels;
  models::BertBatch batch() const;
};
BertTensors make_classify_batch(const ClassifyFeatures& f, const std::vector<size_t>& idx, int32_t pad_id,
                                int64_t type_vocab_size);

struct ClassifyEval {
  double loss = 0, accuracy = 0, macro_f1 = 0;
  int64_t count = 0;
  std::vector<std::vector<int64_t>> confusion;  // [gold][predicted]
};
// Macro F1 over the labels that occur as gold or prediction (scikit-learn's default label set; a label with
// no true positives scores 0).
double macro_f1(const std::vector<std::vector<int64_t>>& confusion);
ClassifyEval evaluate_classifier(models::Bert& bert, const ClassifyFeatures& f, int64_t batch_size);

struct FinetuneResult {
  int64_t best_epoch = 0;        // 1-based
  double best_metric = 0;        // val accuracy (classify) or F1 (qa)
  std::vector<double> epoch_metric;
  int64_t steps = 0;
  double train_seconds = 0;
};

// Trains bert (a classifier) on train, evaluating on val after each epoch; on_best(epoch, eval) is called when
// an epoch beats the best so far (the caller saves the model). Metrics go to metrics (may be null).
FinetuneResult finetune_classifier(models::Bert& bert, const ClassifyFeatures& train, const ClassifyFeatures& val,
                                   const ClassifyOptions& opt, MetricsLog* metrics,
                                   const std::function<void(int64_t, const ClassifyEval&)>& on_best);

// ---- generative QA (GPT) ----

// One example as ids: input ids (prompt + answer + eos minus the last token) and next-token targets with -100
// on every prompt position, so only the answer tokens and eos are scored. With no answer (evaluation) the ids
// are the prompt alone and targets are empty. The context is cut from its start so that the prompt plus
// answer_budget tokens fit in max_positions.
struct QaIds {
  std::vector<int32_t> ids, targets;
  int64_t prompt_len = 0;
  bool truncated = false;
};
std::string qa_prompt(const std::string& context, const std::string& question);
QaIds build_qa_ids(const Tokenizer& tok, const QaExample& ex, bool with_answer, int32_t eos_id,
                   int64_t max_positions, int64_t answer_budget);

struct QaOptions {
  int64_t epochs = 2;
  int64_t batch_size = 8;
  double lr = 5e-5;
  double warmup_ratio = 0.1;
  double weight_decay = 0.01;
  double grad_clip = 1.0;
  uint64_t seed = 42;
  int64_t max_new_tokens = 30;   // generation budget at evaluation (also reserved in the prompt)
  int64_t max_answer_tokens = 64;  // training answers longer than this are cut (eos still appended)
  int64_t eval_examples = 0;     // per-epoch EM/F1 on the first N val examples (0 = all)
  int64_t log_every = 10;
  bool progress = true;
};

// Greedy continuation of prompt until eos or a newline in the decoded text (at most max_new tokens); returns
// the text before the newline, trimmed.
std::string greedy_answer(const models::Gpt& gpt, const Tokenizer& tok, const std::vector<int32_t>& prompt,
                          int32_t eos_id, int64_t max_new);

struct QaEval {
  double exact_match = 0, f1 = 0;  // percentages (0-100), as SQuAD's evaluate-v1.1.py prints
  double loss = 0;                 // mean answer-token loss (NaN when not computed)
  int64_t count = 0;
  std::vector<std::string> predictions;
};
// EM/F1 of greedy answers on examples (all gold answers count); loss is not computed.
QaEval evaluate_generative_qa(const models::Gpt& gpt, const Tokenizer& tok, const std::vector<QaExample>& examples,
                              int32_t eos_id, int64_t max_new, bool progress = false);
// Mean loss over the answer tokens (+ eos) of examples, teacher-forced.
double qa_answer_loss(models::Gpt& gpt, const std::vector<QaIds>& examples, int64_t batch_size);

// Pads rows of QaIds to a (B, T) batch: ids padded with eos, targets with -100.
void make_qa_batch(const std::vector<QaIds>& ex, const std::vector<size_t>& idx, int32_t pad_id, OwnedTensor& ids,
                   OwnedTensor& targets);

FinetuneResult finetune_generative_qa(models::Gpt& gpt, const Tokenizer& tok, const std::vector<QaExample>& train,
                                      const std::vector<QaExample>& val, int32_t eos_id, const QaOptions& opt,
                                      MetricsLog* metrics,
                                      const std::function<void(int64_t, const QaEval&)>& on_best);

// ---- extractive QA (BERT span head) ----

// One window of an example: [CLS] question [SEP] context[window] [SEP]; contexts longer than the room left by
// the question are split into windows (HF run_qa style; here doc_stride is the advance between windows:
// each window starts min(doc_stride, window room) tokens after the previous one, the last one reaches the
// context's end).
// start/end are the answer's token positions inside the feature, or 0/0 ([CLS]) when the answer is not wholly
// inside the window (as HF).
struct SpanFeature {
  Encoding enc;              // ids, types, mask (unpadded)
  std::vector<std::pair<int64_t, int64_t>> offsets;  // byte offsets into the context; (-1,-1) outside it
  size_t example = 0;
  int32_t start = 0, end = 0;
};
struct SpanOptions {
  int64_t epochs = 2;
  int64_t batch_size = 16;
  double lr = 5e-5;
  double warmup_ratio = 0.1;
  double weight_decay = 0.01;
  double grad_clip = 1.0;
  uint64_t seed = 42;
  int64_t max_length = 384;
  int64_t doc_stride = 128;
  int64_t max_query_length = 64;
  int64_t max_answer_length = 30;
  int64_t log_every = 10;
  bool progress = true;
};
std::vector<SpanFeature> build_span_features(const Tokenizer& tok, const std::vector<QaExample>& examples,
                                             const SpanOptions& opt, bool training);
// Best span per example (start <= end < start + max_answer_length, inside the context, max start + end logit
// over all its windows); EM/F1 in percent against all gold answers.
QaEval evaluate_extractive_qa(models::Bert& bert, const std::vector<QaExample>& examples,
                              const std::vector<SpanFeature>& features, const SpanOptions& opt);
FinetuneResult finetune_extractive_qa(models::Bert& bert, const Tokenizer& tok, const std::vector<QaExample>& train,
                                      const std::vector<QaExample>& val, const SpanOptions& opt, MetricsLog* metrics,
                                      const std::function<void(int64_t, const QaEval&)>& on_best);

}  // namespace lm::train
