// interop::lora_gguf / export_gguf_lora: the keys, tensor names, shapes, types and values of llama.cpp's LoRA
// adapter GGUF. Expected names and layout are llama.cpp's (src/llama-adapter.cpp checks lora_a ne {in, r}, lora_b
// ne {r, out} under "<base tensor>.lora_a/.lora_b"; gguf-py's tensor map names GPT-2's c_attn attn_qkv, attn.c_proj
// attn_output, c_fc ffn_up, mlp.c_proj ffn_down, BERT's query/value attn_q/attn_v, intermediate.dense ffn_up);
// the alpha is what makes llama.cpp's scale alpha / r equal PEFT's. tests/interop/llama_lora.test.mjs runs the
// files in llama.cpp itself.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "harness/harness.h"
#include "lm/core/error.h"
#include "lm/interop/gguf_lora.h"
#include "lm/interop/gguf_model.h"
#include "lm/io/gguf.h"

namespace lm {
namespace {

const Json kGpt = {{"model_type", "gpt2"}, {"vocab_size", 96}, {"n_positions", 32}, {"n_layer", 2}, {"n_head", 2},
                   {"n_embd", 64}};
const Json kBert = {{"model_type", "bert"}, {"vocab_size", 96}, {"max_position_embeddings", 32},
                    {"num_hidden_layers", 1}, {"num_attention_heads", 2}, {"hidden_size", 32},
                    {"intermediate_size", 64}};

// An adapter on a random model with random non-zero A and B.
std::unique_ptr<models::LoraModel> adapter(const Json& cfg, LoraSpec spec) {
  auto base = models::create_model(cfg);
  base->init_weights(1);
  auto m = std::make_unique<models::LoraModel>(std::move(base), std::move(spec), 2);
  uint64_t seed = 3;
  for (const auto& mod : m->modules()) {
    test::fill_uniform(mod.a.f32(), mod.a.numel(), seed++, -0.5f, 0.5f);
    test::fill_uniform(mod.b.f32(), mod.b.numel(), seed++, -0.5f, 0.5f);
  }
  return m;
}

GgufFile read_back(const GgufWriter& w) { return GgufFile::from_memory(w.to_bytes(), "adapter.gguf"); }

TEST(GgufLora, GptRsLoraKeysNamesShapesAndValues) {
  LoraSpec spec;
  spec.r = 8;
  spec.alpha = 16;
  spec.use_rslora = true;
  spec.target_modules = {"c_attn", "c_proj", "c_fc"};
  auto m = adapter(kGpt, spec);
  const GgufFile f = read_back(interop::lora_gguf(*m, GgmlType::F32, "my-adapter"));
  EXPECT_EQ(f.get("general.type").as_string(""), "adapter");
  EXPECT_EQ(f.get("general.architecture").as_string(""), "gpt2");
  EXPECT_EQ(f.get("general.name").as_string(""), "my-adapter");
  EXPECT_EQ(f.get("adapter.type").as_string(""), "lora");
  ASSERT_EQ(f.get("adapter.lora.alpha").type, GgufType::F32);
  // llama.cpp scales by alpha / r; rsLoRA's scale is lora_alpha / √r.
  EXPECT_NEAR(f.get("adapter.lora.alpha").as_float("") / 8.0, 16.0 / std::sqrt(8.0), 1e-5);
  EXPECT_EQ(f.find("tokenizer.ggml.tokens"), nullptr);  // the adapter alone
  try {  // not a model: one clear error
    interop::load_gguf_model(f, "adapter.gguf");
    FAIL() << "an adapter loaded as a model";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
    EXPECT_NE(std::string(e.what()).find("LoRA adapter"), std::string::npos) << e.what();
  }
  const int64_t C = 64, r = 8;
  const std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> want = {  // name -> (in, out)
      {"attn_qkv", {C, 3 * C}}, {"attn_output", {C, C}}, {"ffn_up", {C, 4 * C}}, {"ffn_down", {4 * C, C}}};
  ASSERT_EQ(f.tensors().size(), 2 * want.size() * 2);
  for (int l = 0; l < 2; ++l)
    for (const auto& [name, io] : want) {
      const std::string base = "blk." + std::to_string(l) + "." + name + ".weight";
      const GgufTensorInfo* a = f.find_tensor(base + ".lora_a");
      const GgufTensorInfo* b = f.find_tensor(base + ".lora_b");
      ASSERT_TRUE(a && b) << base;
      EXPECT_EQ(a->shape, (Shape{r, io.first})) << base;   // ne {in, r}
      EXPECT_EQ(b->shape, (Shape{io.second, r})) << base;  // ne {r, out}
      EXPECT_EQ(a->type, GgmlType::F32);
    }
  // Values: PEFT's A and B as they are (GPT-2's Conv1D changes nothing: PEFT's A/B are nn.Linear-oriented).
  const auto mods = m->modules();
  ASSERT_EQ(mods[0].module, "transformer.h.0.attn.c_attn");
  std::vector<float> a(static_cast<size_t>(mods[0].a.numel())), b(static_cast<size_t>(mods[0].b.numel()));
  f.read_f32("blk.0.attn_qkv.weight.lora_a", a.data(), mods[0].a.shape);
  f.read_f32("blk.0.attn_qkv.weight.lora_b", b.data(), mods[0].b.shape);
  EXPECT_EQ(std::memcmp(a.data(), mods[0].a.f32(), a.size() * 4), 0);
  EXPECT_EQ(std::memcmp(b.data(), mods[0].b.f32(), b.size() * 4), 0);
}

TEST(GgufLora, PlainAlphaBertNamesAndQ8Fallback) {
  LoraSpec spec;
  spec.r = 4;
  spec.alpha = 8;
  spec.target_modules = {"query", "value", "intermediate.dense"};
  auto m = adapter(kBert, spec);
  const GgufFile f = read_back(interop::lora_gguf(*m, GgmlType::Q8_0, "x"));
  EXPECT_EQ(f.get("general.architecture").as_string(""), "bert");
  EXPECT_FLOAT_EQ(static_cast<float>(f.get("adapter.lora.alpha").as_float("")), 8.0f);
  EXPECT_EQ(f.get("general.file_type").as_int(""), 7);  // MOSTLY_Q8_0
  for (const char* name : {"attn_q", "attn_v", "ffn_up"}) {
    const std::string base = std::string("blk.0.") + name + ".weight";
    const GgufTensorInfo* a = f.find_tensor(base + ".lora_a");
    const GgufTensorInfo* b = f.find_tensor(base + ".lora_b");
    ASSERT_TRUE(a && b) << base;
    EXPECT_EQ(a->type, GgmlType::Q8_0) << base;  // rows of in = 32: whole q8_0 blocks
    EXPECT_EQ(b->type, GgmlType::F16) << base;   // rows of r = 4: not a block, f16 as llama.cpp's converter does
  }
  EXPECT_EQ(f.find_tensor("blk.0.attn_k.weight.lora_a"), nullptr);
  EXPECT_EQ(f.tensors().size(), 6u);
}

TEST(GgufLora, ModulesToSaveAreRefused) {
  Json cfg = kBert;
  cfg["architectures"] = {"BertForSequenceClassification"};
  cfg["id2label"] = {{"0", "no"}, {"1", "yes"}};
  LoraSpec spec;
  spec.target_modules = {"query"};
  auto m = adapter(cfg, spec);  // modules_to_save defaults to the classifier
  try {
    interop::lora_gguf(*m, GgmlType::F32, "x");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
    EXPECT_NE(std::string(e.what()).find("classifier"), std::string::npos) << e.what();
  }
}

TEST(GgufLora, ExportFromDirectoriesAtomically) {
  const std::string dir = test::temp_dir("gguf_lora_export");
  LoraSpec spec;
  spec.target_modules = {"c_attn"};
  auto m = adapter(kGpt, spec);
  m->base().save_hf(dir + "/model");
  m->save_adapter(dir + "/adapter");
  const std::string out = dir + "/adapter.gguf";
  const std::string summary = interop::export_gguf_lora(dir + "/model", dir + "/adapter", "f16", out);
  EXPECT_NE(summary.find("2 modules"), std::string::npos) << summary;
  const GgufFile f(out);
  EXPECT_EQ(f.tensors().size(), 4u);
  EXPECT_EQ(f.find_tensor("blk.1.attn_qkv.weight.lora_b")->type, GgmlType::F16);
  // A bad type or a missing adapter: an error and no file.
  const std::string bad = dir + "/bad.gguf";
  EXPECT_THROW(interop::export_gguf_lora(dir + "/model", dir + "/adapter", "q4_0", bad), Error);
  EXPECT_THROW(interop::export_gguf_lora(dir + "/model", dir + "/nowhere", "f32", bad), Error);
  EXPECT_FALSE(std::filesystem::exists(bad));
}

}  // namespace
}  // namespace lm
