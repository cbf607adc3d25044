// `lmcpp finetune --lora` end to end on tiny random models: a BERT classifier trains a PEFT adapter (query/value
// LoRA + the classifier as modules_to_save) and leaves the base directory bitwise untouched; killed between
// checkpoints and run again it ends bitwise where an uninterrupted run ends; a byte-level GPT fine-tuned for chat
// with LoRA carries its grown embeddings in the adapter and generates with `--adapter` exactly as `merge-lora`'s
// model does; bad --lora values are one error line and write nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "e2e/byte_gpt_util.h"
#include "e2e/finetune_test_util.h"
#include "harness/harness.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/interop/open.h"
#include "lm/io/safetensors.h"
#include "lm/models/lora.h"

namespace lm {
namespace {

namespace fs = std::filesystem;

std::vector<double> train_losses(const std::string& out) {
  std::vector<double> l;
  std::istringstream in(read_file(out + "/metrics.jsonl"));
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    Json j = Json::parse(line);
    if (j.contains("lr") && j.contains("loss") && j["loss"].is_number()) l.push_back(j["loss"].get<double>());
  }
  return l;
}

std::vector<std::string> classify_args(const std::string& base, const std::string& train, const std::string& val,
                                       const std::string& out) {
  return {"finetune", "--task", "classify", "--model", base, "--train", train, "--val", val, "--out", out,
          "--epochs", "2", "--batch-size", "16", "--lr", "5e-3", "--max-length", "16", "--save-every", "2",
          "--threads", "1", "--lora", "r=4,alpha=8"};
}

TEST(FinetuneLora, ClassifyWritesAPeftAdapterAndLeavesTheBaseAlone) {
  const std::string base = bert_base_dir(), tmp = test::temp_dir("ft_lora");
  const std::string train = keyword_sst(tmp + "/train.txt", 64, 1), val = keyword_sst(tmp + "/dev.txt", 32, 2);
  const std::string before = read_file(base + "/model.safetensors"), out = tmp + "/out";
  auto r = test::run_cli(classify_args(base, train, val, out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(base + "/model.safetensors"), before);
  EXPECT_FALSE(fs::exists(out + "/model.safetensors"));
  const Json cfg = read_json_file(out + "/adapter_config.json");
  EXPECT_EQ(cfg["peft_type"], "LORA");
  EXPECT_EQ(cfg["task_type"], "SEQ_CLS");
  EXPECT_EQ(cfg["r"], 4);
  EXPECT_EQ(cfg["lora_alpha"], 8.0);
  EXPECT_EQ(cfg["target_modules"], Json({"query", "value"}));
  EXPECT_EQ(cfg["modules_to_save"], Json({"classifier", "score"}));
  EXPECT_EQ(cfg["base_model_name_or_path"], base);
  SafetensorsFile st(out + "/adapter_model.safetensors");
  EXPECT_EQ(st.tensors().size(), 2u * 2u * 2u + 2u);  // 2 layers x (query, value) x (A, B) + classifier w, b
  EXPECT_EQ(st.entry("base_model.model.bert.encoder.layer.1.attention.self.value.lora_A.weight").shape, Shape({4, 32}));
  EXPECT_EQ(st.entry("base_model.model.bert.encoder.layer.1.attention.self.value.lora_B.weight").shape, Shape({32, 4}));
  EXPECT_EQ(st.entry("base_model.model.classifier.weight").shape, Shape({2, 32}));
  const Json res = read_json_file(out + "/result.json");
  EXPECT_EQ(res["trainable_parameters"], 4 * (4 * 32 + 32 * 4) + 2 * 32 + 2);
  EXPECT_EQ(res["lora"]["r"], 4);
  // The tokenizer travels with the adapter (as PEFT users save it next to adapter files).
  EXPECT_TRUE(fs::exists(out + "/vocab.txt"));
  EXPECT_EQ(train_losses(out).size(), 8u);
  EXPECT_EQ(read_json_file(out + "/lmcpp_base_config.json")["architectures"], Json({"BertForSequenceClassification"}));
  // The adapter loads back onto the base (given the head it was trained with); its B matrices moved from zero.
  auto m0 = interop::load_model(base, out);
  auto* m = dynamic_cast<models::LoraModel*>(m0.get());
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->trainable_parameters(), res["trainable_parameters"].get<int64_t>());
  EXPECT_EQ(m->architecture(), "BertForSequenceClassification");
  float bmax = 0;
  for (const auto& mod : m->modules())
    for (int64_t i = 0; i < mod.b.numel(); ++i) bmax = std::max(bmax, std::fabs(mod.b.f32()[i]));
  EXPECT_GT(bmax, 0.0f);
}

TEST(FinetuneLora, ClassifyResumesExactlyAfterAKill) {
  const std::string base = bert_base_dir(), tmp = test::temp_dir("ft_lora_resume");
  const std::string train = keyword_sst(tmp + "/train.txt", 64, 1), val = keyword_sst(tmp + "/dev.txt", 32, 2);
  const std::string straight = tmp + "/straight", resumed = tmp + "/resumed";
  auto a = test::run_cli(classify_args(base, train, val, straight));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  setenv("LM_TEST_KILL_AT_STEP", "3", 1);  // 4 steps an epoch, 8 in all; checkpoint at step 2
  auto b1 = test::run_cli(classify_args(base, train, val, resumed));
  unsetenv("LM_TEST_KILL_AT_STEP");
  ASSERT_EQ(b1.exit_code, 128 + 9) << b1.err;
  EXPECT_TRUE(fs::exists(resumed + "/checkpoints/step_00000002/adapter_model.safetensors"));
  auto b2 = test::run_cli(classify_args(base, train, val, resumed));
  ASSERT_EQ(b2.exit_code, 0) << b2.err;
  EXPECT_NE(b2.err.find("resuming"), std::string::npos) << b2.err;
  EXPECT_EQ(train_losses(straight), train_losses(resumed));
  for (const char* f : {"adapter_model.safetensors", "checkpoints/step_00000008/adapter_model.safetensors",
                        "checkpoints/step_00000008/optimizer.safetensors"})
    EXPECT_EQ(read_file(straight + "/" + f), read_file(resumed + "/" + f)) << f;
  // A changed adapter recipe must not quietly continue the old run.
  auto args = classify_args(base, train, val, resumed);
  args.back() = "r=2,alpha=8";
  args[14] = "3";  // --epochs
  auto c = test::run_cli(args);
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_NE(c.err.find("lora.r: 4 -> 2"), std::string::npos) << c.err;
}

TEST(FinetuneLora, ChatAdapterCarriesTheGrownEmbeddingsAndGeneratesAsMerged) {
  const std::string base = tiny_byte_gpt(), tmp = test::temp_dir("ft_lora_chat");
  std::string d;
  for (int i = 0; i < 8; ++i)
    d += Json{{"messages", {{{"role", "user"}, {"content", "ab"}}, {{"role", "assistant"}, {"content", "ba"}}}}}
             .dump() + "\n";
  write_file_atomic(tmp + "/d.jsonl", d);
  const std::string out = tmp + "/out";
  auto r = test::run_cli({"finetune", "--task", "chat", "--model", base, "--train", tmp + "/d.jsonl", "--val",
                          tmp + "/d.jsonl", "--out", out, "--epochs", "2", "--batch-size", "4", "--lr", "1e-2",
                          "--threads", "1", "--lora", "r=4,alpha=8,dropout=0.1", "--lora-targets",
                          "c_attn,mlp.c_fc"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json cfg = read_json_file(out + "/adapter_config.json");
  EXPECT_EQ(cfg["task_type"], "CAUSAL_LM");
  EXPECT_EQ(cfg["fan_in_fan_out"], true);
  EXPECT_EQ(cfg["target_modules"], Json({"c_attn", "mlp.c_fc"}));
  EXPECT_EQ(cfg["modules_to_save"], Json({"wte"}));  // ChatML's two tokens were added
  SafetensorsFile st(out + "/adapter_model.safetensors");
  const auto b0 = models::load_model_dir(base);
  EXPECT_EQ(st.entry("base_model.model.transformer.wte.weight").shape[0], b0->vocab_size() + 2);
  // generate --adapter (unmerged, base resized to the adapter's rows) = the same adapter merged.
  auto gen = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> a = {"generate", "--model", base, "--ids", "1,2,3", "--greedy", "--max-new-tokens", "6",
                                  "--ignore-eos", "--json", "--threads", "1"};
    a.insert(a.end(), extra.begin(), extra.end());
    auto g = test::run_cli(a);
    EXPECT_EQ(g.exit_code, 0) << g.err;
    return g.exit_code == 0 ? Json::parse(g.out)["ids"] : Json();
  };
  const Json with = gen({"--adapter", out});
  auto mg = test::run_cli({"merge-lora", "--model", base, "--adapter", out, "--out", tmp + "/merged"});
  ASSERT_EQ(mg.exit_code, 0) << mg.err;
  EXPECT_EQ(read_json_file(tmp + "/merged/config.json")["vocab_size"], b0->vocab_size() + 2);
  auto g = test::run_cli({"generate", "--model", tmp + "/merged", "--ids", "1,2,3", "--greedy", "--max-new-tokens",
                          "6", "--ignore-eos", "--json", "--threads", "1"});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  EXPECT_EQ(with, Json::parse(g.out)["ids"]);
  EXPECT_EQ(with.size(), 6u);
}

// The train config's "lora" key: an adapter trained on "init" through the pretraining objective; its checkpoints
// are adapter directories and a killed run resumes to the same adapter.
TEST(FinetuneLora, TrainConfigLoraKeyTrainsAndResumesAnAdapter) {
  const std::string base = tiny_byte_gpt("lora_train_base"), tmp = test::temp_dir("lora_train");
  std::string text;
  for (int i = 0; i < 200; ++i) text += "the quick brown fox jumps over the lazy dog " + std::to_string(i) + "\n";
  write_file_atomic(tmp + "/t.txt", text);
  auto p = test::run_cli({"prepare", "--input", tmp + "/t.txt", "--tokenizer", base, "--out", tmp + "/data", "--quiet"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const Json cfg = {{"init", base}, {"data", tmp + "/data"}, {"batch_size", 2}, {"seq_len", 32}, {"max_steps", 6},
                    {"lr", 1e-2}, {"save_every", 3}, {"threads", 1},
                    {"lora", {{"r", 2}, {"alpha", 4}, {"target_modules", {"c_attn", "mlp.c_proj"}}}}};
  write_file_atomic(tmp + "/c.json", cfg.dump());
  auto args = [&](const std::string& out) { return std::vector<std::string>{"train", "--config", tmp + "/c.json", "--out", out}; };
  auto a = test::run_cli(args(tmp + "/a"));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const Json ac = read_json_file(tmp + "/a/adapter_config.json");
  EXPECT_EQ(ac["target_modules"], Json({"c_attn", "mlp.c_proj"}));
  EXPECT_EQ(ac["base_model_name_or_path"], base);
  EXPECT_TRUE(fs::exists(tmp + "/a/checkpoints/step_00000003/adapter_model.safetensors"));
  EXPECT_FALSE(fs::exists(tmp + "/a/model.safetensors"));
  setenv("LM_TEST_KILL_AT_STEP", "4", 1);
  auto b1 = test::run_cli(args(tmp + "/b"));
  unsetenv("LM_TEST_KILL_AT_STEP");
  ASSERT_EQ(b1.exit_code, 128 + 9) << b1.err;
  auto b2 = test::run_cli(args(tmp + "/b"));
  ASSERT_EQ(b2.exit_code, 0) << b2.err;
  EXPECT_NE(b2.err.find("resuming from step 3"), std::string::npos) << b2.err;
  EXPECT_EQ(read_file(tmp + "/a/adapter_model.safetensors"), read_file(tmp + "/b/adapter_model.safetensors"));
  // "lora" without "init" is refused.
  Json bad = cfg;
  bad.erase("init");
  bad["model"] = {{"model_type", "gpt2"}, {"n_layer", 1}, {"n_embd", 16}, {"n_head", 2}};
  write_file_atomic(tmp + "/bad.json", bad.dump());
  auto c = test::run_cli({"train", "--config", tmp + "/bad.json", "--out", tmp + "/c"});
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_NE(c.err.find("\"lora\" trains an adapter on a model: give \"init\""), std::string::npos) << c.err;
}

TEST(FinetuneLora, BadLoraFlagsAreOneErrorLine) {
  const std::string base = bert_base_dir(), tmp = test::temp_dir("ft_lora_bad");
  const std::string train = keyword_sst(tmp + "/train.txt", 16, 1), val = keyword_sst(tmp + "/dev.txt", 8, 2);
  for (const char* bad : {"r=0", "alpha=16", "r=8,alpha=-1", "r=8,dropout=1", "r=8,rank=2", "r=x"}) {
    auto args = classify_args(base, train, val, tmp + "/out");
    args.back() = bad;
    auto r = test::run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find("--lora"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(tmp + "/out")) << bad;
  }
  auto args = classify_args(base, train, val, tmp + "/out");
  args.insert(args.end(), {"--lora-targets", "c_attn"});  // a GPT-2 module name on a BERT
  auto r = test::run_cli(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("no bert module matches target_modules"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp + "/out/adapter_model.safetensors"));
}

}  // namespace
}  // namespace lm
