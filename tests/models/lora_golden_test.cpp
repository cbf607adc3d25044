// LoRA (models::LoraModel over nn::LoraLayer) proven equal to an independent PyTorch implementation of HF PEFT's
// LoRA (tests/reference/gen_lora.py, float64): PEFT adapter directories on the tiny GPT-2 / BERT references give the
// reference logits and loss (1e-5 abs), every lora_A / lora_B / modules_to_save gradient (1e-4 normwise relative),
// and merged weights in HF layout (1e-6). Also: merged = unmerged logits, a frozen base under AdamW, PEFT file round
// trips, rsLoRA's scale, clear errors for bad adapters, and reproducible adapter dropout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <set>

#include "harness/harness.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/core/rng.h"
#include "lm/core/threads.h"
#include "lm/io/peft.h"
#include "lm/io/safetensors.h"
#include "lm/models/lora.h"
#include "lm/train/optimizer.h"

namespace lm {
namespace {

namespace fs = std::filesystem;

std::string ref_dir(const std::string& name) { return test::source_dir() + "/tests/reference/" + name; }

std::vector<float> read_vec(const SafetensorsFile& f, const std::string& name) {
  const Shape s = f.entry(name).shape;
  std::vector<float> v(static_cast<size_t>(s.numel()));
  f.read_f32(name, v.data(), s);
  return v;
}

std::vector<float> copy_of(const Tensor& t) { return std::vector<float>(t.f32(), t.f32() + t.numel()); }

// The inputs of a vectors.safetensors as a Batch (GPT: input_ids + shifted targets; BERT classification: input_ids,
// token_type_ids, attention_mask, labels).
struct RefBatch {
  std::vector<OwnedTensor> keep;
  models::Batch b;
  explicit RefBatch(const SafetensorsFile& f) {
    auto i32 = [&](const std::string& name) {
      Tensor t = f.tensor(name);
      EXPECT_EQ(t.dtype, DType::I32) << name;
      keep.emplace_back(t.shape, DType::I32);
      std::memcpy(keep.back().t.data, t.data, t.nbytes());
      return keep.back().t;
    };
    keep.reserve(4);
    b.input_ids = i32("input_ids");
    b.labels = i32(f.contains("targets") ? "targets" : "labels");
    if (f.contains("token_type_ids")) b.token_type_ids = i32("token_type_ids");
    if (f.contains("attention_mask")) b.attention_mask = i32("attention_mask");
  }
};

// The reference adapter directory `name` on its base (adapter_config.json's base_model_name_or_path).
std::unique_ptr<models::LoraModel> load_case(const std::string& name, const std::string& adapter_dir = "") {
  const std::string dir = adapter_dir.empty() ? ref_dir(name) : adapter_dir;
  const LoraSpec spec = read_adapter_config(ref_dir(name));
  return models::LoraModel::load(models::load_model_dir(ref_dir(spec.base_model_name_or_path)), dir);
}

Tensor logits_of(const models::Model& m) {
  for (const auto& [name, t] : m.outputs())
    if (name == "logits") return t;
  ADD_FAILURE() << "no logits output";
  return {};
}

// (rows, cols) row-major -> (cols, rows): lmcpp's nn.Linear layout of a Conv1D weight back to HF's (in, out).
std::vector<float> transposed(const Tensor& t) {
  const int64_t rows = t.dim(0), cols = t.dim(1);
  std::vector<float> o(static_cast<size_t>(t.numel()));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) o[static_cast<size_t>(c * rows + r)] = t.f32()[r * cols + c];
  return o;
}

const std::vector<std::string> kCases = {"gpt2_lora_a", "gpt2_lora_rs", "bert_lora_cls"};

class LoraGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(LoraGolden, LogitsLossAndEveryAdapterGradient) {
  set_num_threads(2);
  auto lora = load_case(GetParam());
  SafetensorsFile vec(ref_dir(GetParam()) + "/vectors.safetensors");
  RefBatch rb(vec);
  const auto ref_logits = read_vec(vec, "logits");
  const float ref_loss = read_vec(vec, "loss")[0];

