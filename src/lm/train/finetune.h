// Fine-tuning and task evaluation: the task recipes (encoding, batches, evaluation metrics, the QA prompt and
// span windows) and the fine-tuning runs, which go through the one Trainer loop (trainer.h) with a task
// objective (objective_finetune.cpp): grad accumulation, exact resume, the NaN guard, data parallelism and the
// metrics / plot outputs come with it. Every model is reached through the Model interface.
// Classification: a model with a sequence-classification head (base / pretraining checkpoints get a fresh
// classifier), evaluated each epoch (accuracy, macro F1, confusion matrix); the best epoch is kept.
// Generative QA: a causal LM learns p(answer | prompt) with the prompt
//   "{context}\nQuestion: {question}\nAnswer:" followed by " {answer}" + eos,
// the loss on the answer tokens and eos only (targets -100 on the prompt); evaluation generates greedily until
// eos or a newline and scores SQuAD exact match / F1 against all gold answers.
// Extractive QA: a span head over [CLS] question [SEP] context-window [SEP] features.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lm/core/buffer.h"
#include "lm/core/progress.h"
#include "lm/data/task_data.h"
#include "lm/io/peft.h"
#include "lm/models/model.h"
#include "lm/tokenize/batch.h"
#include "lm/tokenize/tokenizer.h"
#include "lm/train/metrics.h"
#include "lm/train/trainer.h"

