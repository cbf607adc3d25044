// The examples closing every command's --help, checked in-process against the command registry: every command has
// 1-3, each names its own command, and the words after the command name (shell-split, quotes honoured, up to a
// pipe or redirection) pass that command's own parser: a declared command's Flags::parse (an undeclared flag, a
// bad choice, a missing required flag fail), a hand-written usage's synopsis (bench: its subcommand, flags and
// choices). The checker itself is shown to reject bad examples.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "command.h"
#include "completion.h"
#include "flags.h"
#include "lm/core/error.h"

namespace lm::cli {
namespace {

// POSIX-shell words of a command line: '...' literal, "..." with \" and \\ escapes, \x outside quotes; an
// unquoted |, <, >, ; or & ends the command (returned as the word "|").
std::vector<std::string> shell_words(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '\'') {
      const size_t end = line.find('\'', i + 1);
      if (end == std::string::npos) throw std::runtime_error("unterminated ' in " + line);
      cur += line.substr(i + 1, end - i - 1);
      i = end;
      in_word = true;
    } else if (c == '"') {
      for (++i; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] == '\\' && i + 1 < line.size() && std::string("\"\\$`").find(line[i + 1]) != std::string::npos)
          ++i;
        cur += line[i];
      }
      if (i >= line.size()) throw std::runtime_error("unterminated \" in " + line);
      in_word = true;
    } else if (c == '\\' && i + 1 < line.size()) {
      cur += line[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t' || std::string("|<>;&").find(c) != std::string::npos) {
      if (in_word) out.push_back(cur);
      cur.clear();
      in_word = false;
      if (c != ' ' && c != '\t') out.push_back("|");
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) out.push_back(cur);
  return out;
}

// The arguments of `lmcpp NAME ...` in an example ("" when it does not run lmcpp NAME).
std::optional<std::vector<std::string>> example_args(const std::string& line, const std::string& name) {
  const std::vector<std::string> w = shell_words(line);
  for (size_t i = 0; i + 1 < w.size(); ++i) {
    if (w[i] != "lmcpp" || (i > 0 && w[i - 1] != "|")) continue;
    if (w[i + 1] != name) return std::nullopt;
    std::vector<std::string> args;
    for (size_t j = i + 2; j < w.size() && w[j] != "|"; ++j) args.push_back(w[j]);
    return args;
  }
  return std::nullopt;
}

