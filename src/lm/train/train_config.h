// The pretraining config (the JSON file of `lmcpp train --config`): every key is declared once in
// train_config_keys() (name, default, help). That table drives TrainConfig::from_json (unknown keys are an error,
// absent keys take the declared default), the key listing of `lmcpp train --help`, and the config echo
// (TrainConfig::raw, written by the trainer to OUT/train_config.json and each checkpoint's trainer_state.json).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lm/core/device.h"
#include "lm/core/dtype.h"
#include "lm/core/json.h"
#include "lm/io/peft.h"
#include "lm/train/optimizer.h"
#include "lm/train/schedule.h"

namespace lm::train {

// One key of the train config. default_value is null where there is no default or it is derived from other keys
// (model / init / data / min_lr / dropout / comment); the help says which.
struct ConfigKey {
  std::string name;
  std::string default_text;  // as declared and shown in --help ("6e-4", "\"cosine\""); "" when none
  Json default_value;        // default_text parsed as JSON (null when none)
  std::string help;
};

// The model_type of a "model" object that gives none (the trainer builds that family; the key check uses it).
inline constexpr const char* kDefaultModelType = "gpt2";

// Every key the train config accepts, in the order --help lists them.
const std::vector<ConfigKey>& train_config_keys();

// The parsed config. Fields are filled by from_json only; their defaults are those of train_config_keys().
struct TrainConfig {
  Json model;        // HF-style config object (model_type gpt2 or bert); vocab_size defaults to the data's
  std::string init;  // or an HF directory to start from
  std::string data;  // prepared directory (train_*.bin, val_*.bin, meta.json)
  int64_t batch_size = 0, seq_len = 0, grad_accum = 0;
  int64_t max_steps = 0, max_tokens = 0;  // max_tokens > 0 also stops training
  double max_time_s = 0;                  // > 0: stop (and save) after this much wall time
  LrSchedule schedule;
  AdamWConfig adamw;
  std::optional<float> dropout;  // overrides the model's dropout probabilities
  std::optional<LoraSpec> lora;  // train an adapter on init (models::LoraModel)
  uint64_t seed = 0;
  int threads = 0;
  int64_t eval_every = 0, eval_batches = 0;  // eval_every 0: only at the end
  int64_t save_every = 0;                    // 0: only at the end
  int64_t keep_last = 0;
  bool keep_best = false;
  int64_t early_stopping_patience = 0;  // evals without improvement > min_delta before stopping (0: off)
  double early_stopping_min_delta = 0.0;
  int64_t log_every = 0;
  bool shuffle = false;
  int64_t max_nonfinite = 0;  // consecutive skipped steps before giving up
  int zero = 0;               // 1: ZeRO stage 1 (AdamW moments sharded over data-parallel ranks)
  Device device = Device::CPU;  // "device": "cpu" | "cuda"
  DType dtype = DType::F32;     // "dtype": "f32" | "bf16" (mixed precision, cuda only)
  double mlm_probability = 0;   // BERT: fraction of tokens selected for masked-LM prediction
  bool whole_word_masking = false;  // BERT: select whole words (a token and its ## continuations)
  // The echo: the config as given (after overrides) plus the declared default of every key it leaves out (and
  // min_lr's derived value), so OUT/train_config.json records every setting of the run; it parses back to the
  // same TrainConfig.
  Json raw;

  // Parses and validates; unknown keys are an error (a typo must not silently change a run). Errors name the
  // config keys ("train config: ...").
  static TrainConfig from_json(const Json& j);
};

// Applies "a.b=value" overrides (`lmcpp train --set`): the value is parsed as JSON when it is valid JSON, else
// taken as a string; dotted paths create nested objects as needed.
Json apply_overrides(Json config, const std::vector<std::string>& sets);

}  // namespace lm::train
