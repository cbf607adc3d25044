// The lazy flag parser of the commands not yet declared (flags.h); value checks are shared with Flags.
#include "args.h"

#include <cerrno>
#include <cstdlib>

#include "flags.h"
#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/core/suggest.h"

namespace lm::cli {

Args::Args(std::string command, std::vector<std::string> argv) : command_(std::move(command)) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--help" || a == "-h") {
      help_ = true;
      continue;
    }
    if (a.rfind("--", 0) == 0 && a.size() > 2) {
      auto eq = a.find('=');
      if (eq != std::string::npos) {
        values_.emplace(a.substr(0, eq), a.substr(eq + 1));
        order_.push_back(a.substr(0, eq));
      } else if (i + 1 < argv.size() && (argv[i + 1].rfind("--", 0) != 0 || argv[i + 1].size() == 2)) {
        // A value follows unless the next token is itself a flag. Boolean flags that are followed by a
        // positional are resolved in flag(): the value is returned to the positionals.
        values_.emplace(a, argv[i + 1]);
        order_.push_back(a);
        ++i;
      } else {
        bools_seen_.insert(a);
        order_.push_back(a);
      }
    } else {
      positional_.push_back(a);
    }
  }
}

std::optional<std::string> Args::get(const std::string& name) {
  declared_.insert(name);
  LM_CHECK(!bools_seen_.count(name), "{} needs a value, in lmcpp {}", name, command_);
  auto range = values_.equal_range(name);
  if (range.first == range.second) return std::nullopt;
  auto last = range.second;
  --last;
  return last->second;
}

std::string Args::get_or(const std::string& name, const std::string& def) {
  auto v = get(name);
  return v ? *v : def;
}

std::string Args::require(const std::string& name) {
  auto v = get(name);
  LM_CHECK(v.has_value(), "missing required flag {}, in lmcpp {} (see lmcpp {} --help)", name, command_, command_);
  return *v;
}

std::vector<std::string> Args::get_all(const std::string& name) {
  declared_.insert(name);
  std::vector<std::string> out;
  auto range = values_.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  return out;
}

bool Args::flag(const std::string& name) {
  declared_.insert(name);
  if (bools_seen_.count(name)) return true;
  auto range = values_.equal_range(name);
  if (range.first == range.second) return false;
  // "--json foo": the token after a boolean flag was a positional.
  for (auto it = range.first; it != range.second; ++it) {
    const std::string& v = it->second;
    if (v == "true" || v == "1") continue;
    if (v == "false" || v == "0") return false;
    positional_.push_back(v);
  }
  values_.erase(name);
  bools_seen_.insert(name);
  return true;
}

int64_t Args::get_int(const std::string& name, int64_t def) {
  auto v = get(name);
  return v ? parse_int_value(name, *v, command_) : def;
}

double Args::get_double(const std::string& name, double def) {
  auto v = get(name);
  return v ? parse_double_value(name, *v, command_) : def;
}

void Args::finish() {
  for (const auto& name : order_) {
    LM_CHECK(declared_.count(name), "unknown flag {}{}, in lmcpp {} (see lmcpp {} --help)", name,
             did_you_mean(name, std::vector<std::string>(declared_.begin(), declared_.end())), command_,
             command_);
  }
  LM_CHECK(positional_.empty(), "unexpected argument '{}', in lmcpp {}", positional_.empty() ? "" : positional_[0],
           command_);
}

std::vector<int64_t> parse_id_list(const std::string& s, const std::string& what) {
  // Ids separated by commas and/or white space, so `lmcpp tokenize` output (blank-separated, newline-ended,
  // one line per input line) pastes in: "464,2068,7586", "464 2068 7586", "464, 2068\n".
  const std::string blank = " \t\n\r\v\f", separators = "," + blank;
  std::vector<int64_t> ids;
  LM_CHECK(s.find_first_not_of(blank) != std::string::npos, "{} is empty; expected ids like 464,2068,7586",
           what);
  size_t i = 0;
  bool after_comma = true;  // a comma needs an id before the next one
  while (i < s.size()) {
    if (blank.find(s[i]) != std::string::npos) {
      ++i;
      continue;
    }
    if (s[i] == ',') {
      LM_CHECK(!after_comma, "{}: empty id at position {} (a comma with no id before it)", what, ids.size());
      after_comma = true;
      ++i;
      continue;
    }
    size_t j = s.find_first_of(separators, i);
    if (j == std::string::npos) j = s.size();
    const std::string tok = s.substr(i, j - i);
    errno = 0;
    char* end = nullptr;
    long long x = std::strtoll(tok.c_str(), &end, 10);
    LM_CHECK(*end == 0 && errno == 0 && x >= 0, "{}: '{}' at position {} is not a non-negative integer id", what,
             tok, ids.size());
    ids.push_back(x);
    after_comma = false;
    i = j;
  }
  LM_CHECK(!after_comma, "{}: empty id at position {} (the list ends with a comma)", what, ids.size());
  return ids;
}

Device parse_device(const std::string& s, const std::string& command) {
  LM_CHECK(s == "cpu" || s == "cuda", "--device must be cpu or cuda, got '{}'", s);
  if (s == "cpu") return Device::CPU;
  LM_CHECK_AS(ErrorCode::Unsupported, cuda_compiled(),
              "{} --device cuda: this build has no CUDA backend (configure with -DLM_CUDA=ON)", command);
  LM_CHECK_AS(ErrorCode::Unsupported, cuda_device_count() > 0,
              "{} --device cuda: no CUDA device is visible (driver or GPU missing)", command);
  return Device::CUDA;
}

DType parse_bert_weights(const std::string& s) {
  if (s == "f32") return DType::F32;
  if (s == "bf16") return DType::BF16;
  if (s == "int8") return DType::I8;
  LM_THROW(ErrorCode::InvalidArgument, "--weights must be f32, bf16 or int8, got '{}'", s);
}

}  // namespace lm::cli
