// PEFT's adapter_config.json: parsing with every unsupported feature named, writing with PEFT's keys.
#include "lm/io/peft.h"

#include <cmath>
#include <regex>
#include <set>

#include "lm/core/error.h"
#include "lm/core/file_util.h"

namespace lm {

namespace {

// Keys lmcpp interprets; the rest of a file's keys go to `extra` after the checks below.
const std::set<std::string> kKnown = {"peft_type", "r", "lora_alpha", "lora_dropout", "use_rslora", "target_modules",
                                      "modules_to_save", "task_type", "base_model_name_or_path", "fan_in_fan_out",
                                      "bias"};

std::vector<std::string> string_list(const Json& v, const std::string& key, const std::string& where) {
  std::vector<std::string> out;
  if (v.is_null()) return out;
  LM_CHECK_AS(ErrorCode::BadFormat, v.is_array(), "{}: \"{}\" must be a list of module names", where, key);
  for (const auto& e : v) {
    LM_CHECK_AS(ErrorCode::BadFormat, e.is_string(), "{}: \"{}\" must be a list of module names", where, key);
    out.push_back(e.get<std::string>());
  }
  return out;
}

bool empty_value(const Json& v) {
  return v.is_null() || (v.is_boolean() && !v.get<bool>()) || ((v.is_object() || v.is_array()) && v.empty());
}

void check_r_alpha(const LoraSpec& s, const std::string& where) {
  LM_CHECK(s.r >= 1 && s.r <= 4096, "{}: r must be in [1, 4096], got {}", where, s.r);
  LM_CHECK(std::isfinite(s.alpha) && s.alpha > 0, "{}: alpha must be > 0, got {}", where, s.alpha);
  LM_CHECK(s.dropout >= 0 && s.dropout < 1, "{}: dropout must be in [0, 1), got {}", where, s.dropout);
}

}  // namespace

float LoraSpec::scale() const {
  return static_cast<float>(use_rslora ? alpha / std::sqrt(static_cast<double>(r)) : alpha / static_cast<double>(r));
}

LoraSpec LoraSpec::from_json(const Json& j, const std::string& where) {
  try {
    return from_json_checked(j, where);
  } catch (const Json::exception& e) {  // a key of the wrong JSON type
    LM_THROW(ErrorCode::BadFormat, "{}: {}", where, e.what());
  }
}

LoraSpec LoraSpec::from_json_checked(const Json& j, const std::string& where) {
  LM_CHECK_AS(ErrorCode::BadFormat, j.is_object(), "{}: not a JSON object", where);
  const std::string type = j.value("peft_type", std::string("LORA"));
  LM_CHECK_AS(ErrorCode::Unsupported, type == "LORA", "{}: peft_type {} is not supported (LORA only)", where, type);
  LoraSpec s;
  try {
    s.r = j.value("r", int64_t{8});
    s.alpha = j.value("lora_alpha", 8.0);
    s.dropout = j.contains("lora_dropout") && !j["lora_dropout"].is_null() ? j["lora_dropout"].get<double>() : 0.0;
    s.use_rslora = j.value("use_rslora", false);
    s.fan_in_fan_out = j.value("fan_in_fan_out", false);
    if (j.contains("task_type") && j["task_type"].is_string()) s.task_type = j["task_type"].get<std::string>();
    if (j.contains("base_model_name_or_path") && j["base_model_name_or_path"].is_string())
      s.base_model_name_or_path = j["base_model_name_or_path"].get<std::string>();
  } catch (const Json::exception& e) {
    LM_THROW(ErrorCode::BadFormat, "{}: {}", where, e.what());
  }
  check_r_alpha(s, where);
  const Json tm = j.value("target_modules", Json());
  if (tm.is_string()) {
    s.target_regex = tm.get<std::string>();
    // libstdc++'s regex compiler and matcher recurse: a bounded pattern keeps a hostile file from the stack's end.
    LM_CHECK_AS(ErrorCode::BadFormat, s.target_regex.size() <= 256,
                "{}: target_modules is a regular expression of {} characters (at most 256)", where,
                s.target_regex.size());
    s.target_is_regex = s.target_regex != "all-linear";
    if (!s.target_is_regex) s.target_modules = {"all-linear"};
    try {
      if (s.target_is_regex) std::regex check(s.target_regex);
    } catch (const std::regex_error&) {
      LM_THROW(ErrorCode::BadFormat, "{}: target_modules \"{}\" is not a valid regular expression", where,
               s.target_regex);
    }
  } else {
    s.target_modules = string_list(tm, "target_modules", where);
  }
  s.modules_to_save = string_list(j.value("modules_to_save", Json()), "modules_to_save", where);
  const std::string bias = j.value("bias", std::string("none"));
  LM_CHECK_AS(ErrorCode::Unsupported, bias == "none", "{}: bias \"{}\" is not supported (\"none\" only)", where, bias);
  for (const char* k : {"use_dora", "rank_pattern", "alpha_pattern", "layers_to_transform", "layer_replication",
                        "megatron_config", "use_qalora"})
    LM_CHECK_AS(ErrorCode::Unsupported, !j.contains(k) || empty_value(j[k]), "{}: \"{}\" is not supported", where, k);
  if (j.contains("init_lora_weights")) {
    const Json& v = j["init_lora_weights"];
    LM_CHECK_AS(ErrorCode::Unsupported, v.is_boolean(),
                "{}: init_lora_weights {} is not supported (true or false: the file's weights are used anyway)",
                where, v.dump());
  }
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!kKnown.count(it.key())) s.extra[it.key()] = it.value();
  return s;
}

