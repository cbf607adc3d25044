// Test helpers: shared data location (skip when absent), temp dirs, random tensors, normwise relative error,
// and running the real CLI binary.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lm/core/buffer.h"
#include "lm/core/rng.h"

namespace lm::test {

// ../shared/data next to the source tree, or $LM_SHARED_DATA; empty if absent.
std::string shared_data_dir();
std::string source_dir();
std::string binary_dir();
// Path of the built CLI.
std::string lmcpp_bin();

// Skips the current test with a message when shared data is missing (a user's clone has none).
#define LM_REQUIRE_SHARED_DATA()                                                      \
  do {                                                                                \
    if (::lm::test::shared_data_dir().empty()) GTEST_SKIP() << "../shared/data absent"; \
  } while (0)

// A fresh empty directory under the build tree, removed at process exit is not guaranteed (kept for debugging).
std::string temp_dir(const std::string& name);

void fill_normal(float* x, int64_t n, uint64_t seed, float std = 1.0f);
void fill_uniform(float* x, int64_t n, uint64_t seed, float lo, float hi);
std::vector<float> random_vec(int64_t n, uint64_t seed, float std = 1.0f);

// ||a - b|| / max(||b||, tiny)
double rel_error(const float* a, const float* b, int64_t n);
double max_abs_diff(const float* a, const float* b, int64_t n);

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};
// Runs build/lmcpp with args (each passed as one argv element), stdin from `input`.
CliResult run_cli(const std::vector<std::string>& args, const std::string& input = "");

}  // namespace lm::test
