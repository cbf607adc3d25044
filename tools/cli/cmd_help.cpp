// `lmcpp help [COMMAND]` (the global help, or what `lmcpp COMMAND --help` prints) and `lmcpp completion bash` (a
// bash completion script generated from the command registry).
#include <cstdio>

#include "command.h"
#include "completion.h"
#include "lm/core/error.h"
#include "lm/core/suggest.h"

namespace lm::cli {
namespace {

const CommandSpec kHelp{
    .name = "help",
    .summary = "the list of commands, or one command's flags and examples (as lmcpp COMMAND --help)",
    .description = "Without COMMAND: what lmcpp --help prints (every command with one line). With COMMAND: exactly "
                   "what lmcpp COMMAND --help prints (usage, flags, examples).",
    .operand = OperandSpec{.name = "COMMAND", .help = "the command to describe"},
    .examples = {{.command = "lmcpp help generate", .comment = "the flags and examples of generate"},
                 {.command = "lmcpp help", .comment = "every command with one line"}},
};

int run_help(const Flags& f) {
  if (!f.operand()) {
    std::printf("%s\n", global_help().c_str());
    return 0;
  }
  const std::string& name = *f.operand();
  const Command* c = find_command(name);
  if (c == nullptr) {
    std::vector<std::string> names;
    for (const auto& d : commands()) names.push_back(d.name);
    LM_THROW(ErrorCode::InvalidArgument, "unknown command '{}'{}, in lmcpp help (see lmcpp help)", name,
             did_you_mean(name, names));
  }
  std::printf("%s\n", command_help(*c).c_str());
  return 0;
}

const CommandSpec kCompletion{
    .name = "completion",
    .summary = "print a bash completion script (source <(lmcpp completion bash))",
    .description = "Prints a bash script that completes lmcpp's command names, then the flags of the command (bench: "
                   "its subcommands, then their flags), the choices of a choice flag, and file or directory names "
                   "after a flag whose value is a path. Load it in the current shell with source <(lmcpp completion "
                   "bash) (in ~/.bashrc), or save it where bash-completion finds it: lmcpp completion bash > "
                   "~/.local/share/bash-completion/completions/lmcpp",
    .operand = OperandSpec{.name = "SHELL", .help = "the shell", .is_required = true, .choices = {"bash"}},
    .examples = {{.command = "lmcpp completion bash > ~/.local/share/bash-completion/completions/lmcpp",
                  .comment = "install for new shells (or in ~/.bashrc: source <(lmcpp completion bash))"}},
};

int run_completion(const Flags&) {
  std::fputs(bash_completion_script(commands()).c_str(), stdout);
  return 0;
}

LM_DECLARE_COMMAND(kHelp, run_help);
LM_DECLARE_COMMAND(kCompletion, run_completion);

}  // namespace
}  // namespace lm::cli
