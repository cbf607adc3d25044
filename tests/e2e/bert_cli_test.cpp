// CLI end to end on BERT model directories (tests/reference/bert_tiny_*): `lmcpp forward` outputs named and shaped
// as HF ModelOutput fields for every head, equal to the PyTorch reference with --token-type-ids and
// --attention-mask; `lmcpp predict` classification and fill-mask agree with forward; bad input is one error line
// with exit code 2.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "harness/harness.h"
#include "lm/ops/linear_bf16.h"
#include "lm/ops/linear_int8.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/io/safetensors.h"

namespace lm {
namespace {

std::string ref(const std::string& n) { return test::source_dir() + "/tests/reference/" + n; }

std::string row_arg(const Tensor& t, int64_t row) {
  std::string s;
  const int64_t T = t.dim(1);
  for (int64_t i = 0; i < T; ++i) {
    if (i) s.push_back(',');
    s += std::to_string(t.ptr<int32_t>()[row * T + i]);
  }
  return s;
}

// Runs forward on row `row` of a reference batch into a safetensors file and returns its path.
std::string forward_row(const std::string& dir, SafetensorsFile& vec, int64_t row, const std::string& tag) {
  std::string out = test::temp_dir("bert_cli_" + tag) + "/out.safetensors";
  auto r = test::run_cli({"forward", "--model", dir, "--ids", row_arg(vec.tensor("input_ids"), row),
                          "--token-type-ids", row_arg(vec.tensor("token_type_ids"), row), "--attention-mask",
                          row_arg(vec.tensor("attention_mask"), row), "--out", out});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return out;
}

// Row `row` of reference output `name` (leading batch dim) vs the CLI's [1, ...] tensor.
void expect_row(SafetensorsFile& vec, SafetensorsFile& out, const std::string& name, int64_t row) {
  ASSERT_TRUE(out.contains(name)) << name;
  Tensor r = vec.tensor(name), o = out.tensor(name);
  ASSERT_EQ(o.dim(0), 1) << name;
  ASSERT_EQ(o.ndim(), r.ndim()) << name;
  for (int d = 1; d < r.ndim(); ++d) ASSERT_EQ(o.dim(d), r.dim(d)) << name;
  const int64_t n = o.numel();
  EXPECT_LT(test::max_abs_diff(o.f32(), r.f32() + row * n, n), 1e-5) << name;
}

TEST(BertCli, ForwardPretrainingWithMaskAndTokenTypes) {
  std::string dir = ref("bert_tiny_a");
  SafetensorsFile vec(dir + "/vectors.safetensors");
  SafetensorsFile out(forward_row(dir, vec, 1, "pt"));  // row 1 has 3 padding keys
  expect_row(vec, out, "prediction_logits", 1);
  expect_row(vec, out, "seq_relationship_logits", 1);
  EXPECT_EQ(out.tensors().size(), 2u);
}

TEST(BertCli, ForwardClassificationAndQa) {
  {
    std::string dir = ref("bert_tiny_cls");
    SafetensorsFile vec(dir + "/vectors.safetensors");
    SafetensorsFile out(forward_row(dir, vec, 1, "cls"));
    expect_row(vec, out, "logits", 1);
    EXPECT_EQ(out.tensor("logits").shape, (Shape{1, 3}));
  }
  {
    std::string dir = ref("bert_tiny_qa");
    SafetensorsFile vec(dir + "/vectors.safetensors");
    SafetensorsFile out(forward_row(dir, vec, 1, "qa"));
    expect_row(vec, out, "start_logits", 1);
    expect_row(vec, out, "end_logits", 1);
  }
}

TEST(BertCli, ForwardBaseModelJson) {
  // The pretraining checkpoint read as BertModel (cls.* weights are unused, as HF).
  std::string src = ref("bert_tiny_a"), dir = test::temp_dir("bert_cli_base");
  Json cfg = read_json_file(src + "/config.json");
  cfg["architectures"] = Json::array({"BertModel"});
  write_file_atomic(dir + "/config.json", cfg.dump(2));
  std::filesystem::copy_file(src + "/model.safetensors", dir + "/model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  SafetensorsFile vec(src + "/vectors.safetensors");
  Tensor ids = vec.tensor("input_ids"), lhs = vec.tensor("last_hidden_state"), pool = vec.tensor("pooler_output");
  const int64_t T = ids.dim(1), H = lhs.dim(2);
  auto r = test::run_cli({"forward", "--model", dir, "--ids", row_arg(ids, 0), "--token-type-ids",
                          row_arg(vec.tensor("token_type_ids"), 0), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out);
  ASSERT_EQ(j["last_hidden_state"].size(), 1u);
  ASSERT_EQ(j["last_hidden_state"][0].size(), static_cast<size_t>(T));
  ASSERT_EQ(j["last_hidden_state"][0][0].size(), static_cast<size_t>(H));
  ASSERT_EQ(j["pooler_output"].size(), 1u);
  ASSERT_EQ(j["pooler_output"][0].size(), static_cast<size_t>(H));
  double worst = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h)
      worst = std::max(worst, std::fabs(j["last_hidden_state"][0][t][h].get<double>() - lhs.f32()[t * H + h]));
  for (int64_t h = 0; h < H; ++h)
    worst = std::max(worst, std::fabs(j["pooler_output"][0][h].get<double>() - pool.f32()[h]));
  EXPECT_LT(worst, 1e-5);
}

TEST(BertCli, ForwardBadInputIsOneErrorLineExit2) {
  std::string dir = ref("bert_tiny_a");
  const std::vector<std::vector<std::string>> bad = {
      {"forward", "--model", dir, "--ids", "5,6,7", "--attention-mask", "1,1"},
      {"forward", "--model", dir, "--ids", "5,6,7", "--token-type-ids", "0,2,0"},
      {"forward", "--model", dir, "--ids", "5,6,700"},
      {"forward", "--model", dir, "--ids", "5,6,7", "--attention-mask", "1,3,1"},
      {"predict", "--model", dir},
  };
  for (const auto& args : bad) {
    auto r = test::run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << args[5] << ": " << r.err;
    EXPECT_EQ(r.err.rfind("lmcpp: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_TRUE(r.out.empty());
  }
}

// A model directory = a reference model + a 99-token WordPiece vocabulary (ids match the model's vocab_size).
std::string with_vocab(const std::string& name) {
  std::string src = ref(name), dir = test::temp_dir("bert_cli_vocab_" + name);
  std::filesystem::copy_file(src + "/config.json", dir + "/config.json",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(src + "/model.safetensors", dir + "/model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  std::string v = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  const char* words[] = {"the", "cat", "sat", "on", "mat", "dog", "good", "bad", "movie", "film", "a", "is"};
  int n = 5;
  for (const char* w : words) {
    v.append(w);
    v.push_back('\n');
    ++n;
  }
  for (; n < 99; ++n) {
    v.push_back('w');
    v.append(std::to_string(n));
    v.push_back('\n');
  }
  write_file_atomic(dir + "/vocab.txt", v);
  return dir;
}

std::vector<int64_t> tokenize_ids(const std::string& dir, const std::string& text) {
  auto r = test::run_cli({"tokenize", "--tokenizer", dir}, text + "\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<int64_t> ids;
  size_t p = 0;
  std::string s = r.out;
  while (p < s.size()) {
    size_t q = s.find_first_of(" \n", p);
    if (q == std::string::npos) q = s.size();
    if (q > p) ids.push_back(std::stoll(s.substr(p, q - p)));
    p = q + 1;
  }
  return ids;
}

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s.push_back(',');
    s.append(std::to_string(v[i]));
  }
  return s;
}

TEST(BertCli, PredictClassificationAgreesWithForward) {
  std::string dir = with_vocab("bert_tiny_cls");
  auto r = test::run_cli({"predict", "--model", dir, "--text", "the movie is good", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out);
  double sum = 0;
  for (auto& [k, v] : j["probabilities"].items()) sum += v.get<double>();
  EXPECT_NEAR(sum, 1.0, 1e-6);
  auto ids = tokenize_ids(dir, "the movie is good");
  ASSERT_EQ(ids.size(), 6u);  // [CLS] the movie is good [SEP]
  auto f = test::run_cli({"forward", "--model", dir, "--ids", join(ids), "--json"});
  ASSERT_EQ(f.exit_code, 0) << f.err;
  Json lg = Json::parse(f.out)["logits"][0];
  size_t best = 0;
  for (size_t i = 1; i < lg.size(); ++i)
    if (lg[i].get<double>() > lg[best].get<double>()) best = i;
  const char* names[] = {"negative", "neutral", "positive"};
  EXPECT_EQ(j["label"], names[best]);
  EXPECT_EQ(j["id"], best);
  // Pairs are accepted ([CLS] A [SEP] B [SEP] with token types 0/1).
  auto p = test::run_cli({"predict", "--model", dir, "--text", "the cat", "--text-pair", "a dog"});
  EXPECT_EQ(p.exit_code, 0) << p.err;
  // bf16 / int8 weights (where the CPU has native kernels): the same probabilities within 1e-2.
  for (const char* w : {"bf16", "int8"}) {
    if ((std::string(w) == "bf16" && !ops::linear_bf16_available()) ||
        (std::string(w) == "int8" && !ops::linear_int8_available()))
      continue;
    auto q = test::run_cli({"predict", "--model", dir, "--text", "the movie is good", "--json", "--weights", w});
    ASSERT_EQ(q.exit_code, 0) << q.err;
    Json jq = Json::parse(q.out);
    for (auto& [k, v] : j["probabilities"].items())
      EXPECT_NEAR(jq["probabilities"][k].get<double>(), v.get<double>(), 1e-2) << w << " " << k;
  }
  auto bad = test::run_cli({"predict", "--model", dir, "--text", "the cat", "--weights", "fp8"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--weights must be f32, bf16 or int8, got 'fp8'"), std::string::npos) << bad.err;
}

TEST(BertCli, PredictFillMaskAgreesWithForward) {
  std::string dir = with_vocab("bert_tiny_a");
  auto r = test::run_cli({"predict", "--model", dir, "--text", "the [MASK] sat on the mat", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out);
  ASSERT_EQ(j["masks"].size(), 1u);
  EXPECT_EQ(j["masks"][0]["position"], 2);
  auto& c = j["masks"][0]["candidates"];
  ASSERT_EQ(c.size(), 5u);
  for (size_t i = 1; i < 5; ++i) EXPECT_GE(c[i - 1]["probability"].get<double>(), c[i]["probability"].get<double>());
  auto ids = tokenize_ids(dir, "the [MASK] sat on the mat");
  ASSERT_EQ(ids[2], 4);
  auto f = test::run_cli({"forward", "--model", dir, "--ids", join(ids), "--json"});
  ASSERT_EQ(f.exit_code, 0) << f.err;
  Json row = Json::parse(f.out)["prediction_logits"][0][2];
  size_t best = 0;
  for (size_t i = 1; i < row.size(); ++i)
    if (row[i].get<double>() > row[best].get<double>()) best = i;
  EXPECT_EQ(c[0]["id"], best);
  // No [MASK] in the text: a usage error.
  auto bad = test::run_cli({"predict", "--model", dir, "--text", "the cat"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err.rfind("lmcpp: error: ", 0), 0u) << bad.err;
}

TEST(BertCli, PredictQaSpanInsideContext) {
  std::string dir = with_vocab("bert_tiny_qa");
  auto r = test::run_cli({"predict", "--model", dir, "--text", "who sat", "--text-pair", "the cat sat on the mat",
                          "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out);
  // [CLS] who sat [SEP] the cat sat on the mat [SEP]: context tokens are positions 4..9.
  EXPECT_GE(j["start"].get<int>(), 4);
  EXPECT_LE(j["start"].get<int>(), j["end"].get<int>());
  EXPECT_LE(j["end"].get<int>(), 9);
  EXPECT_GT(j["score"].get<double>(), 0.0);
  EXPECT_FALSE(j["answer"].get<std::string>().empty());
  auto bad = test::run_cli({"predict", "--model", dir, "--text", "who sat"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  if (ops::linear_int8_available()) {  // int8 weights: a span inside the context too
    auto q = test::run_cli({"predict", "--model", dir, "--text", "who sat", "--text-pair", "the cat sat on the mat",
                            "--json", "--weights", "int8"});
    ASSERT_EQ(q.exit_code, 0) << q.err;
    Json jq = Json::parse(q.out);
    EXPECT_GE(jq["start"].get<int>(), 4);
    EXPECT_LE(jq["start"].get<int>(), jq["end"].get<int>());
    EXPECT_LE(jq["end"].get<int>(), 9);
  }
}

// `lmcpp init` writes an HF directory whose initialisation follows HF's scheme and depends on the seed only.
TEST(InitCli, FreshModelDirectoryIsSeededAndUsable) {
  std::string work = test::temp_dir("init_cli");
  const std::string cfg = R"({"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2,
      "num_attention_heads": 2, "intermediate_size": 64, "vocab_size": 120, "max_position_embeddings": 16})";
  for (const char* d : {"a", "b", "c"}) {
    auto r = test::run_cli({"init", "--config", cfg, "--out", path_join(work, d), "--seed",
                            std::string(d) == "c" ? "7" : "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const std::string a = read_file(path_join(work, "a/model.safetensors"));
  EXPECT_EQ(a, read_file(path_join(work, "b/model.safetensors")));
  EXPECT_NE(a, read_file(path_join(work, "c/model.safetensors")));
  SafetensorsFile st(path_join(work, "a/model.safetensors"));
  // HF init: LayerNorm weight 1 / bias 0, Linear weights normal(0, 0.02).
  std::vector<float> ln(32), w(32 * 32);
  st.read_f32("bert.embeddings.LayerNorm.weight", ln.data(), Shape{32});
  for (float v : ln) EXPECT_EQ(v, 1.0f);
  st.read_f32("bert.pooler.dense.weight", w.data(), Shape{32, 32});
  double ss = 0;
  for (float v : w) ss += static_cast<double>(v) * v;
  EXPECT_NEAR(std::sqrt(ss / static_cast<double>(w.size())), 0.02, 0.004);
  auto f = test::run_cli({"forward", "--model", path_join(work, "a"), "--ids", "2,5,9,3", "--json"});
  EXPECT_EQ(f.exit_code, 0) << f.err;
  EXPECT_NE(f.out.find("prediction_logits"), std::string::npos);
  auto bad = test::run_cli({"init", "--config", R"({"hidden_size": 8})", "--out", path_join(work, "bad")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("model_type"), std::string::npos) << bad.err;
  EXPECT_FALSE(std::filesystem::exists(path_join(work, "bad")));
}

}  // namespace
}  // namespace lm
