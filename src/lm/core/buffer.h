// Owning memory: Buffer (one 64-byte aligned allocation on a Device, zero-filled; CUDA: cudaMalloc) and Arena (a
// Buffer carved into named tensors by a size-then-bind pass). Arenas are planned up front, one per purpose and
// device; nothing allocates inside forward/backward.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "lm/core/tensor.h"

namespace lm {

constexpr size_t kAlign = 64;

inline size_t align_up(size_t n, size_t a = kAlign) { return (n + a - 1) / a * a; }

class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t nbytes, Device dev = Device::CPU);
  ~Buffer();
  Buffer(Buffer&& o) noexcept : data_(o.data_), size_(o.size_), device_(o.device_) {
    o.data_ = nullptr;
    o.size_ = 0;
  }
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }
  Device device() const { return device_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
  Device device_ = Device::CPU;
};

// A typed owning tensor for tests, tools and small state (not for the hot path).
struct OwnedTensor {
  Buffer buf;
  Tensor t;
  OwnedTensor() = default;
  OwnedTensor(Shape s, DType dt = DType::F32) : buf(static_cast<size_t>(s.numel()) * dtype_size(dt)), t(buf.data(), s, dt) {}
  float* f32() const { return t.f32(); }
  int64_t numel() const { return t.numel(); }
};

// Arena: reserve() tensors by shape (each 64-byte aligned), allocate() once, then each reserved slot is bound.
// Contiguity is what lets optimizers, clipping and all-reduce treat a whole arena as one flat array.
class Arena {
 public:
  explicit Arena(std::string name = "arena", Device dev = Device::CPU) : name_(std::move(name)), device_(dev) {}
  // Returns the slot index; the Tensor is valid after allocate().
  size_t reserve(const Shape& s, DType dt = DType::F32);
  void allocate();
  Tensor tensor(size_t slot) const;
  size_t bytes() const { return total_; }
  void* data() const { return buf_.data(); }
  const std::string& name() const { return name_; }
  Device device() const { return device_; }
  // Float view of the whole arena including alignment padding (padding is zero and stays zero).
  Tensor flat_f32() const {
    return Tensor(buf_.data(), Shape{static_cast<int64_t>(total_ / 4)}, DType::F32, device_);
  }

 private:
  struct Slot {
    Shape shape;
    DType dtype;
    size_t offset;
  };
  std::string name_;
  Device device_ = Device::CPU;
  std::vector<Slot> slots_;
  size_t total_ = 0;
  Buffer buf_;
};

}  // namespace lm
