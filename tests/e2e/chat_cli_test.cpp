// Dialogue through the CLI on a tiny byte-level GPT: finetune --task chat adds the ChatML tokens (tokenizer
// files, embeddings, eos), evaluate --task chat scores exactly the assistant bytes + one end of turn per
// reply, `lmcpp chat` answers one line per stdin line, and tokenize --chat renders / encodes and reports a
// template's raise_exception as exit 2 with its message; bad dialogue files write nothing.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "e2e/byte_gpt_util.h"
#include "harness/harness.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"

namespace lm {
namespace {

// Dialogues "user: <word>" -> "assistant: <word reversed>"; returns the assistant bytes + one end of turn
// each.
int64_t write_dialogues(const std::string& path, int n) {
  const std::vector<std::string> words = {"abc", "hello", "chat", "lmcpp", "tokens", "zebra"};
  std::string out;
  int64_t scored = 0;
  for (int i = 0; i < n; ++i) {
    Json m = Json::array();
    for (int k = 0; k < 2; ++k) {
      const std::string w = words[static_cast<size_t>(i + k) % words.size()];
      m.push_back(Json{{"role", "user"}, {"content", w}});
      m.push_back(Json{{"role", "assistant"}, {"content", std::string(w.rbegin(), w.rend())}});
      scored += static_cast<int64_t>(w.size()) + 1;
    }
    out += Json{{"messages", m}}.dump() + "\n";
  }
  write_file_atomic(path, out);
  return scored;
}

// --max-train-examples / --eval-examples take the first N dialogues of each file.
TEST(ChatCli, FinetuneExampleLimits) {
  const std::string base = tiny_byte_gpt(), tmp = test::temp_dir("chat_limits");
  write_dialogues(tmp + "/d.jsonl", 12);
  auto r = test::run_cli({"finetune", "--task", "chat", "--model", base, "--train", tmp + "/d.jsonl", "--val",
                          tmp + "/d.jsonl", "--out", tmp + "/out", "--epochs", "1", "--batch-size", "2",
                          "--max-train-examples", "4", "--eval-examples", "3", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("4 train / 3 val dialogues"), std::string::npos) << r.err;
  EXPECT_EQ(read_json_file(tmp + "/out/result.json")["steps"], 2);  // 4 dialogues / batch 2
}

TEST(ChatCli, FinetuneEvaluateChatAndTokenize) {
  const std::string base = tiny_byte_gpt(), tmp = test::temp_dir("chat_cli");
  const int64_t scored = write_dialogues(tmp + "/d.jsonl", 12);
  const std::string out = tmp + "/out";
  auto r = test::run_cli({"finetune", "--task", "chat", "--model", base, "--train", tmp + "/d.jsonl", "--val",
                          tmp + "/d.jsonl", "--out", out, "--epochs", "2", "--batch-size", "4", "--lr",
                          "3e-3", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Each epoch's evaluation pass has its progress line: 12 dialogues, each scored in one piece.
  EXPECT_NE(r.err.find("\nval loss: 12/12 pieces "), std::string::npos) << r.err;
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                        "special_tokens_map.json", "generation_config.json", "metrics.jsonl", "result.json"})
    EXPECT_TRUE(file_exists(out + "/" + f)) << f;
  const Json cfg = read_json_file(out + "/config.json");
  EXPECT_EQ(cfg["vocab_size"], 259);
  EXPECT_EQ(cfg["eos_token_id"], 258);  // <|im_end|>
  EXPECT_EQ(read_json_file(out + "/generation_config.json")["eos_token_id"], 258);
  const Json tcfg = read_json_file(out + "/tokenizer_config.json");
  EXPECT_EQ(tcfg["eos_token"], "<|im_end|>");
  EXPECT_EQ(tcfg["added_tokens_decoder"]["257"]["content"], "<|im_start|>");
  EXPECT_NE(tcfg["chat_template"].get<std::string>().find("generation"), std::string::npos);
  const Json res = read_json_file(out + "/result.json");
  EXPECT_EQ(res["task"], "chat");
  EXPECT_TRUE(res["val_loss"].is_number());

  r = test::run_cli({"evaluate", "--task", "chat", "--model", out, "--data", tmp + "/d.jsonl", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("evaluate: 12/12 pieces "), std::string::npos) << r.err;
  const Json ev = Json::parse(r.out);
  EXPECT_EQ(ev["tokens"], scored);
  EXPECT_EQ(ev["dialogues"], 12);
  EXPECT_NEAR(ev["perplexity"].get<double>(), std::exp(ev["loss"].get<double>()), 1e-6);
  EXPECT_NEAR(ev["loss"].get<double>(), res["val_loss"].get<double>(),
              1e-4);  // the same pieces as validation
  r = test::run_cli({"evaluate", "--task", "chat", "--model", out, "--data", tmp + "/d.jsonl", "--json",
                     "--generate", "--max-new-tokens", "8", "--max-examples", "5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json gen = Json::parse(r.out);
  EXPECT_EQ(gen["replies"], 5);
  EXPECT_EQ(gen["dialogues"], 5);  // --max-examples bounds the loss pass too
  EXPECT_GE(gen["f1"].get<double>(), 0.0);

  r = test::run_cli({"chat", "--model", out, "--greedy", "--max-new-tokens", "8", "--system", "Be brief."},
                    "hello\n/reset\nzebra\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
  // A conversation longer than the 96-position context drops its oldest turns, with a notice, and goes on.
  std::string lines;
  for (int i = 0; i < 6; ++i) lines += "tell me about zebras and chat number " + std::to_string(i) + "\n";
  r = test::run_cli({"chat", "--model", out, "--greedy", "--max-new-tokens", "8"}, lines);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 6) << r.out;
  EXPECT_NE(r.err.find("dropped the oldest turn to fit the 96-token context"), std::string::npos) << r.err;

  r = test::run_cli(
      {"tokenize", "--chat", "--tokenizer", out, "--render"},
      "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"add_generation_prompt\": true}\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  r = test::run_cli({"tokenize", "--chat", "--tokenizer", out},
                    "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // <|im_start|> "user\nhi" <|im_end|> "\n": the markers are single ids, every other byte one id.
  EXPECT_EQ(r.out, "257 117 115 101 114 10 104 105 258 10\n");
}

// generate prints text without special tokens unless --keep-special-tokens.
TEST(ChatCli, GeneratePrintsNoSpecialTokensByDefault) {
  const std::string base = tiny_byte_gpt();
  auto r = test::run_cli({"generate", "--model", base, "--ids", "256 104 105", "--greedy", "--max-new-tokens",
                          "1", "--ignore-eos"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("hi", 0), 0u) << r.out;
  r = test::run_cli({"generate", "--model", base, "--ids", "256,104,105", "--greedy", "--max-new-tokens", "1",
                     "--ignore-eos", "--keep-special-tokens"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("<|endoftext|>hi", 0), 0u) << r.out;
}

TEST(ChatCli, TemplateErrorsAndBadInput) {
  const std::string base = tiny_byte_gpt(), tmp = test::temp_dir("chat_bad_cli");
  const std::string tdir = tmp + "/tok";
  make_dirs(tdir);
  for (const char* f : {"vocab.json", "merges.txt", "tokenizer.json"})
    write_file_atomic(tdir + "/" + f, read_file(base + "/" + f));
  write_file_atomic(
      tdir + "/chat_template.jinja",
      "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
      "{% endif %}{% for m in messages %}{{ m['content'] }}{% endfor %}");
  auto r = test::run_cli({"tokenize", "--chat", "--tokenizer", tdir, "--render"},
                         "{\"messages\": [{\"role\": \"system\", \"content\": \"x\"}]}\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("System role not supported"), std::string::npos) << r.err;
  write_file_atomic(tdir + "/chat_template.jinja", "{% for m in messages %}{{ m.content }");
  r = test::run_cli({"tokenize", "--chat", "--tokenizer", tdir}, "{\"messages\": []}\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("line 1"), std::string::npos) << r.err;

  write_file_atomic(tmp + "/bad.jsonl",
                    "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}\nnot json\n");
  r = test::run_cli({"finetune", "--task", "chat", "--model", base, "--train", tmp + "/bad.jsonl", "--val",
                     tmp + "/bad.jsonl", "--out", tmp + "/out"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.jsonl:2"), std::string::npos) << r.err;
  EXPECT_FALSE(file_exists(tmp + "/out"));
}

}  // namespace
}  // namespace lm
