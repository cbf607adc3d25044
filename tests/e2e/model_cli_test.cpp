// CLI end to end on the model commands: forward (logits equal the PyTorch reference, --out safetensors, --json),
// score, evaluate --task lm (sliding window equals independent per-window scoring), generate --json, and bad
// input (one error line, exit 2, nothing written).
#include <gtest/gtest.h>

#include <cmath>

#include "harness/harness.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/data/shard.h"
#include "lm/io/safetensors.h"

namespace lm {
namespace {

std::string tiny_a() { return test::source_dir() + "/tests/reference/gpt2_tiny_a"; }

// "a,b,c" from integers.
template <typename F>
std::string join_ids(int64_t n, F&& at) {
  std::string s;
  for (int64_t i = 0; i < n; ++i) {
    if (i) s.push_back(',');
    s.append(std::to_string(at(i)));
  }
  return s;
}

std::string ids_arg(const Tensor& ids, int64_t row, int64_t n) {
  return join_ids(n, [&](int64_t t) { return ids.ptr<int32_t>()[row * ids.dim(1) + t]; });
}

class ModelCli : public ::testing::Test {};

TEST_F(ModelCli, ForwardMatchesReferenceLogits) {
  SafetensorsFile vec(tiny_a() + "/vectors.safetensors");
  Tensor ids = vec.tensor("input_ids"), ref = vec.tensor("logits");
  const int64_t T = ids.dim(1), V = ref.dim(2);
  std::string out = test::temp_dir("cli_forward") + "/out.safetensors";
  auto r = test::run_cli({"forward", "--model", tiny_a(), "--ids", ids_arg(ids, 1, T), "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  SafetensorsFile f(out);
  Tensor l = f.tensor("logits");
  ASSERT_EQ(l.shape, (Shape{1, T, V}));
  EXPECT_LT(test::max_abs_diff(l.f32(), ref.f32() + T * V, T * V), 1e-5);
  auto j = test::run_cli({"forward", "--model", tiny_a(), "--ids", ids_arg(ids, 0, 3), "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  Json parsed = Json::parse(j.out);
  ASSERT_EQ(parsed["logits"].size(), 1u);
  ASSERT_EQ(parsed["logits"][0].size(), 3u);
  EXPECT_NEAR(parsed["logits"][0][2][5].get<double>(), ref.f32()[2 * V + 5], 1e-5);
}

TEST_F(ModelCli, ScoreAndEvaluate) {
  SafetensorsFile vec(tiny_a() + "/vectors.safetensors");
  Tensor ids = vec.tensor("input_ids");
  const int64_t T = ids.dim(1);
  auto s = test::run_cli({"score", "--model", tiny_a(), "--ids", ids_arg(ids, 0, T), "--json"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  Json js = Json::parse(s.out);
  EXPECT_EQ(js["tokens"], T - 1);
  EXPECT_NEAR(js["perplexity"].get<double>(), std::exp(js["loss"].get<double>()), 1e-3);
  // A prepared directory with 40 tokens: evaluate with windows of 8 and stride 3 must equal the token-weighted
  // mean of `score` over the corresponding windows, each scoring only its new tokens.
  std::string data = test::temp_dir("cli_eval");
  std::vector<int32_t> toks;
  for (int i = 0; i < 40; ++i) toks.push_back((i * 29 + 7) % 97);
  ShardWriter w(data + "/val_000000.bin", 2, 97, 96);
  w.append(toks);
  w.commit();
  write_file_atomic(data + "/meta.json", R"({"vocab_size": 97})");
  auto e = test::run_cli({"evaluate", "--model", tiny_a(), "--task", "lm", "--data", data, "--max-length", "8",
                          "--stride", "8", "--json"});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  Json je = Json::parse(e.out);
  EXPECT_EQ(je["tokens"], 39 - 4);  // 5 windows of 8 (stride = length): each scores 7 tokens
  double nll = 0;
  int64_t n = 0;
  for (int b = 0; b < 40; b += 8) {
    std::string arg = join_ids(8, [&](int64_t t) { return toks[static_cast<size_t>(b + t)]; });
    Json w2 = Json::parse(test::run_cli({"score", "--model", tiny_a(), "--ids", arg, "--json"}).out);
    nll += w2["loss"].get<double>() * w2["tokens"].get<double>();
    n += w2["tokens"].get<int64_t>();
  }
  EXPECT_NEAR(je["loss"].get<double>(), nll / static_cast<double>(n), 1e-5);
  // Overlapping windows score every token after the first exactly once.
  auto o = test::run_cli({"evaluate", "--model", tiny_a(), "--task", "lm", "--data", data, "--max-length", "8",
                          "--stride", "3", "--json"});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(Json::parse(o.out)["tokens"], 39);
}

TEST_F(ModelCli, GenerateJsonGreedy) {
  SafetensorsFile vec(tiny_a() + "/vectors.safetensors");
  Tensor p = vec.tensor("greedy_prompt"), g = vec.tensor("greedy_out");
  std::string arg = join_ids(5, [&](int64_t i) { return p.ptr<int32_t>()[i]; });
  auto r = test::run_cli({"generate", "--model", tiny_a(), "--ids", arg, "--greedy", "--max-new-tokens", "8",
                          "--ignore-eos", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out);
  std::vector<int32_t> expect(g.ptr<int32_t>(), g.ptr<int32_t>() + 8);
  EXPECT_EQ(j["ids"].get<std::vector<int32_t>>(), expect);
  EXPECT_TRUE(j["text"].is_null());  // no tokenizer files in the reference directory
  // --temperature 0 is greedy; ids may be space-separated (as `lmcpp tokenize` prints them).
  std::string spaced = arg;
  for (char& c : spaced) c = c == ',' ? ' ' : c;
  r = test::run_cli({"generate", "--model", tiny_a(), "--ids", spaced, "--temperature", "0", "--max-new-tokens", "8",
                     "--ignore-eos", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out)["ids"].get<std::vector<int32_t>>(), expect);
  // A request past the context is clamped with one notice.
  const int64_t ctx = Json::parse(read_file(tiny_a() + "/config.json"))["n_positions"].get<int64_t>();
  r = test::run_cli({"generate", "--model", tiny_a(), "--ids", arg, "--greedy", "--max-new-tokens",
                     std::to_string(ctx + 10), "--ignore-eos", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out)["ids"].size(), static_cast<size_t>(ctx - 5));
  EXPECT_NE(r.err.find("clamped to " + std::to_string(ctx - 5)), std::string::npos) << r.err;
}

TEST_F(ModelCli, BadInputIsOneLineExit2AndWritesNothing) {
  std::string out = test::temp_dir("cli_bad") + "/out.safetensors";
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  std::vector<Case> cases = {
      {{"forward", "--model", tiny_a(), "--ids", "1,2,97", "--out", out}, "out of range"},
      {{"forward", "--model", tiny_a(), "--ids", "1,x,3", "--out", out}, "not a non-negative integer"},
      {{"forward", "--model", tiny_a(), "--ids", "1,,3", "--out", out}, "empty id"},
      {{"forward", "--model", "/nonexistent", "--ids", "1", "--out", out}, "does not exist"},
      {{"forward", "--model", tiny_a(), "--out", out}, "missing required flag --ids"},
      {{"forward", "--model", tiny_a(), "--ids", "1", "--bogus", "2"}, "unknown flag --bogus"},
      {{"score", "--model", tiny_a(), "--ids", "5"}, "at least 2 tokens"},
      {{"generate", "--model", tiny_a(), "--ids", "5", "--top-p", "0"}, "--top-p"},
  };
  std::string long_ids = join_ids(33, [](int64_t i) { return i; });
  cases.push_back({{"forward", "--model", tiny_a(), "--ids", long_ids, "--out", out}, "n_positions"});
  for (const auto& c : cases) {
    auto r = test::run_cli(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args[0] << " " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("lmcpp: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << r.err;
    EXPECT_FALSE(file_exists(out));
  }
  // A corrupt model file.
  std::string bad = test::temp_dir("cli_bad_model");
  write_file_atomic(bad + "/config.json", read_file(tiny_a() + "/config.json"));
  write_file_atomic(bad + "/model.safetensors", "\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}");
  auto r = test::run_cli({"forward", "--model", bad, "--ids", "1,2"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("model.safetensors"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace lm
