// Aligned zeroed allocations and arena planning.
#include "lm/core/buffer.h"

#include <cstdlib>
#include <cstring>

namespace lm {

Buffer::Buffer(size_t nbytes) : size_(nbytes) {
  if (nbytes == 0) return;
  data_ = std::aligned_alloc(kAlign, align_up(nbytes));
  if (!data_) LM_THROW(ErrorCode::OutOfMemory, "cannot allocate {} bytes", nbytes);
  std::memset(data_, 0, align_up(nbytes));
}

Buffer::~Buffer() { std::free(data_); }

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    std::free(data_);
    data_ = o.data_;
    size_ = o.size_;
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
  buf_ = Buffer(total_ ? total_ : kAlign);
}

Tensor Arena::tensor(size_t slot) const {
  LM_ASSERT(slot < slots_.size() && buf_.data(), "arena {} slot {}", name_, slot);
  const Slot& s = slots_[slot];
  return Tensor(static_cast<char*>(buf_.data()) + s.offset, s.shape, s.dtype);
}

}  // namespace lm
