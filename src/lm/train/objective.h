// Training objectives: what a run optimises, over any model family through the Model interface. The Trainer
// (trainer_loop.cpp) owns the loop, optimizer, data parallelism, checkpoints and outputs; an objective owns the
// data: it builds each micro-batch (host tensors), weighs it in the step's loss, keeps a resumable data cursor
// and evaluates. Objectives: causal LM and masked LM (+ next-sentence) pretraining on prepared shards;
// sequence classification, span QA and generative QA fine-tuning on task files.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "lm/core/json.h"
#include "lm/models/model.h"
#include "lm/train/comm.h"
#include "lm/train/trainer.h"

namespace lm::train {

class Objective {
 public:
  virtual ~Objective() = default;
  virtual std::string name() const = 0;         // "causal_lm", "masked_lm", "classify", "span_qa", "generative_qa"
  virtual std::string data_summary() const = 0;
  // Sequence length the MFU's FLOP count uses (pretraining: seq_len; fine-tuning: the maximum length).
  virtual int64_t seq_len() const = 0;
  // Reads micro-batch k of the next step into slot k (k < grad_accum). Returns its weight in the step's loss:
  // the number of examples or target tokens its loss is a mean over, so that the step's loss is the mean over
  // the global batch (the same for any split over ranks and micro-batches).
  virtual double fetch(int64_t k) = 0;
  // The host tensors of slot k, and the tokens it holds (for throughput).
  virtual models::Batch batch(int64_t k) const = 0;
  virtual int64_t tokens(int64_t k) const = 0;
  virtual Json loader_state() const = 0;
  virtual void restore_loader(const Json& state) = 0;
  // Validation: {"val_loss": ..., and objective metrics named "val_*"}; null without validation data. Every
  // data-parallel rank takes part (the metrics are all-reduced).
  virtual Json evaluate(models::Model& model) = 0;
  // The validation metric that selects the best model and drives early stopping.
  virtual std::string best_metric() const { return "val_loss"; }
  virtual bool higher_is_better() const { return false; }
  // Steps of one pass over the training data (fine-tuning epochs); 0 for step-counted pretraining.
  virtual int64_t steps_per_epoch() const { return 0; }
};

// Pretraining on a prepared directory: causal LM windows for models with a causal-LM head, masked LM (+ NSP
// for PreTraining heads) sentence pairs otherwise. tokenizer_dir: the data's tokenizer ("" if none).
std::unique_ptr<Objective> make_pretraining_objective(const TrainConfig& cfg, const Json& data_meta,
                                                      const std::string& tokenizer_dir, models::Model& model,
                                                      Communicator& comm);

}  // namespace lm::train
