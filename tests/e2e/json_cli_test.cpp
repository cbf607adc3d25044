// One JSON style for every --json: each stdout line is exactly one compact JSON object (a JSON string for
// detokenize --json and tokenize --chat --render), the text nlohmann's dump() writes for it (no indentation, no
// spaces after ':' or ','), checked on a representative run of every command that has --json, on tiny models and
// tokenizers made through the CLI itself.
#include <gtest/gtest.h>

#include <sstream>

#include "harness/harness.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"

namespace lm {
namespace {

struct JsonRun {
  std::vector<std::string> args;
  std::string input{};
  bool strings = false;  // lines are JSON strings, not objects
  int lines = 1;         // stdout lines expected
  // The line is the text dump() gives for what it parses to. forward writes floats in their shortest float form
  // (dump() would widen them to double digits), so there only the absence of whitespace is checked.
  bool exact = true;
};

// True when `line` has a space, tab or newline outside its string literals.
bool has_whitespace(const std::string& line) {
  bool in_string = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      return true;
    }
  }
  return false;
}

// "" when every line of `out` is one compact JSON value of the kind wanted, else what is wrong.
std::string check_lines(const std::string& out, const JsonRun& run) {
  if (out.empty() || out.back() != '\n') return "stdout does not end with a newline";
  std::istringstream in(out);
  int n = 0;
  for (std::string line; std::getline(in, line); ++n) {
    OrderedJson j;
    try {
      j = OrderedJson::parse(line);  // throws on anything after the one value, too
    } catch (const std::exception& e) {
      return "line " + std::to_string(n + 1) + " is not one JSON value: " + e.what() + ": " + line.substr(0, 200);
    }
    if (run.strings ? !j.is_string() : !j.is_object()) return "line " + std::to_string(n + 1) + " has the wrong kind";
    if (has_whitespace(line) || (run.exact && j.dump() != line))
      return "line " + std::to_string(n + 1) + " is not compact: " + line.substr(0, 200);
  }
  if (n != run.lines) return std::to_string(n) + " lines, expected " + std::to_string(run.lines);
  return "";
}

