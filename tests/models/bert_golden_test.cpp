// BERT proven equal to an independent PyTorch implementation (tests/reference/gen_bert.py, float64 torch
// primitives) for BertForPreTraining (two configs), BertForSequenceClassification and BertForQuestionAnswering:
// outputs and loss (1e-5 abs), every parameter gradient (1e-4 normwise relative), parameters and losses after 3
// AdamW steps with weight decay and clipping (1e-5). Also HF directory save/load, legacy and bare names.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

#include "harness/harness.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/core/threads.h"
#include "lm/io/safetensors.h"
#include "lm/models/bert/bert.h"
#include "lm/train/optimizer.h"

namespace lm {
namespace {

std::string ref_dir(const std::string& name) { return test::source_dir() + "/tests/reference/" + name; }

std::vector<float> read_vec(SafetensorsFile& f, const std::string& name, const Shape& s) {
  std::vector<float> v(static_cast<size_t>(s.numel()));
  f.read_f32(name, v.data(), s);
  return v;
}

// Owned int32 copies of the batch tensors present in a vectors file.
struct RefBatch {
  std::map<std::string, OwnedTensor> owned;
  models::BertBatch b;
  explicit RefBatch(SafetensorsFile& f) {
    auto get = [&](const char* n) -> Tensor {
      if (!f.contains(n)) return Tensor();
      Tensor t = f.tensor(n);
      EXPECT_EQ(t.dtype, DType::I32) << n;
      OwnedTensor o(t.shape, DType::I32);
      std::memcpy(o.t.data, t.data, t.nbytes());
      Tensor v = o.t;
      owned.emplace(n, std::move(o));
      return v;
    };
    b.input_ids = get("input_ids");
    b.token_type_ids = get("token_type_ids");
    b.attention_mask = get("attention_mask");
    b.labels = get("labels");
    b.next_sentence_label = get("next_sentence_label");
    b.start_positions = get("start_positions");
    b.end_positions = get("end_positions");
  }
};

models::Bert& as_bert(models::Model& m) { return dynamic_cast<models::Bert&>(m); }

class BertGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(BertGolden, OutputsLossAndGradients) {
  set_num_threads(2);
  std::string dir = ref_dir(GetParam());
  auto model = models::load_model_dir(dir);
  auto& bert = as_bert(*model);
  SafetensorsFile vec(dir + "/vectors.safetensors");
  RefBatch rb(vec);
  float loss = bert.forward(rb.b, true);
  double worst = 0;
  auto check_out = [&](const std::string& name, const Tensor& t) {
    ASSERT_TRUE(vec.contains(name)) << name;
    ASSERT_EQ(vec.entry(name).shape, t.shape) << name;
    auto ref = read_vec(vec, name, t.shape);
    double d = test::max_abs_diff(t.f32(), ref.data(), t.numel());
    worst = std::max(worst, d);
    EXPECT_LT(d, 1e-5) << name;
  };
  for (const auto& [name, t] : bert.outputs()) check_out(name, t);
  auto ref_loss = read_vec(vec, "loss", Shape{1});
  EXPECT_NEAR(loss, ref_loss[0], 1e-5);
  std::printf("%s: outputs max abs diff %.3g, loss %.9g vs %.9g\n", GetParam().c_str(), worst, loss, ref_loss[0]);

  // The forward of a base-sized model on the same weights: last_hidden_state and pooler_output.
  Json cfg = bert.hf_config();
  cfg["architectures"] = Json::array({"BertModel"});
  auto base = std::make_unique<models::Bert>(models::BertConfig::from_hf(cfg));
  base->load_safetensors(dir + "/model.safetensors");
  for (const auto& [name, t] : base->infer(rb.b.input_ids, rb.b.token_type_ids, rb.b.attention_mask))
    if (vec.contains(name)) check_out(name, t);

