// The command registry and the help texts built from it: `lmcpp --help` (one line per command) and each command's
// --help (generated from its CommandSpec, or hand-written usage followed by its examples).
#include "command.h"

#include <fmt/format.h>

#include <algorithm>

namespace lm::cli {

std::vector<Command>& commands() {
  static std::vector<Command> c;
  return c;
}

const Command* find_command(const std::string& name) {
  for (const auto& c : commands())
    if (c.name == name) return &c;
  return nullptr;
}

std::string global_help() {
  std::string out = fmt::format(
      "lmcpp {}: tokenize, pretrain, fine-tune, evaluate and generate with GPT and BERT models.\n\n"
      "usage: lmcpp <command> [flags]\n"
      "       lmcpp help <command>     (or lmcpp <command> --help: its flags and examples)\n"
      "       lmcpp completion bash    (tab completion: source <(lmcpp completion bash))\n\ncommands:\n",
      LM_VERSION);
  std::vector<const Command*> cmds;
  for (const auto& c : commands()) cmds.push_back(&c);
  std::sort(cmds.begin(), cmds.end(), [](const Command* a, const Command* b) { return a->name < b->name; });
  for (const Command* c : cmds) out += fmt::format("  {:<16} {}\n", c->name, c->summary);
  out += "\nStart with lmcpp quickstart (a small GPT trained in minutes), then lmcpp help generate.";
  return out;
}

std::string command_help(const Command& c) {
  if (c.spec) return generate_help(*c.spec);
  std::string out = c.usage + "\n" + format_examples(c.examples);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace lm::cli
