// The sgemm peak measurement and the GPU peak tables.
#include "lm/train/flops.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "lm/core/buffer.h"
#include "lm/ops/matmul.h"

namespace lm::train {

double measure_sgemm_peak() {
  const int64_t M = 2048, N = 2048, K = 1024;
  OwnedTensor a(Shape{M, K}), b(Shape{N, K}), c(Shape{M, N});
  for (int64_t i = 0; i < a.numel(); ++i) a.f32()[i] = 0.001f * static_cast<float>(i % 97);
  for (int64_t i = 0; i < b.numel(); ++i) b.f32()[i] = 0.001f * static_cast<float>(i % 89);
  std::vector<double> t;
  for (int r = 0; r < 7; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    ops::gemm(c.t, a.t, b.t, false, true);
    if (r > 1) t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  // The fastest run: the peak is what the hardware can do; slower runs measure interference from other load.
  return 2.0 * M * N * K / t[0];
}

double gpu_dense_bf16_peak_flops(std::string_view name) {
  // Checked in order: more specific names first (an "H100 PCIe" must not match the SXM "H100" entry).
  // TFLOP/s dense bf16 with fp32 accumulation; datasheets list sparse numbers at twice these.
  struct Peak {
    std::string_view pattern;
    double tflops;
  };
  static constexpr Peak kPeaks[] = {
      {"GH200", 989.4},                                              // Grace Hopper: the H100/H200 SXM die
      {"H200 NVL", 835.5},  {"H200", 989.4},                         // H200 SXM
      {"H100 NVL", 835.5},  {"H100 PCIe", 756.5}, {"H100", 989.4},  // H100 SXM5 ("H100 80GB HBM3")
      {"A100", 312.0},      {"L40S", 362.05},     {"L40", 181.05},  {"L4", 121.0},
  };
  for (const Peak& p : kPeaks)
    if (name.find(p.pattern) != std::string_view::npos) return p.tflops * 1e12;
  return 0.0;
}

double gpu_fp32_peak_flops(std::string_view name) {
  // Non-tensor-core fp32 (FMA) peak, TFLOP/s at boost clock, from the same datasheets; same matching order.
  struct Peak {
    std::string_view pattern;
    double tflops;
  };
  static constexpr Peak kPeaks[] = {
      {"GH200", 66.9},    {"H200 NVL", 60.0}, {"H200", 66.9},    {"H100 NVL", 60.0},
      {"H100 PCIe", 51.2}, {"H100", 66.9},    {"A100", 19.5},    {"L40S", 91.6},
      {"L40", 90.5},      {"L4", 30.3},
  };
  for (const Peak& p : kPeaks)
    if (name.find(p.pattern) != std::string_view::npos) return p.tflops * 1e12;
  return 0.0;
}

}  // namespace lm::train
