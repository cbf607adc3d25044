// HF PEFT's LoRA adapter files: adapter_config.json (peft.tuners.lora.LoraConfig, saved by PeftModel.
// save_pretrained) next to adapter_model.safetensors. This is the config half; the tensors are named
// "base_model.model.<module>.lora_A.weight" (r, in) / ".lora_B.weight" (out, r), and modules_to_save as
// "base_model.model.<parameter name>" (models/lora.h reads and writes them).
// Supported: peft_type LORA, bias "none", a list or a regex string (PEFT's re.fullmatch) for target_modules,
// "all-linear", use_rslora. DoRA, rank_pattern/alpha_pattern, layers_to_transform and non-default init schemes are
// rejected with Unsupported naming the key; unknown keys are kept and written back.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lm/core/json.h"

namespace lm {

inline constexpr const char* kAdapterConfigFile = "adapter_config.json";
inline constexpr const char* kAdapterWeightsFile = "adapter_model.safetensors";
inline constexpr const char* kPeftPrefix = "base_model.model.";

struct LoraSpec {
  int64_t r = 8;
  double alpha = 8.0;    // lora_alpha
  double dropout = 0.0;  // lora_dropout
  bool use_rslora = false;
  // target_modules: a list (a module matches when its path equals an entry or ends with "." + entry), or, when
  // target_regex is set, a string PEFT matches with re.fullmatch. Empty list, no regex: the family's default.
  std::vector<std::string> target_modules;
  std::string target_regex;
  bool target_is_regex = false;
  std::vector<std::string> modules_to_save;  // module names whose parameters are trained whole
  std::string task_type;                     // CAUSAL_LM, SEQ_CLS, QUESTION_ANS, FEATURE_EXTRACTION, ...
  std::string base_model_name_or_path;
  bool fan_in_fan_out = false;  // written as PEFT sets it (true for GPT-2's Conv1D)
  Json extra = Json::object();  // keys read from a file that lmcpp does not interpret (written back unchanged)

  // alpha / r, or alpha / sqrt(r) with rsLoRA.
  float scale() const;
  // Parses an adapter_config.json object; `where` names the file in errors.
  static LoraSpec from_json(const Json& j, const std::string& where);
  // The adapter_config.json object with every key PEFT writes.
  Json to_json() const;
  // `--lora r=8,alpha=16[,dropout=0.05][,rslora=1]`: errors name the bad item.
  static LoraSpec from_flag(const std::string& text);
  // A training config's "lora" object: {"r", "alpha", "dropout", "target_modules", "modules_to_save",
  // "use_rslora"} (unknown keys throw InvalidArgument).
  static LoraSpec from_train_config(const Json& j);
  // Whether module path `module` is a target (target_modules empty: never).
  bool targets(const std::string& module) const;

 private:
  static LoraSpec from_json_checked(const Json& j, const std::string& where);
};

// Reads DIR/adapter_config.json (NotFound naming the directory when DIR is not an adapter directory).
LoraSpec read_adapter_config(const std::string& dir);
// Whether DIR holds an adapter_config.json.
bool is_adapter_dir(const std::string& dir);

}  // namespace lm