  // Eval forward (the adapter unmerged, no dropout).
  lora->forward(rb.b);
  Tensor logits = logits_of(*lora);
  ASSERT_EQ(logits.shape, vec.entry("logits").shape);
  EXPECT_LT(test::max_abs_diff(logits.f32(), ref_logits.data(), logits.numel()), 1e-5);

  // Training forward + backward of the mean loss: backward(s) accumulates d(s · loss · loss_weight()).
  lora->zero_grad();
  const float loss = lora->forward(rb.b, {.training = true, .seed = 1, .stream = 0});
  EXPECT_NEAR(loss, ref_loss, 1e-5);
  EXPECT_LT(test::max_abs_diff(logits_of(*lora).f32(), ref_logits.data(), logits.numel()), 1e-5);
  lora->backward(static_cast<float>(1.0 / lora->loss_weight()));

  std::set<std::string> ref_grads;
  for (const auto& e : vec.tensors())
    if (e.name.rfind("grad.", 0) == 0) ref_grads.insert(e.name.substr(5));
  std::set<std::string> ours;
  double worst = 0;
  for (const models::ParamRef& p : lora->param_list()) {
    ours.insert(p.name);
    ASSERT_TRUE(vec.contains("grad." + p.name)) << p.name << " has no reference gradient";
    ASSERT_EQ(p.grad.shape, vec.entry("grad." + p.name).shape) << p.name;
    const auto ref = read_vec(vec, "grad." + p.name);
    const double e = test::rel_error(p.grad.f32(), ref.data(), p.grad.numel());
    EXPECT_LT(e, 1e-4) << p.name;
    worst = std::max(worst, e);
  }
  EXPECT_EQ(ours, ref_grads);  // exactly the adapter's tensors are trained, with PEFT's names
  std::printf("%s: loss %.7f (ref %.7f), %zu gradients, worst normwise rel error %.3g\n", GetParam().c_str(), loss,
              ref_loss, ours.size(), worst);
}

TEST_P(LoraGolden, MergedWeightsInHfLayoutAndMergedLogits) {
  set_num_threads(2);
  auto lora = load_case(GetParam());
  SafetensorsFile vec(ref_dir(GetParam()) + "/vectors.safetensors");
  RefBatch rb(vec);
  lora->forward(rb.b);
  const auto unmerged = copy_of(logits_of(*lora));
  std::set<std::string> fan_in_fan_out;
  for (const auto& m : lora->modules())
    if (m.fan_in_fan_out) fan_in_fan_out.insert(m.weight_name);

  lora->merge();
  int checked = 0;
  double worst = 0;
  for (const models::ParamRef& p : lora->base().param_list()) {
    const std::string key = "merged." + p.name;
    if (!vec.contains(key)) continue;
    const auto ref = read_vec(vec, key);
    // Our GPT-2 weights are (out, in); HF's Conv1D (and the reference) is (in, out).
    const std::vector<float> hf = fan_in_fan_out.count(p.name) ? transposed(p.param) : copy_of(p.param);
    ASSERT_EQ(hf.size(), ref.size()) << p.name;
    const double d = test::max_abs_diff(hf.data(), ref.data(), static_cast<int64_t>(ref.size()));
    EXPECT_LT(d, 1e-6) << p.name;
    worst = std::max(worst, d);
    ++checked;
  }
  int expected = 0;
  for (const auto& e : vec.tensors()) expected += e.name.rfind("merged.", 0) == 0;
  EXPECT_EQ(checked, expected);
  EXPECT_GE(checked, 2);

  lora->forward(rb.b);
  Tensor merged = logits_of(*lora);
  EXPECT_LT(test::max_abs_diff(merged.f32(), unmerged.data(), merged.numel()), 1e-5);
  const auto ref_logits = read_vec(vec, "logits");
  EXPECT_LT(test::max_abs_diff(merged.f32(), ref_logits.data(), merged.numel()), 1e-5);
  std::printf("%s: %d merged weights, worst max abs %.3g; logits merged vs unmerged %.3g, unmerged vs ref %.3g\n",
              GetParam().c_str(), checked, worst, test::max_abs_diff(merged.f32(), unmerged.data(), merged.numel()),
              test::max_abs_diff(unmerged.data(), ref_logits.data(), merged.numel()));
}

TEST_P(LoraGolden, AdamWStepTrainsTheAdapterOnlyAndLeavesBaseWeightsBitwise) {
  set_num_threads(2);
  auto lora = load_case(GetParam());
  SafetensorsFile vec(ref_dir(GetParam()) + "/vectors.safetensors");
  RefBatch rb(vec);
  Tensor base_flat = lora->base().flat_params();
  const std::vector<char> base_before(static_cast<char*>(base_flat.data),
                                      static_cast<char*>(base_flat.data) + base_flat.nbytes());
  const auto adapter_before = copy_of(lora->flat_params());
  EXPECT_EQ(lora->base().flat_grads().numel(), 0) << "a frozen base allocates no weight gradients";
  for (const models::ParamRef& p : lora->param_list())
    EXPECT_EQ(p.name.rfind(kPeftPrefix, 0), 0u) << p.name;

  train::AdamWConfig oc;
  oc.weight_decay = 0.1f;
  oc.grad_clip = 1.0f;
  train::AdamW opt(*lora, oc);
  for (int s = 0; s < 2; ++s) {
    lora->zero_grad();
    lora->forward(rb.b, {.training = true, .seed = 3, .stream = static_cast<uint64_t>(s)});
    lora->backward(static_cast<float>(1.0 / lora->loss_weight()));
    opt.step(1e-2f);
  }
  Tensor base_after = lora->base().flat_params();
  ASSERT_EQ(base_after.nbytes(), base_before.size());
  EXPECT_EQ(std::memcmp(base_after.data, base_before.data(), base_before.size()), 0);
  // Every base weight still equals the file's.
  auto fresh = models::load_model_dir(ref_dir(lora->spec().base_model_name_or_path));
  std::set<std::string> saved;
  for (const auto& [name, t] : lora->adapter_tensors()) saved.insert(name.substr(std::strlen(kPeftPrefix)));
  auto mine = lora->base().param_list(), theirs = fresh->param_list();
  ASSERT_EQ(mine.size(), theirs.size());
  for (size_t i = 0; i < mine.size(); ++i) {
    if (saved.count(mine[i].name)) continue;  // modules_to_save: the base reads the adapter's trained copy
    EXPECT_EQ(std::memcmp(mine[i].param.data, theirs[i].param.data, mine[i].param.nbytes()), 0) << mine[i].name;
  }
  // ...while every adapter tensor moved.
  const auto adapter_after = copy_of(lora->flat_params());
  for (const auto& [name, t] : lora->adapter_tensors()) {
    const int64_t off = static_cast<const float*>(t.data) - lora->flat_params().f32();
    EXPECT_GT(test::max_abs_diff(adapter_after.data() + off, adapter_before.data() + off, t.numel()), 1e-4) << name;
  }
}

TEST_P(LoraGolden, SaveAdapterRoundTripsBitwiseWithPeftKeys) {
  auto lora = load_case(GetParam());
  const std::string out = test::temp_dir("lora_save_" + GetParam());
  lora->save_adapter(out);

  // The tensors: PEFT's names and shapes exactly as in the reference file, values bitwise.
  SafetensorsFile ref(ref_dir(GetParam()) + "/" + kAdapterWeightsFile), ours(out + "/" + kAdapterWeightsFile);
  ASSERT_EQ(ours.tensors().size(), ref.tensors().size());
  for (const auto& e : ref.tensors()) {
    ASSERT_TRUE(ours.contains(e.name)) << e.name;
    EXPECT_EQ(ours.entry(e.name).shape, e.shape) << e.name;
    EXPECT_EQ(read_vec(ours, e.name), read_vec(ref, e.name)) << e.name;
  }
  EXPECT_EQ(ours.metadata().count("format") ? ours.metadata().at("format") : "", "pt");
  auto back = load_case(GetParam(), out);
  const auto a = lora->adapter_tensors(), b = back->adapter_tensors();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(std::memcmp(a[i].second.data, b[i].second.data, a[i].second.nbytes()), 0) << a[i].first;
  }

