// Raw memory on CPU or CUDA. The CUDA branches exist only with LM_WITH_CUDA; the CPU build throws Unsupported.
#include "lm/core/device_memory.h"

#include <cstdlib>
#include <cstring>

#include "lm/core/buffer.h"

#ifdef LM_WITH_CUDA
#include "lm/core/cuda/runtime.h"
#endif

namespace lm {

#ifndef LM_WITH_CUDA
namespace {
[[noreturn]] void no_cuda(const char* what) {
  LM_THROW(ErrorCode::Unsupported, "{}: this build has no CUDA backend (configure with -DLM_CUDA=ON)", what);
}
}  // namespace
#endif

void* device_alloc(Device dev, size_t nbytes) {
  LM_ASSERT(nbytes > 0, "device_alloc of 0 bytes");
  if (dev == Device::CPU) {
    void* p = std::aligned_alloc(kAlign, align_up(nbytes));
    if (!p) LM_THROW(ErrorCode::OutOfMemory, "cannot allocate {} bytes", nbytes);
    std::memset(p, 0, align_up(nbytes));
    return p;
  }
#ifdef LM_WITH_CUDA
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, align_up(nbytes));
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    LM_THROW(ErrorCode::OutOfMemory, "cannot allocate {} bytes on the GPU", nbytes);
  }
  LM_CUDA_CHECK(e);
  // Synchronous memset: the allocation is complete and zero before any stream uses it.
  LM_CUDA_CHECK(cudaMemset(p, 0, align_up(nbytes)));
  return p;
#else
  no_cuda("device_alloc");
#endif
}

void device_free(Device dev, void* p) noexcept {
  if (!p) return;
  if (dev == Device::CPU) {
    std::free(p);
    return;
  }
#ifdef LM_WITH_CUDA
  cudaFree(p);  // errors at teardown are ignored (a destructor must not throw)
#endif
}

void device_zero(Device dev, void* p, size_t nbytes) {
  if (nbytes == 0) return;
  if (dev == Device::CPU) {
    std::memset(p, 0, nbytes);
    return;
  }
#ifdef LM_WITH_CUDA
  LM_CUDA_CHECK(cudaMemsetAsync(p, 0, nbytes, cuda::stream()));
#else
  no_cuda("device_zero");
#endif
}

void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t n) {
  if (n == 0) return;
  if (dst_dev == Device::CPU && src_dev == Device::CPU) {
    std::memmove(dst, src, n);
    return;
  }
#ifdef LM_WITH_CUDA
  LM_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDefault, cuda::stream()));
  LM_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
#else
  no_cuda("copy_bytes");
#endif
}

void copy_to_device_async(void* dst, const void* pinned_src, size_t n) {
  if (n == 0) return;
#ifdef LM_WITH_CUDA
  LM_CUDA_CHECK(cudaMemcpyAsync(dst, pinned_src, n, cudaMemcpyHostToDevice, cuda::stream()));
#else
  (void)dst;
  (void)pinned_src;
  no_cuda("copy_to_device_async");
#endif
}

void copy_tensor(const Tensor& dst, const Tensor& src) {
  LM_CHECK(dst.shape == src.shape && dst.dtype == src.dtype, "copy_tensor: {} {} -> {} {}: shape and dtype must match",
           src.shape.str(), dtype_name(src.dtype), dst.shape.str(), dtype_name(dst.dtype));
  if (src.numel() == 0) return;
  LM_CHECK(dst.defined() && src.defined(), "copy_tensor: undefined tensor");
  copy_bytes(dst.data, dst.device, src.data, src.device, src.nbytes());
}

void device_synchronize(Device dev) {
  if (dev == Device::CPU) return;
#ifdef LM_WITH_CUDA
  cuda::synchronize();
#else
  no_cuda("device_synchronize");
#endif
}

int cuda_device_count() {
#ifdef LM_WITH_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

std::string cuda_device_name(int index) {
#ifdef LM_WITH_CUDA
  if (index < 0 || index >= cuda::device_count()) return "";
  cudaDeviceProp p;
  if (cudaGetDeviceProperties(&p, index) != cudaSuccess) {
    cudaGetLastError();  // clear the error; callers treat "" as unknown
    return "";
  }
  return p.name;
#else
  (void)index;
  return "";
#endif
}

PinnedBuffer::PinnedBuffer(size_t nbytes) : size_(nbytes) {
  if (nbytes == 0) return;
#ifdef LM_WITH_CUDA
  // Without a usable device page-locking fails; fall back to ordinary memory so CPU runs of a CUDA build work.
  if (cuda::device_count() > 0) {
    LM_CUDA_CHECK(cudaMallocHost(&data_, align_up(nbytes)));
    std::memset(data_, 0, align_up(nbytes));
    pinned_ = true;
    return;
  }
#endif
  data_ = device_alloc(Device::CPU, nbytes);
}

void PinnedBuffer::release() noexcept {
  if (!data_) return;
#ifdef LM_WITH_CUDA
  if (pinned_) {
    cudaFreeHost(data_);
    data_ = nullptr;
    return;
  }
#endif
  device_free(Device::CPU, data_);
  data_ = nullptr;
}

PinnedBuffer::~PinnedBuffer() { release(); }

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
  if (this != &o) {
    release();
    data_ = o.data_;
    size_ = o.size_;
    pinned_ = o.pinned_;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

}  // namespace lm
