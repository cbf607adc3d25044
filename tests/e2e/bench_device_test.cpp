// `lmcpp bench train --device cuda` and `train` with "device": "cuda" never fall back to the CPU silently: without
// the CUDA backend (CPU build) or without a visible GPU (CUDA build on a machine without one) they fail with one
// error line and exit code 2; unknown devices too. (On a GPU, tests/cuda runs them for real.)
#include <gtest/gtest.h>

#include "e2e/finetune_test_util.h"
#include "harness/harness.h"
#include "lm/core/device_memory.h"
#include "lm/core/file_util.h"

namespace lm::test {
namespace {

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(BenchCli, DeviceCudaIsAClearErrorNotAFallback) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a GPU is present: tests/cuda runs bench train --device cuda";
  auto r = run_cli({"bench", "train", "--shape", "tiny", "--device", "cuda", "--steps", "1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_EQ(r.err.rfind("lmcpp: error: bench train --device cuda:", 0), 0u) << r.err;
}

TEST(BenchCli, UnknownDeviceIsAUsageError) {
  auto r = run_cli({"bench", "train", "--shape", "tiny", "--device", "tpu"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--device tpu"), std::string::npos) << r.err;
}

TEST(TrainCli, DeviceCudaWithoutBackendOrGpuIsAClearError) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a GPU is present: tests/cuda trains on it";
  std::string work = temp_dir("train_device_cuda");
  write_file_atomic(path_join(work, "c.json"), R"({"model": {"n_layer": 1}, "data": "/nonexistent", "device": "cuda"})");
  auto r = run_cli({"train", "--config", path_join(work, "c.json"), "--out", path_join(work, "o")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("\"device\": \"cuda\""), std::string::npos) << r.err;
  EXPECT_FALSE(is_directory(path_join(work, "o")));  // nothing written
  auto bad = run_cli({"train", "--config", path_join(work, "c.json"), "--set", "device=gpu0", "--out",
                      path_join(work, "o")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("\"device\" must be \"cpu\" or \"cuda\""), std::string::npos) << bad.err;
  // Mixed precision is GPU-only: bf16 with the CPU is a usage error before anything runs.
  auto bf = run_cli({"train", "--config", path_join(work, "c.json"), "--set", "device=cpu", "--set", "dtype=bf16",
                     "--out", path_join(work, "o")});
  EXPECT_EQ(bf.exit_code, 2);
  EXPECT_NE(bf.err.find("\"dtype\": \"bf16\" (mixed precision) needs \"device\": \"cuda\""), std::string::npos)
      << bf.err;
  EXPECT_FALSE(is_directory(path_join(work, "o")));
}

TEST(GenerateCli, DeviceCudaWithoutBackendOrGpuIsAClearError) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a GPU is present: tests/cuda generates on it";
  auto r = run_cli({"generate", "--model", "/nonexistent", "--ids", "1,2", "--device", "cuda"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_EQ(r.err.rfind("lmcpp: error: generate --device cuda:", 0), 0u) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(FinetuneCli, DeviceCudaWithoutBackendOrGpuIsAClearError) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a GPU is present: tests/cuda fine-tunes on it";
  auto r = run_cli({"finetune", "--task", "classify", "--model", "/nonexistent", "--train", "/nonexistent/t.txt",
                    "--val", "/nonexistent/v.txt", "--out", temp_dir("ft_dev") + "/o", "--device", "cuda"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_EQ(r.err.rfind("lmcpp: error: finetune --device cuda:", 0), 0u) << r.err;
}

TEST(FinetuneCli, SpanQaDeviceCudaWithoutBackendOrGpuIsAClearError) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a GPU is present: tests/cuda fine-tunes on it";
  const std::string dir = temp_dir("ft_qa_dev");
  const std::string base = bert_base_dir(), data = keyword_qa_jsonl(path_join(dir, "qa.jsonl"), 4, 1);
  auto r = run_cli({"finetune", "--task", "qa", "--model", base, "--train", data, "--val", data, "--out",
                    path_join(dir, "o"), "--device", "cuda"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_EQ(r.err.rfind("lmcpp: error: finetune --device cuda:", 0), 0u) << r.err;
  EXPECT_FALSE(file_exists(path_join(dir, "o"))) << "nothing written";
  auto e = run_cli({"evaluate", "--model", base, "--task", "qa", "--data", data, "--device", "cuda"});
  EXPECT_EQ(e.exit_code, 2);
  EXPECT_EQ(count_lines(e.err), 1) << e.err;
  EXPECT_EQ(e.err.rfind("lmcpp: error: evaluate --device cuda:", 0), 0u) << e.err;
}

TEST(PredictCli, DeviceCudaWithoutBackendOrGpuIsAClearError) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a GPU is present: tests/cuda predicts on it";
  auto r = run_cli({"predict", "--model", bert_base_dir(), "--text", "w1 good", "--device", "cuda"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_EQ(r.err.rfind("lmcpp: error: predict --device cuda:", 0), 0u) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(EvaluateCli, DeviceCudaWithoutBackendOrGpuIsAClearError) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a GPU is present: tests/cuda evaluates on it";
  auto r = run_cli({"evaluate", "--model", "/nonexistent", "--task", "classify", "--data", "/nonexistent/v.txt",
                    "--device", "cuda"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_EQ(r.err.rfind("lmcpp: error: evaluate --device cuda:", 0), 0u) << r.err;
}

}  // namespace
}  // namespace lm::test