TEST(JsonCli, EveryJsonOutputIsOneCompactObjectPerLine) {
  const std::string d = test::temp_dir("json_cli");
  std::string text;
  for (int i = 0; i < 40; ++i)
    text += "the quick brown fox " + std::to_string(i) + " jumps over the lazy dog. Hello world, again and again.\n";
  write_file_atomic(d + "/t.txt", text);
  write_file_atomic(d + "/sst.txt", "1 hello world\n0 the lazy dog\n1 quick fox\n");
  const std::vector<std::vector<std::string>> setup = {
      {"train-tokenizer", "--type", "bpe", "--input", d + "/t.txt", "--vocab-size", "300", "--out", d + "/bpe"},
      {"train-tokenizer", "--type", "wordpiece", "--input", d + "/t.txt", "--vocab-size", "120", "--out", d + "/wp"},
      {"init", "--config", R"({"model_type": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 32})",
       "--tokenizer", d + "/bpe", "--out", d + "/gpt"},
      {"init", "--config",
       R"({"model_type": "bert", "architectures": ["BertForMaskedLM"], "hidden_size": 16, "num_hidden_layers": 1,
           "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 32})",
       "--tokenizer", d + "/wp", "--out", d + "/mlm"},
      {"init", "--config",
       R"({"model_type": "bert", "architectures": ["BertForSequenceClassification"], "hidden_size": 16,
           "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 32,
           "id2label": {"0": "neg", "1": "pos"}})",
       "--tokenizer", d + "/wp", "--out", d + "/cls"},
  };
  for (const auto& args : setup) {
    auto r = test::run_cli(args);
    ASSERT_EQ(r.exit_code, 0) << args[0] << ": " << r.err;
  }
  const std::vector<JsonRun> runs = {
      {{"tokenize", "--tokenizer", d + "/bpe", "--json"}, "hello world\nthe fox\n", false, 2},
      {{"tokenize", "--tokenizer", d + "/wp", "--json"}, "hello world\n"},
      {{"detokenize", "--tokenizer", d + "/bpe", "--json"}, "104 101\n33\n", true, 2},
      {{"tokenize", "--chat", "--render", "--tokenizer", d + "/bpe"},
       R"({"messages": [{"role": "user", "content": "hi\nthere"}]})"
       "\n",
       true},
      {{"prepare", "--input", d + "/t.txt", "--tokenizer", d + "/bpe", "--out", d + "/data", "--quiet", "--json"}},
      {{"generate", "--model", d + "/gpt", "--prompt", "hello", "--max-new-tokens", "4", "--greedy", "--json"}},
      {{"generate", "--model", d + "/gpt", "--ids", "1,2,3", "--max-new-tokens", "2", "--json"}},
      {{"forward", "--model", d + "/gpt", "--ids", "1,2,3", "--json"}, "", false, 1, false},
      {{"forward", "--model", d + "/mlm", "--ids", "2,5,3", "--json"}, "", false, 1, false},
      {{"score", "--model", d + "/gpt", "--text", "the quick brown fox", "--json"}},
      {{"evaluate", "--model", d + "/gpt", "--task", "lm", "--data", d + "/data", "--json"}},
      {{"evaluate", "--model", d + "/cls", "--task", "classify", "--data", d + "/sst.txt", "--json"}},
      {{"predict", "--model", d + "/mlm", "--text", "hello [MASK] world", "--json"}},
      {{"predict", "--model", d + "/cls", "--text", "hello world", "--json"}},
      {{"embed", "--model", d + "/mlm", "--text", "hello world", "--json"}},
      {{"info", "--json"}},
      {{"info", "--model", d + "/gpt", "--json"}},
      {{"bench-tokenize", "--tokenizer", d + "/bpe", "--input", d + "/t.txt", "--repeat", "1", "--threads", "1",
        "--json"}},
      {{"bench", "membw", "--membw-mb", "4", "--reps", "1", "--threads", "1", "--json"}},
      {{"bench", "prefill", "--shape", "tiny", "--prompt", "8", "--reps", "1", "--warmup", "0", "--threads", "1",
        "--json"}},
      {{"bench", "decode", "--shape", "tiny", "--tokens", "4", "--reps", "1", "--warmup", "0", "--membw-mb", "4",
        "--threads", "1", "--json"}},
      {{"bench", "train", "--shape", "tiny", "--batch", "1", "--seq", "8", "--steps", "1", "--warmup", "0",
        "--threads", "1", "--json"}},
      {{"bench", "classify", "--shape", "bert-tiny", "--batch", "1", "--seq", "8", "--steps", "1", "--warmup", "0",
        "--threads", "1", "--json"}},
  };
  for (const JsonRun& run : runs) {
    std::string what;
    for (const auto& a : run.args) what += " " + a;
    auto r = test::run_cli(run.args, run.input);
    ASSERT_EQ(r.exit_code, 0) << what << "\n" << r.err;
    EXPECT_EQ(check_lines(r.out, run), "") << what;
  }
}

TEST(JsonCli, TheCheckRejectsOtherStyles) {
  const JsonRun one{};
  EXPECT_EQ(check_lines("{\"a\":1,\"b\":[1,2]}\n", one), "");
  EXPECT_NE(check_lines("{\"a\": 1}\n", one), "");         // a space after ':'
  EXPECT_NE(check_lines("{\n  \"a\":1\n}\n", one), "");     // pretty-printed
  EXPECT_NE(check_lines("{\"a\":1}{\"b\":2}\n", one), "");  // two objects on a line
  EXPECT_NE(check_lines("\"a\"\n", one), "");               // not an object
  EXPECT_NE(check_lines("{\"a\":1}", one), "");             // no final newline
  EXPECT_NE(check_lines("{\"a\":1}\n{\"a\":2}\n", one), "");  // one line expected
  const JsonRun loose{.exact = false};
  EXPECT_EQ(check_lines("{\"a\":[0.1,1e-05],\"b c\":\"d e\"}\n", loose), "");
  EXPECT_NE(check_lines("{\"a\": [0.1]}\n", loose), "");
  EXPECT_NE(check_lines("{\"a\":[0.1,\n1]}\n", loose), "");
}

}  // namespace
}  // namespace lm
