// Configs a user writes are strict: an unknown key in a train config, in its "model" object (given in the
// file or through --set model.KEY=...) or in `lmcpp init --config` is one error line with a did-you-mean,
// exit 2, before any work. config.json files read from a model directory stay lenient as in transformers.
// Unknown flags and commands get the same suggestion.
#include <gtest/gtest.h>

#include <filesystem>

#include "harness/harness.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"

namespace lm {
namespace {

bool one_error_line(const test::CliResult& r) {
  return r.exit_code == 2 && r.out.empty() && r.err.rfind("lmcpp: error: ", 0) == 0 &&
         r.err.find('\n') == r.err.size() - 1;
}

const char* kTinyGpt =
    R"({"model_type": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 16, "vocab_size": 64})";

// A train config file with the tiny GPT and a data directory that does not exist: the key checks come first.
std::string write_train_config(const std::string& dir, const Json& extra) {
  Json cfg = {{"model", Json::parse(kTinyGpt)}, {"data", "/nonexistent/data"}, {"max_steps", 1}};
  for (auto it = extra.begin(); it != extra.end(); ++it) cfg[it.key()] = it.value();
  const std::string path = path_join(dir, "train.json");
  write_file_atomic(path, cfg.dump(2));
  return path;
}

TEST(StrictConfigCli, SetOfAnUnknownModelKeyIsAnError) {
  const std::string work = test::temp_dir("strict_set");
  const std::string cfg = write_train_config(work, Json::object());
  auto r =
      test::run_cli({"train", "--config", cfg, "--set", "model.n_layers=2", "--out", path_join(work, "o")});
  EXPECT_TRUE(one_error_line(r)) << r.exit_code << " " << r.err;
  EXPECT_EQ(r.err,
            "lmcpp: error: train config \"model\": unknown key \"n_layers\" (did you mean \"n_layer\"?)\n");
  EXPECT_FALSE(std::filesystem::exists(path_join(work, "o")));
  // A top-level --set typo, and a known nested key, which gets past the key checks (to the missing data).
  r = test::run_cli({"train", "--config", cfg, "--set", "max_step=5", "--out", path_join(work, "o")});
  EXPECT_EQ(r.err, "lmcpp: error: train config: unknown key \"max_step\" (did you mean \"max_steps\"?)\n");
  r = test::run_cli({"train", "--config", cfg, "--set", "model.n_layer=2", "--out", path_join(work, "o")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err.find("unknown key"), std::string::npos) << r.err;
}

TEST(StrictConfigCli, TrainConfigTyposInsideModelAndAtTopLevel) {
  const std::string work = test::temp_dir("strict_train");
  Json model = Json::parse(kTinyGpt);
  model["n_heads"] = 4;
  auto r = test::run_cli(
      {"train", "--config", write_train_config(work, {{"model", model}}), "--out", path_join(work, "o")});
  EXPECT_TRUE(one_error_line(r)) << r.exit_code << " " << r.err;
  EXPECT_EQ(r.err,
            "lmcpp: error: train config \"model\": unknown key \"n_heads\" (did you mean \"n_head\"?)\n");
  // BERT's keys come from its own family.
  Json bert = {{"model_type", "bert"}, {"hidden_size", 16}, {"num_hidden_layer", 1}};
  r = test::run_cli(
      {"train", "--config", write_train_config(work, {{"model", bert}}), "--out", path_join(work, "o")});
  EXPECT_EQ(r.err,
            "lmcpp: error: train config \"model\": unknown key \"num_hidden_layer\" (did you mean "
            "\"num_hidden_layers\"?)\n");
  // HF's common keys (PretrainedConfig) are known to every family.
  Json common = Json::parse(kTinyGpt);
  common["tie_word_embeddings"] = true;
  common["transformers_version"] = "4.46.0";
  r = test::run_cli(
      {"train", "--config", write_train_config(work, {{"model", common}}), "--out", path_join(work, "o")});
  EXPECT_EQ(r.err.find("unknown key"), std::string::npos) << r.err;
  r = test::run_cli({"train", "--config", write_train_config(work, {{"lr_shedule", "cosine"}}), "--out",
                     path_join(work, "o")});
  EXPECT_TRUE(one_error_line(r)) << r.exit_code << " " << r.err;
  EXPECT_EQ(r.err,
            "lmcpp: error: train config: unknown key \"lr_shedule\" (did you mean \"lr_schedule\"?)\n");
  // No suggestion for a key close to nothing.
  r = test::run_cli({"train", "--config", write_train_config(work, {{"flux_capacitor", 1}}), "--out",
                     path_join(work, "o")});
  EXPECT_EQ(r.err, "lmcpp: error: train config: unknown key \"flux_capacitor\"\n");
}

TEST(StrictConfigCli, InitConfigTyposAreErrors) {
  const std::string work = test::temp_dir("strict_init");
  auto r = test::run_cli({"init", "--config", R"({"model_type": "gpt2", "n_layers": 2, "n_embed": 64})",
                          "--out", path_join(work, "bad")});
  EXPECT_TRUE(one_error_line(r)) << r.exit_code << " " << r.err;
  EXPECT_EQ(r.err, "lmcpp: error: --config: unknown key \"n_embed\" (did you mean \"n_embd\"?)\n");
  EXPECT_FALSE(std::filesystem::exists(path_join(work, "bad")));
  // GPT2Config's attribute_map aliases are known keys and mean what they mean in transformers.
  r = test::run_cli(
      {"init", "--config",
       R"({"model_type": "gpt2", "num_hidden_layers": 2, "hidden_size": 16, "num_attention_heads": 2,
                         "max_position_embeddings": 8, "vocab_size": 32})",
       "--out", path_join(work, "alias")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json saved = read_json_file(path_join(work, "alias/config.json"));
  EXPECT_EQ(saved["n_layer"], 2);
  EXPECT_EQ(saved["n_embd"], 16);
  EXPECT_EQ(saved["n_head"], 2);
  EXPECT_EQ(saved["n_positions"], 8);
}

TEST(StrictConfigCli, ModelDirectoryConfigStaysLenient) {
  const std::string work = test::temp_dir("strict_lenient");
  const std::string dir = path_join(work, "m");
  auto r = test::run_cli({"init", "--config", kTinyGpt, "--out", dir});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // A checkpoint from elsewhere may carry keys lmcpp does not know: transformers keeps and ignores them.
  Json cfg = read_json_file(path_join(dir, "config.json"));
  cfg["custom_field"] = "kept";
  cfg["n_layers"] = 7;
  write_file_atomic(path_join(dir, "config.json"), cfg.dump(2));
  r = test::run_cli({"forward", "--model", dir, "--ids", "1,2,3", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("logits"), std::string::npos) << r.out;
  r = test::run_cli({"info", "--model", dir});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(StrictConfigCli, FlagAndCommandTyposSuggest) {
  auto r = test::run_cli({"generate", "--model", "/nonexistent", "--ids", "1", "--max-new-token", "4"});
  EXPECT_TRUE(one_error_line(r)) << r.exit_code << " " << r.err;
  EXPECT_EQ(r.err,
            "lmcpp: error: unknown flag --max-new-token (did you mean \"--max-new-tokens\"?), in lmcpp "
            "generate (see lmcpp generate --help)\n");
  r = test::run_cli({"trian", "--config", "c.json"});
  EXPECT_TRUE(one_error_line(r)) << r.exit_code << " " << r.err;
  EXPECT_EQ(r.err, "lmcpp: error: unknown command 'trian' (did you mean \"train\"?), see lmcpp --help\n");
  r = test::run_cli({"frobnicate"});
  EXPECT_EQ(r.err, "lmcpp: error: unknown command 'frobnicate', see lmcpp --help\n");
}

}  // namespace
}  // namespace lm