namespace lm::train {

class Objective;
class Communicator;

// The schedule of a fine-tuning run (HF Trainer's recipe): AdamW (betas 0.9 / 0.999, eps 1e-8) with weight decay
// on the matrices, linear warmup over warmup_ratio of the steps then linear decay to 0, an evaluation and a
// checkpoint after every epoch. batch_size is per data-parallel rank; an optimizer step takes grad_accum of them.
struct TuneSchedule {
  int64_t epochs = 3;
  int64_t batch_size = 32;
  int64_t grad_accum = 1;
  double lr = 2e-5;
  double warmup_ratio = 0.1;    // of the total optimizer steps
  double weight_decay = 0.01;
  double grad_clip = 1.0;       // global norm; <= 0 disables
  uint64_t seed = 42;
  int64_t log_every = 1;        // steps between metrics.jsonl train lines
  int64_t save_every = 0;       // steps between checkpoints (0: every epoch)
  bool progress = true;         // progress line on stderr
};

// ---- classification ----

struct ClassifyOptions : TuneSchedule {
  int64_t max_length = 128;     // tokens including [CLS]/[SEP]; clamped to max_position_embeddings
  int64_t eval_batch_size = 64;
};

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
  models::Batch batch() const;
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
// progress: a progress line over the examples (none by default).
ClassifyEval evaluate_classifier(models::Model& model, const ClassifyFeatures& f, int64_t batch_size,
                                 const ProgressSpec& progress = {});

struct FinetuneResult {
  int64_t best_epoch = 0;        // 1-based
  double best_metric = 0;        // val accuracy (classify) or F1 (qa)
  std::vector<double> epoch_metric;
  int64_t steps = 0;
  double train_seconds = 0;
  Json best_eval;                // every val_* metric of the best epoch
};

// Trains `model` (a sequence classifier) in place on train, evaluating on val after each epoch; OUT (out_dir)
// receives the best epoch's model, metrics.jsonl, loss.svg and the checkpoints a rerun resumes from.
FinetuneResult finetune_classifier(models::Model& model, const ClassifyFeatures& train, const ClassifyFeatures& val,
                                   const ClassifyOptions& opt, const std::string& out_dir,
                                   const std::string& tokenizer_dir = "");

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

struct QaOptions : TuneSchedule {
  QaOptions() { epochs = 2, batch_size = 8, lr = 5e-5; }
  int64_t max_new_tokens = 30;   // generation budget at evaluation (also reserved in the prompt)
  int64_t max_answer_tokens = 64;  // training answers longer than this are cut (eos still appended)
  int64_t eval_examples = 0;     // per-epoch loss and EM/F1 on the first N val examples (0 = all)
};

// Greedy continuation of prompt until eos or (stop_at_newline) a newline in the decoded text (at most max_new
// tokens); returns the text before the newline, trimmed.
std::string greedy_answer(const models::CausalLM& gpt, const Tokenizer& tok, const std::vector<int32_t>& prompt,
                          int32_t eos_id, int64_t max_new, bool stop_at_newline = true);

struct QaEval {
  double exact_match = 0, f1 = 0;  // percentages (0-100), as SQuAD's evaluate-v1.1.py prints
  double loss = 0;                 // mean answer-token loss (NaN when not computed)
  int64_t count = 0;
  std::vector<std::string> predictions;
};
// EM/F1 of greedy answers on examples (all gold answers count); loss is not computed. progress: a line over
// the questions (none by default).
QaEval evaluate_generative_qa(const models::CausalLM& lm, const Tokenizer& tok,
                              const std::vector<QaExample>& examples, int32_t eos_id, int64_t max_new,
                              const ProgressSpec& progress = {});
// Mean loss over the answer tokens (+ eos) of examples, teacher-forced; progress: a line over the examples.
double qa_answer_loss(models::Model& model, const std::vector<QaIds>& examples, int64_t batch_size,
                      const ProgressSpec& progress = {});

// Pads rows of QaIds to a (B, T) batch: ids padded with eos, targets with -100.
void make_qa_batch(const std::vector<QaIds>& ex, const std::vector<size_t>& idx, int32_t pad_id, OwnedTensor& ids,
                   OwnedTensor& targets);

FinetuneResult finetune_generative_qa(models::Model& model, const Tokenizer& tok, const std::vector<QaExample>& train,
                                      const std::vector<QaExample>& val, int32_t eos_id, const QaOptions& opt,
                                      const std::string& out_dir, const std::string& tokenizer_dir = "");

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
struct SpanOptions : TuneSchedule {
  SpanOptions() { epochs = 2, batch_size = 16, lr = 5e-5; }
  int64_t max_length = 384;
  int64_t doc_stride = 128;
  int64_t max_query_length = 64;
  int64_t max_answer_length = 30;
};
std::vector<SpanFeature> build_span_features(const Tokenizer& tok, const std::vector<QaExample>& examples,
                                             const SpanOptions& opt, bool training);
// Best span per example (start <= end < start + max_answer_length, inside the context, max start + end logit
// over all its windows); EM/F1 in percent against all gold answers. progress: a line over the windows.
QaEval evaluate_extractive_qa(models::Model& model, const std::vector<QaExample>& examples,
                              const std::vector<SpanFeature>& features, const SpanOptions& opt,
                              const ProgressSpec& progress = {});
// A padded batch of span features (dynamic padding), with their answer start/end positions in starts/ends.
BertTensors span_batch(const std::vector<SpanFeature>& fs, const std::vector<size_t>& idx, int32_t pad_id,
                       OwnedTensor& starts, OwnedTensor& ends);
FinetuneResult finetune_extractive_qa(models::Model& model, const Tokenizer& tok, const std::vector<QaExample>& train,
                                      const std::vector<QaExample>& val, const SpanOptions& opt,
                                      const std::string& out_dir, const std::string& tokenizer_dir = "");

// ---- objectives (objective_finetune.cpp) ----

std::unique_ptr<Objective> make_classify_objective(const ClassifyFeatures& train, const ClassifyFeatures& val,
                                                   const ClassifyOptions& opt, const models::Model& model,
                                                   Communicator& comm);
std::unique_ptr<Objective> make_span_qa_objective(const Tokenizer& tok, const std::vector<QaExample>& train,
                                                  const std::vector<QaExample>& val, const SpanOptions& opt,
                                                  const models::Model& model, Communicator& comm);
std::unique_ptr<Objective> make_generative_qa_objective(const Tokenizer& tok, const std::vector<QaExample>& train,
                                                        const std::vector<QaExample>& val, int32_t eos,
                                                        const QaOptions& opt, const models::Model& model,
                                                        Communicator& comm);

// ---- the `lmcpp finetune` run (finetune_run.cpp) ----

// Every input of a fine-tuning run; 0 / empty fields take the task's default. All inputs are read and checked
// before OUT is created, so bad input writes nothing.
struct FinetuneOptions {
  std::string task;  // "classify" | "qa" (generative for causal LMs, extractive span QA otherwise) | "chat"
  std::string chat_template;  // chat: "" (the model's), "chatml" or a template file
  std::string model_dir, train_path, val_path, out_dir;
  int64_t epochs = 0, batch_size = 0, grad_accum = 1, save_every = 0;
  double lr = 0, warmup_ratio = 0.1, weight_decay = 0.01, grad_clip = 1.0;
  uint64_t seed = 42;
  int64_t max_length = 0;  // classify 128, span QA 384
  int64_t num_labels = 0;  // classify: more label ids than the training data shows
  int64_t doc_stride = 128, max_answer_length = 30;  // span QA
  int64_t max_new_tokens = 30;                       // generative QA
  int64_t eval_examples = 0;       // every task: validate on the first N val examples (0: all)
  int64_t max_train_examples = 0;  // every task: train on the first N training examples (0: all)
  Device device = Device::CPU;
  // --lora: train a LoRA adapter (OUT becomes a PEFT adapter directory) instead of every weight.
  std::optional<LoraSpec> lora;
};
struct FinetuneReport {
  Json result;          // what OUT/result.json holds
  std::string summary;  // one line for the user
};
FinetuneReport run_finetune(const FinetuneOptions& opt);

}  // namespace lm::train
