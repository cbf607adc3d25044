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
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lm/train/train_config.h"

namespace lm::train {

struct TrainResult {
  int64_t steps = 0;          // optimizer steps completed in total (including resumed ones)
  int64_t resumed_from = -1;  // step of the checkpoint resumed from, -1 if fresh
  double last_loss = 0, best_val_loss = 0;
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

TrainResult run_training(const TrainConfig& cfg, const std::string& out_dir);

}  // namespace lm::train
