// Tensor: a non-owning, contiguous, row-major view (data, Shape, DType, Device) in PyTorch dimension order.
// Memory is owned elsewhere (Buffer, Arena, mmapped files). Permutes are explicit ops, never strides.
#pragma once

#include <cstddef>

#include "lm/core/device.h"
#include "lm/core/dtype.h"
#include "lm/core/error.h"
#include "lm/core/shape.h"

namespace lm {

struct Tensor {
  void* data = nullptr;
  Shape shape;
  DType dtype = DType::F32;
  Device device = Device::CPU;

  Tensor() = default;
  Tensor(void* d, Shape s, DType t = DType::F32, Device dev = Device::CPU)
      : data(d), shape(s), dtype(t), device(dev) {}

  int64_t numel() const { return shape.numel(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  int ndim() const { return shape.ndim(); }
  int64_t dim(int i) const { return shape[i]; }
  bool defined() const { return data != nullptr; }

  template <typename T>
  T* ptr() const {
    LM_ASSERT(dtype == dtype_of<T>(), "tensor dtype {} accessed as {}", dtype_name(dtype),
              dtype_name(dtype_of<T>()));
    return static_cast<T*>(data);
  }
  float* f32() const { return ptr<float>(); }

  // Same memory, new shape with the same number of elements.
  Tensor view(Shape s) const {
    LM_CHECK(s.numel() == numel(), "cannot view {} as {}", shape.str(), s.str());
    return Tensor(data, s, dtype, device);
  }
  // Rows [begin, end) along dim 0.
  Tensor slice0(int64_t begin, int64_t end) const;
  // Element i of dim 0 (rank drops by one).
  Tensor operator[](int64_t i) const;
};

// Throws InvalidArgument naming `what` unless t has exactly this shape and dtype.
void check_tensor(const Tensor& t, const Shape& shape, DType dtype, const char* what);

}  // namespace lm
