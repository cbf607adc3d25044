// CLI command registry: each cmd_<name>.cpp registers itself with LM_COMMAND; main.cpp dispatches on argv[1].
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "args.h"

namespace lm::cli {

struct Command {
  std::string name;
  std::string summary;  // one line for `lmcpp --help`
  std::string usage;    // full text for `lmcpp <name> --help`
  std::function<int(Args&)> run;
};

std::vector<Command>& commands();

struct Registrar {
  explicit Registrar(Command c) { commands().push_back(std::move(c)); }
};

}  // namespace lm::cli

#define LM_CLI_CONCAT2(a, b) a##b
#define LM_CLI_CONCAT(a, b) LM_CLI_CONCAT2(a, b)
#define LM_COMMAND(...) static ::lm::cli::Registrar LM_CLI_CONCAT(lm_cmd_registrar_, __LINE__)(::lm::cli::Command{__VA_ARGS__})
