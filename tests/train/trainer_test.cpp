// Trainer: schedules, config parsing, gradient accumulation normalised by target tokens, and exact resume after a
// real SIGKILL (N steps straight == N/2 steps + kill -9 + resume, bit for bit), NaN guard.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <numeric>
#include <sstream>

#include "harness/harness.h"
#include "train/train_test_util.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/core/threads.h"
#include "lm/data/shard.h"
#include "lm/models/bert/bert.h"
#include "lm/models/gpt/gpt.h"
#include "lm/train/schedule.h"
#include "lm/train/trainer.h"

namespace lm {
namespace {

TEST(Schedule, ShapesAndEndpoints) {
  train::LrSchedule s;
  s.lr = 1.0;
  s.min_lr = 0.1;
  s.warmup_steps = 10;
  s.max_steps = 110;
  s.kind = "cosine";
  EXPECT_DOUBLE_EQ(s.at(0), 0.1);
  EXPECT_DOUBLE_EQ(s.at(9), 1.0);
  EXPECT_DOUBLE_EQ(s.at(10), 1.0);
  EXPECT_NEAR(s.at(60), 0.55, 1e-12);
  EXPECT_NEAR(s.at(110), 0.1, 1e-12);
  s.kind = "linear";
  EXPECT_NEAR(s.at(60), 0.55, 1e-12);
  s.kind = "constant";
  EXPECT_DOUBLE_EQ(s.at(100), 1.0);
  s.kind = "wsd";
  s.decay_fraction = 0.2;
  EXPECT_DOUBLE_EQ(s.at(89), 1.0);
  EXPECT_NEAR(s.at(100), 0.55, 1e-12);
  EXPECT_NEAR(s.at(110), 0.1, 1e-12);
  s.kind = "exp";
  EXPECT_THROW(s.validate(), Error);
}

TEST(TrainConfig, OverridesAndValidation) {
  Json c = {{"model", {{"n_layer", 2}}}, {"data", "d"}};
  Json o = train::apply_overrides(c, {"model.n_layer=4", "lr=0.01", "lr_schedule=wsd", "model.x.y=true"});
  EXPECT_EQ(o["model"]["n_layer"], 4);
  EXPECT_EQ(o["lr"], 0.01);
  EXPECT_EQ(o["lr_schedule"], "wsd");
  EXPECT_EQ(o["model"]["x"]["y"], true);  // dotted paths make the nested objects they name...
  // ...but a model key its family does not know is an error, not a silently ignored setting.
  EXPECT_THROW(train::TrainConfig::from_json(o), Error);
  o["model"].erase("x");
  auto tc = train::TrainConfig::from_json(o);
  EXPECT_EQ(tc.schedule.kind, "wsd");
  EXPECT_THROW(train::TrainConfig::from_json(train::apply_overrides(c, {"lr_shedule=cosine"})), Error);
  EXPECT_THROW(train::TrainConfig::from_json(train::apply_overrides(c, {"batch_size=0"})), Error);
  EXPECT_THROW(train::TrainConfig::from_json(train::apply_overrides(c, {"batch_size=\"x\""})), Error);
  EXPECT_THROW(train::apply_overrides(c, {"novalue"}), Error);
}

TEST(TrainConfig, ShippedConfigsAreValid) {
  for (const char* name : {"shakespeare_char.json", "wikipedia_gpt2_small.json", "gpt2_124m.json"}) {
    Json j = read_json_file(test::source_dir() + "/configs/" + name);
    EXPECT_NO_THROW(train::TrainConfig::from_json(j)) << name;
    EXPECT_NO_THROW(models::GptConfig::from_hf(j["model"])) << name;
  }
  Json b = read_json_file(test::source_dir() + "/configs/bert_small_pretrain.json");
  EXPECT_NO_THROW(train::TrainConfig::from_json(b));
  EXPECT_NO_THROW(models::BertConfig::from_hf(b["model"]));
}

// Loss and gradients of k micro-batches (each backward weighted by 1/total targets) equal one batch k times
// larger, with ignored targets unevenly spread so a per-micro-batch mean would differ.
TEST(GradAccum, MicroBatchesEqualOneLargeBatch) {
  set_num_threads(2);
  models::GptConfig c;
  c.vocab_size = 50;
  c.n_positions = 16;
  c.n_embd = 24;
  c.n_layer = 2;
  c.n_head = 2;
  const int64_t B = 4, T = 9;
  OwnedTensor x(Shape{B, T}, DType::I32), y(Shape{B, T}, DType::I32);
  for (int64_t i = 0; i < B * T; ++i) {
    x.t.ptr<int32_t>()[i] = static_cast<int32_t>((i * 13 + 5) % 50);
    y.t.ptr<int32_t>()[i] = i < 7 ? -100 : static_cast<int32_t>((i * 7 + 2) % 50);  // first rows mostly ignored
  }
  models::Gpt big(c), small(c);
  big.init_weights(3);
  small.init_weights(3);
  big.zero_grad();
  float lb = big.forward(x.t, y.t);
  big.backward();
  int64_t total = 0;
  for (int64_t i = 0; i < B * T; ++i) total += x.t.ptr<int32_t>()[i] >= 0 && y.t.ptr<int32_t>()[i] != -100;
  small.zero_grad();
  double sum = 0;
  for (int k = 0; k < 2; ++k) {
    Tensor xk = x.t.slice0(2 * k, 2 * k + 2), yk = y.t.slice0(2 * k, 2 * k + 2);
    float l = small.forward(xk, yk);
    sum += static_cast<double>(l) * static_cast<double>(small.last_num_targets());
    small.backward(1.0f / static_cast<float>(total));
  }
  EXPECT_NEAR(sum / static_cast<double>(total), lb, 1e-6);
  Tensor ga = big.flat_grads(), gb = small.flat_grads();
  EXPECT_LT(test::rel_error(gb.f32(), ga.f32(), ga.numel()), 1e-6);
}

TEST(Trainer, ResumeAfterKillIsBitwiseIdentical) {
  std::string data = make_data("trainer_data", 40);
  std::string work = test::temp_dir("trainer_resume");
  std::string cfg = write_config(work, data, 8);
  std::string straight = path_join(work, "straight"), resumed = path_join(work, "resumed");
  auto a = test::run_cli({"train", "--config", cfg, "--out", straight});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  // Same command, killed by SIGKILL after step 6 (checkpoint at step 4), then re-run: resumes from step 4.
  setenv("LM_TEST_KILL_AT_STEP", "6", 1);
  auto b1 = test::run_cli({"train", "--config", cfg, "--out", resumed});
  unsetenv("LM_TEST_KILL_AT_STEP");
  ASSERT_EQ(b1.exit_code, 128 + 9) << b1.err;
  EXPECT_TRUE(is_directory(path_join(resumed, "checkpoints/step_00000004")));
  EXPECT_FALSE(is_directory(path_join(resumed, "checkpoints/step_00000008")));
  auto b2 = test::run_cli({"train", "--config", cfg, "--out", resumed});
  ASSERT_EQ(b2.exit_code, 0) << b2.err;
  EXPECT_NE(b2.err.find("resuming"), std::string::npos);
  auto la = train_losses(straight), lb = train_losses(resumed);
  ASSERT_EQ(la.size(), 8u);
  ASSERT_EQ(lb.size(), 8u);
  for (size_t i = 0; i < la.size(); ++i) {
    EXPECT_EQ(la[i].first, lb[i].first);
    EXPECT_EQ(la[i].second, lb[i].second) << "step " << la[i].first;  // bitwise (JSON round-trips doubles)
  }
  EXPECT_LT(la.back().second, la.front().second);
  EXPECT_EQ(read_file(path_join(straight, "model.safetensors")), read_file(path_join(resumed, "model.safetensors")));
  EXPECT_EQ(read_file(path_join(straight, "checkpoints/step_00000008/optimizer.safetensors")),
            read_file(path_join(resumed, "checkpoints/step_00000008/optimizer.safetensors")));
  // Outputs a person opens: the loss plot, the best model, an HF config.
  EXPECT_NE(read_file(path_join(straight, "loss.svg")).find("<svg"), std::string::npos);
  EXPECT_TRUE(file_exists(path_join(straight, "best/model.safetensors")));
  EXPECT_TRUE(file_exists(path_join(straight, "config.json")));
  // keep_last = 2: step 4 and 8 remain.
  EXPECT_TRUE(is_directory(path_join(straight, "checkpoints/step_00000004")));
  // Re-running a finished run does nothing and changes nothing.
  auto c = test::run_cli({"train", "--config", cfg, "--out", straight});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(train_losses(straight).size(), 8u);
}

TEST(Trainer, DivergenceStopsWithClearError) {
  std::string data = make_data("trainer_nan_data", 40);
  std::string work = test::temp_dir("trainer_nan");
  std::string cfg = write_config(work, data, 30);
  auto r = test::run_cli({"train", "--config", cfg, "--out", path_join(work, "out"), "--set", "lr=1e30",
                          "--set", "warmup_steps=0", "--set", "grad_clip=0", "--set", "lr_schedule=constant",
                          "--set", "min_lr=0"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("training diverged"), std::string::npos) << r.err;
  EXPECT_NE(read_file(path_join(work, "out/metrics.jsonl")).find("skipped_nonfinite"), std::string::npos);
}

TEST(Trainer, BadConfigIsAUsageError) {
  std::string work = test::temp_dir("trainer_bad");
  write_file_atomic(path_join(work, "c.json"), R"({"model": {"n_layer": 1}, "data": "/nonexistent", "lr_shedule": 1})");
  auto r = test::run_cli({"train", "--config", path_join(work, "c.json"), "--out", path_join(work, "o")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown key \"lr_shedule\""), std::string::npos) << r.err;
  auto r2 = test::run_cli({"train", "--config", path_join(work, "missing.json"), "--out", path_join(work, "o")});
  EXPECT_EQ(r2.exit_code, 2);
  EXPECT_EQ(std::count(r2.err.begin(), r2.err.end(), '\n'), 1) << r2.err;
}

TEST(Trainer, BertPretrainingResumesBitwiseAndReportsMlmNspAccuracy) {
  std::string data = make_bert_data("trainer_bert_data");
  EXPECT_EQ(read_json_file(path_join(data, "meta.json"))["layout"], "sentences");
  std::string work = test::temp_dir("trainer_bert");
  Json cfg = {{"model", {{"model_type", "bert"}, {"hidden_size", 32}, {"num_hidden_layers", 2},
                         {"num_attention_heads", 2}, {"intermediate_size", 64}}},
              {"data", data},           {"batch_size", 4},    {"seq_len", 32},       {"grad_accum", 2},
              {"max_steps", 8},         {"lr", 3e-3},         {"warmup_steps", 2},   {"eval_every", 4},
              {"eval_batches", 2},      {"save_every", 4},    {"seed", 3},           {"threads", 2}};
  write_file_atomic(path_join(work, "cfg.json"), cfg.dump(2));
  std::string cfgp = path_join(work, "cfg.json");
  std::string straight = path_join(work, "straight"), resumed = path_join(work, "resumed");
  auto a = test::run_cli({"train", "--config", cfgp, "--out", straight});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  setenv("LM_TEST_KILL_AT_STEP", "6", 1);
  auto b1 = test::run_cli({"train", "--config", cfgp, "--out", resumed});
  unsetenv("LM_TEST_KILL_AT_STEP");
  ASSERT_EQ(b1.exit_code, 128 + 9) << b1.err;
  auto b2 = test::run_cli({"train", "--config", cfgp, "--out", resumed});
  ASSERT_EQ(b2.exit_code, 0) << b2.err;
  auto la = train_losses(straight), lb = train_losses(resumed);
  ASSERT_EQ(la.size(), 8u);
  ASSERT_EQ(lb.size(), 8u);
  for (size_t i = 0; i < la.size(); ++i) EXPECT_EQ(la[i].second, lb[i].second) << "step " << la[i].first;
  EXPECT_EQ(read_file(path_join(straight, "model.safetensors")), read_file(path_join(resumed, "model.safetensors")));
  // Train lines carry the MLM and NSP losses; validation lines their accuracies.
  bool saw_train = false, saw_val = false;
  std::istringstream in(read_file(path_join(straight, "metrics.jsonl")));
  for (std::string line; std::getline(in, line);) {
    Json j = Json::parse(line);
    if (j.contains("loss")) {
      saw_train = true;
      EXPECT_NEAR(j["loss"].get<double>(), j["mlm_loss"].get<double>() + j["nsp_loss"].get<double>(), 1e-4);
    }
    if (j.contains("val_loss")) {
      saw_val = true;
      for (const char* k : {"val_mlm_loss", "val_mlm_accuracy", "val_nsp_loss", "val_nsp_accuracy"})
        ASSERT_TRUE(j.contains(k)) << k << " in " << line;
      EXPECT_GE(j["val_mlm_accuracy"].get<double>(), 0.0);
      EXPECT_LE(j["val_nsp_accuracy"].get<double>(), 1.0);
      EXPECT_NEAR(j["val_loss"].get<double>(), j["val_mlm_loss"].get<double>() + j["val_nsp_loss"].get<double>(),
                  1e-9);
    }
  }
  EXPECT_TRUE(saw_train && saw_val);
  // The output is an HF BertForPreTraining directory with its tokenizer: forward and fill-mask work on it.
  Json mc = read_json_file(path_join(straight, "config.json"));
  EXPECT_EQ(mc["model_type"], "bert");
  EXPECT_EQ(mc["architectures"][0], "BertForPreTraining");
  auto f = test::run_cli({"forward", "--model", straight, "--ids", "2,6,7,4,3", "--json"});
  EXPECT_EQ(f.exit_code, 0) << f.err;
  EXPECT_NE(f.out.find("seq_relationship_logits"), std::string::npos);
  auto p = test::run_cli({"predict", "--model", straight, "--text", "the cat [MASK] on the mat.", "--json"});
  EXPECT_EQ(p.exit_code, 0) << p.err;
}

// Learning, not only running: on the toy corpus ("The <topic> <verb> on the <object>." sentences, six topics) a
// model that uses no context cannot beat the unigram entropy (~2.2 nats, accuracy 25% by always saying "the");
// positions and the document's topic word make most tokens predictable (MLM), and whether segment B continues A is
// learnable from the topic words (a random B shares A's topic one time in six). 400 documents so that the
// validation split (~80 documents, ~250 NSP pairs) is large enough for accuracies to be more than noise; the bounds
// sit below the worst of 6 data/model seeds (MLM accuracy 0.63, MLM loss 0.81, NSP accuracy 0.61, mean train NSP
// loss over the last 300 steps 0.62; chance is 0.693) with a margin for other CPUs' rounding.
TEST(Trainer, BertPretrainingLearnsTheToyCorpusSlow) {
  std::string data = make_bert_data("trainer_bert_learn_data", 400, 6);
  std::string work = test::temp_dir("trainer_bert_learn");
  Json cfg = {{"model", {{"model_type", "bert"}, {"hidden_size", 64}, {"num_hidden_layers", 2},
                         {"num_attention_heads", 2}, {"intermediate_size", 128}, {"hidden_dropout_prob", 0.0},
                         {"attention_probs_dropout_prob", 0.0}}},
              {"data", data}, {"batch_size", 8}, {"seq_len", 32}, {"max_steps", 1200}, {"lr", 2e-3},
              {"warmup_steps", 10}, {"eval_every", 1200}, {"eval_batches", 32}, {"seed", 1}, {"threads", 2},
              {"beta2", 0.999}, {"weight_decay", 0.01}};
  write_file_atomic(path_join(work, "cfg.json"), cfg.dump(2));
  auto a = test::run_cli({"train", "--config", path_join(work, "cfg.json"), "--out", path_join(work, "o")});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  Json val;
  std::vector<double> nsp;
  std::istringstream in(read_file(path_join(work, "o/metrics.jsonl")));
  for (std::string line; std::getline(in, line);) {
    Json j = Json::parse(line);
    if (j.contains("val_mlm_accuracy")) val = j;
    if (j.contains("nsp_loss")) nsp.push_back(j["nsp_loss"].get<double>());
  }
  ASSERT_TRUE(val.is_object()) << a.err;
  ASSERT_EQ(nsp.size(), 1200u);
  double late_nsp = std::accumulate(nsp.end() - 300, nsp.end(), 0.0) / 300;
  EXPECT_LT(val["val_mlm_loss"].get<double>(), 1.3) << val.dump();
  EXPECT_GT(val["val_mlm_accuracy"].get<double>(), 0.5) << val.dump();
  EXPECT_GT(val["val_nsp_accuracy"].get<double>(), 0.57) << val.dump();
  EXPECT_LT(late_nsp, 0.66) << "mean train NSP loss over the last 300 steps";
}

TEST(Trainer, BertNeedsSentenceLayoutData) {
  std::string data = make_data("trainer_bert_wrong_data", 40);
  std::string work = test::temp_dir("trainer_bert_wrong");
  write_file_atomic(path_join(work, "c.json"),
                    Json({{"model", {{"model_type", "bert"}, {"hidden_size", 32}, {"num_hidden_layers", 1},
                                     {"num_attention_heads", 2}, {"intermediate_size", 64}}},
                          {"data", data}, {"seq_len", 16}, {"max_steps", 2}}).dump());
  auto r = test::run_cli({"train", "--config", path_join(work, "c.json"), "--out", path_join(work, "o")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("sentence"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace lm
