// Shape: up to 4 dimensions in PyTorch order (outermost first).
// Dimension glossary used across lmcpp:
//   B  batch size            T  sequence length (time)      C  channels = n_embd / hidden size
//   NH number of heads       HS head size = C / NH          V  vocabulary size (padded or not)
//   L  number of layers      OC output channels of a Linear  BT = B*T rows of a flattened activation
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "lm/core/error.h"

namespace lm {

class Shape {
 public:
  static constexpr int kMaxDims = 4;
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) {
    LM_CHECK(dims.size() <= kMaxDims, "shape has {} dims, at most {} supported", dims.size(), kMaxDims);
    for (int64_t d : dims) {
      LM_CHECK(d >= 0, "negative dimension {}", d);
      dims_[ndim_++] = d;
    }
  }
  int ndim() const { return ndim_; }
  int64_t operator[](int i) const {
    LM_ASSERT(i >= -ndim_ && i < ndim_, "dim {} of {}", i, ndim_);
    return dims_[i < 0 ? i + ndim_ : i];
  }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim_; ++i) n *= dims_[i];
    return n;
  }
  void push_back(int64_t d) {
    LM_CHECK(ndim_ < kMaxDims, "shape rank exceeds {}", kMaxDims);
    dims_[ndim_++] = d;
  }
  bool operator==(const Shape& o) const {
    if (ndim_ != o.ndim_) return false;
    for (int i = 0; i < ndim_; ++i)
      if (dims_[i] != o.dims_[i]) return false;
    return true;
  }
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < ndim_; ++i) {
      if (i) s.push_back(',');
      s.append(std::to_string(dims_[i]));
    }
    s.push_back(']');
    return s;
  }

 private:
  std::array<int64_t, kMaxDims> dims_{};
  int ndim_ = 0;
};

}  // namespace lm
