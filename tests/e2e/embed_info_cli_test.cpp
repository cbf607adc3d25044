// `lmcpp embed` and `lmcpp info --model`: a BERT embedding is the mean (or first row) of the
// last_hidden_state `lmcpp forward` writes; a GPT embedding is the mean of the final LayerNorm rows, checked
// through the tied head (the mean of the logits rows = the embedding times wte transposed, since the head is
// linear); --input lines give the --text vectors; info counts the parameters of model.safetensors and finds a
// chat template.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "e2e/finetune_test_util.h"
#include "harness/harness.h"
#include "lm/core/file_util.h"
#include <cstdlib>

#include "lm/core/json.h"
#include "lm/io/safetensors.h"
#include "lm/models/gpt/gpt.h"
#include "lm/tokenize/char_tokenizer.h"

namespace lm {
namespace {

std::vector<float> floats(const Json& j) { return j.get<std::vector<float>>(); }

TEST(EmbedCli, BertPoolsTheLastHiddenState) {
  const std::string dir = bert_base_dir(), tmp = test::temp_dir("embed_bert");
  const std::string text = "good w1 w2 w3";
  auto r = test::run_cli({"tokenize", "--tokenizer", dir}, text + "\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string ids = r.out.substr(0, r.out.find('\n'));
  for (char& c : ids) c = c == ' ' ? ',' : c;
  r = test::run_cli({"forward", "--model", dir, "--ids", ids, "--out", tmp + "/h.safetensors"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  SafetensorsFile st(tmp + "/h.safetensors");
  const Tensor h = st.tensor("last_hidden_state");
  const int64_t T = h.shape[1], H = h.shape[2];
  for (const std::string pooling : {"mean", "cls"}) {
    r = test::run_cli({"embed", "--model", dir, "--text", text, "--pooling", pooling, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::vector<float> e = floats(Json::parse(r.out)["embedding"]);
    ASSERT_EQ(static_cast<int64_t>(e.size()), H);
    for (int64_t c = 0; c < H; ++c) {
      double want = 0;
      const int64_t rows = pooling == "cls" ? 1 : T;
      for (int64_t t = 0; t < rows; ++t) want += h.f32()[t * H + c];
      EXPECT_NEAR(e[static_cast<size_t>(c)], want / static_cast<double>(rows), 1e-5) << pooling << c;
    }
  }
  // --normalize: unit norm; --input: one line per text, the same vectors as --text.
  write_file_atomic(tmp + "/in.jsonl", Json(text).dump() + "\n" + Json{{"text", "w4 good"}}.dump() + "\n");
  r = test::run_cli({"embed", "--model", dir, "--input", tmp + "/in.jsonl", "--normalize", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string first = r.out.substr(0, r.out.find('\n'));
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2);
  const std::vector<float> n = floats(Json::parse(first)["embedding"]);
  double norm = 0;
  for (float v : n) norm += static_cast<double>(v) * v;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  r = test::run_cli({"embed", "--model", dir, "--text", text, "--normalize", "--json"});
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), first);
  // Bad input: one error line, exit 2.
  r = test::run_cli({"embed", "--model", dir, "--text", text, "--input", tmp + "/in.jsonl"});
  EXPECT_EQ(r.exit_code, 2);
  write_file_atomic(tmp + "/bad.jsonl", "{\"text\": 3}\n");
  r = test::run_cli({"embed", "--model", dir, "--input", tmp + "/bad.jsonl"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.jsonl:1"), std::string::npos) << r.err;
}

TEST(EmbedCli, GptMeanThroughTheTiedHead) {
  const std::string dir = test::temp_dir("embed_gpt"), tmp = test::temp_dir("embed_gpt_out");
  auto tok = CharTokenizer::train({"abcdefgh "});
  tok->save(dir);
  models::GptConfig c;
  c.vocab_size = tok->vocab_size();
  c.bos_token_id = c.eos_token_id = 0;
  c.n_positions = 16;
  c.n_embd = 16;
  c.n_layer = 1;
  c.n_head = 2;
  models::Gpt gpt(c);
  gpt.init_weights(3);
  gpt.save_hf(dir);
  const std::string text = "bad cafe";
  std::string ids;
  for (int32_t id : tok->encode(text, false)) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  auto r = test::run_cli({"forward", "--model", dir, "--ids", ids, "--out", tmp + "/l.safetensors"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = test::run_cli({"embed", "--model", dir, "--text", text, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<float> e = floats(Json::parse(r.out)["embedding"]);
  ASSERT_EQ(e.size(), 16u);
  SafetensorsFile lf(tmp + "/l.safetensors"), wf(dir + "/model.safetensors");
  const Tensor logits = lf.tensor("logits");
  const Tensor wte = wf.tensor(wf.contains("wte.weight") ? "wte.weight" : "transformer.wte.weight");
  const int64_t T = logits.shape[1], V = logits.shape[2];
  for (int64_t v = 0; v < V; ++v) {
    double mean = 0, dot = 0;
    for (int64_t t = 0; t < T; ++t) mean += logits.f32()[t * V + v];
    for (int64_t k = 0; k < 16; ++k)
      dot += static_cast<double>(e[static_cast<size_t>(k)]) * wte.f32()[v * 16 + k];
    EXPECT_NEAR(mean / static_cast<double>(T), dot, 1e-4) << v;
  }
  r = test::run_cli({"embed", "--model", dir, "--text", text, "--pooling", "cls"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no [CLS] token"), std::string::npos) << r.err;

  // info: the parameters of model.safetensors, the files, a chat template once there is one.
  r = test::run_cli({"info", "--model", dir, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json info = Json::parse(r.out);
  int64_t params = 0;
  for (const auto& t : wf.tensors()) params += t.shape.numel();
  EXPECT_EQ(info["parameters"], params);
  EXPECT_EQ(info["context_length"], 16);
  EXPECT_EQ(info["vocab_size"], tok->vocab_size());
  EXPECT_EQ(info["tokenizer"]["type"], "char");
  EXPECT_TRUE(info["chat_template"].is_null());
  EXPECT_NE(std::find(info["files"].begin(), info["files"].end(), "config.json"), info["files"].end());
  write_file_atomic(dir + "/chat_template.jinja", "{% for m in messages %}{{ m.content }}{% endfor %}");
  info = Json::parse(test::run_cli({"info", "--model", dir, "--json"}).out);
  EXPECT_NE(info["chat_template"].get<std::string>().find("chat_template.jinja"), std::string::npos);
  r = test::run_cli({"info", "--model", tmp + "/none"});
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace lm

namespace lm {
namespace {

// lmcpp runs itself with a short OpenMP spin (GOMP_SPINCOUNT=10000: waiting threads give the core up soon on a busy
// machine), unless the user chose a wait policy or spin count, which it keeps.
TEST(InfoCli, OpenMpWaitSettings) {
  const char* saved_policy = std::getenv("OMP_WAIT_POLICY");
  const char* saved_spin = std::getenv("GOMP_SPINCOUNT");
  const std::string policy = saved_policy ? saved_policy : "", spin = saved_spin ? saved_spin : "";
  unsetenv("OMP_WAIT_POLICY");
  unsetenv("GOMP_SPINCOUNT");
  auto r = test::run_cli({"info", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out)["openmp_wait"], "GOMP_SPINCOUNT=10000");
  setenv("OMP_WAIT_POLICY", "passive", 1);
  r = test::run_cli({"info", "--json"});
  EXPECT_EQ(Json::parse(r.out)["openmp_wait"], "OMP_WAIT_POLICY=passive");
  unsetenv("OMP_WAIT_POLICY");
  setenv("GOMP_SPINCOUNT", "777", 1);
  r = test::run_cli({"info"});
  EXPECT_NE(r.out.find("openmp wait: GOMP_SPINCOUNT=777\n"), std::string::npos) << r.out;
  unsetenv("GOMP_SPINCOUNT");
  if (saved_policy) setenv("OMP_WAIT_POLICY", policy.c_str(), 1);
  if (saved_spin) setenv("GOMP_SPINCOUNT", spin.c_str(), 1);
}

}  // namespace
}  // namespace lm
