// `lmcpp finetune` and `lmcpp evaluate --task classify|qa` end to end on tiny random models written here:
// a BertModel directory becomes a classifier that learns a keyword task, keeps its best epoch with tokenizer
// files and id2label, and evaluate's confusion matrix agrees with its accuracy; a tiny GPT fine-tunes on JSONL
// QA and evaluate reports exact_match / f1 / count; bad input is one error line, exit 2, nothing written.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "harness/harness.h"
#include "e2e/finetune_test_util.h"
#include "lm/core/file_util.h"
#include "lm/ops/linear_bf16.h"
#include "lm/ops/linear_int8.h"
#include "lm/core/json.h"
#include "lm/core/rng.h"
#include "lm/models/bert/bert.h"
#include "lm/models/gpt/gpt.h"
#include "lm/tokenize/char_tokenizer.h"
#include "lm/tokenize/wordpiece.h"

namespace lm {
namespace {

namespace fs = std::filesystem;

TEST(FinetuneCli, ClassifyFromBaseModelThenEvaluateAndPredict) {
  std::string base = bert_base_dir(), tmp = test::temp_dir("ft_cls");
  std::string train = keyword_sst(tmp + "/train.txt", 128, 1), val = keyword_sst(tmp + "/dev.txt", 64, 2);
  std::string out = tmp + "/out";
  auto r = test::run_cli({"finetune", "--task", "classify", "--model", base, "--train", train, "--val", val, "--out",
                          out, "--epochs", "8", "--batch-size", "16", "--lr", "1e-3", "--max-length", "16",
                          "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Each epoch's evaluation pass has its progress line.
  EXPECT_NE(r.err.find("\nval: 64/64 examples "), std::string::npos) << r.err;
  for (const char* f : {"config.json", "model.safetensors", "vocab.txt", "metrics.jsonl", "loss.svg", "result.json"})
    EXPECT_TRUE(file_exists(out + "/" + f)) << f;
  Json cfg = read_json_file(out + "/config.json");
  EXPECT_EQ(cfg["architectures"][0], "BertForSequenceClassification");
  EXPECT_EQ(cfg["id2label"]["1"], "1");
  Json res = read_json_file(out + "/result.json");
  EXPECT_GE(res["val_accuracy"].get<double>(), 0.9);

  // bf16 weights (where the CPU has a native bf16 matmul): the same predictions on this easy task.
  if (ops::linear_bf16_available()) {
    r = test::run_cli({"evaluate", "--model", out, "--task", "classify", "--data", val, "--json", "--weights",
                       "bf16"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Json evb = Json::parse(r.out);
    EXPECT_EQ(evb["weights"].get<std::string>(), "bf16");
    EXPECT_NEAR(evb["accuracy"].get<double>(), res["val_accuracy"].get<double>(), 1e-12);
  }
  // int8 weights and activations (where the CPU has a native int8 matmul): the same predictions here too.
  if (ops::linear_int8_available()) {
    r = test::run_cli({"evaluate", "--model", out, "--task", "classify", "--data", val, "--json", "--weights",
                       "int8"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Json evi = Json::parse(r.out);
    EXPECT_EQ(evi["weights"].get<std::string>(), "int8");
    EXPECT_NEAR(evi["accuracy"].get<double>(), res["val_accuracy"].get<double>(), 1e-12);
  }
  r = test::run_cli({"evaluate", "--model", out, "--task", "classify", "--data", val, "--weights", "f16"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--weights must be f32, bf16 or int8, got 'f16'"), std::string::npos) << r.err;
  r = test::run_cli({"evaluate", "--model", out, "--task", "classify", "--data", val, "--json", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("evaluate: 64/64 examples "), std::string::npos) << r.err;
  Json ev = Json::parse(r.out);
  for (const char* k : {"accuracy", "f1", "confusion_matrix", "loss"}) EXPECT_TRUE(ev.contains(k)) << k;
  EXPECT_NEAR(ev["accuracy"].get<double>(), res["val_accuracy"].get<double>(), 1e-12);
  int64_t total = 0, diag = 0;
  const auto& cm = ev["confusion_matrix"];
  ASSERT_EQ(cm.size(), 2u);
  for (size_t g = 0; g < 2; ++g)
    for (size_t p = 0; p < 2; ++p) {
      total += cm[g][p].get<int64_t>();
      if (g == p) diag += cm[g][p].get<int64_t>();
    }
  EXPECT_EQ(total, 64);
  EXPECT_NEAR(ev["accuracy"].get<double>(), static_cast<double>(diag) / 64.0, 1e-12);

  r = test::run_cli({"predict", "--model", out, "--text", "w1 good w3", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out)["label"], "1");
}

// --max-train-examples and --eval-examples bound every task (they once applied to QA alone, so a classify or chat
// run silently trained on everything).
TEST(FinetuneCli, ExampleLimitsApplyToClassify) {
  std::string base = bert_base_dir(), tmp = test::temp_dir("ft_cls_limits");
  std::string train = keyword_sst(tmp + "/train.txt", 64, 1), val = keyword_sst(tmp + "/dev.txt", 32, 2);
  auto r = test::run_cli({"finetune", "--task", "classify", "--model", base, "--train", train, "--val", val, "--out",
                          tmp + "/out", "--epochs", "1", "--batch-size", "8", "--max-length", "16",
                          "--max-train-examples", "24", "--eval-examples", "10", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json res = read_json_file(tmp + "/out/result.json");
  EXPECT_EQ(res["train_examples"], 24);
  EXPECT_EQ(res["val_examples"], 10);
  EXPECT_EQ(res["steps"], 3);  // 24 examples / batch 8
  int64_t cm_total = 0;
  for (const auto& row : res["confusion_matrix"])
    for (const auto& c : row) cm_total += c.get<int64_t>();
  EXPECT_EQ(cm_total, 10);
  r = test::run_cli({"evaluate", "--model", tmp + "/out", "--task", "classify", "--data", val, "--json",
                     "--max-examples", "7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out)["count"], 7);
}

TEST(FinetuneCli, GenerativeQaRunsAndEvaluates) {
  std::string dir = test::temp_dir("ft_gpt_base"), tmp = test::temp_dir("ft_qa");
  auto tok = CharTokenizer::train({"abcdefghijklmnopqrstuvwxyz=?:\n QA"});
  tok->save(dir);
  models::GptConfig c;
  c.vocab_size = tok->vocab_size() + 1;
  c.bos_token_id = c.eos_token_id = tok->vocab_size();
  c.n_positions = 48;
  c.n_embd = 16;
  c.n_layer = 1;
  c.n_head = 2;
  models::Gpt gpt(c);
  gpt.init_weights(2);
  gpt.save_hf(dir);
  std::string jl;
  for (int i = 0; i < 20; ++i) {
    std::string a(1, static_cast<char>('a' + i % 8));
    jl += Json{{"id", std::to_string(i)}, {"question", "?"}, {"context", "xy=" + a + "z"}, {"answer", a}}.dump() + "\n";
  }
  write_file_atomic(tmp + "/qa.jsonl", jl);
  std::string out = tmp + "/out";
  auto r = test::run_cli({"finetune", "--task", "qa", "--model", dir, "--train", tmp + "/qa.jsonl", "--val",
                          tmp + "/qa.jsonl", "--out", out, "--epochs", "1", "--batch-size", "4",
                          "--max-new-tokens", "4", "--eval-examples", "6", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // --eval-examples bounds the whole evaluation (the loss pass too); progress counts are integers with a unit.
  EXPECT_NE(r.err.find("20 train / 6 val questions (6 generated"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("finetune: 5/5 steps"), std::string::npos) << r.err;
  // Each evaluation pass has its progress line, over the same 6 questions.
  EXPECT_NE(r.err.find("\nval loss: 6/6 questions "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\nval answers: 6/6 questions "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(", count 6,"), std::string::npos) << r.err;  // the epoch's summary counts in integers
  EXPECT_EQ(r.err.find("count 6.0"), std::string::npos) << r.err;
  for (const char* f : {"config.json", "model.safetensors", "char_vocab.json", "generation_config.json",
                        "metrics.jsonl", "result.json"})
    EXPECT_TRUE(file_exists(out + "/" + f)) << f;
  r = test::run_cli({"evaluate", "--model", out, "--task", "qa", "--data", tmp + "/qa.jsonl", "--json",
                     "--max-new-tokens", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json ev = Json::parse(r.out);
  EXPECT_EQ(ev["count"], 20);
  EXPECT_NE(r.err.find("evaluate: 20/20 questions "), std::string::npos) << r.err;
  EXPECT_GE(ev["exact_match"].get<double>(), 0.0);
  EXPECT_LE(ev["f1"].get<double>(), 100.0);
  EXPECT_EQ(ev["weights"], "f32");
  // int8 / bf16 weights are BERT options: a GPT QA model refuses them in one line.
  r = test::run_cli({"evaluate", "--model", out, "--task", "qa", "--data", tmp + "/qa.jsonl", "--weights", "int8"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--weights int8 is a BERT option"), std::string::npos) << r.err;
}

// BERT extractive QA through the CLI: a base model gets a span head, learns to point at the keyword, and
// evaluate --task qa reproduces the best epoch's F1 (f32) and gives an F1 within 5 points with int8 weights.
TEST(FinetuneCli, BertSpanQaThenEvaluate) {
  std::string base = bert_base_dir(), tmp = test::temp_dir("ft_bert_qa");
  std::string train = keyword_qa_jsonl(tmp + "/train.jsonl", 128, 1), val = keyword_qa_jsonl(tmp + "/val.jsonl", 40, 2);
  std::string out = tmp + "/out";
  auto r = test::run_cli({"finetune", "--task", "qa", "--model", base, "--train", train, "--val", val, "--out", out,
                          "--epochs", "6", "--batch-size", "16", "--lr", "1e-3", "--max-length", "16", "--threads",
                          "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json res = read_json_file(out + "/result.json");
  EXPECT_EQ(read_json_file(out + "/config.json")["architectures"][0], "BertForQuestionAnswering");
  EXPECT_GE(res["val_f1"].get<double>(), 80.0);
  r = test::run_cli({"evaluate", "--model", out, "--task", "qa", "--data", val, "--json", "--max-length", "16",
                     "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("evaluate: 40/40 windows "), std::string::npos) << r.err;  // one window per question
  Json ev = Json::parse(r.out);
  EXPECT_EQ(ev["count"], 40);
  EXPECT_NEAR(ev["f1"].get<double>(), res["val_f1"].get<double>(), 1e-9);
  if (ops::linear_int8_available()) {
    r = test::run_cli({"evaluate", "--model", out, "--task", "qa", "--data", val, "--json", "--max-length", "16",
                       "--weights", "int8"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Json ei = Json::parse(r.out);
    EXPECT_EQ(ei["weights"], "int8");
    EXPECT_NEAR(ei["f1"].get<double>(), res["val_f1"].get<double>(), 5.0);
  }
}

// The train losses of metrics.jsonl, in step order.
std::vector<double> step_losses(const std::string& out) {
  std::vector<double> l;
  std::istringstream in(read_file(out + "/metrics.jsonl"));
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    Json j = Json::parse(line);
    if (j.contains("lr") && j.contains("loss") && j["loss"].is_number()) l.push_back(j["loss"].get<double>());
  }
  return l;
}

// Fine-tuning goes through the Trainer: killed between checkpoints and run again, it resumes from the last one and
// ends bitwise where an uninterrupted run ends (losses, best model, final weights and optimizer moments).
TEST(FinetuneCli, ClassifyResumesExactlyAfterAKill) {
  std::string base = bert_base_dir(), tmp = test::temp_dir("ft_resume");
  std::string train = keyword_sst(tmp + "/train.txt", 64, 1), val = keyword_sst(tmp + "/dev.txt", 32, 2);
  auto args = [&](const std::string& out) {
    return std::vector<std::string>{"finetune", "--task", "classify", "--model", base, "--train", train, "--val", val,
                                    "--out", out, "--epochs", "2", "--batch-size", "16", "--lr", "1e-3",
                                    "--max-length", "16", "--save-every", "2", "--threads", "1"};
  };
  const std::string straight = tmp + "/straight", resumed = tmp + "/resumed";
  auto a = test::run_cli(args(straight));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  setenv("LM_TEST_KILL_AT_STEP", "3", 1);  // 4 steps an epoch, 8 in all; checkpoint at step 2
  auto b1 = test::run_cli(args(resumed));
  unsetenv("LM_TEST_KILL_AT_STEP");
  ASSERT_EQ(b1.exit_code, 128 + 9) << b1.err;
  EXPECT_TRUE(fs::is_directory(resumed + "/checkpoints/step_00000002"));
  auto b2 = test::run_cli(args(resumed));
  ASSERT_EQ(b2.exit_code, 0) << b2.err;
  EXPECT_NE(b2.err.find("resuming"), std::string::npos) << b2.err;
  const auto la = step_losses(straight), lb = step_losses(resumed);
  ASSERT_EQ(la.size(), 8u);
  EXPECT_EQ(la, lb);
  for (const char* f : {"model.safetensors", "checkpoints/step_00000008/model.safetensors",
                        "checkpoints/step_00000008/optimizer.safetensors"})
    EXPECT_EQ(read_file(straight + "/" + f), read_file(resumed + "/" + f)) << f;
  EXPECT_EQ(read_json_file(straight + "/result.json")["val_accuracy"],
            read_json_file(resumed + "/result.json")["val_accuracy"]);
}

void expect_bad(const std::vector<std::string>& args, const std::string& out) {
  auto r = test::run_cli(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("lmcpp: error: ", 0), 0u) << r.err;
  EXPECT_FALSE(fs::exists(out)) << out;
}

TEST(FinetuneCli, BadInputIsOneErrorLineAndWritesNothing) {
  std::string base = bert_base_dir(), tmp = test::temp_dir("ft_bad");
  std::string train = keyword_sst(tmp + "/train.txt", 8, 1);
  std::string bad_val = keyword_sst(tmp + "/bad.txt", 8, 2, "7");
  std::string out = tmp + "/out";
  expect_bad({"finetune", "--task", "classify", "--model", base, "--train", tmp + "/missing.txt", "--val", train,
              "--out", out}, out);
  expect_bad({"finetune", "--task", "classify", "--model", base, "--train", train, "--val", bad_val, "--out", out},
             out);
  expect_bad({"finetune", "--task", "summarize", "--model", base, "--train", train, "--val", train, "--out", out},
             out);
  expect_bad({"finetune", "--task", "qa", "--model", base, "--train", train, "--val", train, "--out", out}, out);
  expect_bad({"finetune", "--task", "classify", "--model", tmp + "/nope", "--train", train, "--val", train, "--out",
              out}, out);
  auto r = test::run_cli({"evaluate", "--model", base, "--task", "classify", "--data", train});
  EXPECT_EQ(r.exit_code, 2) << r.err;  // a base model has no classifier
  r = test::run_cli({"evaluate", "--model", base, "--task", "nope", "--data", train});
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

}  // namespace
}  // namespace lm
