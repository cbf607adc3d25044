// `lmcpp export --format gguf` and `--model FILE.gguf`: a GPT-2 and a BERT classifier exported and read back give
// the directory's outputs (f32 bitwise, f16/bf16/q8_0 close with the same top-1), the same token ids and chat
// ids; info describes the file; files that lie (a dimension the tensors do not carry, an untied output layer, a
// tensor too many or too few, an unknown architecture) and wrong flags are one error line, exit 2. The
// independent consumers (llama.cpp, @huggingface/gguf, HF tokenizers) are in tests/interop/.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "harness/harness.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/io/gguf.h"
#include "lm/io/safetensors.h"

namespace lm {
namespace {

bool one_error_line(const test::CliResult& r) {
  return r.exit_code == 2 && r.err.find('\n') == r.err.size() - 1;
}

// A trained 300-token BPE with a tiny GPT-2 (32 wide, rows whole q8_0 blocks) and a BERT classifier over a
// WordPiece trained on the same text.
struct Models {
  std::string tmp, gpt, bert;
};
const Models& models() {
  static const Models m = [] {
    Models x;
    x.tmp = test::temp_dir("gguf_cli");
    std::string text;
    for (int i = 0; i < 40; ++i)
      text += "the quick brown fox " + std::to_string(i) + " jumps over the lazy dog; hello world, hello there\n";
    write_file_atomic(x.tmp + "/t.txt", text);
    auto ok = [](const std::vector<std::string>& args) {
      auto r = test::run_cli(args);
      EXPECT_EQ(r.exit_code, 0) << r.err;
    };
    ok({"train-tokenizer", "--type", "bpe", "--input", x.tmp + "/t.txt", "--vocab-size", "300", "--out", x.tmp + "/bpe"});
    ok({"train-tokenizer", "--type", "wordpiece", "--input", x.tmp + "/t.txt", "--vocab-size", "200", "--out",
        x.tmp + "/wp"});
    x.gpt = x.tmp + "/gpt";
    x.bert = x.tmp + "/bert";
    ok({"init", "--config",
        R"({"model_type":"gpt2","n_layer":2,"n_head":2,"n_embd":32,"n_positions":64,"initializer_range":0.2})",
        "--tokenizer", x.tmp + "/bpe", "--out", x.gpt});
    ok({"init", "--config",
        R"({"model_type":"bert","architectures":["BertForSequenceClassification"],"id2label":{"0":"no","1":"yes"},)"
        R"("label2id":{"no":0,"yes":1},"num_hidden_layers":2,"num_attention_heads":2,"hidden_size":32,)"
        R"("intermediate_size":64,"max_position_embeddings":32})",
        "--tokenizer", x.tmp + "/wp", "--out", x.bert});
    return x;
  }();
  return m;
}

std::string export_to(const std::string& dir, const std::string& type, const std::string& name) {
  const std::string out = models().tmp + "/" + name + ".gguf";
  auto r = test::run_cli({"export", "--model", dir, "--format", "gguf", "--type", type, "--out", out});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return out;
}

std::vector<float> logits(const std::string& model, const std::string& ids, const std::string& name,
                          const std::string& key = "logits") {
  const std::string out = models().tmp + "/" + name + ".safetensors";
  auto r = test::run_cli({"forward", "--model", model, "--ids", ids, "--out", out});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return {};
  SafetensorsFile f(out);
  const Tensor t = f.tensor(key);
  return std::vector<float>(t.f32(), t.f32() + t.numel());
}

TEST(GgufCli, GptExportReadsBackBitwiseInF32AndCloseWhenQuantized) {
  const Models& m = models();
  const std::string ids = "3,17,42,99,150,7,8,250,12,64";
  const std::vector<float> want = logits(m.gpt, ids, "gpt_dir");
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(logits(export_to(m.gpt, "f32", "gpt_f32"), ids, "gpt_f32"), want);
  const int64_t V = 300;
  for (const std::string type : {"f16", "bf16", "q8_0"}) {
    const std::vector<float> got = logits(export_to(m.gpt, type, "gpt_" + type), ids, "gpt_" + type);
    ASSERT_EQ(got.size(), want.size());
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(double(got[i]) - want[i]));
    EXPECT_LT(worst, type == "f16" ? 0.02 : 0.1) << type;
    for (size_t row = 0; row * V < want.size(); ++row) {
      auto top = [&](const std::vector<float>& x) {
        return std::max_element(x.begin() + row * V, x.begin() + (row + 1) * V) - (x.begin() + row * V);
      };
      EXPECT_EQ(top(got), top(want)) << type << " row " << row;
    }
  }
  // The tokenizer and the chat ids travel too.
  const std::string f32 = m.tmp + "/gpt_f32.gguf";
  const std::string text = "hello world, the lazy fox\nthe quick brown dog 12\n";
  EXPECT_EQ(test::run_cli({"tokenize", "--tokenizer", f32}, text).out,
            test::run_cli({"tokenize", "--tokenizer", m.gpt}, text).out);
  const std::string chat = R"({"messages":[{"role":"user","content":"hello there"}]})" "\n";
  EXPECT_EQ(test::run_cli({"tokenize", "--chat", "--render", "--tokenizer", f32}, chat).out,
            test::run_cli({"tokenize", "--chat", "--render", "--tokenizer", m.gpt}, chat).out);
  EXPECT_EQ(test::run_cli({"generate", "--model", f32, "--ids", "3,17", "--greedy", "--max-new-tokens", "12", "--json"}).out,
            test::run_cli({"generate", "--model", m.gpt, "--ids", "3,17", "--greedy", "--max-new-tokens", "12", "--json"}).out);
  // A model directory whose name ends in .gguf is still a directory.
  std::filesystem::copy(m.gpt, m.tmp + "/dir.gguf", std::filesystem::copy_options::recursive);
  EXPECT_EQ(test::run_cli({"generate", "--model", m.tmp + "/dir.gguf", "--ids", "3,17", "--greedy", "--max-new-tokens", "12", "--json"}).out,
            test::run_cli({"generate", "--model", m.gpt, "--ids", "3,17", "--greedy", "--max-new-tokens", "12", "--json"}).out);
  auto info = test::run_cli({"info", "--model", m.tmp + "/gpt_q8_0.gguf", "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const Json j = Json::parse(info.out);
  EXPECT_EQ(j["architecture"], "GPT2LMHeadModel");
  EXPECT_EQ(j["gguf"]["version"], 3);
  EXPECT_GT(j["gguf"]["tensor_types"]["q8_0"].get<int>(), 0);
  EXPECT_GT(j["gguf"]["tensor_types"]["f32"].get<int>(), 0);
  EXPECT_EQ(j["context_length"], 64);
}

TEST(GgufCli, BertClassifierPredictsTheSameFromItsExport) {
  const Models& m = models();
  const std::string f32 = export_to(m.bert, "f32", "bert_f32");
  for (const std::string text : {"the quick brown fox", "hello there, world"}) {
    auto a = test::run_cli({"predict", "--model", m.bert, "--text", text, "--json"});
    auto b = test::run_cli({"predict", "--model", f32, "--text", text, "--json"});
    ASSERT_EQ(a.exit_code, 0) << a.err;
    EXPECT_EQ(b.out, a.out) << b.err;
  }
  EXPECT_EQ(logits(f32, "2,10,11,3", "bert_gguf"), logits(m.bert, "2,10,11,3", "bert_dir"));
}

// Rewrites a GGUF file with `edit` applied to a writer holding its keys and tensors (f32 values).
std::string rewrite(const std::string& src, const std::string& name,
                    const std::function<void(const GgufFile&, GgufWriter&, std::vector<std::string>&)>& edit) {
  GgufFile f(src);
  GgufWriter w;
  std::vector<std::string> skip;
  for (const auto& [k, v] : f.kvs()) w.set(k, v);
  edit(f, w, skip);  // set() replaces a key in place
  for (const auto& t : f.tensors()) {
    if (std::find(skip.begin(), skip.end(), t.name) != skip.end()) continue;
    std::vector<float> x(static_cast<size_t>(t.shape.numel()));
    f.read_f32(t.name, x.data(), t.shape);
    w.add_tensor_f32(t.name, t.shape, GgmlType::F32, x.data());
  }
  const std::string out = models().tmp + "/" + name + ".gguf";
  w.write(out);
  return out;
}

TEST(GgufCli, FilesThatLieAreOneErrorLine) {
  const Models& m = models();
  const std::string src = export_to(m.gpt, "f32", "gpt_src");
  auto expect_error = [&](const std::string& file, const std::string& words) {
    auto r = test::run_cli({"generate", "--model", file, "--ids", "3", "--max-new-tokens", "2"});
    EXPECT_TRUE(one_error_line(r)) << r.exit_code << " " << r.err;
    EXPECT_NE(r.err.find(words), std::string::npos) << r.err;
  };
  // A context of 2^30 positions that no tensor carries: refused before a model is sized from it.
  expect_error(rewrite(src, "ctx", [](const GgufFile&, GgufWriter& w, std::vector<std::string>&) {
                 w.set("gpt2.context_length", GgufValue::u32(1u << 30));
               }),
               "position_embd.weight has shape");
  expect_error(rewrite(src, "blocks", [](const GgufFile&, GgufWriter& w, std::vector<std::string>&) {
                 w.set("gpt2.block_count", GgufValue::u32(1));
               }),
               "block_count 1 does not match");
  expect_error(rewrite(src, "arch", [](const GgufFile&, GgufWriter& w, std::vector<std::string>&) {
                 w.set("general.architecture", GgufValue::str("llama"));
               }),
               "GGUF architecture \"llama\" is not supported");
  expect_error(rewrite(src, "missing", [](const GgufFile&, GgufWriter&, std::vector<std::string>& skip) {
                 skip.push_back("blk.1.ffn_down.bias");
               }),
               "no tensor blk.1.ffn_down.bias");
  expect_error(rewrite(src, "extra", [](const GgufFile&, GgufWriter& w, std::vector<std::string>&) {
                 const float one[32] = {1};
                 w.add_tensor_f32("blk.0.attn_q_norm.weight", Shape{32}, GgmlType::F32, one);
               }),
               "blk.0.attn_q_norm.weight is not part of");
  expect_error(rewrite(src, "untied", [](const GgufFile& f, GgufWriter& w, std::vector<std::string>& skip) {
                 const GgufTensorInfo* t = f.find_tensor("output.weight");
                 std::vector<float> x(static_cast<size_t>(t->shape.numel()));
                 f.read_f32(t->name, x.data(), t->shape);
                 x[5] += 1.0f;
                 w.add_tensor_f32(t->name, t->shape, GgmlType::F32, x.data());
                 skip.push_back("output.weight");
               }),
               "output.weight differs from token_embd.weight");
  // Flags: an unknown type is refused by the flag parser; a missing model names it; nothing is written.
  auto r = test::run_cli({"export", "--model", m.gpt, "--type", "q3", "--out", m.tmp + "/x.gguf"});
  EXPECT_TRUE(one_error_line(r)) << r.err;
  r = test::run_cli({"export", "--model", m.tmp + "/nope", "--out", m.tmp + "/x.gguf"});
  EXPECT_TRUE(one_error_line(r)) << r.err;
  EXPECT_FALSE(file_exists(m.tmp + "/x.gguf"));
}

}  // namespace
}  // namespace lm
