// Declared flags on the real binary: each declared command's --help lists exactly its flags (usage line and one
// line each), an undeclared flag, a wrongly typed value, a missing value or a missing required flag is one error
// line naming the flag with exit 2 before any work, and `train --help` lists every train config key with its
// default. The flag lists below are the commands' contract (DESIGN.md section 9 plus the documented extras): a flag
// added or dropped in a declaration must be added or dropped here too.
#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <set>

#include "harness/harness.h"
#include "lm/train/train_config.h"

namespace lm::test {
namespace {

struct Declared {
  std::string command;
  std::vector<std::string> flags;
  std::vector<std::string> wrong_type;  // a command line whose only fault is a flag's value
  std::string wrong_flag;               // the flag that error names
};

const std::vector<Declared>& declared() {
  static const std::vector<Declared> d = {
      {"tokenize",
       {"--tokenizer", "--no-special-tokens", "--json", "--input", "--threads", "--chat", "--render",
        "--add-generation-prompt"},
       {"--tokenizer", "t", "--threads", "many"},
       "--threads"},
      {"detokenize", {"--tokenizer", "--skip-special-tokens", "--json"}, {"--tokenizer", "t", "--json=maybe"}, "--json"},
      {"train-tokenizer",
       {"--type", "--input", "--vocab-size", "--out", "--min-frequency", "--special-tokens", "--limit-alphabet",
        "--cased", "--threads", "--overwrite"},
       {"--type", "bpe", "--input", "a.txt", "--out", "o", "--vocab-size", "1k"},
       "--vocab-size"},
      {"prepare",
       {"--input", "--tokenizer", "--out", "--format", "--val-fraction", "--text-out", "--split",
        "--skip-disambiguation", "--seed", "--threads", "--shard-tokens", "--max-documents", "--quiet", "--json",
        "--layout", "--overwrite"},
       {"--input", "a", "--tokenizer", "t", "--out", "o", "--val-fraction", "1%"},
       "--val-fraction"},
      {"init",
       {"--config", "--out", "--tokenizer", "--seed", "--overwrite"},
       {"--config", "c", "--out", "o", "--seed", "4.2"},
       "--seed"},
      {"info", {"--json", "--model"}, {"--json=maybe"}, "--json"},
      {"embed",
       {"--model", "--adapter", "--text", "--input", "--pooling", "--normalize", "--json", "--threads"},
       {"--model", "m", "--text", "t", "--pooling", "max"},
       "--pooling"},
      {"bench-tokenize",
       {"--tokenizer", "--input", "--threads", "--repeat", "--json"},
       {"--tokenizer", "t", "--input", "a", "--repeat", "x"},
       "--repeat"},
      {"train", {"--config", "--set", "--out", "--overwrite"}, {"--out", "o", "--config"}, "--config"},
      {"generate",
       {"--model", "--adapter", "--prompt", "--ids", "--max-new-tokens", "--greedy", "--temperature", "--top-k", "--top-p",
        "--repetition-penalty", "--seed", "--num-beams", "--length-penalty", "--early-stopping", "--stop",
        "--ignore-eos", "--keep-special-tokens", "--json", "--threads", "--weights", "--device"},
       {"--model", "m", "--ids", "1", "--max-new-tokens", "ten"},
       "--max-new-tokens"},
      {"forward",
       {"--model", "--adapter", "--ids", "--token-type-ids", "--attention-mask", "--out", "--json", "--threads"},
       {"--model", "m", "--ids", "1", "--threads", "2.5"},
       "--threads"},
      {"score", {"--model", "--adapter", "--ids", "--text", "--json", "--threads"},
       {"--model", "m", "--ids", "1,2", "--json=yes"}, "--json"},
      {"evaluate",
       {"--model", "--adapter", "--task", "--data", "--json", "--threads", "--max-length", "--split", "--stride", "--max-tokens",
        "--batch-size", "--weights", "--device", "--max-new-tokens", "--max-examples", "--predictions", "--doc-stride",
        "--max-answer-length", "--generate"},
       {"--model", "m", "--task", "lm", "--data", "d", "--stride", "half"},
       "--stride"},
      {"finetune",
       {"--task", "--model", "--train", "--val", "--out", "--epochs", "--batch-size", "--grad-accum", "--lr",
        "--warmup-ratio", "--weight-decay", "--grad-clip", "--seed", "--save-every", "--max-length", "--num-labels",
        "--doc-stride", "--max-answer-length", "--max-new-tokens", "--eval-examples", "--max-train-examples",
        "--template", "--lora", "--lora-targets", "--device", "--threads", "--overwrite"},
       {"--task", "qa", "--model", "m", "--train", "t", "--val", "v", "--out", "o", "--lr", "fast"},
       "--lr"},
      {"chat",
       {"--model", "--adapter", "--system", "--max-new-tokens", "--greedy", "--temperature", "--top-k", "--top-p",
        "--repetition-penalty", "--seed", "--threads"},
       {"--model", "m", "--top-k", "many"},
       "--top-k"},
      {"quickstart", {"--out", "--corpus", "--minutes", "--steps", "--threads"}, {"--minutes", "ten"}, "--minutes"},
      {"predict",
       {"--model", "--adapter", "--text", "--text-pair", "--weights", "--device", "--json", "--threads"},
       {"--model", "m", "--text", "t", "--threads", "two"},
       "--threads"},
      {"merge-lora",
       {"--model", "--adapter", "--out", "--threads", "--overwrite"},
       {"--model", "m", "--adapter", "a", "--out", "o", "--threads", "x"},
       "--threads"},
      {"export",
       {"--model", "--format", "--type", "--pooling", "--adapter", "--out"},
       {"--model", "m", "--out", "o.gguf", "--type", "q3"},
       "--type"},
  };
  return d;
}

bool one_error_line(const CliResult& r) {
  return r.exit_code == 2 && r.err.rfind("lmcpp: error: ", 0) == 0 && r.err.find('\n') == r.err.size() - 1;
}

// The rows of a --help section ("flags:" or "config keys ..."): name -> its text with the wrapped lines joined and
// runs of spaces squashed. A row starts with "  " and a non-space; its continuation lines are indented further.
std::map<std::string, std::string> section_rows(const std::string& help, const std::string& header) {
  std::map<std::string, std::string> rows;
  size_t pos = help.find("\n" + header);
  if (pos == std::string::npos) return rows;
  pos = help.find('\n', pos + 1) + 1;
  std::string current;
  while (pos > 0 && pos < help.size() && help[pos] != '\n') {
    size_t end = help.find('\n', pos);
    if (end == std::string::npos) end = help.size();
    const std::string line = help.substr(pos, end - pos);
    if (line.size() > 2 && line[2] != ' ') {
      current = line.substr(2, line.find(' ', 2) - 2);
      rows[current] = line.substr(2);
    } else if (!current.empty()) {
      rows[current] += line;
    }
    pos = end + 1;
  }
  for (auto& [name, text] : rows) {
    std::string squashed;
    for (char c : text)
      if (c != ' ' || squashed.empty() || squashed.back() != ' ') squashed += c;
    text = squashed;
  }
  return rows;
}

// True when `text` holds the flag as a whole word ("--json" in "[--json]", not in "--json-out").
bool mentions_flag(const std::string& text, const std::string& flag) {
  for (size_t at = text.find(flag); at != std::string::npos; at = text.find(flag, at + 1)) {
    const size_t end = at + flag.size();
    if (end == text.size() || !(std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '-')) return true;
  }
  return false;
}

std::set<std::string> names(const std::map<std::string, std::string>& rows) {
  std::set<std::string> out;
  for (const auto& [name, text] : rows) out.insert(name);
  return out;
}

TEST(FlagsCli, HelpListsEachDeclaredFlag) {
  for (const auto& d : declared()) {
    auto r = run_cli({d.command, "--help"});
    ASSERT_EQ(r.exit_code, 0) << d.command << ": " << r.err;
    ASSERT_EQ(r.out.rfind("usage: lmcpp " + d.command + " ", 0), 0u) << r.out;
    // The synopsis: the usage line and its deeper-indented continuations, up to the description.
    size_t usage_end = r.out.find("\n  ");
    while (usage_end != std::string::npos && r.out[usage_end + 3] == ' ') usage_end = r.out.find("\n  ", usage_end + 1);
    const std::string usage = r.out.substr(0, usage_end);
    for (const auto& f : d.flags) EXPECT_TRUE(mentions_flag(usage, f)) << d.command << " " << f << "\n" << usage;
    EXPECT_EQ(names(section_rows(r.out, "flags:")), std::set<std::string>(d.flags.begin(), d.flags.end()))
        << r.out;
    EXPECT_EQ(run_cli({d.command, "-h"}).out, r.out);
    // --help wins over everything else on the line, even over flags that would be errors.
    EXPECT_EQ(run_cli({d.command, "--bogus", "--help"}).out, r.out);
  }
  // Defaults and requirements come from the declarations.
  auto rows = section_rows(run_cli({"prepare", "--help"}).out, "flags:");
  EXPECT_NE(rows["--val-fraction"].find("(default: 0.01)"), std::string::npos) << rows["--val-fraction"];
  EXPECT_NE(rows["--shard-tokens"].find("(default: 100000000)"), std::string::npos) << rows["--shard-tokens"];
  EXPECT_NE(rows["--input"].find("(required, repeatable)"), std::string::npos) << rows["--input"];
  EXPECT_EQ(rows["--json"].find("default"), std::string::npos) << rows["--json"];
  EXPECT_NE(run_cli({"tokenize", "--help"}).out.find("[--input text|jsonl]"), std::string::npos);
}

TEST(FlagsCli, UndeclaredAndWronglyTypedFlagsAreOneUsageError) {
  for (const auto& d : declared()) {
    auto r = run_cli({d.command, "--no-such-flag", "1"});
    EXPECT_TRUE(one_error_line(r)) << d.command << ": " << r.exit_code << " " << r.err;
    EXPECT_NE(r.err.find("unknown flag --no-such-flag"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
    std::vector<std::string> args = {d.command};
    args.insert(args.end(), d.wrong_type.begin(), d.wrong_type.end());
    r = run_cli(args);
    EXPECT_TRUE(one_error_line(r)) << d.command << ": " << r.exit_code << " " << r.err;
    EXPECT_NE(r.err.find(d.wrong_flag), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("in lmcpp " + d.command), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
  auto r = run_cli({"tokenize", "--tokenizer", "t", "--threads", "x"});
  EXPECT_EQ(r.err, "lmcpp: error: --threads expects an integer, got 'x', in lmcpp tokenize\n");
  r = run_cli({"tokenize", "--threads", "2"});
  EXPECT_EQ(r.err, "lmcpp: error: missing required flag --tokenizer, in lmcpp tokenize (see lmcpp tokenize --help)\n");
  r = run_cli({"tokenize", "--tokenizer", "t", "--input", "xml"});
  EXPECT_EQ(r.err, "lmcpp: error: --input must be text or jsonl, got 'xml', in lmcpp tokenize\n");
  r = run_cli({"prepare", "--input", "a", "--tokenizer", "t", "--out", "o", "--layout", "pages"});
  EXPECT_TRUE(one_error_line(r)) << r.err;
  EXPECT_NE(r.err.find("--layout must be auto, tokens or sentences, got 'pages'"), std::string::npos) << r.err;
  r = run_cli({"init", "--config", "c", "--out", "o", "stray"});
  EXPECT_EQ(r.err, "lmcpp: error: unexpected argument 'stray', in lmcpp init\n");
  r = run_cli({"train", "--config", "c.json"});
  EXPECT_EQ(r.err, "lmcpp: error: missing required flag --out, in lmcpp train (see lmcpp train --help)\n");
}

TEST(FlagsCli, SwitchesAndRestTakeTheOldForms) {
  // "--json false" / "--json=0" switch off, as with the old parser.
  EXPECT_EQ(run_cli({"info", "--json", "false"}).out.rfind("lmcpp ", 0), 0u);
  EXPECT_EQ(run_cli({"info", "--json=0"}).out.rfind("lmcpp ", 0), 0u);
  EXPECT_EQ(run_cli({"info", "--json"}).out.rfind("{\"version\"", 0), 0u);
  // "--input a b": b is a second input, so the error is about the files, not a stray argument.
  auto r = run_cli({"bench-tokenize", "--tokenizer", "/nonexistent/tok", "--input", "/nonexistent/a", "/nonexistent/b",
                    "--repeat", "1"});
  EXPECT_TRUE(one_error_line(r)) << r.err;
  EXPECT_EQ(r.err.find("unexpected argument"), std::string::npos) << r.err;
}

TEST(FlagsCli, UndeclaredCommandsKeepTheirArgsParser) {
  // Commands not yet declared still reject unknown flags through Args::finish.
  auto r = run_cli({"bench", "train", "--shape", "tiny", "--no-such-flag"});
  EXPECT_TRUE(one_error_line(r)) << r.err;
  EXPECT_NE(r.err.find("unknown flag --no-such-flag"), std::string::npos) << r.err;
}

TEST(FlagsCli, TaskFlagsApplyOnlyToTheirTask) {
  // evaluate declares the union of its tasks' flags; one given with another --task is a usage error naming both.
  auto r = run_cli({"evaluate", "--model", "/nonexistent", "--task", "classify", "--data", "d", "--stride", "4"});
  EXPECT_EQ(r.err, "lmcpp: error: --stride applies only with --task lm, not --task classify, in lmcpp evaluate "
                   "(see lmcpp evaluate --help)\n");
  r = run_cli({"evaluate", "--model", "/nonexistent", "--task", "lm", "--data", "d", "--weights", "bf16"});
  EXPECT_TRUE(one_error_line(r)) << r.err;
  EXPECT_NE(r.err.find("--weights applies only with --task classify or qa, not --task lm"), std::string::npos)
      << r.err;
  r = run_cli({"evaluate", "--model", "/nonexistent", "--task", "qa", "--data", "d", "--batch-size", "8"});
  EXPECT_TRUE(one_error_line(r)) << r.err;
  // Flags of every task and the task's own flags get past the parser (to the missing model).
  r = run_cli({"evaluate", "--model", "/nonexistent", "--task", "qa", "--data", "/nonexistent/d", "--max-length",
               "16", "--doc-stride", "4", "--weights", "int8", "--json"});
  EXPECT_EQ(r.err.find("applies only"), std::string::npos) << r.err;
  r = run_cli({"evaluate", "--model", "m", "--task", "sum", "--data", "d"});
  EXPECT_EQ(r.err, "lmcpp: error: --task must be lm, classify, qa or chat, got 'sum', in lmcpp evaluate\n");
  auto rows = section_rows(run_cli({"evaluate", "--help"}).out, "flags:");
  EXPECT_NE(rows["--stride"].find("only with --task lm"), std::string::npos) << rows["--stride"];
  EXPECT_NE(rows["--weights"].find("only with --task classify or qa, default: f32"), std::string::npos)
      << rows["--weights"];
  EXPECT_EQ(rows["--max-length"].find("only with"), std::string::npos) << rows["--max-length"];
}

TEST(FlagsCli, ValueChecksNameTheFlagBeforeAnyWork) {
  // The CLI checks generation values itself (the library's messages name its options): the model is not read.
  auto r = run_cli({"generate", "--model", "/nonexistent", "--ids", "1", "--temperature", "-1"});
  EXPECT_EQ(r.err, "lmcpp: error: --temperature must be >= 0, got -1\n");
  r = run_cli({"generate", "--model", "/nonexistent", "--ids", "1", "--num-beams", "0"});
  EXPECT_EQ(r.err, "lmcpp: error: --num-beams must be >= 1\n");
  r = run_cli({"generate", "--model", "/nonexistent", "--ids", "1", "--weights", "q4"});
  EXPECT_EQ(r.err, "lmcpp: error: --weights must be f32 or bf16, got 'q4', in lmcpp generate\n");
  r = run_cli({"prepare", "--input", "/nonexistent/a", "--tokenizer", "/nonexistent/t", "--out", "o",
               "--val-fraction", "1"});
  EXPECT_EQ(r.err, "lmcpp: error: --val-fraction must be in [0, 1), got 1\n");
  auto rows = section_rows(run_cli({"finetune", "--help"}).out, "flags:");
  EXPECT_NE(rows["--grad-accum"].find("(default: 1)"), std::string::npos) << rows["--grad-accum"];
  EXPECT_NE(rows["--warmup-ratio"].find("(default: 0.1)"), std::string::npos) << rows["--warmup-ratio"];
  EXPECT_NE(rows["--task"].find("(required)"), std::string::npos) << rows["--task"];
}

TEST(FlagsCli, TrainHelpListsEveryConfigKey) {
  const std::string help = run_cli({"train", "--help"}).out;
  EXPECT_NE(help.find("GPT"), std::string::npos);
  EXPECT_NE(help.find("BERT"), std::string::npos);
  auto rows = section_rows(help, "config keys");
  std::set<std::string> declared_keys;
  for (const auto& k : train::train_config_keys()) {
    declared_keys.insert(k.name);
    ASSERT_TRUE(rows.count(k.name)) << k.name << "\n" << help;
    if (!k.default_text.empty()) {
      EXPECT_NE(rows[k.name].find("(default: " + k.default_text + ")"), std::string::npos) << rows[k.name];
    }
  }
  EXPECT_EQ(names(rows), declared_keys);
}

}  // namespace
}  // namespace lm::test