  bert.zero_grad();
  bert.backward();
  double worst_g = 0, worst_zero = 0;
  int n_zero = 0;
  for (const auto& p : bert.param_list()) {
    auto ref = read_vec(vec, "grad." + p.name, p.grad.shape);
    const int64_t n = p.grad.numel();
    double rn = 0;
    for (float r : ref) rn += static_cast<double>(r) * r;
    rn = std::sqrt(rn);
    if (rn < 1e-12) {
      // Structurally zero gradients (float64 reference ~1e-18): key biases (softmax is shift invariant per query),
      // and for QA qa_outputs.bias and the last LayerNorm bias (each CE is over positions, so a constant shift of
      // all start/end logits cancels). Ours are float32 rounding noise: check them absolutely.
      const double d = test::max_abs_diff(p.grad.f32(), ref.data(), n);
      worst_zero = std::max(worst_zero, d);
      ++n_zero;
      EXPECT_LT(d, 1e-7) << p.name;
      continue;
    }
    double e = test::rel_error(p.grad.f32(), ref.data(), n);
    worst_g = std::max(worst_g, e);
    EXPECT_LT(e, 1e-4) << p.name;
  }
  std::printf("%s: gradients worst normwise rel error %.3g over %zu tensors; %d structurally zero, max abs %.3g\n",
              GetParam().c_str(), worst_g, bert.param_list().size(), n_zero, worst_zero);
}

TEST_P(BertGolden, ThreeAdamWStepsWithDecayAndClipping) {
  set_num_threads(2);
  std::string dir = ref_dir(GetParam());
  auto model = models::load_model_dir(dir);
  auto& bert = as_bert(*model);
  SafetensorsFile vec(dir + "/vectors.safetensors");
  RefBatch rb(vec);
  train::AdamWConfig oc;
  const float lr = 1e-2f;
  oc.beta1 = 0.9f;
  oc.beta2 = 0.95f;
  oc.eps = 1e-6f;
  oc.weight_decay = 0.1f;
  oc.grad_clip = 1.0f;
  train::AdamW opt(bert, oc);
  for (int s = 0; s < 3; ++s) {
    bert.zero_grad();
    float loss = bert.forward(rb.b, true);
    bert.backward();
    opt.step(lr);
    auto ref = read_vec(vec, "loss_step" + std::to_string(s), Shape{1});
    EXPECT_NEAR(loss, ref[0], 1e-5) << "step " << s;
  }
  double worst = 0;
  for (const auto& p : bert.param_list()) {
    auto ref = read_vec(vec, "adamw." + p.name, p.param.shape);
    double d = test::max_abs_diff(p.param.f32(), ref.data(), p.param.numel());
    auto g = read_vec(vec, "grad." + p.name, p.param.shape);
    double gmax = 0;
    for (float x : g) gmax = std::max(gmax, static_cast<double>(std::fabs(x)));
    if (gmax < 1e-12) {
      // A structurally zero gradient (see above) is float32 noise g ~ 1e-9 here; Adam turns it into updates of
      // about lr * g / eps per step, which no elementwise 1e-5 check can pin down. Bound it instead.
      EXPECT_LT(d, 3 * lr * 1e-2) << p.name;
      continue;
    }
    worst = std::max(worst, d);
    EXPECT_LT(d, 1e-5) << p.name;
  }
  std::printf("%s: adamw 3 steps worst max abs %.3g\n", GetParam().c_str(), worst);
}

TEST_P(BertGolden, SaveLoadRoundTrip) {
  std::string dir = ref_dir(GetParam());
  auto a = models::load_model_dir(dir);
  std::string out = test::temp_dir("bert_save_" + GetParam());
  a->save_hf(out);
  auto b = models::load_model_dir(out);
  Tensor pa = a->flat_params(), pb = b->flat_params();
  ASSERT_EQ(pa.numel(), pb.numel());
  EXPECT_EQ(std::memcmp(pa.data, pb.data, pa.nbytes()), 0);
  // Byte-identical tensor set to the HF-named reference file (same names, shapes, values).
  SafetensorsFile ref(dir + "/model.safetensors"), f(out + "/model.safetensors");
  EXPECT_EQ(ref.tensors().size(), f.tensors().size());
  for (const auto& e : ref.tensors()) {
    ASSERT_TRUE(f.contains(e.name)) << e.name;
    Tensor x = ref.tensor(e.name), y = f.tensor(e.name);
    ASSERT_EQ(x.shape, y.shape) << e.name;
    EXPECT_EQ(std::memcmp(x.data, y.data, x.nbytes()), 0) << e.name;
  }
  EXPECT_FALSE(f.contains("cls.predictions.decoder.weight"));
  Json c1 = read_json_file(dir + "/config.json"), c2 = read_json_file(out + "/config.json");
  EXPECT_EQ(c1["architectures"], c2["architectures"]);
  if (c1.contains("id2label")) {
    EXPECT_EQ(c1["id2label"], c2["id2label"]);
  }
}

INSTANTIATE_TEST_SUITE_P(Configs, BertGolden,
                         ::testing::Values("bert_tiny_a", "bert_tiny_b", "bert_tiny_cls", "bert_tiny_qa"));

// Eval-mode inference with bf16 weights (oneDNN AMX / AVX512_BF16 matmul) against the same float64 PyTorch
// outputs at bf16 tolerance (normwise relative error <= 1e-2 per output, the bound the CUDA bf16 path uses for
// gradients); switching back to f32 gives the f32 outputs again (1e-5), and an eval forward before a training
// forward (the eval path shares one set of layer buffers) leaves training's outputs and gradients intact.
TEST_P(BertGolden, Bf16InferenceAndEvalThenTrain) {
  set_num_threads(2);
  std::string dir = ref_dir(GetParam());
  auto model = models::load_model_dir(dir);
  auto& bert = as_bert(*model);
  SafetensorsFile vec(dir + "/vectors.safetensors");
  RefBatch rb(vec);
  auto compare = [&](double tol, const char* what) {
    for (const auto& [name, t] : bert.infer(rb.b.input_ids, rb.b.token_type_ids, rb.b.attention_mask)) {
      auto ref = read_vec(vec, name, t.shape);
      const double e = test::rel_error(t.f32(), ref.data(), t.numel());
      std::printf("%s %s %s: normwise rel error %.3g\n", GetParam().c_str(), what, name.c_str(), e);
      EXPECT_LT(e, tol) << what << " " << name;
      EXPECT_GT(e, 0.0) << what << " " << name << ": bf16 rounding cannot be exact";
      if (tol < 1e-4) {
        EXPECT_LT(test::max_abs_diff(t.f32(), ref.data(), t.numel()), 1e-5) << name;
      }
    }
  };
  // Every output of an eval forward, concatenated.
  auto flat_outputs = [&] {
    std::vector<float> v;
    for (auto& [n, t] : bert.infer(rb.b.input_ids, rb.b.token_type_ids, rb.b.attention_mask))
      v.insert(v.end(), t.f32(), t.f32() + t.numel());
    return v;
  };
  if (!ops::linear_bf16_available()) GTEST_SKIP() << "no native bf16 matmul on this CPU";
  bert.set_inference_dtype(DType::BF16);
  compare(1e-2, "bf16");
  // The bf16 attention switch: off, the attention is the f32 kernel's, which moves the outputs (and stays
  // within the bf16 tolerance).
  if (ops::attention_bf16_available()) {
    const std::vector<float> with_bf16_attention = flat_outputs();
    bert.set_inference_bf16_attention(false);
    const std::vector<float> with_f32_attention = flat_outputs();
    compare(1e-2, "bf16, f32 attention");
    bert.set_inference_bf16_attention(true);
    EXPECT_GT(test::max_abs_diff(with_bf16_attention.data(), with_f32_attention.data(),
                                 static_cast<int64_t>(with_f32_attention.size())),
              0.0);
    EXPECT_EQ(flat_outputs(), with_bf16_attention) << "switching back must restore the bf16 attention";
  }
  bert.set_inference_dtype(DType::F32);
  compare(1e-4, "f32");

  // A weight change after packing is picked up (the packed copy is rebuilt at the next eval forward): after the
  // change the bf16 outputs follow the new f32 outputs, and they moved by far more than the bf16 error, so a
  // stale packed copy could not pass.
  bert.set_inference_dtype(DType::BF16);
  const std::vector<float> bf16_before = flat_outputs();
  Tensor w = bert.params().layers[0].inter_w;
  std::vector<float> saved(w.f32(), w.f32() + w.numel());
  for (int64_t i = 0; i < w.numel(); ++i) w.f32()[i] += 2.0f;  // a large change: outputs must move
  const std::vector<float> bf16_out = flat_outputs();  // still in bf16 mode: no set_inference_dtype in between
  bert.set_inference_dtype(DType::F32);
  const std::vector<float> f32_out = flat_outputs();
  ASSERT_EQ(f32_out.size(), bf16_out.size());
  const int64_t n_out = static_cast<int64_t>(f32_out.size());
  const double err = test::rel_error(bf16_out.data(), f32_out.data(), n_out);
  const double moved = test::rel_error(bf16_out.data(), bf16_before.data(), n_out);
  std::printf("%s after a weight change: bf16 vs f32 %.3g, moved %.3g\n", GetParam().c_str(), err, moved);
  EXPECT_LT(err, 1e-2);
  EXPECT_GT(moved, 3 * err);
  std::memcpy(w.f32(), saved.data(), saved.size() * sizeof(float));

  // Training after the eval forwards: loss and gradients equal the reference.
  float loss = bert.forward(rb.b, true);
  EXPECT_NEAR(loss, read_vec(vec, "loss", Shape{1})[0], 1e-5);
  bert.zero_grad();
  bert.backward();
  for (const auto& p : bert.param_list()) {
    auto ref = read_vec(vec, "grad." + p.name, p.grad.shape);
    double rn = 0;
    for (float r : ref) rn += static_cast<double>(r) * r;
    if (std::sqrt(rn) < 1e-12) continue;
    EXPECT_LT(test::rel_error(p.grad.f32(), ref.data(), p.grad.numel()), 1e-4) << p.name;
  }
}

// Eval-mode inference with int8 weights and dynamically quantized activations (oneDNN AMX / VNNI int8 matmul)
// against the same float64 PyTorch outputs: normwise relative error <= 3e-2 per output (int8 carries ~2^-8 of
// the largest value of a row group; measured 2e-3..1e-2 on these models). The activation scale is taken per
// sequence over its unpadded tokens, so each sequence's outputs do not depend on the rest of the batch: every
// sequence run alone gives its rows of the batched outputs (1e-5; only the f32 heads' GEMM blocking may differ),
// a difference far below the int8 error, so a scale shared across the batch would fail.
TEST_P(BertGolden, Int8InferenceIsCloseAndBatchInvariant) {
  if (!ops::linear_int8_available()) GTEST_SKIP() << "no native int8 matmul on this CPU";
  set_num_threads(2);
  std::string dir = ref_dir(GetParam());
  auto model = models::load_model_dir(dir);
  auto& bert = as_bert(*model);
  SafetensorsFile vec(dir + "/vectors.safetensors");
  RefBatch rb(vec);
  bert.set_inference_dtype(DType::I8);
  std::map<std::string, std::vector<float>> batched;
  for (const auto& [name, t] : bert.infer(rb.b.input_ids, rb.b.token_type_ids, rb.b.attention_mask)) {
    auto ref = read_vec(vec, name, t.shape);
    const double e = test::rel_error(t.f32(), ref.data(), t.numel());
    std::printf("%s int8 %s: normwise rel error %.3g\n", GetParam().c_str(), name.c_str(), e);
    EXPECT_LT(e, 3e-2) << name;
    EXPECT_GT(e, 0.0) << name << ": int8 cannot be exact";
    batched[name] = std::vector<float>(t.f32(), t.f32() + t.numel());
  }
  const int64_t B = rb.b.input_ids.dim(0);
  auto row = [](const Tensor& t, int64_t b) { return t.defined() ? t.slice0(b, b + 1) : Tensor(); };
  for (int64_t b = 0; b < B; ++b) {
    for (const auto& [name, t] : bert.infer(row(rb.b.input_ids, b), row(rb.b.token_type_ids, b),
                                            row(rb.b.attention_mask, b))) {
      const std::vector<float>& all = batched.at(name);
      const int64_t n = t.numel();
      ASSERT_EQ(static_cast<int64_t>(all.size()), n * B) << name;
      const double e = test::rel_error(t.f32(), all.data() + b * n, n);
      std::printf("%s int8 %s sequence %lld alone vs batched: %.3g\n", GetParam().c_str(), name.c_str(),
                  static_cast<long long>(b), e);
      EXPECT_LT(e, 1e-5) << name << " sequence " << b;
    }
  }
}

// The sparse MLM head (prediction head only at labelled positions, used by pretraining) against the same PyTorch
// vectors: the loss, the logits of the masked rows and every gradient equal the dense reference.
TEST(BertSparseMlm, MatchesTheDenseReference) {
  set_num_threads(2);
  for (const char* name : {"bert_tiny_a", "bert_tiny_b"}) {
    std::string dir = ref_dir(name);
    auto model = models::load_model_dir(dir);
    auto& bert = as_bert(*model);
    bert.set_sparse_mlm(true);
    SafetensorsFile vec(dir + "/vectors.safetensors");
    RefBatch rb(vec);
    ASSERT_TRUE(rb.b.labels.defined()) << name;
    float loss = bert.forward(rb.b, true);
    EXPECT_NEAR(loss, read_vec(vec, "loss", Shape{1})[0], 1e-5) << name;
    const auto& pos = bert.masked_positions();
    const int32_t* lab = rb.b.labels.ptr<int32_t>();
    int64_t labelled = 0;
    for (int64_t i = 0; i < rb.b.labels.numel(); ++i) labelled += lab[i] != -100;
    ASSERT_EQ(static_cast<int64_t>(pos.size()), labelled) << name;
    ASSERT_GT(labelled, 0) << name;
    Tensor masked;
    for (const auto& [n, t] : bert.outputs())
      if (n == "masked_prediction_logits") masked = t;
    ASSERT_TRUE(masked.defined()) << name;
    const int64_t V = bert.config().vocab_size;
    auto ref = read_vec(vec, "prediction_logits", Shape{rb.b.labels.shape[0], rb.b.labels.shape[1], V});
    for (size_t r = 0; r < pos.size(); ++r)
      EXPECT_LT(test::max_abs_diff(masked.f32() + static_cast<int64_t>(r) * V, ref.data() + pos[r] * V, V), 1e-5)
          << name << " row " << r;
    bert.zero_grad();
    bert.backward();
    for (const auto& p : bert.param_list()) {
      auto g = read_vec(vec, "grad." + p.name, p.grad.shape);
      double rn = 0;
      for (float r : g) rn += static_cast<double>(r) * r;
      if (std::sqrt(rn) < 1e-12)
        EXPECT_LT(test::max_abs_diff(p.grad.f32(), g.data(), p.grad.numel()), 1e-7) << name << " " << p.name;
      else
        EXPECT_LT(test::rel_error(p.grad.f32(), g.data(), p.grad.numel()), 1e-4) << name << " " << p.name;
    }
  }
}

// A TF-era / bare BertModel style checkpoint: no "bert." prefix, LayerNorm.gamma/beta, legacy position_ids,
// cls.predictions.decoder.weight/bias present: loads to the same parameters.
TEST(BertCheckpoint, LegacyAndUnprefixedNamesLoad) {
  std::string dir = ref_dir("bert_tiny_a");
  auto a = models::load_model_dir(dir);
  SafetensorsFile src(dir + "/model.safetensors");
  std::vector<NamedTensor> renamed;
  std::vector<std::unique_ptr<OwnedTensor>> keep;
  for (const auto& e : src.tensors()) {
    std::string n = e.name;
    if (n.rfind("bert.", 0) == 0) n = n.substr(5);
    if (n.size() > 16 && n.compare(n.size() - 16, 16, "LayerNorm.weight") == 0) n = n.substr(0, n.size() - 6) + "gamma";
    if (n.size() > 14 && n.compare(n.size() - 14, 14, "LayerNorm.bias") == 0) n = n.substr(0, n.size() - 4) + "beta";
    if (n == "cls.predictions.bias") n = "cls.predictions.decoder.bias";
    renamed.push_back({n, src.tensor(e.name)});
  }
  renamed.push_back({"cls.predictions.decoder.weight", src.tensor("bert.embeddings.word_embeddings.weight")});
  auto pos = std::make_unique<OwnedTensor>(Shape{1, 40}, DType::I32);
  renamed.push_back({"embeddings.position_ids", pos->t});
  keep.push_back(std::move(pos));
  std::string legacy = test::temp_dir("bert_legacy");
  write_safetensors(legacy + "/model.safetensors", renamed, {});
  write_file_atomic(legacy + "/config.json", read_file(dir + "/config.json"));
  auto b = models::load_model_dir(legacy);
  ASSERT_EQ(a->flat_params().nbytes(), b->flat_params().nbytes());
  EXPECT_EQ(std::memcmp(a->flat_params().data, b->flat_params().data, a->flat_params().nbytes()), 0);
}

// A pretraining checkpoint loaded as BertForSequenceClassification: the encoder and pooler are loaded, the
// classifier is newly initialised (normal std initializer_range, zero bias), cls.* is ignored. Saving as
// BertModel drops the "bert." prefix, and that bare save loads back.
TEST(BertCheckpoint, HeadSwapInitialisesMissingHeadAndBaseSavesBare) {
  std::string dir = ref_dir("bert_tiny_a");
  Json cfg = read_json_file(dir + "/config.json");
  cfg["architectures"] = Json::array({"BertForSequenceClassification"});
  cfg["id2label"] = Json{{"0", "neg"}, {"1", "pos"}};
  std::string d2 = test::temp_dir("bert_headswap");
  write_file_atomic(d2 + "/config.json", cfg.dump(2));
  std::filesystem::copy_file(dir + "/model.safetensors", d2 + "/model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  auto m = models::load_model_dir(d2);
  auto& b = as_bert(*m);
  EXPECT_EQ(b.config().num_labels, 2);
  double ss = 0;
  for (int64_t i = 0; i < b.params().cls_w.numel(); ++i) ss += b.params().cls_w.f32()[i] * b.params().cls_w.f32()[i];
  double sd = std::sqrt(ss / static_cast<double>(b.params().cls_w.numel()));
  EXPECT_GT(sd, 0.01);
  EXPECT_LT(sd, 0.04);
  for (int64_t i = 0; i < 2; ++i) EXPECT_EQ(b.params().cls_b.f32()[i], 0.0f);

  cfg["architectures"] = Json::array({"BertModel"});
  auto base = std::make_unique<models::Bert>(models::BertConfig::from_hf(cfg));
  base->load_safetensors(dir + "/model.safetensors");
  std::string d3 = test::temp_dir("bert_base_save");
  base->save_hf(d3);
  SafetensorsFile f(d3 + "/model.safetensors");
  EXPECT_TRUE(f.contains("embeddings.word_embeddings.weight"));
  EXPECT_TRUE(f.contains("pooler.dense.weight"));
  EXPECT_FALSE(f.contains("bert.embeddings.word_embeddings.weight"));
  auto again = models::load_model_dir(d3);
  EXPECT_EQ(std::memcmp(again->flat_params().data, base->flat_params().data, base->flat_params().nbytes()), 0);
}

// BertForMaskedLM (no pooler, no NSP) on a pretraining checkpoint: its logits are the pretraining
// prediction_logits; pooler and seq_relationship weights are skipped.
TEST(BertCheckpoint, MaskedLmHeadMatchesPretrainingPredictions) {
  std::string dir = ref_dir("bert_tiny_b");
  Json cfg = read_json_file(dir + "/config.json");
  cfg["architectures"] = Json::array({"BertForMaskedLM"});
  auto m = std::make_unique<models::Bert>(models::BertConfig::from_hf(cfg));
  m->load_safetensors(dir + "/model.safetensors");
  SafetensorsFile vec(dir + "/vectors.safetensors");
  RefBatch rb(vec);
  auto outs = m->infer(rb.b.input_ids, rb.b.token_type_ids, rb.b.attention_mask);
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].first, "logits");
  auto ref = read_vec(vec, "prediction_logits", outs[0].second.shape);
  EXPECT_LT(test::max_abs_diff(outs[0].second.f32(), ref.data(), outs[0].second.numel()), 1e-5);
}

TEST(BertConfig, RejectsBadAndUnsupportedKeys) {
  Json base = {{"model_type", "bert"}, {"architectures", {"BertForPreTraining"}}};
  Json j = base;
  j["position_embedding_type"] = "relative_key";
  try {
    models::BertConfig::from_hf(j);
    FAIL() << "relative_key accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
  }
  j = base;
  j["hidden_size"] = 30;
  j["num_attention_heads"] = 4;
  EXPECT_THROW(models::BertConfig::from_hf(j), Error);
  j = base;
  j["architectures"] = {"BertForNextSentencePrediction"};
  EXPECT_THROW(models::BertConfig::from_hf(j), Error);
  j = base;
  j["hidden_act"] = "gelu_new";
  EXPECT_EQ(models::BertConfig::from_hf(j).activation, ops::GeluKind::Tanh);
  EXPECT_EQ(models::BertConfig::from_hf(base).layer_norm_eps, 1e-12f);
  j = {{"model_type", "bert"}, {"architectures", {"BertForSequenceClassification"}},
       {"id2label", {{"1", "b"}, {"0", "a"}, {"2", "c"}}}};
  auto c = models::BertConfig::from_hf(j);
  EXPECT_EQ(c.num_labels, 3);
  EXPECT_EQ(c.id2label[0], "a");
  EXPECT_EQ(c.id2label[2], "c");
}

// Dropout in training changes the loss deterministically per seed and is the identity at inference.
TEST(BertDropout, SeededAndOffAtInference) {
  set_num_threads(2);
  std::string dir = ref_dir("bert_tiny_cls");
  Json cfg = read_json_file(dir + "/config.json");
  cfg["hidden_dropout_prob"] = 0.1;
  auto m = std::make_unique<models::Bert>(models::BertConfig::from_hf(cfg));
  m->load_safetensors(dir + "/model.safetensors");
  SafetensorsFile vec(dir + "/vectors.safetensors");
  RefBatch rb(vec);
  float l_eval = m->forward(rb.b, false);
  EXPECT_NEAR(l_eval, read_vec(vec, "loss", Shape{1})[0], 1e-5);
  float a = m->forward(rb.b, true, 5), b = m->forward(rb.b, true, 5), c = m->forward(rb.b, true, 6);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  m->zero_grad();
  m->backward();
  EXPECT_TRUE(std::isfinite(m->param_list()[0].grad.f32()[rb.b.input_ids.ptr<int32_t>()[0] * 32]));
}

// Same seed, same thread count: bitwise identical training (dropout on), and the loss goes down.
TEST(BertDeterminism, SameSeedBitwiseEqualTraining) {
  set_num_threads(2);
  std::string dir = ref_dir("bert_tiny_a");
  auto run = [&](std::vector<float>* losses) {
    Json cfg = read_json_file(dir + "/config.json");
    cfg["hidden_dropout_prob"] = 0.1;
    auto m = std::make_unique<models::Bert>(models::BertConfig::from_hf(cfg));
    m->init_weights(11);
    SafetensorsFile vec(dir + "/vectors.safetensors");
    RefBatch rb(vec);
    train::AdamWConfig oc;
    const float lr = 1e-2f;
    oc.weight_decay = 0.1f;
    oc.grad_clip = 1.0f;
    train::AdamW opt(*m, oc);
    for (int s = 0; s < 5; ++s) {
      m->zero_grad();
      losses->push_back(m->forward(rb.b, true, 100 + static_cast<uint64_t>(s)));
      m->backward();
      opt.step(lr);
    }
    return m;
  };
  std::vector<float> la, lb;
  auto a = run(&la);
  auto b = run(&lb);
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) EXPECT_EQ(la[i], lb[i]);
  EXPECT_LT(la.back(), la.front());
  EXPECT_EQ(std::memcmp(a->flat_params().data, b->flat_params().data, a->flat_params().nbytes()), 0);
}

}  // namespace
}  // namespace lm
