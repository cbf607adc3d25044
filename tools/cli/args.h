// The old, lazy flag parser, kept for the commands not yet declared in a CommandSpec (flags.h): "--name value",
// "--name=value", boolean "--flag", repeated flags; a flag counts as declared when the command first reads it, and
// finish() makes any other flag a usage error (exit 2). New commands use CommandSpec + Flags instead.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "lm/core/device.h"
#include "lm/core/dtype.h"

namespace lm::cli {

class Args {
 public:
  Args(std::string command, std::vector<std::string> argv);
  const std::string& command() const { return command_; }

  // Declaration + lookup. Values are the last occurrence unless get_all is used.
  std::optional<std::string> get(const std::string& name);
  std::string get_or(const std::string& name, const std::string& def);
  std::string require(const std::string& name);
  std::vector<std::string> get_all(const std::string& name);
  bool flag(const std::string& name);
  int64_t get_int(const std::string& name, int64_t def);
  double get_double(const std::string& name, double def);
  std::vector<std::string>& positional() { return positional_; }

  // After all flags are read: throws a usage error for any undeclared one.
  void finish();
  bool help_requested() const { return help_; }

 private:
  std::string command_;
  std::multimap<std::string, std::string> values_;
  std::set<std::string> bools_seen_;
  std::set<std::string> declared_;
  std::vector<std::string> positional_;
  std::vector<std::string> order_;
  bool help_ = false;
};

// The --weights value of BERT inference (evaluate, bench bert): "f32", "bf16" or "int8" -> F32, BF16, I8.
// Anything else is a usage error naming the flag.
DType parse_bert_weights(const std::string& s);

// The --device value of a command: "cpu" or "cuda". cuda must be compiled in (LM_CUDA=ON) and see a GPU; each
// failure is one error naming the command ("finetune --device cuda: no CUDA device is visible ...").
Device parse_device(const std::string& s, const std::string& command);

// Parses "464,2068,7586", "464 2068 7586" or "464, 2068" (commas and/or white space, newlines included, so
// `lmcpp tokenize` output pastes in) into ids. An empty list, an empty item between commas or an item that is
// not a non-negative integer is one InvalidArgument naming `what` (the flag) and the item.
std::vector<int64_t> parse_id_list(const std::string& s, const std::string& what);

}  // namespace lm::cli
