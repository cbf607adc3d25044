// Trainer: pretraining of a GPT (next-token prediction) or a BERT (masked LM + next-sentence prediction on a
// sentences-layout directory) from a prepared data directory, Lightning-style: gradient accumulation
// normalised by target tokens, AdamW + schedule + clipping, periodic validation, atomic checkpoints (HF model
// directory + optimizer moments + trainer state) with exact resume, keep-last-K + best, early stopping,
// NaN/Inf guard, progress line, metrics.jsonl and loss.svg.
//
// Output directory layout:
//   OUT/config.json, model.safetensors, tokenizer files   the latest saved model (an HF directory)
//   OUT/best/                                             the model with the best val loss so far
//   OUT/checkpoints/step_00000100/                        HF dir + optimizer.safetensors + trainer_state.json
//   OUT/metrics.jsonl, OUT/loss.svg, OUT/train_config.json
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lm/core/json.h"
#include "lm/models/model.h"
#include "lm/train/train_config.h"

namespace lm::train {

struct TrainResult {
  int64_t steps = 0;          // optimizer steps completed in total (including resumed ones)
  int64_t resumed_from = -1;  // step of the checkpoint resumed from, -1 if fresh
  double last_loss = 0, best_val_loss = 0;  // best_val_loss: the best value of the objective's selection metric
  std::string best_metric = "val_loss";     // that metric's name (fine-tuning: e.g. "val_accuracy")
  int64_t best_step = -1;                   // the step of the best evaluation
  Json best_eval;                           // that evaluation (every val_* metric), null without one
  std::vector<Json> evals;                  // every evaluation of this process, in order, with its "step"
  double train_seconds = 0;
  bool early_stopped = false, interrupted = false;
  std::vector<float> losses;  // train loss of each step run in this process
  int rank = 0, world_size = 1;  // this process's data-parallel rank (only rank 0 wrote the outputs)
};

// Runs training in this process. Launched by mpirun (or torchrun-style env variables) it joins the job as one
// data-parallel rank (train/comm.h): batch_size is per rank, only rank 0 writes OUT. A fatal error on one rank
// of a multi-rank job prints it and ends the whole job (the other ranks would block in collectives).
//
// Set to true (e.g. from a SIGINT handler) to stop after the current step with a checkpoint.
extern std::atomic<bool> g_stop_requested;

class Objective;
class Communicator;

// What a run needs beyond its TrainConfig: fine-tuning gives its objective, the head its model needs, and keeps
// the best model at the top of OUT. Pretraining (the default TrainJob) builds its objective from cfg.data.
struct TrainJob {
  models::ConfigRequest request;  // head / labels to switch to (the Trainer adds fresh-model defaults, dropout)
  // Makes the objective for the built model; null: pretraining on cfg.data (by the model's head).
  std::function<std::unique_ptr<Objective>(models::Model&, Communicator&)> objective;
  // Trains this model instead of building one (its weights are replaced by a checkpoint's when resuming).
  models::Model* model = nullptr;
  bool out_is_best = false;    // OUT holds the best model (fine-tuning); else the latest
  std::string tokenizer_dir;   // tokenizer files written with every model ("": the data's tokenizer)
  bool progress = true;        // the progress line on stderr
  std::string title = "train";
  // Epoch-based runs (fine-tuning): max_steps = epochs x the objective's steps per epoch, an evaluation (and a
  // checkpoint, unless save_every says otherwise) after every epoch, and the learning rate warming up over
  // warmup_ratio of the steps.
  int64_t epochs = 0;
  double warmup_ratio = 0;
};

TrainResult run_training(const TrainConfig& cfg, const std::string& out_dir, const TrainJob& job = {});

// The config keys a resumed run may change: the length of the run (max_steps, max_tokens, max_time; the schedule
// follows the new max_steps), how often it evaluates, saves and logs, what it keeps, early stopping, threads,
// device and batch_size (per process: the loader continues at the same window when the global batch divides).
const std::vector<std::string>& resumable_config_keys();
// How `raw` (a TrainConfig::raw) differs from the config of the checkpoint a run in OUT would resume from, as
// "key: old -> new" with dotted paths for nested keys ("model.n_layer: 2 -> 3"), the keys above left out; empty
// when OUT has no checkpoint or nothing else changed. The Trainer refuses to resume when it is not empty.
std::vector<std::string> resume_config_changes(const std::string& out_dir, const Json& raw);

}  // namespace lm::train
