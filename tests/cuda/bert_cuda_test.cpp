// BERT on the GPU (f32): for each head — pre-training (dense and sparse masked-LM + NSP), sequence classification
// and span QA — the same model on Device::CUDA, fed the same host batch, gives the CPU model's loss (1e-5
// relative) and gradients (1e-4 normwise), with dropout on (the device draws the CPU's Philox masks); init and
// save stage through the host bitwise.
#include <gtest/gtest.h>

#include <cmath>

#include "cuda/cuda_test_util.h"
#include "lm/core/file_util.h"
#include "lm/models/bert/bert.h"
#include "e2e/finetune_test_util.h"
#include "train/train_test_util.h"

namespace lm::test {
namespace {

models::BertConfig tiny_bert(const char* arch) {
  Json j = {{"model_type", "bert"},          {"architectures", {arch}},       {"vocab_size", 41},
            {"hidden_size", 16},             {"num_hidden_layers", 2},        {"num_attention_heads", 2},
            {"intermediate_size", 32},       {"max_position_embeddings", 16}, {"hidden_dropout_prob", 0.1},
            {"attention_probs_dropout_prob", 0.1}};
  return models::BertConfig::from_hf(j);
}

std::vector<float> host_copy(const Tensor& t) {
  std::vector<float> h(static_cast<size_t>(t.numel()));
  copy_bytes(h.data(), Device::CPU, t.data, t.device, t.nbytes());
  return h;
}

// A host batch of B sequences of length T for the head, with padding in the last sequence.
struct HostBatch {
  OwnedTensor ids, types, mask, labels, nsl, start, end;
  models::BertBatch batch;
  HostBatch(const models::BertConfig& c, int64_t B, int64_t T)
      : ids(Shape{B, T}, DType::I32), types(Shape{B, T}, DType::I32), mask(Shape{B, T}, DType::I32),
        labels(c.head == models::BertHead::SequenceClassification ? Shape{B} : Shape{B, T}, DType::I32),
        nsl(Shape{B}, DType::I32), start(Shape{B}, DType::I32), end(Shape{B}, DType::I32) {
    for (int64_t i = 0; i < B * T; ++i) {
      ids.t.ptr<int32_t>()[i] = static_cast<int32_t>((i * 7 + 3) % c.vocab_size);
      types.t.ptr<int32_t>()[i] = (i % T) >= T / 2 ? 1 : 0;
      mask.t.ptr<int32_t>()[i] = (i / T == B - 1 && i % T >= T - 2) ? 0 : 1;
    }
    for (int64_t i = 0; i < labels.numel(); ++i)
      labels.t.ptr<int32_t>()[i] = c.head == models::BertHead::SequenceClassification
                                       ? static_cast<int32_t>(i % c.num_labels)
                                       : (i % 4 == 1 ? static_cast<int32_t>((i * 5) % c.vocab_size) : -100);
    for (int64_t b = 0; b < B; ++b) {
      nsl.t.ptr<int32_t>()[b] = static_cast<int32_t>(b % 2);
      start.t.ptr<int32_t>()[b] = static_cast<int32_t>(b + 1);
      end.t.ptr<int32_t>()[b] = b == 0 ? static_cast<int32_t>(T + 5) : static_cast<int32_t>(b + 3);  // clamped
    }
    batch.input_ids = ids.t;
    batch.token_type_ids = types.t;
    batch.attention_mask = mask.t;
    switch (c.head) {
      case models::BertHead::PreTraining:
        batch.labels = labels.t;
        batch.next_sentence_label = nsl.t;
        break;
      case models::BertHead::SequenceClassification:
        batch.labels = labels.t;
        break;
      case models::BertHead::QuestionAnswering:
        batch.start_positions = start.t;
        batch.end_positions = end.t;
        break;
      default:
        break;
    }
  }
};

struct Case {
  const char* arch;
  bool sparse;
};

class BertCuda : public ::testing::TestWithParam<Case> {};

TEST_P(BertCuda, ForwardBackwardMatchCpu) {
  LM_REQUIRE_CUDA();
  const models::BertConfig cfg = tiny_bert(GetParam().arch);
  models::Bert cpu(cfg), gpu(cfg, Device::CUDA);
  cpu.init_weights(3);
  gpu.init_weights(3);
  ASSERT_EQ(host_copy(gpu.flat_params()), host_copy(cpu.flat_params()));
  cpu.set_sparse_mlm(GetParam().sparse);
  gpu.set_sparse_mlm(GetParam().sparse);
  HostBatch hb(cfg, 3, 9);
  for (int step = 0; step < 2; ++step) {
    cpu.zero_grad();
    gpu.zero_grad();
    const float lc = cpu.forward(hb.batch, true, 17 + static_cast<uint64_t>(step));
    const float lg = gpu.forward(hb.batch, true, 17 + static_cast<uint64_t>(step));
    ASSERT_TRUE(std::isfinite(lc));
    EXPECT_NEAR(lg, lc, 1e-5 * std::abs(lc)) << "step " << step;
    EXPECT_EQ(gpu.last_num_targets(), cpu.last_num_targets());
    cpu.backward();
    gpu.backward();
    const std::vector<float> gg = host_copy(gpu.flat_grads()), gc = host_copy(cpu.flat_grads());
    EXPECT_LE(rel_error(gg.data(), gc.data(), static_cast<int64_t>(gc.size())), 1e-4) << "step " << step;
  }
}

INSTANTIATE_TEST_SUITE_P(Heads, BertCuda,
                         ::testing::Values(Case{"BertForPreTraining", false}, Case{"BertForPreTraining", true},
                                           Case{"BertForSequenceClassification", false},
                                           Case{"BertForQuestionAnswering", false}),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return std::string(i.param.arch + 7) + (i.param.sparse ? "Sparse" : "");
                         });

TEST(BertCudaIo, SaveStagesThroughTheHostAndHostBatchesOnly) {
  LM_REQUIRE_CUDA();
  const models::BertConfig cfg = tiny_bert("BertForSequenceClassification");
  models::Bert cpu(cfg), gpu(cfg, Device::CUDA);
  cpu.init_weights(5);
  gpu.init_weights(5);
  const std::string dir = temp_dir("bert_cuda_io");
  cpu.save_hf(path_join(dir, "cpu"));
  gpu.save_hf(path_join(dir, "gpu"));
  EXPECT_EQ(read_file(path_join(dir, "gpu/model.safetensors")), read_file(path_join(dir, "cpu/model.safetensors")));
  models::Bert back(cfg, Device::CUDA);
  back.load_safetensors(path_join(dir, "cpu/model.safetensors"));
  EXPECT_EQ(host_copy(back.flat_params()), host_copy(cpu.flat_params()));
  EXPECT_THROW(gpu.set_inference_dtype(DType::BF16), Error);  // the bf16 inference weights are a CPU option
}

// BERT pre-training through the trainer with "device": "cuda": the 8 step losses follow the CPU run's, and the
// evaluations report MLM and NSP accuracies read back from the device.
TEST(BertCudaTrainer, PretrainingFollowsTheCpu) {
  LM_REQUIRE_CUDA();
  std::string data = make_bert_data("cuda_bert_trainer_data");
  std::string work = temp_dir("cuda_bert_trainer");
  Json cfg = {{"model", {{"model_type", "bert"}, {"hidden_size", 32}, {"num_hidden_layers", 2},
                         {"num_attention_heads", 2}, {"intermediate_size", 64}}},
              {"data", data},      {"batch_size", 4}, {"seq_len", 32}, {"grad_accum", 2}, {"max_steps", 8},
              {"lr", 3e-3},        {"warmup_steps", 2}, {"eval_every", 4}, {"eval_batches", 2}, {"seed", 3},
              {"threads", 2}};
  write_file_atomic(path_join(work, "cfg.json"), cfg.dump(2));
  auto cpu = run_cli({"train", "--config", path_join(work, "cfg.json"), "--out", path_join(work, "cpu")});
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  auto gpu = run_cli({"train", "--config", path_join(work, "cfg.json"), "--set", "device=cuda", "--out",
                      path_join(work, "gpu")});
  ASSERT_EQ(gpu.exit_code, 0) << gpu.err;
  auto lc = train_losses(path_join(work, "cpu")), lg = train_losses(path_join(work, "gpu"));
  ASSERT_EQ(lc.size(), 8u);
  ASSERT_EQ(lg.size(), 8u);
  for (size_t i = 0; i < lc.size(); ++i) EXPECT_NEAR(lg[i].second, lc[i].second, 1e-3) << "step " << lc[i].first;
  EXPECT_NE(read_file(path_join(work, "gpu/metrics.jsonl")).find("val_mlm_accuracy"), std::string::npos);
}

// `finetune --task TASK` of the keyword data on the CPU and on the GPU (same flags, OUT = dir/cpu, dir/cuda):
// both must succeed; returns their result.json.
std::pair<Json, Json> finetune_on_cpu_and_gpu(const std::string& task, const std::string& base,
                                              const std::string& train, const std::string& val,
                                              const std::string& dir) {
  Json res[2];
  const char* devices[] = {"cpu", "cuda"};
  for (int i = 0; i < 2; ++i) {
    auto r = run_cli({"finetune", "--task", task, "--model", base, "--train", train, "--val", val, "--out",
                      path_join(dir, devices[i]), "--epochs", "2", "--batch-size", "16", "--lr", "1e-3",
                      "--max-length", "16", "--device", devices[i]});
    EXPECT_EQ(r.exit_code, 0) << devices[i] << ": " << r.err;
    res[i] = r.exit_code == 0 ? read_json_file(path_join(dir, std::string(devices[i]) + "/result.json")) : Json();
  }
  return {res[0], res[1]};
}

// A --json command on the CPU and with --device cuda appended: both must succeed; returns their parsed stdout.
std::pair<Json, Json> json_on_cpu_and_gpu(std::vector<std::string> args) {
  auto c = run_cli(args);
  args.insert(args.end(), {"--device", "cuda"});
  auto g = run_cli(args);
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(g.exit_code, 0) << g.err;
  if (c.exit_code != 0 || g.exit_code != 0) return {Json(), Json()};
  return {Json::parse(c.out), Json::parse(g.out)};
}

// `finetune --task classify --device cuda`: the same run as on the CPU (a keyword task: label 1 iff "good" occurs),
// with the best epoch's validation loss within 1e-3 and the model written the same way.
TEST(BertCudaFinetune, ClassifyOnTheGpuFollowsTheCpu) {
  LM_REQUIRE_CUDA();
  const std::string dir = temp_dir("cuda_ft");
  const std::string base = bert_base_dir();
  const std::string train = keyword_sst(path_join(dir, "train.txt"), 64, 1);
  const std::string val = keyword_sst(path_join(dir, "dev.txt"), 32, 2);
  auto [rc, rg] = finetune_on_cpu_and_gpu("classify", base, train, val, dir);
  ASSERT_FALSE(rc.is_null() || rg.is_null());
  EXPECT_NEAR(rg["val_loss"].get<double>(), rc["val_loss"].get<double>(), 1e-3);
  EXPECT_EQ(rg["best_epoch"], rc["best_epoch"]);
  EXPECT_TRUE(file_exists(path_join(dir, "cuda/model.safetensors")));
  // evaluate --device cuda on the CPU-trained classifier: the CPU's accuracy and loss.
  auto [jc, jg] = json_on_cpu_and_gpu({"evaluate", "--model", path_join(dir, "cpu"), "--task", "classify", "--data",
                                       val, "--json"});
  ASSERT_FALSE(jc.is_null());
  EXPECT_EQ(jg["accuracy"], jc["accuracy"]);
  EXPECT_NEAR(jg["loss"].get<double>(), jc["loss"].get<double>(), 1e-5);
  // predict --device cuda: the CPU's label and probabilities.
  auto [qc, qg] = json_on_cpu_and_gpu({"predict", "--model", path_join(dir, "cpu"), "--text", "w1 good w3", "--json"});
  ASSERT_FALSE(qc.is_null());
  EXPECT_EQ(qg["label"], qc["label"]);
  for (auto& [k, v] : qc["probabilities"].items())
    EXPECT_NEAR(qg["probabilities"][k].get<double>(), v.get<double>(), 1e-5) << k;
}

// `finetune --task qa --device cuda` (BERT span head): the same run as on the CPU, per-epoch validation F1 within
// 1 point (spans are argmaxes over logits that agree to ~1e-5) and the same best epoch; evaluate --task qa
// --device cuda on the CPU-trained model gives the CPU's exact match and F1.
TEST(BertCudaFinetune, SpanQaOnTheGpuFollowsTheCpu) {
  LM_REQUIRE_CUDA();
  const std::string dir = temp_dir("cuda_ft_qa");
  const std::string base = bert_base_dir();
  const std::string train = keyword_qa_jsonl(path_join(dir, "train.jsonl"), 64, 1);
  const std::string val = keyword_qa_jsonl(path_join(dir, "val.jsonl"), 32, 2);
  auto [rc, rg] = finetune_on_cpu_and_gpu("qa", base, train, val, dir);
  ASSERT_FALSE(rc.is_null() || rg.is_null());
  ASSERT_EQ(rg["epoch_val_f1"].size(), rc["epoch_val_f1"].size());
  for (size_t e = 0; e < rc["epoch_val_f1"].size(); ++e)
    EXPECT_NEAR(rg["epoch_val_f1"][e].get<double>(), rc["epoch_val_f1"][e].get<double>(), 1.0) << "epoch " << e;
  EXPECT_EQ(rg["best_epoch"], rc["best_epoch"]);
  auto [jc, jg] = json_on_cpu_and_gpu({"evaluate", "--model", path_join(dir, "cpu"), "--task", "qa", "--data", val,
                                       "--json", "--max-length", "16"});
  ASSERT_FALSE(jc.is_null());
  EXPECT_EQ(jg["exact_match"], jc["exact_match"]);
  EXPECT_EQ(jg["f1"], jc["f1"]);
  // predict --device cuda on one question: the CPU's span and score.
  auto [qc, qg] = json_on_cpu_and_gpu({"predict", "--model", path_join(dir, "cpu"), "--text", "w9", "--text-pair",
                                       "w1 w2 good w3", "--json"});
  ASSERT_FALSE(qc.is_null());
  EXPECT_EQ(qg["start"], qc["start"]);
  EXPECT_EQ(qg["end"], qc["end"]);
  EXPECT_NEAR(qg["score"].get<double>(), qc["score"].get<double>(), 1e-4);
}

}  // namespace
}  // namespace lm::test
