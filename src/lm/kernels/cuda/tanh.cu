// tanh forward/backward, grid-stride elementwise kernels.
#include "lm/kernels/cuda/common.cuh"
#include "lm/kernels/cuda/tanh.h"

namespace lm::cuda {

namespace {

template <typename T>
__global__ void tanh_forward_kernel(T* out, const T* inp, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = from_f<T>(tanhf(to_f(inp[i])));
}

template <typename T>
__global__ void tanh_backward_kernel(T* dinp, const T* dout, const T* out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float y = to_f(out[i]);
    dinp[i] = from_f<T>(to_f(dinp[i]) + to_f(dout[i]) * (1.0f - y * y));
  }
}

unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + 255) / 256;
  return static_cast<unsigned>(blocks < 65536 ? blocks : 65536);
}

}  // namespace

void tanh_forward(DType dt, void* out, const void* inp, int64_t n) {
  if (n == 0) return;
  dispatch_float(dt, "tanh_forward", [&](auto tag) {
    using E = decltype(tag);
    tanh_forward_kernel<E><<<grid_for(n), 256, 0, stream()>>>(static_cast<E*>(out), static_cast<const E*>(inp), n);
    LM_CUDA_CHECK_LAUNCH();
  });
}

void tanh_backward(DType dt, void* dinp, const void* dout, const void* out, int64_t n) {
  if (n == 0) return;
  dispatch_float(dt, "tanh_backward", [&](auto tag) {
    using E = decltype(tag);
    tanh_backward_kernel<E><<<grid_for(n), 256, 0, stream()>>>(static_cast<E*>(dinp), static_cast<const E*>(dout),
                                                                static_cast<const E*>(out), n);
    LM_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace lm::cuda