Json LoraSpec::to_json() const {
  // PEFT 0.13's LoraConfig fields with their defaults; a file read keeps its own values of the others.
  Json j = {{"alpha_pattern", Json::object()},
            {"auto_mapping", nullptr},
            {"bias", "none"},
            {"inference_mode", true},
            {"init_lora_weights", true},
            {"layer_replication", nullptr},
            {"layers_pattern", nullptr},
            {"layers_to_transform", nullptr},
            {"loftq_config", Json::object()},
            {"megatron_config", nullptr},
            {"megatron_core", "megatron.core"},
            {"rank_pattern", Json::object()},
            {"revision", nullptr},
            {"use_dora", false}};
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
  j["peft_type"] = "LORA";
  j["r"] = r;
  j["lora_alpha"] = alpha;
  j["lora_dropout"] = dropout;
  j["use_rslora"] = use_rslora;
  j["fan_in_fan_out"] = fan_in_fan_out;
  j["task_type"] = task_type.empty() ? Json() : Json(task_type);
  j["base_model_name_or_path"] = base_model_name_or_path.empty() ? Json() : Json(base_model_name_or_path);
  if (target_is_regex)
    j["target_modules"] = target_regex;
  else if (target_modules == std::vector<std::string>{"all-linear"})
    j["target_modules"] = "all-linear";
  else
    j["target_modules"] = target_modules;
  j["modules_to_save"] = modules_to_save.empty() ? Json() : Json(modules_to_save);
  return j;
}

LoraSpec LoraSpec::from_flag(const std::string& text) {
  LoraSpec s;
  bool have_r = false, have_alpha = false;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    LM_CHECK(eq != std::string::npos, "--lora: \"{}\" is not key=value (r=8,alpha=16[,dropout=0.05][,rslora=1])",
             item);
    const std::string k = item.substr(0, eq), v = item.substr(eq + 1);
    try {
      size_t used = 0;
      if (k == "r") {
        s.r = std::stoll(v, &used);
        have_r = true;
      } else if (k == "alpha") {
        s.alpha = std::stod(v, &used);
        have_alpha = true;
      } else if (k == "dropout") {
        s.dropout = std::stod(v, &used);
      } else if (k == "rslora") {
        LM_CHECK(v == "0" || v == "1", "--lora: rslora must be 0 or 1, got \"{}\"", v);
        s.use_rslora = v == "1";
        used = v.size();
      } else {
        LM_THROW(ErrorCode::InvalidArgument, "--lora: unknown key \"{}\" (r, alpha, dropout, rslora)", k);
      }
      LM_CHECK(used == v.size(), "--lora: {}=\"{}\" is not a number", k, v);
    } catch (const std::logic_error&) {
      LM_THROW(ErrorCode::InvalidArgument, "--lora: {}=\"{}\" is not a number", k, v);
    }
  }
  LM_CHECK(have_r, "--lora: r is required (r=8,alpha=16)");
  if (!have_alpha) s.alpha = static_cast<double>(s.r);
  check_r_alpha(s, "--lora");
  return s;
}

LoraSpec LoraSpec::from_train_config(const Json& j) {
  const std::string where = "config \"lora\"";
  LM_CHECK(j.is_object(), "{}: must be an object", where);
  static const std::set<std::string> keys = {"r", "alpha", "dropout", "target_modules", "modules_to_save",
                                             "use_rslora"};
  for (auto it = j.begin(); it != j.end(); ++it)
    LM_CHECK(keys.count(it.key()), "{}: unknown key \"{}\" (r, alpha, dropout, target_modules, modules_to_save, "
             "use_rslora)", where, it.key());
  LoraSpec s;
  try {
    s.r = j.value("r", int64_t{8});
    s.alpha = j.value("alpha", static_cast<double>(s.r));
    s.dropout = j.value("dropout", 0.0);
    s.use_rslora = j.value("use_rslora", false);
  } catch (const Json::exception& e) {
    LM_THROW(ErrorCode::InvalidArgument, "{}: {}", where, e.what());
  }
  check_r_alpha(s, where);
  try {
    s.target_modules = string_list(j.value("target_modules", Json()), "target_modules", where);
    s.modules_to_save = string_list(j.value("modules_to_save", Json()), "modules_to_save", where);
  } catch (const Error& e) {
    LM_THROW(ErrorCode::InvalidArgument, "{}", e.what());
  }
  return s;
}

bool LoraSpec::targets(const std::string& module) const {
  if (target_is_regex) return std::regex_match(module, std::regex(target_regex));
  for (const auto& t : target_modules) {
    if (t == "all-linear" || module == t) return true;
    if (module.size() > t.size() && module.compare(module.size() - t.size(), t.size(), t) == 0 &&
        module[module.size() - t.size() - 1] == '.')
      return true;
  }
  return false;
}

bool is_adapter_dir(const std::string& dir) { return file_exists(path_join(dir, kAdapterConfigFile)); }

LoraSpec read_adapter_config(const std::string& dir) {
  const std::string path = path_join(dir, kAdapterConfigFile);
  LM_CHECK_AS(ErrorCode::NotFound, file_exists(path),
              "{} not found: an adapter directory holds adapter_config.json + adapter_model.safetensors", path);
  return LoraSpec::from_json(read_json_file(path), path);
}

}  // namespace lm
