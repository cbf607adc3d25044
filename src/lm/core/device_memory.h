// Device-agnostic raw memory: allocation on a Device (CPU: 64-byte aligned; CUDA: cudaMalloc, never managed
// memory), byte and tensor copies between any two devices, and pinned (page-locked) host buffers for staging
// host->device transfers of the data loader. In the CPU build every CUDA request throws Unsupported, so no
// caller needs an #ifdef. Shapes: copy_tensor takes two tensors of equal shape and dtype.
#pragma once

#include <cstddef>
#include <string>

#include "lm/core/device.h"
#include "lm/core/tensor.h"

namespace lm {

// Zero-filled allocation of nbytes (> 0) on `dev`; throws OutOfMemory, or Unsupported without the backend.
void* device_alloc(Device dev, size_t nbytes);
void device_free(Device dev, void* p) noexcept;
// Zeroes nbytes at p on dev (CUDA: ordered on the calling thread's stream, asynchronous to the host).
void device_zero(Device dev, void* p, size_t nbytes);

// Copies n bytes; returns after the copy is complete and visible to the host (CUDA: on the calling thread's
// stream, so it is ordered after that thread's earlier kernels).
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t n);
// Host -> device copy from pinned memory, asynchronous to the host, ordered on the calling thread's stream.
// The source must stay untouched until the stream reaches the copy (device_synchronize or a later sync copy).
void copy_to_device_async(void* dst, const void* pinned_src, size_t n);
// dst = src; same shape and dtype, any devices.
void copy_tensor(const Tensor& dst, const Tensor& src);
// Waits for all work the calling thread queued on dev (no-op on CPU).
void device_synchronize(Device dev);

// Usable CUDA devices: 0 in the CPU build and on machines without a driver or GPU (never throws).
int cuda_device_count();
// cudaDeviceProp::name of CUDA device `index` ("NVIDIA H200", ...); "" when there is no such device or backend.
std::string cuda_device_name(int index = 0);

// Page-locked host memory (cudaMallocHost) in CUDA builds, so host->device copies run at full bandwidth and
// asynchronously; plain aligned host memory in the CPU build. Zero-filled.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(size_t nbytes);
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& o) noexcept : data_(o.data_), size_(o.size_), pinned_(o.pinned_) {
    o.data_ = nullptr;
    o.size_ = 0;
  }
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }
  // True when the memory is really page-locked (CUDA build with a usable device).
  bool pinned() const { return pinned_; }

 private:
  void release() noexcept;
  void* data_ = nullptr;
  size_t size_ = 0;
  bool pinned_ = false;
};

}  // namespace lm
