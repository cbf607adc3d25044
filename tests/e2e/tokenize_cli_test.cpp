// End-to-end tests of `lmcpp tokenize` / `lmcpp detokenize` / `lmcpp train-tokenizer` on the real binary: ids
// equal the HF reference files, line handling ("\n" only, "\r" kept), --json, --input jsonl, errors exit 2.
#include <gtest/gtest.h>

#include <csignal>

#include "harness/harness.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "tokenize/reference_common.h"

namespace lm::test {
namespace {

// The CLI may exit on a bad first line before run_cli has written all of stdin; the write must then fail with
// EPIPE instead of killing the test binary (run_cli in the harness does not ignore SIGPIPE itself).
const bool kIgnoreSigpipe = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();

std::string join_ids_lines(const std::vector<std::vector<int32_t>>& rows) {
  std::string s;
  for (auto& r : rows) s += ids_str(r) + "\n";
  return s;
}

bool one_error_line(const CliResult& r) {
  return r.exit_code == 2 && r.err.rfind("lmcpp: error: ", 0) == 0 &&
         r.err.find('\n') == r.err.size() - 1;
}

TEST(TokenizeCli, HardCasesViaJsonlMatchHf) {
  LM_REQUIRE_SHARED_DATA();
  std::string input = read_file(reference_dir() + "/hard_cases.jsonl");
  for (const char* name : {"gpt2", "bert-base-uncased", "bert-base-cased"}) {
    auto r = run_cli({"tokenize", "--tokenizer", tokenizer_dir(name), "--input", "jsonl"}, input);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, join_ids_lines(read_ids_file(reference_dir() + "/ids/" + name + ".hard.ids"))) << name;
  }
}

TEST(TokenizeCli, TextLinesMatchHf) {
  LM_REQUIRE_SHARED_DATA();
  auto texts = reference_corpus("sst2");
  std::string input;
  for (auto& t : texts) input += t + "\n";
  for (const char* name : {"gpt2", "bert-base-uncased"}) {
    auto r = run_cli({"tokenize", "--tokenizer", tokenizer_dir(name)}, input);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, join_ids_lines(read_ids_file(reference_dir() + "/ids/" + name + ".sst2.ids"))) << name;
  }
}

TEST(TokenizeCli, LineSplittingAndFlags) {
  LM_REQUIRE_SHARED_DATA();
  std::string gpt2 = tokenizer_dir("gpt2"), bert = tokenizer_dir("bert-base-uncased");
  // "\r" stays in the text (id 201 is "\r"); an empty line gives an empty id line; no final "\n" is fine.
  auto r = run_cli({"tokenize", "--tokenizer", gpt2}, "Hello world\r\n\nHello");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "15496 995 201\n\n15496\n");
  r = run_cli({"tokenize", "--tokenizer", gpt2}, "");
  EXPECT_EQ(r.out, "");
  r = run_cli({"tokenize", "--tokenizer", bert}, "Hello world\n");
  EXPECT_EQ(r.out, "101 7592 2088 102\n");
  r = run_cli({"tokenize", "--tokenizer", bert, "--no-special-tokens"}, "Hello world\n");
  EXPECT_EQ(r.out, "7592 2088\n");
  r = run_cli({"tokenize", "--tokenizer", bert, "--json"}, "Hello world\n");
  Json j = parse_json(r.out, "stdout");
  EXPECT_EQ(j["input_ids"], Json({101, 7592, 2088, 102}));
  EXPECT_EQ(j["attention_mask"], Json({1, 1, 1, 1}));
  EXPECT_EQ(j["token_type_ids"], Json({0, 0, 0, 0}));
  r = run_cli({"tokenize", "--tokenizer", gpt2, "--input", "jsonl"}, "\"a\\nb\"\n{\"text\": \"a<|endoftext|>\"}\n");
  EXPECT_EQ(r.out, "64 198 65\n64 50256\n");
}

