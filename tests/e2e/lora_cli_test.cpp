// LoRA adapters on the command line, on the tiny byte-level GPT (byte_gpt_util.h) with random adapters whose B is
// non-zero (so they change the outputs): `--adapter DIR` on the inference commands runs the adapter unmerged;
// `lmcpp merge-lora` folds it in, and the merged directory gives the same logits (float rounding) and the same
// greedy ids as the unmerged run; bad adapters are one error line, exit 2, no output directory.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "e2e/byte_gpt_util.h"
#include "harness/harness.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/models/lora.h"

namespace lm {
namespace {

namespace fs = std::filesystem;

test::CliResult run(std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.end(), {"--threads", "1"});
  return test::run_cli(args, input);
}

// A PEFT adapter directory for the model at model_dir: A as PEFT initialises it, B uniform in [-0.5, 0.5].
std::string make_adapter(const std::string& model_dir, const std::string& name, uint64_t seed,
                         std::vector<std::string> targets = {"c_attn", "c_proj", "c_fc"}) {
  LoraSpec spec;
  spec.r = 4;
  spec.alpha = 8;
  spec.target_modules = std::move(targets);
  models::LoraModel lora(models::load_model_dir(model_dir), spec, seed);
  uint64_t k = 0;
  for (const auto& m : lora.modules()) test::fill_uniform(m.b.f32(), m.b.numel(), seed * 100 + k++, -0.5f, 0.5f);
  const std::string dir = test::temp_dir(name);
  lora.save_adapter(dir);
  return dir;
}

std::vector<float> logits(const test::CliResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<float> v;
  const Json j = Json::parse(r.out);
  for (const auto& row : j["logits"][0])
    for (const auto& x : row) v.push_back(static_cast<float>(x.get<double>()));
  return v;
}

std::vector<int32_t> greedy_ids(const std::string& model, const std::string& adapter) {
  std::vector<std::string> a = {"generate", "--model", model, "--prompt", "hello there", "--greedy",
                                "--max-new-tokens", "16", "--ignore-eos", "--json"};
  if (!adapter.empty()) a.insert(a.end(), {"--adapter", adapter});
  const auto r = run(a);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return Json::parse(r.out)["ids"].get<std::vector<int32_t>>();
}

TEST(LoraCli, MergedModelGivesTheUnmergedOutputs) {
  const std::string base = tiny_byte_gpt("lora_base");
  const std::string adapter = make_adapter(base, "lora_adapter", 3);
  const std::string out = test::temp_dir("lora_merged") + "/model";
  const auto m = run({"merge-lora", "--model", base, "--adapter", adapter, "--out", out});
  ASSERT_EQ(m.exit_code, 0) << m.err;
  for (const char* f : {"config.json", "model.safetensors", "generation_config.json", "vocab.json", "merges.txt"})
    EXPECT_TRUE(file_exists(out + "/" + f)) << f;
  EXPECT_FALSE(file_exists(out + "/adapter_config.json"));

  const std::string ids = "104,101,108,108,111,32,116,104,101,114,101";
  const auto plain = logits(run({"forward", "--model", base, "--ids", ids, "--json"}));
  const auto unmerged = logits(run({"forward", "--model", base, "--adapter", adapter, "--ids", ids, "--json"}));
  const auto merged = logits(run({"forward", "--model", out, "--ids", ids, "--json"}));
  ASSERT_EQ(unmerged.size(), merged.size());
  EXPECT_LT(test::max_abs_diff(merged.data(), unmerged.data(), static_cast<int64_t>(merged.size())), 1e-4);
  EXPECT_GT(test::max_abs_diff(plain.data(), unmerged.data(), static_cast<int64_t>(plain.size())), 1e-2)
      << "the adapter should change the logits";

  const auto g_unmerged = greedy_ids(base, adapter);
  EXPECT_EQ(greedy_ids(out, ""), g_unmerged);
  EXPECT_NE(greedy_ids(base, ""), g_unmerged) << "the adapter should change the greedy text";

  // score: the same loss unmerged and merged.
  const auto s1 = run({"score", "--model", base, "--adapter", adapter, "--text", "hello there", "--json"});
  const auto s2 = run({"score", "--model", out, "--text", "hello there", "--json"});
  ASSERT_EQ(s1.exit_code, 0) << s1.err;
  ASSERT_EQ(s2.exit_code, 0) << s2.err;
  EXPECT_NEAR(Json::parse(s1.out)["loss"].get<double>(), Json::parse(s2.out)["loss"].get<double>(), 1e-5);

  // evaluate --task lm on a text file: the same perplexity unmerged and merged, not the base's.
  const std::string text = test::temp_dir("lora_eval") + "/text.txt";
  write_file_atomic(text, "hello there, general kenobi. hello there again, and once more hello.\n");
  auto ppl = [&](std::vector<std::string> a) {
    a.insert(a.end(), {"--task", "lm", "--data", text, "--json"});
    a.insert(a.begin(), "evaluate");
    const auto r = run(a);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return Json::parse(r.out)["loss"].get<double>();
  };
  const double e_unmerged = ppl({"--model", base, "--adapter", adapter});
  EXPECT_NEAR(ppl({"--model", out}), e_unmerged, 1e-5);
  EXPECT_GT(std::abs(ppl({"--model", base}) - e_unmerged), 1e-3);

  // chat and embed take the adapter too (and the replies / vectors follow it).
  const auto c1 = run({"chat", "--model", base, "--adapter", adapter, "--greedy", "--max-new-tokens", "8"}, "hi\n");
  const auto c2 = run({"chat", "--model", out, "--greedy", "--max-new-tokens", "8"}, "hi\n");
  ASSERT_EQ(c1.exit_code, 0) << c1.err;
  EXPECT_EQ(c1.out, c2.out);
  const auto e1 = run({"embed", "--model", base, "--adapter", adapter, "--text", "hello", "--json"});
  const auto e2 = run({"embed", "--model", out, "--text", "hello", "--json"});
  ASSERT_EQ(e1.exit_code, 0) << e1.err;
  const auto v1 = Json::parse(e1.out)["embedding"].get<std::vector<double>>();
  const auto v2 = Json::parse(e2.out)["embedding"].get<std::vector<double>>();
  ASSERT_EQ(v1.size(), v2.size());
  for (size_t i = 0; i < v1.size(); ++i) EXPECT_NEAR(v1[i], v2[i], 1e-4) << i;
}

TEST(LoraCli, AdapterTokenizerFilesWin) {
  const std::string base = tiny_byte_gpt("lora_tok_base");
  const std::string adapter = make_adapter(base, "lora_tok_adapter", 5);
  // PEFT saves the tokenizer next to the adapter when fine-tuning added tokens: those files are the ones to use.
  for (const char* f : {"vocab.json", "merges.txt"}) write_file_atomic(adapter + "/" + f, read_file(base + "/" + f));
  const std::string cfg = R"({"chat_template": "{% for m in messages %}[{{ m.content }}]{% endfor %}"})";
  write_file_atomic(adapter + "/tokenizer_config.json", cfg);
  const std::string out = test::temp_dir("lora_tok_merged") + "/model";
  const auto m = run({"merge-lora", "--model", base, "--adapter", adapter, "--out", out});
  ASSERT_EQ(m.exit_code, 0) << m.err;
  EXPECT_EQ(read_file(out + "/tokenizer_config.json"), cfg);
  EXPECT_NE(m.out.find("tokenizer files from " + adapter), std::string::npos) << m.out;
}

TEST(LoraCli, BadAdaptersAreOneErrorLineAndLeaveNoOutput) {
  const std::string base = tiny_byte_gpt("lora_bad_base");
  const std::string tmp = test::temp_dir("lora_bad");
  auto expect_error = [&](const std::string& adapter, const std::string& what) {
    const std::string out = tmp + "/out";
    const auto r = run({"merge-lora", "--model", base, "--adapter", adapter, "--out", out});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("lmcpp: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out)) << r.err;
    // The inference commands say the same.
    const auto g = run({"generate", "--model", base, "--adapter", adapter, "--ids", "1,2", "--json"});
    EXPECT_EQ(g.exit_code, 2) << g.err;
    EXPECT_NE(g.err.find(what), std::string::npos) << g.err;
  };
  expect_error(tmp + "/missing", "does not exist");
  // An adapter for another architecture: BERT's target modules are not in a GPT-2.
  const std::string bert = make_adapter(base, "lora_bad_bert", 1);
  LoraSpec s = read_adapter_config(bert);
  s.target_modules = {"query", "value"};
  write_file_atomic(bert + "/adapter_config.json", s.to_json().dump(2));
  expect_error(bert, "no gpt2 module matches target_modules");
  // An adapter file that lacks a tensor its config targets.
  const std::string partial = make_adapter(base, "lora_bad_partial", 1);
  write_file_atomic(partial + "/adapter_model.safetensors",
                    read_file(make_adapter(base, "lora_bad_c_attn", 1, {"c_attn"}) + "/adapter_model.safetensors"));
  expect_error(partial, "is missing");
  // An adapter for a wider model of the same family: the error names the tensor and both shapes.
  models::GptConfig c;
  c.vocab_size = 257;
  c.n_positions = 96;
  c.n_embd = 32;
  c.n_layer = 1;
  c.n_head = 2;
  models::Gpt wide(c);
  wide.init_weights(1);
  const std::string wide_dir = test::temp_dir("lora_bad_wide_model");
  wide.save_hf(wide_dir);
  expect_error(make_adapter(wide_dir, "lora_bad_wide", 1), "expected [4,16]");
  // An existing non-empty directory lmcpp did not make is refused.
  const std::string adapter = make_adapter(base, "lora_bad_ok", 2);
  const std::string taken = tmp + "/taken";
  fs::create_directories(taken);
  write_file_atomic(taken + "/notes.txt", "mine\n");
  const auto r = run({"merge-lora", "--model", base, "--adapter", adapter, "--out", taken});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--overwrite"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(taken + "/notes.txt"), "mine\n");
}

}  // namespace
}  // namespace lm
