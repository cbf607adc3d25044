// `lmcpp generate` (and `lmcpp chat`) as a newcomer uses them, on the tiny byte-level GPT (byte_gpt_util.h):
// --temperature 0 is greedy; a request past the context is clamped with one notice; special tokens stay out
// of the printed text unless --keep-special-tokens; an argument error prints nothing on stdout; `lmcpp
// tokenize` output goes into --ids as it is (blanks and its newline), for generate, score and forward alike.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "e2e/byte_gpt_util.h"
#include "harness/harness.h"
#include "lm/core/json.h"

namespace lm {
namespace {

std::vector<int32_t> json_ids(const test::CliResult& r) {
  return Json::parse(r.out)["ids"].get<std::vector<int32_t>>();
}

int64_t count_lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

// The CLI on one thread: the model is tiny, and OpenMP threads spinning on a busy machine cost seconds.
test::CliResult run(std::vector<std::string> args, const std::string& input = "") {
  if (args[0] != "tokenize") args.insert(args.end(), {"--threads", "1"});
  return test::run_cli(args, input);
}

TEST(GenerateCli, TemperatureZeroIsGreedy) {
  const std::string dir = tiny_byte_gpt();
  const std::vector<std::string> common = {
      "generate", "--model", dir, "--prompt", "hello", "--max-new-tokens", "12", "--ignore-eos", "--json"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = common;
    a.insert(a.end(), extra.begin(), extra.end());
    return run(a);
  };
  const auto greedy = with({"--greedy"}), zero = with({"--temperature", "0"});
  ASSERT_EQ(greedy.exit_code, 0) << greedy.err;
  ASSERT_EQ(zero.exit_code, 0) << zero.err;
  EXPECT_EQ(json_ids(zero), json_ids(greedy));
  EXPECT_EQ(json_ids(zero).size(), 12u);
  // Whatever the seed: temperature 0 does not sample.
  EXPECT_EQ(json_ids(with({"--temperature", "0", "--seed", "7"})), json_ids(greedy));
  const auto neg = with({"--temperature", "-0.5"});
  EXPECT_EQ(neg.exit_code, 2);
  EXPECT_EQ(neg.err, "lmcpp: error: --temperature must be >= 0, got -0.5\n");
  EXPECT_EQ(neg.out, "");

  // chat reads --temperature 0 the same way.
  const auto chat_greedy =
      run({"chat", "--model", dir, "--greedy", "--max-new-tokens", "6"}, "hi\n");
  const auto chat_zero =
      run({"chat", "--model", dir, "--temperature", "0", "--max-new-tokens", "6"}, "hi\n");
  ASSERT_EQ(chat_greedy.exit_code, 0) << chat_greedy.err;
  ASSERT_EQ(chat_zero.exit_code, 0) << chat_zero.err;
  EXPECT_EQ(chat_zero.out, chat_greedy.out);
  const auto chat_neg = run({"chat", "--model", dir, "--temperature", "-1"}, "hi\n");
  EXPECT_EQ(chat_neg.exit_code, 2);
  EXPECT_EQ(chat_neg.err, "lmcpp: error: --temperature must be >= 0, got -1\n");
  EXPECT_EQ(chat_neg.out, "");
}

TEST(GenerateCli, RequestPastTheContextIsClampedWithOneNotice) {
  const std::string dir = tiny_byte_gpt();  // 96 positions; "hello" is 5 tokens
  auto r = run({"generate", "--model", dir, "--prompt", "hello", "--max-new-tokens", "500",
                          "--greedy", "--ignore-eos", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json_ids(r).size(), 91u);
  EXPECT_EQ(r.err,
            "lmcpp: note: --max-new-tokens 500 clamped to 91 (a 5-token prompt in a 96-position context)\n");
  // Streaming too: the text is the prompt and 91 new tokens, the notice on stderr only.
  r = run({"generate", "--model", dir, "--prompt", "hello", "--max-new-tokens", "500", "--greedy",
                     "--ignore-eos", "--keep-special-tokens"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_EQ(r.out.rfind("hello", 0), 0u) << r.out;
  // A prompt that fills the context alone is an error naming both lengths.
  r = run({"generate", "--model", dir, "--prompt", std::string(96, 'a'), "--max-new-tokens", "1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("the prompt has 96 tokens; the model's context is 96 positions"), std::string::npos)
      << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(GenerateCli, SpecialTokensStayOutOfThePrintedText) {
  const std::string dir = tiny_byte_gpt("byte_gpt_eos", true);  // greedy always picks <|endoftext|> (256)
  const std::vector<int32_t> three_eos = {256, 256, 256};
  const std::string eot = "<|endoftext|>";
  std::vector<std::string> a = {"generate", "--model",          dir, "--prompt",     "hi",
                                "--greedy", "--max-new-tokens", "3", "--ignore-eos", "--json"};
  auto r = run(a);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json_ids(r), three_eos);  // the ids keep every token
  EXPECT_EQ(Json::parse(r.out)["text"], "");
  a.push_back("--keep-special-tokens");
  r = run(a);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json_ids(r), three_eos);
  EXPECT_EQ(Json::parse(r.out)["text"], eot + eot + eot);
  // Stopping at eos (the default): the eos id ends the ids, its text is not printed.
  r = run({"generate", "--model", dir, "--prompt", "hi", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json_ids(r), std::vector<int32_t>{256});
  EXPECT_EQ(Json::parse(r.out)["text"], "");
  // Streamed text, the prompt's special token included ("<|endoftext|>" in a prompt is the special id).
  r = run({"generate", "--model", dir, "--prompt", "a" + eot + "b", "--greedy", "--max-new-tokens",
                     "2", "--ignore-eos"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ab\n");
  r = run({"generate", "--model", dir, "--prompt", "a" + eot + "b", "--greedy", "--max-new-tokens",
                     "2", "--ignore-eos", "--keep-special-tokens"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "a" + eot + "b" + eot + eot + "\n");
}

// Every argument is checked (and the model loaded) before the prompt is streamed: an error leaves stdout
// empty.
TEST(GenerateCli, ArgumentErrorsPrintNothingOnStdout) {
  const std::string dir = tiny_byte_gpt();
  struct Case {
    std::vector<std::string> extra;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {{"--stop", ""}, "--stop is empty"},
      {{"--temperature", "-1"}, "--temperature must be >= 0"},
      {{"--top-p", "0"}, "--top-p"},
      {{"--top-k", "-2"}, "--top-k"},
      {{"--repetition-penalty", "0"}, "--repetition-penalty"},
      {{"--num-beams", "0"}, "--num-beams"},
      {{"--max-new-tokens", "-1"}, "--max-new-tokens"},
      {{"--ids", "1,2"}, "exactly one of --prompt or --ids"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> a = {"generate", "--model", dir, "--prompt", "hello", "--greedy"};
    a.insert(a.end(), c.extra.begin(), c.extra.end());
    const auto r = run(a);
    EXPECT_EQ(r.exit_code, 2) << c.needle << ": " << r.err;
    EXPECT_EQ(r.out, "") << c.needle;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_EQ(r.err.rfind("lmcpp: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << r.err;
  }
}

// `lmcpp tokenize` prints blank-separated ids and a newline: --ids takes that as it is, and commas, and both.
TEST(GenerateCli, TokenizeOutputGoesIntoIds) {
  const std::string dir = tiny_byte_gpt();
  const auto tok = run({"tokenize", "--tokenizer", dir}, "hi there\n");
  ASSERT_EQ(tok.exit_code, 0) << tok.err;
  ASSERT_EQ(tok.out, "104 105 32 116 104 101 114 101\n");
  const auto by_prompt = run({"generate", "--model", dir, "--prompt", "hi there", "--greedy",
                                        "--max-new-tokens", "6", "--ignore-eos", "--json"});
  ASSERT_EQ(by_prompt.exit_code, 0) << by_prompt.err;
  for (const std::string& ids : {tok.out, std::string("104,105,32,116,104,101,114,101"),
                                 std::string("104, 105, 32, 116,104 101\t114 101")}) {
    const auto r = run({"generate", "--model", dir, "--ids", ids, "--greedy", "--max-new-tokens",
                                  "6", "--ignore-eos", "--json"});
    ASSERT_EQ(r.exit_code, 0) << ids << ": " << r.err;
    EXPECT_EQ(json_ids(r), json_ids(by_prompt)) << ids;
  }
  // score and forward share the parser.
  const auto score_commas = run({"score", "--model", dir, "--ids", "104,105,32,116", "--json"});
  const auto score_blanks = run({"score", "--model", dir, "--ids", "104 105 32 116\n", "--json"});
  ASSERT_EQ(score_commas.exit_code, 0) << score_commas.err;
  ASSERT_EQ(score_blanks.exit_code, 0) << score_blanks.err;
  EXPECT_EQ(score_blanks.out, score_commas.out);
  const auto fwd = run(
      {"forward", "--model", dir, "--ids", "104 105 32", "--attention-mask", "1, 1, 1", "--json"});
  ASSERT_EQ(fwd.exit_code, 0) << fwd.err;
  EXPECT_EQ(fwd.out, run({"forward", "--model", dir, "--ids", "104,105,32", "--json"}).out);
  // An empty list or an item that is not an id: one error naming the flag and the item.
  struct Bad {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Bad> bad = {
      {{"generate", "--model", dir, "--ids", " \n"}, "--ids is empty; expected ids like 464,2068,7586"},
      {{"generate", "--model", dir, "--ids", "104 x7 105"},
       "--ids: 'x7' at position 1 is not a non-negative integer id"},
      {{"score", "--model", dir, "--ids", "104,-3"},
       "--ids: '-3' at position 1 is not a non-negative integer id"},
      {{"forward", "--model", dir, "--ids", "104 105", "--attention-mask", "1 y"},
       "--attention-mask: 'y' at position 1 is not a non-negative integer id"},
      {{"forward", "--model", dir, "--ids", "104,,105"}, "--ids: empty id at position 1"},
  };
  for (const Bad& b : bad) {
    const auto r = run(b.args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(b.message), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace lm