TEST(TokenizeCli, DetokenizeRoundTrips) {
  LM_REQUIRE_SHARED_DATA();
  auto texts = reference_corpus("shakespeare");
  std::string input;
  for (auto& t : texts) input += t + "\n";
  auto ids = run_cli({"tokenize", "--tokenizer", tokenizer_dir("gpt2")}, input);
  ASSERT_EQ(ids.exit_code, 0);
  auto back = run_cli({"detokenize", "--tokenizer", tokenizer_dir("gpt2")}, ids.out);
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(back.out, input);
  auto skip = run_cli({"detokenize", "--tokenizer", tokenizer_dir("bert-base-uncased"), "--skip-special-tokens"},
                      "101 7592 1010 2088 999 102\n");
  EXPECT_EQ(skip.out, "hello, world!\n");
}

TEST(TokenizeCli, BadInputIsOneErrorLineExit2) {
  LM_REQUIRE_SHARED_DATA();
  std::string gpt2 = tokenizer_dir("gpt2");
  EXPECT_TRUE(one_error_line(run_cli({"tokenize", "--tokenizer", "/nonexistent/dir"}, "x\n")));
  EXPECT_TRUE(one_error_line(run_cli({"tokenize"}, "x\n")));
  EXPECT_TRUE(one_error_line(run_cli({"tokenize", "--tokenizer", gpt2, "--input", "jsonl"}, "{bad\n")));
  EXPECT_TRUE(one_error_line(run_cli({"tokenize", "--tokenizer", gpt2, "--input", "jsonl"}, "[1]\n")));
  EXPECT_TRUE(one_error_line(run_cli({"tokenize", "--tokenizer", gpt2, "--input", "xml"}, "x\n")));
  EXPECT_TRUE(one_error_line(run_cli({"tokenize", "--tokenizer", gpt2, "--bogus"}, "x\n")));
  EXPECT_TRUE(one_error_line(run_cli({"detokenize", "--tokenizer", gpt2}, "1 x 2\n")));
  EXPECT_TRUE(one_error_line(run_cli({"detokenize", "--tokenizer", gpt2}, "50257\n")));
  EXPECT_TRUE(one_error_line(run_cli({"detokenize", "--tokenizer", gpt2}, "-1\n")));
  std::string bad = temp_dir("cli_bad_tok");
  write_file_atomic(bad + "/vocab.txt", "");
  EXPECT_TRUE(one_error_line(run_cli({"tokenize", "--tokenizer", bad}, "x\n")));
  auto help = run_cli({"tokenize", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--tokenizer"), std::string::npos);
}

TEST(TrainTokenizerCli, BpeWordPieceCharRoundTrip) {
  LM_REQUIRE_SHARED_DATA();
  std::string input = shared_data_dir() + "/tinyshakespeare/input.txt";
  std::string text = "First Citizen:\nBefore we proceed any further, hear me speak.\n";
  for (const char* type : {"bpe", "wordpiece", "char"}) {
    std::string out = temp_dir(std::string("cli_train_") + type);
    auto r = run_cli({"train-tokenizer", "--type", type, "--input", input, "--vocab-size", "1000", "--out", out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto ids = run_cli({"tokenize", "--tokenizer", out}, text);
    ASSERT_EQ(ids.exit_code, 0) << ids.err;
    auto back = run_cli({"detokenize", "--tokenizer", out, "--skip-special-tokens"}, ids.out);
    ASSERT_EQ(back.exit_code, 0) << back.err;
    if (std::string(type) == "wordpiece")
      EXPECT_EQ(back.out, "first citizen :\nbefore we proceed any further, hear me speak.\n");
    else
      EXPECT_EQ(back.out, text) << type;
  }
  EXPECT_TRUE(one_error_line(run_cli({"train-tokenizer", "--type", "bpe", "--input", input, "--out", "/tmp/x"})));
  EXPECT_TRUE(one_error_line(
      run_cli({"train-tokenizer", "--type", "zzz", "--input", input, "--vocab-size", "10", "--out", "/tmp/x"})));
  EXPECT_TRUE(one_error_line(
      run_cli({"train-tokenizer", "--type", "bpe", "--input", "/nope", "--vocab-size", "1000", "--out", "/tmp/x"})));
}

}  // namespace
}  // namespace lm::test