  // The config: every key PEFT wrote is written back, the interpreted ones with PEFT's values.
  const Json want = read_json_file(ref_dir(GetParam()) + "/" + kAdapterConfigFile);
  const Json got = read_json_file(out + "/" + kAdapterConfigFile);
  for (auto it = want.begin(); it != want.end(); ++it) EXPECT_TRUE(got.contains(it.key())) << it.key();
  for (const char* k : {"peft_type", "r", "lora_alpha", "lora_dropout", "use_rslora", "fan_in_fan_out", "task_type",
                        "bias", "use_dora", "init_lora_weights", "base_model_name_or_path"})
    EXPECT_EQ(got[k], want[k]) << k;
  auto as_set = [](const Json& v) {
    std::set<std::string> s;
    if (v.is_array())
      for (const auto& e : v) s.insert(e.get<std::string>());
    return s;
  };
  EXPECT_EQ(as_set(got["target_modules"]), as_set(want["target_modules"]));
  EXPECT_EQ(as_set(got["modules_to_save"]), as_set(want["modules_to_save"]));
}

INSTANTIATE_TEST_SUITE_P(Ref, LoraGolden, ::testing::ValuesIn(kCases));

TEST(LoraGoldenScale, RsLoraScaleIsAlphaOverSqrtR) {
  auto lora = load_case("gpt2_lora_rs");
  SafetensorsFile vec(ref_dir("gpt2_lora_rs") + "/vectors.safetensors");
  const float ref = read_vec(vec, "scaling")[0];
  EXPECT_TRUE(lora->spec().use_rslora);
  EXPECT_NEAR(ref, 16.0 / std::sqrt(8.0), 1e-6);
  EXPECT_FLOAT_EQ(lora->spec().scale(), ref);
  ASSERT_EQ(lora->modules().size(), 9u);  // c_attn, attn.c_proj, mlp.c_proj in 3 layers
  for (const auto& m : lora->modules()) EXPECT_FLOAT_EQ(m.scale, ref) << m.module;
  auto plain = load_case("gpt2_lora_a");
  SafetensorsFile va(ref_dir("gpt2_lora_a") + "/vectors.safetensors");
  EXPECT_FLOAT_EQ(plain->spec().scale(), read_vec(va, "scaling")[0]);
  EXPECT_FLOAT_EQ(plain->spec().scale(), 2.0f);
}