// "" when the example is a valid command line of `c`, else what is wrong with it.
std::string check_example(const Command& c, const std::string& line) {
  std::optional<std::vector<std::string>> args;
  try {
    args = example_args(line, c.name);
  } catch (const std::exception& e) {
    return e.what();
  }
  if (!args) return "does not run lmcpp " + c.name;
  if (c.spec) {
    try {
      Flags::parse(*c.spec, *args);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  // Hand-written usage: the subcommand and each flag (and choice) as its synopsis shows them.
  const UsageSynopsis u = parse_usage_synopsis(c.name, c.usage);
  size_t i = 0;
  std::string sub;
  if (!u.subcommands.empty() && !u.subcommands[0].first.empty()) {
    if (args->empty()) return "no subcommand";
    sub = (*args)[i++];
  }
  auto it = std::find_if(u.subcommands.begin(), u.subcommands.end(), [&](auto& p) { return p.first == sub; });
  if (it == u.subcommands.end()) return "unknown subcommand '" + sub + "'";
  for (; i < args->size(); ++i) {
    const std::string& a = (*args)[i];
    auto f = std::find_if(it->second.begin(), it->second.end(), [&](auto& g) { return g.name == a; });
    if (f == it->second.end()) return "'" + a + "' is not a flag of lmcpp " + c.name + " " + sub;
    if (f->value_name.empty()) continue;
    if (++i == args->size()) return a + " needs a value";
    if (!f->choices.empty() && std::find(f->choices.begin(), f->choices.end(), (*args)[i]) == f->choices.end())
      return a + " " + (*args)[i] + " is not among its choices";
  }
  return "";
}

const std::vector<Example>& examples_of(const Command& c) { return c.spec ? c.spec->examples : c.examples; }

TEST(CliExamples, EveryCommandHasOneToThreeValidExamples) {
  ASSERT_GT(commands().size(), 20u);
  for (const Command& c : commands()) {
    const auto& ex = examples_of(c);
    EXPECT_GE(ex.size(), 1u) << c.name;
    EXPECT_LE(ex.size(), 3u) << c.name;
    for (const Example& e : ex) {
      EXPECT_EQ(check_example(c, e.command), "") << c.name << ": " << e.command;
      EXPECT_EQ(e.comment.find('\n'), std::string::npos) << c.name << ": " << e.comment;
    }
  }
}

TEST(CliExamples, HelpEndsWithTheExamples) {
  for (const Command& c : commands()) {
    const std::string help = command_help(c);
    const auto& ex = examples_of(c);
    ASSERT_FALSE(ex.empty()) << c.name;
    const size_t at = help.rfind("\nexamples:\n");
    ASSERT_NE(at, std::string::npos) << c.name;
    const std::string last = "  " + ex.back().command;
    ASSERT_GE(help.size(), last.size());
    EXPECT_EQ(help.substr(help.size() - last.size()), last) << c.name;
    for (const Example& e : ex) EXPECT_NE(help.find("  " + e.command, at), std::string::npos) << c.name;
  }
}

TEST(CliExamples, TheCheckerRejectsBadExamples) {
  const Command* gen = find_command("generate");
  const Command* bench = find_command("bench");
  const Command* exp = find_command("export");
  ASSERT_TRUE(gen && bench && exp);
  EXPECT_EQ(check_example(*gen, "lmcpp generate --model m --prompt \"a b\" --max-new-tokens 5"), "");
  EXPECT_NE(check_example(*gen, "lmcpp generate --model m --max-tokens 5"), "");       // no such flag
  EXPECT_NE(check_example(*gen, "lmcpp generate --model m --max-new-tokens five"), "");  // wrong type
  EXPECT_NE(check_example(*gen, "lmcpp generate --prompt hi"), "");                    // --model is required
  EXPECT_NE(check_example(*gen, "lmcpp generate --model m --prompt \"a b"), "");        // unbalanced quote
  EXPECT_NE(check_example(*gen, "lmcpp score --model m --ids 1,2"), "");               // another command
  EXPECT_NE(check_example(*exp, "lmcpp export --model m --out o.gguf --type q3"), "");  // bad choice
  EXPECT_EQ(check_example(*exp, "lmcpp export --model m --out o.gguf --type q8_0 | cat"), "");
  EXPECT_EQ(check_example(*bench, "lmcpp bench classify --weights int8 --json"), "");
  EXPECT_NE(check_example(*bench, "lmcpp bench train --weights int8"), "");  // train has --dtype, not --weights
  EXPECT_NE(check_example(*bench, "lmcpp bench decode --weights int8"), "");  // decode: f32 or bf16
  EXPECT_NE(check_example(*bench, "lmcpp bench serve"), "");
}

TEST(CliExamples, ShellWords) {
  EXPECT_EQ(shell_words("echo 'a b' | lmcpp x --t \"c \\\"d\\\"\" e\\ f"),
            (std::vector<std::string>{"echo", "a b", "|", "lmcpp", "x", "--t", "c \"d\"", "e f"}));
  EXPECT_EQ(*example_args("echo '{\"a\": 1}' | lmcpp tokenize --chat > out.txt", "tokenize"),
            (std::vector<std::string>{"--chat"}));
  EXPECT_FALSE(example_args("cat lmcpp tokenize", "tokenize").has_value());
}

TEST(CliExamples, UsageSynopsisOfBench) {
  const Command* bench = find_command("bench");
  ASSERT_TRUE(bench);
  const UsageSynopsis u = parse_usage_synopsis("bench", bench->usage);
  std::vector<std::string> subs;
  for (const auto& [s, flags] : u.subcommands) subs.push_back(s);
  EXPECT_EQ(subs, (std::vector<std::string>{"train", "classify", "prefill", "decode", "membw"}));
  const auto& classify = u.subcommands[1].second;
  auto w = std::find_if(classify.begin(), classify.end(), [](auto& f) { return f.name == "--weights"; });
  ASSERT_NE(w, classify.end());
  EXPECT_EQ(w->choices, (std::vector<std::string>{"f32", "bf16", "int8"}));
  const auto& decode = u.subcommands[3].second;
  auto text = std::find_if(decode.begin(), decode.end(), [](auto& f) { return f.name == "--text"; });
  ASSERT_NE(text, decode.end());
  EXPECT_EQ(path_kind(text->value_name), 'f');
  auto json = std::find_if(decode.begin(), decode.end(), [](auto& f) { return f.name == "--json"; });
  ASSERT_NE(json, decode.end());
  EXPECT_EQ(json->value_name, "");  // a switch: --json in the prose below the synopsis does not count
  EXPECT_EQ(path_kind("DIR"), 'd');
  EXPECT_EQ(path_kind("FILE.json|'{...}'"), 'f');
  EXPECT_EQ(path_kind("OUT.json"), 'f');
  EXPECT_EQ(path_kind("N"), 0);
  EXPECT_EQ(path_kind("KEY=VALUE"), 0);
}

}  // namespace
}  // namespace lm::cli
