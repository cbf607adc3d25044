// Helpers for the device-kernel-vs-reference op tests: host tensors backed by std::vector, bitwise
// comparison, and a scoped thread-count override.
#pragma once

#include <cstring>
#include <vector>

#include "harness/harness.h"
#include "lm/core/tensor.h"
#include "lm/core/threads.h"

namespace lm::test {

struct HostF32 {
  std::vector<float> v;
  Shape s;
  // int seed vs float fill keeps the two constructors unambiguous for literals.
  HostF32(Shape shape, int seed, float std = 1.0f)
      : v(random_vec(shape.numel(), static_cast<uint64_t>(seed), std)), s(shape) {}
  HostF32(Shape shape, float fill) : v(static_cast<size_t>(shape.numel()), fill), s(shape) {}
  Tensor t() { return Tensor(v.data(), s); }
  float* p() { return v.data(); }
  int64_t n() const { return static_cast<int64_t>(v.size()); }
};

struct HostI32 {
  std::vector<int32_t> v;
  Shape s;
  HostI32(Shape shape, std::vector<int32_t> values) : v(std::move(values)), s(shape) {}
  Tensor t() { return Tensor(v.data(), s, DType::I32); }
  int32_t* p() { return v.data(); }
};

inline bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

inline double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  return rel_error(a.data(), b.data(), static_cast<int64_t>(a.size()));
}

// Random ids in [0, n) from a fixed seed.
inline std::vector<int32_t> random_ids(int64_t count, int32_t n, uint64_t seed) {
  Rng rng(seed, 3);
  std::vector<int32_t> ids(static_cast<size_t>(count));
  for (auto& i : ids) i = static_cast<int32_t>(rng.next_below(static_cast<uint64_t>(n)));
  return ids;
}

// Sets the kernel thread count for a scope and restores the default.
struct ScopedThreads {
  explicit ScopedThreads(int n) { set_num_threads(n); }
  ~ScopedThreads() { set_num_threads(0); }
};

}  // namespace lm::test