// A copy of the gpt2_lora_a adapter directory with its config or tensors changed.
std::string bad_copy(const std::string& tag, const std::function<void(Json&)>& edit_config,
                     const std::function<void(std::vector<NamedTensor>&, std::vector<OwnedTensor>&)>& edit_tensors) {
  const std::string dir = test::temp_dir("lora_bad_" + tag);
  Json cfg = read_json_file(ref_dir("gpt2_lora_a") + "/" + kAdapterConfigFile);
  if (edit_config) edit_config(cfg);
  write_file_atomic(dir + "/" + kAdapterConfigFile, cfg.dump(2));
  SafetensorsFile st(ref_dir("gpt2_lora_a") + "/" + kAdapterWeightsFile);
  std::vector<NamedTensor> ts;
  std::vector<OwnedTensor> keep;
  keep.reserve(st.tensors().size() + 1);
  for (const auto& e : st.tensors()) ts.push_back({e.name, st.tensor(e.name)});
  if (edit_tensors) edit_tensors(ts, keep);
  write_safetensors(dir + "/" + kAdapterWeightsFile, ts, {{"format", "pt"}});
  return dir;
}

// Runs LoraModel::load on a bad directory: the error's code, and its message names `needle`.
void expect_load_error(const std::string& dir, ErrorCode code, const std::string& needle) {
  try {
    load_case("gpt2_lora_a", dir);
    ADD_FAILURE() << "no error for " << dir;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line: " << e.what();
  }
}

