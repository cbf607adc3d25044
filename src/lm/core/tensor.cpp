// Tensor views: slicing along the outer dimension and shape checks.
#include "lm/core/tensor.h"

namespace lm {

Tensor Tensor::slice0(int64_t begin, int64_t end) const {
  LM_CHECK(ndim() >= 1 && begin >= 0 && begin <= end && end <= dim(0), "slice [{}, {}) out of range for {}",
           begin, end, shape.str());
  Shape s;
  s.push_back(end - begin);
  for (int i = 1; i < ndim(); ++i) s.push_back(dim(i));
  size_t row = dtype_size(dtype);
  for (int i = 1; i < ndim(); ++i) row *= static_cast<size_t>(dim(i));
  return Tensor(static_cast<char*>(data) + row * static_cast<size_t>(begin), s, dtype, device);
}

Tensor Tensor::operator[](int64_t i) const {
  LM_CHECK(ndim() >= 1 && i >= 0 && i < dim(0), "index {} out of range for {}", i, shape.str());
  Shape s;
  for (int d = 1; d < ndim(); ++d) s.push_back(dim(d));
  size_t row = dtype_size(dtype) * static_cast<size_t>(s.numel());
  return Tensor(static_cast<char*>(data) + row * static_cast<size_t>(i), s, dtype, device);
}

void check_tensor(const Tensor& t, const Shape& shape, DType dtype, const char* what) {
  LM_CHECK(t.shape == shape, "{}: expected shape {}, got {}", what, shape.str(), t.shape.str());
  LM_CHECK(t.dtype == dtype, "{}: expected dtype {}, got {}", what, dtype_name(dtype), dtype_name(t.dtype));
}

}  // namespace lm
