// Aligned zeroed allocations and arena planning.
#include "lm/core/buffer.h"

#include "lm/core/device_memory.h"

namespace lm {

Buffer::Buffer(size_t nbytes, Device dev) : size_(nbytes), device_(dev) {
  if (nbytes == 0) return;
  data_ = device_alloc(dev, nbytes);
}

Buffer::~Buffer() { device_free(device_, data_); }

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    device_free(device_, data_);
    data_ = o.data_;
    size_ = o.size_;
    device_ = o.device_;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

size_t Arena::reserve(const Shape& s, DType dt) {
  LM_ASSERT(buf_.data() == nullptr, "arena {} already allocated", name_);
  size_t n = static_cast<size_t>(s.numel()) * dtype_size(dt);
  slots_.push_back({s, dt, total_});
  total_ += align_up(n);
  return slots_.size() - 1;
}

void Arena::allocate() {
  LM_ASSERT(buf_.data() == nullptr, "arena {} already allocated", name_);
  buf_ = Buffer(total_ ? total_ : kAlign, device_);
}

Tensor Arena::tensor(size_t slot) const {
  LM_ASSERT(slot < slots_.size() && buf_.data(), "arena {} slot {}", name_, slot);
  const Slot& s = slots_[slot];
  return Tensor(static_cast<char*>(buf_.data()) + s.offset, s.shape, s.dtype, device_);
}

}  // namespace lm
