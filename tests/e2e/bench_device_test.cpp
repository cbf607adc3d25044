// `lmcpp bench train --device cuda` never falls back to the CPU silently: until GPT training is wired to the CUDA
// kernels it fails with one error line and exit code 2 (CPU build and CUDA build alike); unknown devices too.
#include <gtest/gtest.h>

#include "harness/harness.h"

namespace lm::test {
namespace {

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(BenchCli, DeviceCudaIsAClearErrorNotAFallback) {
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

}  // namespace
}  // namespace lm::test
