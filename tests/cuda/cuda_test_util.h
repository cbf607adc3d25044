// Helpers of the CUDA tests: skip without a device, device arrays uploaded from double host vectors as f32 or bf16,
// rounding of host inputs to the device dtype (so references see exactly the device's inputs), normwise error.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "harness/harness.h"
#include "lm/core/buffer.h"
#include "lm/core/device_memory.h"
#include "lm/core/dtype.h"

namespace lm::test {

#define LM_REQUIRE_CUDA()                                                                         \
  do {                                                                                            \
    if (::lm::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device (cudaGetDeviceCount is 0)"; \
  } while (0)

inline double round_to(double x, DType dt) {
  const float f = static_cast<float>(x);
  return dt == DType::BF16 ? static_cast<double>(bf16_to_f32(f32_to_bf16(f))) : static_cast<double>(f);
}
inline std::vector<double> round_to(const std::vector<double>& x, DType dt) {
  std::vector<double> r(x.size());
  for (size_t i = 0; i < x.size(); ++i) r[i] = round_to(x[i], dt);
  return r;
}
inline std::vector<double> randn(int64_t n, uint64_t seed, double std = 1.0) {
  std::vector<float> f = random_vec(n, seed, static_cast<float>(std));
  return std::vector<double>(f.begin(), f.end());
}

// A device array of dtype f32 or bf16 holding the values of a host vector (rounded to the dtype).
class DevArray {
 public:
  DevArray(const std::vector<double>& host, DType dt) : dt_(dt), n_(static_cast<int64_t>(host.size())) {
    buf_ = Buffer(bytes() ? bytes() : 4, Device::CUDA);
    set(host);
  }
  DevArray(int64_t n, DType dt) : DevArray(std::vector<double>(static_cast<size_t>(n), 0.0), dt) {}
  void set(const std::vector<double>& host) {
    std::vector<char> raw(bytes());
    for (int64_t i = 0; i < n_; ++i) {
      const float f = static_cast<float>(host[static_cast<size_t>(i)]);
      if (dt_ == DType::BF16) {
        const uint16_t h = f32_to_bf16(f);
        std::memcpy(raw.data() + 2 * i, &h, 2);
      } else {
        std::memcpy(raw.data() + 4 * i, &f, 4);
      }
    }
    copy_bytes(buf_.data(), Device::CUDA, raw.data(), Device::CPU, bytes());
  }
  std::vector<double> get() const {
    std::vector<char> raw(bytes());
    copy_bytes(raw.data(), Device::CPU, buf_.data(), Device::CUDA, bytes());
    std::vector<double> out(static_cast<size_t>(n_));
    for (int64_t i = 0; i < n_; ++i) {
      if (dt_ == DType::BF16) {
        uint16_t h;
        std::memcpy(&h, raw.data() + 2 * i, 2);
        out[static_cast<size_t>(i)] = bf16_to_f32(h);
      } else {
        float f;
        std::memcpy(&f, raw.data() + 4 * i, 4);
        out[static_cast<size_t>(i)] = f;
      }
    }
    return out;
  }
  void* p() const { return buf_.data(); }
  float* f32() const { return static_cast<float*>(buf_.data()); }
  DType dtype() const { return dt_; }

 private:
  size_t bytes() const { return static_cast<size_t>(n_) * dtype_size(dt_); }
  DType dt_;
  int64_t n_;
  Buffer buf_;
};

// An i32 device array.
class DevInts {
 public:
  explicit DevInts(const std::vector<int32_t>& host)
      : buf_(host.empty() ? 4 : host.size() * 4, Device::CUDA) {
    copy_bytes(buf_.data(), Device::CUDA, host.data(), Device::CPU, host.size() * 4);
  }
  const int32_t* p() const { return static_cast<const int32_t*>(buf_.data()); }

 private:
  Buffer buf_;
};

// ||a - b|| / max(||b||, tiny)
inline double rel_err(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

// Tolerances: f32 kernels must match the double reference to fp32 rounding; bf16 outputs (fp32 accumulation,
// bf16 storage) to the bounds of the issue: 3e-3 normwise for forward outputs, 1e-2 for gradients.
inline double fwd_tol(DType dt) { return dt == DType::BF16 ? 3e-3 : 1e-5; }
inline double grad_tol(DType dt) { return dt == DType::BF16 ? 1e-2 : 1e-5; }

// Each test file derives its own fixture from this (one INSTANTIATE per fixture).
class CudaDType : public ::testing::TestWithParam<DType> {};

inline std::string dtype_param_name(const ::testing::TestParamInfo<DType>& info) {
  return std::string(dtype_name(info.param));
}

}  // namespace lm::test
