// CLI end to end on `lmcpp bench`: bench train --profile prints one line per op class (stderr) and still one JSON
// line (stdout); bench classify --json reports sequences/s and tokens/s; both report the load other processes put on
// the machine. Tiny shapes only: no timing is checked.
#include <gtest/gtest.h>

#include "harness/harness.h"
#include "lm/core/json.h"
#include "lm/ops/linear_int8.h"

namespace lm {
namespace {

TEST(BenchCli, TrainProfilePrintsOpClasses) {
  auto r = test::run_cli({"bench", "train", "--shape", "tiny", "--steps", "1", "--warmup", "0", "--threads", "1",
                          "--profile", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out);
  EXPECT_GT(j["tokens_per_s"].get<double>(), 0.0);
  // The load other processes put on the machine during the run (cores; null only where /proc/stat is missing).
  ASSERT_TRUE(j.contains("other_cpu_cores"));
  if (!j["other_cpu_cores"].is_null()) EXPECT_GE(j["other_cpu_cores"].get<double>(), 0.0);
  for (const char* op : {"matmul fwd", "matmul bwd", "attention fwd", "attention bwd", "layernorm", "gelu",
                         "lm head+xent", "adamw", "other", "step"})
    EXPECT_NE(r.err.find(op), std::string::npos) << op << " missing from:\n" << r.err;
}

TEST(BenchCli, BertJson) {
  auto r = test::run_cli({"bench", "classify", "--shape", "bert-tiny", "--batch", "2", "--seq", "16", "--steps", "1",
                          "--warmup", "0", "--threads", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["bench"], "classify");
  EXPECT_GT(j["sequences_per_s"].get<double>(), 0.0);
  EXPECT_NEAR(j["tokens_per_s"].get<double>(), 16 * j["sequences_per_s"].get<double>(),
              1e-3 * j["tokens_per_s"].get<double>());
  EXPECT_EQ(j["weights"], "f32");
  EXPECT_TRUE(j.contains("other_cpu_cores"));
  if (ops::linear_int8_available()) {
    r = test::run_cli({"bench", "classify", "--shape", "bert-tiny", "--batch", "2", "--seq", "16", "--steps", "1",
                       "--warmup", "0", "--threads", "1", "--json", "--weights", "int8"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(Json::parse(r.out)["weights"], "int8");
  }
  r = test::run_cli({"bench", "classify", "--shape", "bert-tiny", "--weights", "int4"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--weights must be f32, bf16 or int8, got 'int4'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace lm