TEST(LoraGoldenErrors, BadAdaptersGiveOneClearError) {
  const std::string missing = "base_model.model.transformer.h.1.mlp.c_fc.lora_B.weight";
  expect_load_error(bad_copy("missing", nullptr,
                             [&](std::vector<NamedTensor>& ts, std::vector<OwnedTensor>&) {
                               std::erase_if(ts, [&](const NamedTensor& t) { return t.name == missing; });
                             }),
                    ErrorCode::BadFormat, missing);
  const std::string reshaped = "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight";
  expect_load_error(bad_copy("shape", nullptr,
                             [&](std::vector<NamedTensor>& ts, std::vector<OwnedTensor>& keep) {
                               for (auto& t : ts)
                                 if (t.name == reshaped) {  // (r, in) written as (in, r): PEFT's shape is checked
                                   keep.emplace_back(Shape{t.tensor.dim(1), t.tensor.dim(0)});
                                   std::memcpy(keep.back().t.data, t.tensor.data, t.tensor.nbytes());
                                   t.tensor = keep.back().t;
                                 }
                             }),
                    ErrorCode::BadFormat, reshaped);
  expect_load_error(bad_copy("dora", [](Json& j) { j["use_dora"] = true; }, nullptr), ErrorCode::Unsupported,
                    "use_dora");
  expect_load_error(bad_copy("target", [](Json& j) { j["target_modules"] = Json::array({"q_proj"}); }, nullptr),
                    ErrorCode::InvalidArgument, "q_proj");
  expect_load_error(bad_copy("rank", [](Json& j) { j["r"] = 8; }, nullptr), ErrorCode::BadFormat, "lora_A");
  expect_load_error(bad_copy("alien", nullptr,
                             [](std::vector<NamedTensor>& ts, std::vector<OwnedTensor>&) {
                               ts.push_back({"transformer.h.0.attn.c_attn.weight", ts.front().tensor});
                             }),
                    ErrorCode::BadFormat, "transformer.h.0.attn.c_attn.weight");
  const std::string nowhere = test::temp_dir("lora_bad_empty");
  expect_load_error(nowhere, ErrorCode::NotFound, kAdapterConfigFile);
}

// Adapter dropout (lora_dropout > 0) draws its masks from (seed, stream) alone: two training forwards with the same
// pair give bitwise the same loss and gradients, another stream another loss; eval forwards have no dropout.
TEST(LoraGoldenDropout, MasksDependOnSeedAndStreamOnly) {
  set_num_threads(2);
  LoraSpec spec = read_adapter_config(ref_dir("gpt2_lora_a"));
  spec.dropout = 0.2;
  models::LoraModel lora(models::load_model_dir(ref_dir("gpt2_tiny_a")), spec, 11);
  lora.load_safetensors(ref_dir("gpt2_lora_a") + "/" + kAdapterWeightsFile);  // B != 0: dropout matters
  SafetensorsFile vec(ref_dir("gpt2_lora_a") + "/vectors.safetensors");
  RefBatch rb(vec);
  auto train_step = [&](uint64_t seed, uint64_t stream) {
    lora.zero_grad();
    const float loss = lora.forward(rb.b, {.training = true, .seed = seed, .stream = stream});
    lora.backward(static_cast<float>(1.0 / lora.loss_weight()));
    return std::make_pair(loss, copy_of(lora.flat_grads()));
  };
  const auto a = train_step(5, 3), b = train_step(5, 3), c = train_step(5, 4), d = train_step(6, 3);
  EXPECT_EQ(a.first, b.first);
  EXPECT_EQ(a.second, b.second);
  EXPECT_NE(a.first, c.first);
  EXPECT_NE(a.first, d.first);
  const float ref_loss = read_vec(vec, "loss")[0];
  EXPECT_GT(std::fabs(a.first - ref_loss), 1e-5) << "dropout had no effect on the training loss";
  EXPECT_LT(std::fabs(a.first - ref_loss), 0.2) << "dropout(0.2) on the adapter input only moves the loss a little";

  lora.forward(rb.b);
  const auto ref_logits = read_vec(vec, "logits");
  Tensor logits = logits_of(lora);
  EXPECT_LT(test::max_abs_diff(logits.f32(), ref_logits.data(), logits.numel()), 1e-5) << "eval: no dropout";
}

