// CLI command registry: each cmd_<name>.cpp registers itself; main.cpp dispatches on argv[1].
// Declared commands (LM_DECLARE_COMMAND) list their flags in a CommandSpec (flags.h): parsing and --help come from
// it. Commands not converted yet register with LM_COMMAND, read flags through Args and hand-write their usage text
// (plus examples). The global help, `lmcpp help` and `lmcpp completion bash` read this registry.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "args.h"
#include "flags.h"

namespace lm::cli {

struct Command {
  std::string name{};
  std::string summary{};                          // one line for `lmcpp --help`
  std::string usage{};                            // hand-written `lmcpp <name> --help` text (Args commands)
  std::function<int(Args&)> run{};                // Args commands
  const CommandSpec* spec = nullptr;              // declared commands: flags, description, generated --help
  std::function<int(const Flags&)> run_flags{};   // declared commands
  std::vector<Example> examples{};                // Args commands: the examples closing their --help
};

std::vector<Command>& commands();

// The registered command named `name`, or nullptr.
const Command* find_command(const std::string& name);
// `lmcpp --help` and `lmcpp help`: what lmcpp is, how to get more help, one line per command (sorted by name).
std::string global_help();
// `lmcpp CMD --help` and `lmcpp help CMD`: generated from the spec, or the hand-written usage and its examples.
std::string command_help(const Command& c);

struct Registrar {
  explicit Registrar(Command c) { commands().push_back(std::move(c)); }
  // `spec` must outlive the program (a namespace-scope constant).
  Registrar(const CommandSpec& spec, std::function<int(const Flags&)> run) {
    commands().push_back(Command{.name = spec.name, .summary = spec.summary, .spec = &spec,
                                 .run_flags = std::move(run)});
  }
};

}  // namespace lm::cli

#define LM_CLI_CONCAT2(a, b) a##b
#define LM_CLI_CONCAT(a, b) LM_CLI_CONCAT2(a, b)
#define LM_COMMAND(...) static ::lm::cli::Registrar LM_CLI_CONCAT(lm_cmd_registrar_, __LINE__)(::lm::cli::Command{__VA_ARGS__})
// LM_DECLARE_COMMAND(kSpec, run): kSpec a CommandSpec constant of this file, run an int(const Flags&).
#define LM_DECLARE_COMMAND(spec, run) \
  static ::lm::cli::Registrar LM_CLI_CONCAT(lm_cmd_registrar_, __LINE__)((spec), (run))
