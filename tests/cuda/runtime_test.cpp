// CUDA runtime glue: device buffers and transfers (round trips through Buffer, Arena, PinnedBuffer with the async
// copy), and CUDA errors surfacing as lm::Error with a code and a file:line. Skips without a device.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <thread>

#include "cuda/cuda_test_util.h"
#include "lm/core/buffer.h"
#include "lm/core/cuda/runtime.h"
#include "lm/core/device_memory.h"

namespace lm::test {
namespace {

TEST(CudaRuntime, BufferRoundTripAndZeroFill) {
  LM_REQUIRE_CUDA();
  Buffer d(1000, Device::CUDA);
  EXPECT_EQ(d.device(), Device::CUDA);
  std::vector<uint8_t> host(1000, 7);
  copy_bytes(host.data(), Device::CPU, d.data(), Device::CUDA, 1000);
  for (uint8_t v : host) ASSERT_EQ(v, 0);  // device allocations start zeroed, as CPU ones
  std::iota(host.begin(), host.end(), uint8_t{0});
  copy_bytes(d.data(), Device::CUDA, host.data(), Device::CPU, 1000);
  Buffer d2(1000, Device::CUDA);
  copy_bytes(d2.data(), Device::CUDA, d.data(), Device::CUDA, 1000);
  std::vector<uint8_t> back(1000);
  copy_bytes(back.data(), Device::CPU, d2.data(), Device::CUDA, 1000);
  EXPECT_EQ(back, host);
}

TEST(CudaRuntime, ArenaTensorsLiveOnTheDevice) {
  LM_REQUIRE_CUDA();
  Arena a("dev", Device::CUDA);
  size_t s0 = a.reserve(Shape{3, 5}), s1 = a.reserve(Shape{7}, DType::BF16);
  a.allocate();
  EXPECT_EQ(a.tensor(s0).device, Device::CUDA);
  EXPECT_EQ(a.tensor(s1).device, Device::CUDA);
  EXPECT_EQ(a.flat_f32().device, Device::CUDA);
  OwnedTensor h(Shape{3, 5});
  for (int i = 0; i < 15; ++i) h.f32()[i] = static_cast<float>(i) * 0.5f;
  copy_tensor(a.tensor(s0), h.t);
  OwnedTensor back(Shape{3, 5});
  copy_tensor(back.t, a.tensor(s0));
  for (int i = 0; i < 15; ++i) EXPECT_EQ(back.f32()[i], h.f32()[i]);
}

TEST(CudaRuntime, PinnedStagingAsyncCopy) {
  LM_REQUIRE_CUDA();
  PinnedBuffer pin(4096);
  EXPECT_TRUE(pin.pinned());
  auto* p = static_cast<int32_t*>(pin.data());
  for (int i = 0; i < 1024; ++i) p[i] = i * 3;
  Buffer d(4096, Device::CUDA);
  copy_to_device_async(d.data(), pin.data(), 4096);
  device_synchronize(Device::CUDA);
  std::vector<int32_t> back(1024);
  copy_bytes(back.data(), Device::CPU, d.data(), Device::CUDA, 4096);
  for (int i = 0; i < 1024; ++i) ASSERT_EQ(back[static_cast<size_t>(i)], i * 3);
}

TEST(CudaRuntime, ErrorsBecomeLmErrorsWithLocation) {
  LM_REQUIRE_CUDA();
  // An absurd allocation is OutOfMemory, not a crash.
  try {
    Buffer huge(size_t(1) << 50, Device::CUDA);
    FAIL() << "expected OutOfMemory";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::OutOfMemory);
  }
  // A failing runtime call names the expression and file:line.
  try {
    LM_CUDA_CHECK(cudaSetDevice(1 << 20));  // cudaErrorInvalidDevice
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("runtime_test.cpp:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cudaSetDevice"), std::string::npos) << e.what();
    EXPECT_EQ(e.code(), ErrorCode::Internal);
  }
  // The runtime is still usable afterwards.
  Buffer ok(16, Device::CUDA);
  device_synchronize(Device::CUDA);
}

TEST(CudaRuntime, ThreadLocalStreamsAndHandles) {
  LM_REQUIRE_CUDA();
  cudaStream_t main_stream = cuda::stream();
  cublasLtHandle_t main_lt = cuda::cublaslt();
  EXPECT_EQ(cuda::stream(), main_stream);
  cudaStream_t other = nullptr;
  cublasLtHandle_t other_lt = nullptr;
  std::thread([&] {
    other = cuda::stream();
    other_lt = cuda::cublaslt();
  }).join();
  EXPECT_NE(other, main_stream);
  EXPECT_NE(other_lt, main_lt);
}

}  // namespace
}  // namespace lm::test