// A new adapter (PEFT's init: A Kaiming-uniform, B = 0) leaves the base's golden logits unchanged.
TEST(LoraGoldenInit, FreshAdapterIsTheIdentity) {
  set_num_threads(2);
  LoraSpec spec;
  spec.r = 4;
  spec.alpha = 8;
  models::LoraModel lora(models::load_model_dir(ref_dir("gpt2_tiny_a")), spec, 3);
  EXPECT_EQ(lora.spec().target_modules, std::vector<std::string>{"c_attn"});
  SafetensorsFile vec(ref_dir("gpt2_tiny_a") + "/vectors.safetensors");
  RefBatch rb(vec);
  lora.forward(rb.b);
  const auto ref_logits = read_vec(vec, "logits");
  Tensor logits = logits_of(lora);
  EXPECT_LT(test::max_abs_diff(logits.f32(), ref_logits.data(), logits.numel()), 1e-5);
  for (const auto& m : lora.modules()) {
    const float bound = 1.0f / std::sqrt(static_cast<float>(m.a.dim(1)));
    float amax = 0;
    for (int64_t i = 0; i < m.a.numel(); ++i) amax = std::max(amax, std::fabs(m.a.f32()[i]));
    EXPECT_LE(amax, bound) << m.module;
    EXPECT_GT(amax, 0.5f * bound) << m.module;
    for (int64_t i = 0; i < m.b.numel(); ++i) ASSERT_EQ(m.b.f32()[i], 0.0f) << m.module;
  }
}

// PEFT names a module by its path in the wrapped model: a bare BertModel has no .bert attribute, so its adapters
// say base_model.model.encoder.layer.N...; a task model's say base_model.model.bert.encoder.layer.N....
TEST(LoraNames, BareBertModelHasNoBertPrefix) {
  for (const char* arch : {"BertModel", "BertForSequenceClassification"}) {
    Json cfg = {{"model_type", "bert"}, {"architectures", {arch}}, {"vocab_size", 16}, {"hidden_size", 8},
                {"num_hidden_layers", 1}, {"num_attention_heads", 2}, {"intermediate_size", 16},
                {"max_position_embeddings", 8}};
    models::LoraModel m(models::create_model(cfg), LoraSpec{}, 1);
    const std::string prefix = std::string("base_model.model.") + (std::string(arch) == "BertModel" ? "" : "bert.");
    EXPECT_EQ(m.adapter_tensors().front().first, prefix + "encoder.layer.0.attention.self.query.lora_A.weight");
    EXPECT_EQ(m.modules().front().weight_name, "bert.encoder.layer.0.attention.self.query.weight");
  }
}

