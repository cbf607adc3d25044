// The GPU peak table behind `bench train --device cuda` MFU: known names map to their dense bf16 peak, more
// specific names win over their prefixes, unknown devices give 0 (callers then warn instead of printing an MFU).
#include "lm/train/flops.h"

#include <gtest/gtest.h>

namespace lm::train {
namespace {

TEST(GpuPeak, KnownDevices) {
  EXPECT_DOUBLE_EQ(gpu_dense_bf16_peak_flops("NVIDIA H200"), 989.4e12);
  EXPECT_DOUBLE_EQ(gpu_dense_bf16_peak_flops("NVIDIA H100 80GB HBM3"), 989.4e12);
  EXPECT_DOUBLE_EQ(gpu_dense_bf16_peak_flops("NVIDIA H100 PCIe"), 756.5e12);
  EXPECT_DOUBLE_EQ(gpu_dense_bf16_peak_flops("NVIDIA H200 NVL"), 835.5e12);
  EXPECT_DOUBLE_EQ(gpu_dense_bf16_peak_flops("NVIDIA A100-SXM4-80GB"), 312e12);
  EXPECT_DOUBLE_EQ(gpu_dense_bf16_peak_flops("NVIDIA L40S"), 362.05e12);
  EXPECT_DOUBLE_EQ(gpu_dense_bf16_peak_flops("NVIDIA L40"), 181.05e12);
  EXPECT_DOUBLE_EQ(gpu_dense_bf16_peak_flops("NVIDIA L4"), 121e12);
}

TEST(GpuPeak, UnknownDevicesAreZero) {
  EXPECT_EQ(gpu_dense_bf16_peak_flops(""), 0.0);
  EXPECT_EQ(gpu_dense_bf16_peak_flops("NVIDIA GeForce RTX 3060"), 0.0);
  EXPECT_EQ(gpu_dense_bf16_peak_flops("Tesla V100-SXM2-16GB"), 0.0);
}

// The fp32 (CUDA core) table behind the f32 training mode's MFU: same matching rules, its own values.
TEST(GpuPeak, Fp32TableMatchesMostSpecificNameFirst) {
  EXPECT_DOUBLE_EQ(gpu_fp32_peak_flops("NVIDIA H200"), 66.9e12);
  EXPECT_DOUBLE_EQ(gpu_fp32_peak_flops("NVIDIA H100 PCIe"), 51.2e12);
  EXPECT_DOUBLE_EQ(gpu_fp32_peak_flops("NVIDIA H200 NVL"), 60.0e12);
  EXPECT_DOUBLE_EQ(gpu_fp32_peak_flops("NVIDIA A100-SXM4-80GB"), 19.5e12);
  EXPECT_DOUBLE_EQ(gpu_fp32_peak_flops("NVIDIA L40"), 90.5e12);
  EXPECT_EQ(gpu_fp32_peak_flops("NVIDIA GeForce RTX 3060"), 0.0);
  // Every GPU with a bf16 entry has an fp32 entry below it (tensor cores are the faster path).
  for (const char* n : {"NVIDIA H200", "NVIDIA H100 80GB HBM3", "NVIDIA H100 NVL", "NVIDIA GH200 480GB", "NVIDIA L4"})
    EXPECT_LT(gpu_fp32_peak_flops(n), gpu_dense_bf16_peak_flops(n)) << n;
}

}  // namespace
}  // namespace lm::train
