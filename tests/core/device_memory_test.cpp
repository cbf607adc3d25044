// Host side of the device memory layer, in every build: CPU allocation/copies through the device-agnostic API,
// arena device propagation, PinnedBuffer fallback, and (CPU build, or no GPU) CUDA requests failing cleanly with
// Unsupported instead of falling back to the CPU.
#include "lm/core/device_memory.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <vector>

#include "lm/core/buffer.h"
#include "lm/core/device.h"

namespace lm {
namespace {

TEST(DeviceMemory, CpuAllocIsZeroedAndAligned) {
  void* p = device_alloc(Device::CPU, 100);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kAlign, 0u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(static_cast<unsigned char*>(p)[i], 0);
  std::memset(p, 1, 100);
  device_zero(Device::CPU, p, 50);
  EXPECT_EQ(static_cast<unsigned char*>(p)[49], 0);
  EXPECT_EQ(static_cast<unsigned char*>(p)[50], 1);
  device_free(Device::CPU, p);
  device_free(Device::CPU, nullptr);  // no-op
}

TEST(DeviceMemory, CpuCopiesAndCopyTensorChecks) {
  std::vector<float> a(12), b(12, 0.0f);
  std::iota(a.begin(), a.end(), 1.0f);
  copy_bytes(b.data(), Device::CPU, a.data(), Device::CPU, 12 * 4);
  EXPECT_EQ(a, b);
  OwnedTensor s(Shape{3, 4}), d(Shape{3, 4}), wrong_shape(Shape{4, 3}), wrong_dtype(Shape{3, 4}, DType::BF16);
  for (int i = 0; i < 12; ++i) s.f32()[i] = static_cast<float>(i) - 3.5f;
  copy_tensor(d.t, s.t);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(d.f32()[i], s.f32()[i]);
  EXPECT_THROW(copy_tensor(wrong_shape.t, s.t), Error);
  EXPECT_THROW(copy_tensor(wrong_dtype.t, s.t), Error);
  device_synchronize(Device::CPU);  // no-op
}

TEST(DeviceMemory, BufferAndArenaCarryTheirDevice) {
  Buffer b(64);
  EXPECT_EQ(b.device(), Device::CPU);
  Buffer moved(std::move(b));
  EXPECT_EQ(moved.device(), Device::CPU);
  EXPECT_EQ(b.data(), nullptr);
  Arena a("cpu");
  size_t s = a.reserve(Shape{5});
  a.allocate();
  EXPECT_EQ(a.device(), Device::CPU);
  EXPECT_EQ(a.tensor(s).device, Device::CPU);
  EXPECT_EQ(a.flat_f32().device, Device::CPU);
}

TEST(DeviceMemory, PinnedBufferWorksWithoutAGpu) {
  PinnedBuffer p(1000);
  ASSERT_NE(p.data(), nullptr);
  EXPECT_EQ(p.size(), 1000u);
  if (cuda_device_count() == 0) {
    EXPECT_FALSE(p.pinned());  // plain host memory fallback
  }
  static_cast<char*>(p.data())[999] = 3;
  PinnedBuffer q = std::move(p);
  EXPECT_EQ(static_cast<char*>(q.data())[999], 3);
  EXPECT_EQ(p.data(), nullptr);
}

TEST(DeviceMemory, CudaRequestsFailCleanlyWithoutBackendOrDevice) {
  if (cuda_compiled() && cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  if (!cuda_compiled()) {
    EXPECT_EQ(cuda_device_count(), 0);
  }
  try {
    Buffer b(16, Device::CUDA);
    FAIL() << "expected Unsupported";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported) << e.what();
  }
  std::vector<char> h(16);
  if (!cuda_compiled()) {
    EXPECT_THROW(copy_bytes(h.data(), Device::CPU, h.data() + 8, Device::CUDA, 8), Error);
    EXPECT_THROW(device_synchronize(Device::CUDA), Error);
  }
}

}  // namespace
}  // namespace lm
