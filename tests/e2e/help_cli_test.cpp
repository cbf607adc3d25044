// `lmcpp help`, the examples closing every --help, `lmcpp train --help`'s key listing and `lmcpp completion bash`
// on the real binary: help CMD prints exactly CMD --help, help alone the global help, help of an unknown command
// is one error line with a suggestion (exit 2); the completion script, sourced in bash, completes command names,
// a command's flags, a choice flag's values, bench's subcommands and file names after a path flag.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>

#include "harness/harness.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/models/model.h"
#include "lm/train/train_config.h"

namespace lm {
namespace {

// The command names of the global help's "commands:" section.
std::vector<std::string> listed_commands(const std::string& help) {
  std::vector<std::string> names;
  std::istringstream in(help.substr(help.find("\ncommands:\n") + 11));
  for (std::string line; std::getline(in, line) && line.rfind("  ", 0) == 0;) {
    std::istringstream w(line);
    std::string name;
    w >> name;
    names.push_back(name);
  }
  return names;
}

TEST(HelpCli, HelpCommandPrintsTheCommandsHelp) {
  auto global = test::run_cli({"--help"});
  ASSERT_EQ(global.exit_code, 0);
  EXPECT_NE(global.out.find("lmcpp help <command>"), std::string::npos) << global.out;
  EXPECT_NE(global.out.find("lmcpp completion bash"), std::string::npos) << global.out;
  auto help = test::run_cli({"help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_EQ(help.out, global.out);
  const std::vector<std::string> names = listed_commands(global.out);
  ASSERT_GT(names.size(), 20u) << global.out;
  for (const std::string& name : {"help", "completion", "bench", "generate", "train"})
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  for (const auto& name : names) {
    auto own = test::run_cli({name, "--help"});
    auto via = test::run_cli({"help", name});
    EXPECT_EQ(own.exit_code, 0) << name;
    EXPECT_EQ(via.exit_code, 0) << name;
    EXPECT_EQ(via.out, own.out) << name;
    EXPECT_EQ(via.err, "") << name;
    // Every help ends with its examples, each a line running lmcpp NAME (or a pipe into it).
    const size_t at = own.out.rfind("\nexamples:\n");
    ASSERT_NE(at, std::string::npos) << name << "\n" << own.out;
    std::istringstream in(own.out.substr(at + 11));
    int commands = 0;
    for (std::string line; std::getline(in, line);) {
      ASSERT_EQ(line.rfind("  ", 0), 0u) << name << ": " << line;
      if (line.rfind("  # ", 0) == 0) continue;
      EXPECT_NE(line.find("lmcpp " + name), std::string::npos) << name << ": " << line;
      ++commands;
    }
    EXPECT_GE(commands, 1) << name;
    EXPECT_LE(commands, 3) << name;
  }
}

TEST(HelpCli, HelpOfAnUnknownCommandIsOneUsageError) {
  auto r = test::run_cli({"help", "nosuch"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "lmcpp: error: unknown command 'nosuch', in lmcpp help (see lmcpp help)\n");
  r = test::run_cli({"help", "genrate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "lmcpp: error: unknown command 'genrate' (did you mean \"generate\"?), in lmcpp help (see lmcpp "
                   "help)\n");
  r = test::run_cli({"help", "generate", "train"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "lmcpp: error: unexpected argument 'train', in lmcpp help\n");
}

TEST(HelpCli, TrainHelpListsTheModelKeysOfEveryFamily) {
  const std::string help = test::run_cli({"train", "--help"}).out;
  EXPECT_NE(help.find("a GPT (model_type \"gpt2\")"), std::string::npos) << help;
  EXPECT_NE(help.find("or a BERT (model_type \"bert\")"), std::string::npos) << help;
  EXPECT_NE(test::run_cli({"--help"}).out.find("pretrain a GPT or a BERT"), std::string::npos);
  const size_t at = help.find("\nmodel keys");
  ASSERT_NE(at, std::string::npos) << help;
  const std::string section = help.substr(at, help.find("\nexamples:") - at);
  // Every declared key of every registered family, and the common ones, as whole words.
  std::set<std::string> words;
  std::istringstream in(section);
  for (std::string w; in >> w;) words.insert(w.back() == ',' ? w.substr(0, w.size() - 1) : w);
  const std::vector<std::string> types = models::model_types();
  ASSERT_GE(types.size(), 2u);
  for (const auto& type : types) {
    EXPECT_TRUE(words.count(type)) << type;
    const models::ModelFamily& family = models::model_family(Json{{"model_type", type}});
    ASSERT_TRUE(family.config_keys) << type;
    for (const auto& k : family.config_keys()) EXPECT_TRUE(words.count(k)) << type << " " << k;
  }
  for (const auto& k : models::common_config_keys()) EXPECT_TRUE(words.count(k)) << k;
  for (const auto& k : train::train_config_keys()) EXPECT_NE(help.find("\n  " + k.name + " "), std::string::npos);
}

// Sources the completion script in bash with COMP_WORDS = words (the last one being completed) and returns
// COMPREPLY, one entry per line, sorted.
std::vector<std::string> complete(const std::string& script, const std::vector<std::string>& words,
                                  const std::string& cwd = ".") {
  std::string arr;
  for (const auto& w : words) arr += " '" + w + "'";
  const std::string driver = test::temp_dir("completion_driver") + "/run.sh";
  write_file_atomic(driver, "cd '" + cwd + "' || exit 9\nsource '" + script + "'\nCOMP_WORDS=(" + arr +
                                " )\nCOMP_CWORD=" + std::to_string(words.size() - 1) +
                                "\n_lmcpp\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n");
  FILE* p = ::popen(("bash '" + driver + "' 2>&1").c_str(), "r");
  EXPECT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; p && (n = std::fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  EXPECT_EQ(p ? ::pclose(p) : -1, 0) << out;
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  std::sort(lines.begin(), lines.end());
  return lines;
}

using Words = std::vector<std::string>;

TEST(HelpCli, BashCompletion) {
  if (std::system("bash -c true") != 0) GTEST_SKIP() << "no bash";
  auto r = test::run_cli({"completion", "bash"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string dir = test::temp_dir("completion");
  const std::string script = dir + "/lmcpp.bash";
  write_file_atomic(script, r.out);
  // Command names.
  EXPECT_EQ(complete(script, {"lmcpp", "gen"}), (Words{"generate"}));
  EXPECT_EQ(complete(script, {"lmcpp", "train"}), (Words{"train", "train-tokenizer"}));
  // The flags of one command.
  EXPECT_EQ(complete(script, {"lmcpp", "generate", "--max"}), (Words{"--max-new-tokens"}));
  const Words score = complete(script, {"lmcpp", "score", "--"});
  EXPECT_EQ(score, (Words{"--adapter", "--help", "--ids", "--json", "--model", "--text", "--threads"}));
  // A choice flag's values; nothing after a free-text flag.
  EXPECT_EQ(complete(script, {"lmcpp", "export", "--type", ""}), (Words{"bf16", "f16", "f32", "q8_0"}));
  EXPECT_EQ(complete(script, {"lmcpp", "evaluate", "--task", "c"}), (Words{"chat", "classify"}));
  EXPECT_EQ(complete(script, {"lmcpp", "generate", "--prompt", ""}), Words{});
  // bench: its subcommands, then the flags and choices its usage shows.
  EXPECT_EQ(complete(script, {"lmcpp", "bench", ""}), (Words{"classify", "decode", "membw", "prefill", "train"}));
  EXPECT_EQ(complete(script, {"lmcpp", "bench", "classify", "--weights", ""}), (Words{"bf16", "f32", "int8"}));
  EXPECT_EQ(complete(script, {"lmcpp", "bench", "membw", "--"}), (Words{"--help", "--json", "--membw-mb", "--threads"}));
  // help and completion take a command name and a shell.
  EXPECT_EQ(complete(script, {"lmcpp", "help", "tok"}), (Words{"tokenize"}));
  EXPECT_EQ(complete(script, {"lmcpp", "completion", ""}), (Words{"bash"}));
  // Paths: files after a FILE flag (and after the files a --input FILE... already took), directories after DIR.
  write_file_atomic(dir + "/corpus_a.txt", "a\n");
  write_file_atomic(dir + "/corpus_b.txt", "b\n");
  make_dirs(dir + "/corpus_dir");
  EXPECT_EQ(complete(script, {"lmcpp", "prepare", "--input", "corpus_"}, dir),
            (Words{"corpus_a.txt", "corpus_b.txt", "corpus_dir"}));
  EXPECT_EQ(complete(script, {"lmcpp", "prepare", "--input", "corpus_a.txt", "corpus_"}, dir),
            (Words{"corpus_a.txt", "corpus_b.txt", "corpus_dir"}));
  EXPECT_EQ(complete(script, {"lmcpp", "generate", "--model", "corpus_"}, dir), (Words{"corpus_dir"}));
  r = test::run_cli({"completion", "zsh"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "lmcpp: error: SHELL must be bash, got 'zsh', in lmcpp completion\n");
}

}  // namespace
}  // namespace lm
