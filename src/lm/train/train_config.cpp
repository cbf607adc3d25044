// The train config's key table, TrainConfig::from_json (unknown keys, declared defaults, validation, the echo) and
// the --set overrides.
#include "lm/train/train_config.h"

#include <algorithm>

#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/core/suggest.h"
#include "lm/models/model.h"

namespace lm::train {
namespace {

ConfigKey key(const char* name, const char* default_text, const char* help) {
  std::string text = default_text;
  return ConfigKey{name, text, text.empty() ? Json() : Json::parse(text), help};
}

}  // namespace

const std::vector<ConfigKey>& train_config_keys() {
  static const std::vector<ConfigKey> keys = {
      key("model", "",
          "HF-style config object: model_type \"gpt2\" (GPT, next-token prediction) or \"bert\" (BERT, masked LM + "
          "next-sentence prediction; \"architectures\" picks the head); vocab_size defaults to the data's. Give "
          "exactly one of model and init"),
      key("init", "", "an HF model directory to start from (instead of model)"),
      key("lora", "", "train a LoRA adapter on init instead of every weight: {\"r\", \"alpha\", \"dropout\", "
                      "\"target_modules\", \"modules_to_save\", \"use_rslora\"}; OUT is a PEFT adapter directory"),
      key("data", "", "a directory written by lmcpp prepare (BERT: a sentences layout) (required)"),
      key("batch_size", "8", "sequences per micro-batch, per process"),
      key("seq_len", "256", "tokens per sequence"),
      key("grad_accum", "1", "micro-batches per optimizer step"),
      key("max_steps", "1000", "optimizer steps; the learning-rate schedule ends here"),
      key("max_tokens", "0", "also stop once this many tokens are trained (0: off)"),
      key("max_time", "0", "also stop, with a checkpoint, after this many seconds (0: off)"),
      key("lr", "6e-4", "peak learning rate"),
      key("min_lr", "", "final learning rate (default: lr / 10)"),
      key("lr_schedule", "\"cosine\"",
          "\"constant\", \"linear\", \"cosine\" or \"wsd\" (warmup-stable-decay), after the warmup"),
      key("warmup_steps", "0", "steps of linear warmup from 0 to lr"),
      key("decay_fraction", "0.2", "wsd: the last fraction of the steps, decaying linearly to min_lr"),
      key("beta1", "0.9", "AdamW beta1"),
      key("beta2", "0.95", "AdamW beta2"),
      key("eps", "1e-8", "AdamW epsilon"),
      key("weight_decay", "0.1", "AdamW decoupled weight decay, on the parameters the model marks for decay"),
      key("grad_clip", "1.0", "clip the global gradient norm to this (<= 0: off)"),
      key("dropout", "", "every dropout probability of the model, in [0, 1) (default: the model config's own)"),
      key("seed", "1337", "seed of the initialisation, data order, dropout and masking"),
      key("threads", "0", "CPU threads (0: all)"),
      key("eval_every", "0", "validate every N steps (0: only at the end)"),
      key("eval_batches", "20", "validation batches per evaluation"),
      key("save_every", "0", "write a checkpoint every N steps (0: only at the end)"),
      key("keep_last", "2", "checkpoints kept in OUT/checkpoints/"),
      key("keep_best", "true", "keep the model with the best val loss in OUT/best/"),
      key("early_stopping_patience", "0", "stop after N evaluations without improvement (0: off)"),
      key("early_stopping_min_delta", "0.0", "the val loss decrease that counts as an improvement"),
      key("log_every", "1", "write a metrics.jsonl line every N steps"),
      key("shuffle", "true", "shuffle the order of the training batches"),
      key("max_nonfinite", "5", "give up after N consecutive steps with a non-finite loss or gradient (each is "
                                "skipped)"),
      key("zero", "0", "1: ZeRO stage 1, the AdamW moments sharded over the data-parallel CPU ranks"),
      key("mlm_probability", "0.15", "BERT: fraction of the tokens selected for masked-LM prediction, in (0, 1)"),
      key("whole_word_masking", "false", "BERT: select whole words (a token and its ## continuations)"),
      key("device", "\"cpu\"", "\"cpu\" or \"cuda\" (one GPU, one process; builds with -DLM_CUDA=ON)"),
      key("dtype", "\"f32\"", "\"f32\" or \"bf16\" (mixed precision; device \"cuda\", GPT only)"),
      key("comment", "", "free text, ignored"),
  };
  return keys;
}

namespace {

const ConfigKey& declared(const std::string& name) {
  for (const auto& k : train_config_keys())
    if (k.name == name) return k;
  LM_THROW(ErrorCode::Internal, "train config: key \"{}\" is read but not declared", name);
}

// The value of `key`: as given (null counts as absent), else the declared default.
template <typename T>
T value(const Json& j, const char* key) {
  const Json& v = j.contains(key) && !j[key].is_null() ? j[key] : declared(key).default_value;
  try {
    return v.get<T>();
  } catch (const std::exception&) {
    LM_THROW(ErrorCode::InvalidArgument, "train config: \"{}\" has the wrong type: {}", key, v.dump());
  }
}

// The same for keys without a declared default (derived or optional): `def` when absent.
template <typename T>
T value_or(const Json& j, const char* key, T def) {
  return j.contains(key) && !j[key].is_null() ? value<T>(j, key) : def;
}

// The echo: the given keys as given, every other key with a declared default at that default, min_lr derived.
Json echo(const Json& j, const TrainConfig& c) {
  Json e = Json::object();
  for (const auto& k : train_config_keys()) {
    if (j.contains(k.name))
      e[k.name] = j[k.name];
    else if (!k.default_value.is_null())
      e[k.name] = k.default_value;
  }
  if (!e.contains("min_lr") || e["min_lr"].is_null()) e["min_lr"] = c.schedule.min_lr;
  return e;
}

}  // namespace

Json apply_overrides(Json config, const std::vector<std::string>& sets) {
  for (const auto& s : sets) {
    auto eq = s.find('=');
    LM_CHECK(eq != std::string::npos && eq > 0, "train config override expects key=value, got '{}'", s);
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
      LM_CHECK(!part.empty(), "train config override: empty key component in '{}'", key);
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
  std::vector<std::string> names;
  for (const auto& k : train_config_keys()) names.push_back(k.name);
  for (auto it = j.begin(); it != j.end(); ++it) {
    const bool known = std::find(names.begin(), names.end(), it.key()) != names.end();
    LM_CHECK(known, "train config: unknown key \"{}\"{}", it.key(), did_you_mean(it.key(), names));
  }
  TrainConfig c;
  if (j.contains("model")) {
    LM_CHECK(j["model"].is_object(), "train config: \"model\" must be an HF-style config object");
    c.model = j["model"];
  }
  c.init = value_or<std::string>(j, "init", "");
  LM_CHECK(c.model.is_null() != c.init.empty(), "train config: give exactly one of \"model\" or \"init\"");
  if (!c.model.is_null()) {  // a typo in the model object must not silently train the family's default size
    Json m = c.model;
    if (!m.contains("model_type")) m["model_type"] = kDefaultModelType;
    models::check_config_keys(m, "train config \"model\"");
  }
  if (j.contains("lora") && !j["lora"].is_null()) {
    c.lora = LoraSpec::from_train_config(j["lora"]);
    LM_CHECK(!c.init.empty(), "train config: \"lora\" trains an adapter on a model: give \"init\"");
    c.lora->base_model_name_or_path = c.init;
  }
  c.data = value_or<std::string>(j, "data", "");
  LM_CHECK(!c.data.empty(), "train config: \"data\" (a directory written by lmcpp prepare) is required");
  c.batch_size = value<int64_t>(j, "batch_size");
  c.seq_len = value<int64_t>(j, "seq_len");
  c.grad_accum = value<int64_t>(j, "grad_accum");
  c.max_steps = value<int64_t>(j, "max_steps");
  c.max_tokens = value<int64_t>(j, "max_tokens");
  c.max_time_s = value<double>(j, "max_time");
  c.schedule.lr = value<double>(j, "lr");
  c.schedule.min_lr = value_or<double>(j, "min_lr", c.schedule.lr * 0.1);
  c.schedule.kind = value<std::string>(j, "lr_schedule");
  c.schedule.warmup_steps = value<int64_t>(j, "warmup_steps");
  c.schedule.decay_fraction = value<double>(j, "decay_fraction");
  c.adamw.beta1 = value<float>(j, "beta1");
  c.adamw.beta2 = value<float>(j, "beta2");
  c.adamw.eps = value<float>(j, "eps");
  c.adamw.weight_decay = value<float>(j, "weight_decay");
  c.adamw.grad_clip = value<float>(j, "grad_clip");
  if (j.contains("dropout") && !j["dropout"].is_null()) c.dropout = value<float>(j, "dropout");
  c.seed = value<uint64_t>(j, "seed");
  c.threads = value<int>(j, "threads");
  c.eval_every = value<int64_t>(j, "eval_every");
  c.eval_batches = value<int64_t>(j, "eval_batches");
  c.save_every = value<int64_t>(j, "save_every");
  c.keep_last = value<int64_t>(j, "keep_last");
  c.keep_best = value<bool>(j, "keep_best");
  c.early_stopping_patience = value<int64_t>(j, "early_stopping_patience");
  c.early_stopping_min_delta = value<double>(j, "early_stopping_min_delta");
  c.log_every = value<int64_t>(j, "log_every");
  c.shuffle = value<bool>(j, "shuffle");
  c.max_nonfinite = value<int64_t>(j, "max_nonfinite");
  c.zero = value<int>(j, "zero");
  const std::string dev = value<std::string>(j, "device");
  LM_CHECK(dev == "cpu" || dev == "cuda", "train config: \"device\" must be \"cpu\" or \"cuda\", got \"{}\"", dev);
  c.device = dev == "cuda" ? Device::CUDA : Device::CPU;
  LM_CHECK_AS(ErrorCode::Unsupported, c.device == Device::CPU || cuda_compiled(),
              "train config: \"device\": \"cuda\" needs a build with the CUDA backend (-DLM_CUDA=ON)");
  const std::string dt = value<std::string>(j, "dtype");
  LM_CHECK(dt == "f32" || dt == "bf16", "train config: \"dtype\" must be \"f32\" or \"bf16\", got \"{}\"", dt);
  c.dtype = dt == "bf16" ? DType::BF16 : DType::F32;
  LM_CHECK_AS(ErrorCode::Unsupported, c.dtype == DType::F32 || c.device == Device::CUDA,
              "train config: \"dtype\": \"bf16\" (mixed precision) needs \"device\": \"cuda\"");
  LM_CHECK_AS(ErrorCode::Unsupported, c.device == Device::CPU || c.zero == 0,
              "train config: \"zero\" (ZeRO-1 over CPU ranks) is not available with \"device\": \"cuda\"");
  c.mlm_probability = value<double>(j, "mlm_probability");
  c.whole_word_masking = value<bool>(j, "whole_word_masking");
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
  c.raw = echo(j, c);
  return c;
}

}  // namespace lm::train