// Training through the adapter learns: on one fixed batch a BertForSequenceClassification with a LoRA adapter
// (query/value + the classifier) drives its loss far below chance, as every weight trained does.
double memorize(bool lora) {
  Json cfg = {{"model_type", "bert"}, {"architectures", {"BertForSequenceClassification"}}, {"vocab_size", 32},
              {"hidden_size", 32}, {"num_hidden_layers", 2}, {"num_attention_heads", 2}, {"intermediate_size", 64},
              {"max_position_embeddings", 16}, {"hidden_dropout_prob", 0.0}, {"attention_probs_dropout_prob", 0.0}};
  std::unique_ptr<models::Model> m = models::create_model(cfg);
  m->init_weights(3);
  if (lora) {
    LoraSpec s;
    s.r = 8;
    s.alpha = 16;
    m = std::make_unique<models::LoraModel>(std::move(m), s, 1);
  }
  train::AdamW opt(*m, train::AdamWConfig{});
  const int64_t B = 16, T = 8;
  std::vector<int32_t> ids(B * T), lab(B);
  Rng r(5);
  for (auto& x : ids) x = 5 + static_cast<int32_t>(r.next_below(20));
  for (int64_t b = 0; b < B; ++b) lab[b] = static_cast<int32_t>(b % 2);
  float loss = 0;
  for (int step = 0; step < 200; ++step) {
    m->zero_grad();
    models::Batch batch;
    batch.input_ids = Tensor(ids.data(), Shape{B, T}, DType::I32);
    batch.labels = Tensor(lab.data(), Shape{B}, DType::I32);
    loss = m->forward(batch, {true, 1, static_cast<uint64_t>(step)});
    m->backward(1.0f);
    opt.step(1e-2f);
  }
  return loss;
}

TEST(LoraTraining, AdapterMemorizesABatchAsFullTrainingDoes) {
  EXPECT_LT(memorize(false), 0.1);
  EXPECT_LT(memorize(true), 0.1);
}

// The goldens cover BERT's query/value; every other BERT module (key, attention.output.dense, intermediate.dense,
// output.dense) against central finite differences of the loss (f32, so a loose tolerance: a wrong term is off by
// far more).
TEST(LoraTraining, BertAllLinearGradientsMatchFiniteDifferences) {
  Json cfg = {{"model_type", "bert"}, {"architectures", {"BertForSequenceClassification"}}, {"vocab_size", 32},
              {"hidden_size", 16}, {"num_hidden_layers", 1}, {"num_attention_heads", 2}, {"intermediate_size", 32},
              {"max_position_embeddings", 16}, {"hidden_dropout_prob", 0.0}, {"attention_probs_dropout_prob", 0.0}};
  std::unique_ptr<models::Model> b = models::create_model(cfg);
  b->init_weights(3);
  LoraSpec s;
  s.r = 2;
  s.alpha = 4;
  s.target_modules = {"all-linear"};
  models::LoraModel m(std::move(b), s, 1);
  Rng r(11);
  for (auto& p : m.param_list())  // B non-zero, so that A's gradients are too
    for (int64_t i = 0; i < p.param.numel(); ++i) p.param.f32()[i] += 0.2f * (r.next_uniform() - 0.5f);
  std::vector<int32_t> ids = {2, 7, 9, 11, 5, 3, 2, 8, 8, 13, 6, 3}, lab = {1, 0};
  models::Batch batch;
  batch.input_ids = Tensor(ids.data(), Shape{2, 6}, DType::I32);
  batch.labels = Tensor(lab.data(), Shape{2}, DType::I32);
  m.zero_grad();
  m.forward(batch, {true, 1, 0});
  m.backward(1.0f);
  size_t checked = 0;
  for (auto& p : m.param_list()) {
    if (p.name.find("lora_") == std::string::npos) continue;
    for (int64_t i : {int64_t{0}, p.param.numel() / 2, p.param.numel() - 1}) {
      float& x = p.param.f32()[i];
      const float x0 = x, h = 1e-2f;
      x = x0 + h;
      const double up = m.forward(batch, {false, 1, 0});
      x = x0 - h;
      const double down = m.forward(batch, {false, 1, 0});
      x = x0;
      const double fd = (up - down) / (2 * h), g = p.grad.f32()[i];
      EXPECT_NEAR(g, fd, 2e-3 + 0.05 * std::fabs(fd)) << p.name << "[" << i << "]";
      ++checked;
    }
  }
  EXPECT_EQ(checked, 6u * 2u * 3u);  // q, k, v, attention.output, intermediate, output x (A, B) x 3 elements
}

}  // namespace
}  // namespace lm
