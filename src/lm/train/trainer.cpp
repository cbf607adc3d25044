// The train config: parsing and validation of the JSON keys of `lmcpp train` (unknown keys are an error), and
// the --set overrides.
#include "lm/train/trainer.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "lm/core/error.h"

namespace lm::train {

namespace {

const std::set<std::string> kKeys = {
    "model", "init", "data", "batch_size", "seq_len", "grad_accum", "max_steps", "max_tokens", "max_time",
    "lr", "min_lr", "lr_schedule", "warmup_steps", "decay_fraction", "beta1", "beta2", "eps", "weight_decay",
    "grad_clip", "dropout", "seed", "threads", "eval_every", "eval_batches", "save_every", "keep_last",
    "keep_best", "early_stopping_patience", "early_stopping_min_delta", "log_every", "shuffle", "max_nonfinite",
    "zero", "mlm_probability", "whole_word_masking", "device", "dtype", "comment"};

template <typename T>
T get(const Json& j, const char* key, T def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  try {
    return j[key].get<T>();
  } catch (const std::exception&) {
    LM_THROW(ErrorCode::InvalidArgument, "train config: \"{}\" has the wrong type: {}", key, j[key].dump());
  }
}

}  // namespace

Json apply_overrides(Json config, const std::vector<std::string>& sets) {
  for (const auto& s : sets) {
    auto eq = s.find('=');
    LM_CHECK(eq != std::string::npos && eq > 0, "--set expects key=value, got '{}'", s);
    std::string key = s.substr(0, eq), val = s.substr(eq + 1);
    Json v;
    try {
      v = Json::parse(val);
    } catch (...) {
      v = val;
    }
    Json* node = &config;
    size_t start = 0;
    for (;;) {
      size_t dot = key.find('.', start);
      std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      LM_CHECK(!part.empty(), "--set: empty key component in '{}'", key);
      if (dot == std::string::npos) {
        (*node)[part] = v;
        break;
      }
      if (!node->contains(part) || !(*node)[part].is_object()) (*node)[part] = Json::object();
      node = &(*node)[part];
      start = dot + 1;
    }
  }
  return config;
}

TrainConfig TrainConfig::from_json(const Json& j) {
  LM_CHECK(j.is_object(), "train config must be a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it)
    LM_CHECK(kKeys.count(it.key()), "train config: unknown key \"{}\"", it.key());
  TrainConfig c;
  c.raw = j;
  if (j.contains("model")) {
    LM_CHECK(j["model"].is_object(), "train config: \"model\" must be an HF-style config object");
    c.model = j["model"];
  }
  c.init = get<std::string>(j, "init", "");
  LM_CHECK(c.model.is_null() != c.init.empty(), "train config: give exactly one of \"model\" or \"init\"");
  c.data = get<std::string>(j, "data", "");
  LM_CHECK(!c.data.empty(), "train config: \"data\" (a directory written by lmcpp prepare) is required");
  c.batch_size = get<int64_t>(j, "batch_size", c.batch_size);
  c.seq_len = get<int64_t>(j, "seq_len", c.seq_len);
  c.grad_accum = get<int64_t>(j, "grad_accum", c.grad_accum);
  c.max_steps = get<int64_t>(j, "max_steps", c.max_steps);
  c.max_tokens = get<int64_t>(j, "max_tokens", c.max_tokens);
  c.max_time_s = get<double>(j, "max_time", c.max_time_s);
  c.schedule.lr = get<double>(j, "lr", 6e-4);
  c.schedule.min_lr = get<double>(j, "min_lr", c.schedule.lr * 0.1);
  c.schedule.kind = get<std::string>(j, "lr_schedule", "cosine");
  c.schedule.warmup_steps = get<int64_t>(j, "warmup_steps", 0);
  c.schedule.decay_fraction = get<double>(j, "decay_fraction", 0.2);
  c.adamw.beta1 = get<float>(j, "beta1", 0.9f);
  c.adamw.beta2 = get<float>(j, "beta2", 0.95f);
  c.adamw.eps = get<float>(j, "eps", 1e-8f);
  c.adamw.weight_decay = get<float>(j, "weight_decay", 0.1f);
  c.adamw.grad_clip = get<float>(j, "grad_clip", 1.0f);
  if (j.contains("dropout") && !j["dropout"].is_null()) c.dropout = get<float>(j, "dropout", 0.0f);
  c.seed = get<uint64_t>(j, "seed", c.seed);
  c.threads = get<int>(j, "threads", 0);
  c.eval_every = get<int64_t>(j, "eval_every", 0);
  c.eval_batches = get<int64_t>(j, "eval_batches", c.eval_batches);
  c.save_every = get<int64_t>(j, "save_every", 0);
  c.keep_last = get<int64_t>(j, "keep_last", c.keep_last);
  c.keep_best = get<bool>(j, "keep_best", true);
  c.early_stopping_patience = get<int64_t>(j, "early_stopping_patience", 0);
  c.early_stopping_min_delta = get<double>(j, "early_stopping_min_delta", 0.0);
  c.log_every = get<int64_t>(j, "log_every", 1);
  c.shuffle = get<bool>(j, "shuffle", true);
  c.max_nonfinite = get<int64_t>(j, "max_nonfinite", 5);
  c.zero = get<int>(j, "zero", 0);
  const std::string dev = get<std::string>(j, "device", "cpu");
  LM_CHECK(dev == "cpu" || dev == "cuda", "train config: \"device\" must be \"cpu\" or \"cuda\", got \"{}\"", dev);
  c.device = dev == "cuda" ? Device::CUDA : Device::CPU;
  LM_CHECK_AS(ErrorCode::Unsupported, c.device == Device::CPU || cuda_compiled(),
              "train config: \"device\": \"cuda\" needs a build with the CUDA backend (-DLM_CUDA=ON)");
  const std::string dt = get<std::string>(j, "dtype", "f32");
  LM_CHECK(dt == "f32" || dt == "bf16", "train config: \"dtype\" must be \"f32\" or \"bf16\", got \"{}\"", dt);
  c.dtype = dt == "bf16" ? DType::BF16 : DType::F32;
  LM_CHECK_AS(ErrorCode::Unsupported, c.dtype == DType::F32 || c.device == Device::CUDA,
              "train config: \"dtype\": \"bf16\" (mixed precision) needs \"device\": \"cuda\"");
  LM_CHECK_AS(ErrorCode::Unsupported, c.device == Device::CPU || c.zero == 0,
              "train config: \"zero\" (ZeRO-1 over CPU ranks) is not available with \"device\": \"cuda\"");
  c.mlm_probability = get<double>(j, "mlm_probability", c.mlm_probability);
  c.whole_word_masking = get<bool>(j, "whole_word_masking", false);
  LM_CHECK(c.mlm_probability > 0 && c.mlm_probability < 1, "train config: mlm_probability must be in (0, 1)");
  LM_CHECK(c.zero == 0 || c.zero == 1, "train config: \"zero\" must be 0 or 1 (ZeRO stage 1), got {}", c.zero);
  LM_CHECK(c.batch_size >= 1 && c.seq_len >= 1 && c.grad_accum >= 1, "train config: batch_size, seq_len and "
           "grad_accum must be >= 1");
  LM_CHECK(c.max_steps >= 1, "train config: max_steps must be >= 1");
  LM_CHECK(c.eval_every >= 0 && c.save_every >= 0 && c.eval_batches >= 1 && c.keep_last >= 1 && c.log_every >= 1,
           "train config: eval_every/save_every >= 0, eval_batches/keep_last/log_every >= 1");
  LM_CHECK(!c.dropout || (*c.dropout >= 0 && *c.dropout < 1), "train config: dropout must be in [0, 1)");
  LM_CHECK(c.adamw.beta1 >= 0 && c.adamw.beta1 < 1 && c.adamw.beta2 >= 0 && c.adamw.beta2 < 1 && c.adamw.eps > 0,
           "train config: betas must be in [0, 1) and eps > 0");
  c.schedule.max_steps = c.max_steps;
  c.schedule.validate();
  return c;
}

}  // namespace lm::train
