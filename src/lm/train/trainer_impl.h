// The Trainer behind run_training (internal to train/): one loop for pretraining and fine-tuning. It builds or
// takes the model, asks the objective for micro-batches, runs forward/backward through the Model interface with
// the loss normalised over the global step, reduces gradients over data-parallel ranks (ZeRO-1 optionally),
// steps AdamW on the schedule, evaluates, keeps the best model, checkpoints and resumes exactly.
// trainer_loop.cpp: the loop; trainer_state.cpp: model building, optimizer, gradients, checkpoints.
#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "lm/core/json.h"
#include "lm/models/model.h"
#include "lm/train/comm.h"
#include "lm/train/metrics.h"
#include "lm/train/objective.h"
#include "lm/train/optimizer.h"
#include "lm/train/trainer.h"

namespace lm::train {

std::string step_dir_name(int64_t step);
// Newest complete checkpoint (a step_N directory holding trainer_state.json) under OUT/checkpoints, or "".
std::string newest_checkpoint(const std::string& out_dir, int64_t* step);
// Writes a directory atomically: a temporary sibling is filled, fsynced and renamed over the old one.
void write_dir_atomically(const std::string& dir, const std::function<void(const std::string&)>& fill);

class Trainer {
 public:
  Trainer(const TrainConfig& cfg, const std::string& out, const TrainJob& job, Communicator& comm)
      : cfg_(cfg), out_(out), job_(job), comm_(comm), rank_(comm.rank()), world_(comm.world_size()) {}
  TrainResult run();

 private:
  // ---- trainer_state.cpp ----
  void build_model(const std::string& resume_dir);
  void setup_optimizer();
  void restore_optimizer(const std::string& resume_dir);
  void restore_state(const std::string& resume_dir, const Json& state);
  void restore_loader(Json saved);
  // Sums gradients over ranks (plain DP: all of them; ZeRO-1: this rank's range) and returns the global norm.
  double reduce_gradients();
  // ZeRO-1: every rank's updated parameter range to every rank.
  void gather_params();
  void save_checkpoint(int64_t step);
  void save_model_dir(const std::string& dir);
  void prune_checkpoints();
  // ---- trainer_loop.cpp ----
  // Data, resume point, model, objective, optimizer and outputs of the run.
  void setup(TrainResult& res);
  // One optimizer step; returns its metrics line (loss NaN and "skipped" when the update was skipped).
  Json train_step(double peak);
  // Evaluates; returns true when training should stop early.
  bool evaluate_and_select(TrainResult& res);
  models::Model& model() { return *model_; }
  bool better(double metric) const {
    return obj_->higher_is_better() ? metric > best_metric_ + cfg_.early_stopping_min_delta
                                    : metric < best_metric_ - cfg_.early_stopping_min_delta;
  }

  TrainConfig cfg_;
  std::string out_;
  const TrainJob& job_;
  Json data_meta_;
  std::string tokenizer_dir_;
  std::unique_ptr<models::Model> owned_model_;
  models::Model* model_ = nullptr;
  std::unique_ptr<Objective> obj_;
  std::unique_ptr<AdamW> opt_;
  std::unique_ptr<MetricsLog> metrics_;
  Communicator& comm_;
  int rank_ = 0, world_ = 1;
  int64_t shard_chunk_ = 0;    // ZeRO-1: flat range owned per rank (the arena padded to world_ * chunk)
  std::vector<float> padded_;  // ZeRO-1: world_ * shard_chunk_ staging for reduce-scatter / all-gather
  int64_t step_ = 0, tokens_ = 0;
  double best_metric_ = 0;     // of obj_->best_metric(); +-inf before the first evaluation
  int64_t best_step_ = -1, bad_evals_ = 0, nonfinite_streak_ = 0;
  double elapsed_before_ = 0;
  bool fresh_ = true;  // no checkpoint to resume from
};

}  // namespace lm::train
