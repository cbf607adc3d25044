// `lmcpp completion bash`: a bash completion script generated from the command registry. Declared commands give
// their flags, choices, path-valued flags and operand from their CommandSpec; a command with hand-written usage
// (bench) gives what its synopsis lines show (subcommands, "[--flag VALUE]", "--flag a|b|c" choices).
#pragma once

#include <string>
#include <vector>

#include "command.h"

namespace lm::cli {

// One flag as completion sees it.
struct CompletionFlag {
  std::string name{};                  // "--model"
  std::string value_name{};            // "DIR"; empty for a switch
  std::vector<std::string> choices{};  // the accepted values, when they are a closed list
  bool takes_rest = false;             // "--input FILE...": the plain words after it are more values
};

// The synopsis of a hand-written usage text: the subcommands ("lmcpp bench train ...": "train") and the flags
// each synopsis line shows (subcommand "" when the usage has none). Lines of prose (not starting with "usage:",
// "lmcpp " or "[") are skipped; a flag shown by several subcommands with different choices gets their union.
struct UsageSynopsis {
  std::vector<std::pair<std::string, std::vector<CompletionFlag>>> subcommands;
};
UsageSynopsis parse_usage_synopsis(const std::string& command, const std::string& usage);

// The completion flags of a declared command.
std::vector<CompletionFlag> completion_flags(const CommandSpec& spec);

// How a flag's value completes: 'd' directory names, 'f' file (and directory) names, 0 nothing (free text) — from
// the value name: DIR alone is a directory, FILE / PATH / OUT.json and the like are files.
char path_kind(const std::string& value_name);

// The whole script: defines _lmcpp and registers it with `complete -F _lmcpp lmcpp`.
std::string bash_completion_script(const std::vector<Command>& commands);

}  // namespace lm::cli
