// GELU forward/backward, grid-stride elementwise kernels (constants as in kernels/ref/gelu.h).
#include "lm/kernels/cuda/common.cuh"
#include "lm/kernels/cuda/gelu.h"

namespace lm::cuda {

namespace {

constexpr float kTanhScale = 0.7978845608028654f;  // sqrt(2/pi)
constexpr float kCubic = 0.044715f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

__device__ __forceinline__ float gelu_f(float x, bool tanh_form) {
  if (tanh_form) return 0.5f * x * (1.0f + tanhf(kTanhScale * (x + kCubic * x * x * x)));
  return 0.5f * x * (1.0f + erff(x * kInvSqrt2));
}

__device__ __forceinline__ float gelu_grad_f(float x, bool tanh_form) {
  if (tanh_form) {
    const float th = tanhf(kTanhScale * (x + kCubic * x * x * x));
    const float du = kTanhScale * (1.0f + 3.0f * kCubic * x * x);
    return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du;
  }
  return 0.5f * (1.0f + erff(x * kInvSqrt2)) + x * kInvSqrt2Pi * expf(-0.5f * x * x);
}

template <typename T>
__global__ void gelu_forward_kernel(T* out, const T* inp, int64_t n, bool tanh_form) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = from_f<T>(gelu_f(to_f(inp[i]), tanh_form));
}

template <typename T>
__global__ void gelu_backward_kernel(T* dinp, const T* dout, const T* inp, int64_t n, bool tanh_form) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dinp[i] = from_f<T>(to_f(dinp[i]) + to_f(dout[i]) * gelu_grad_f(to_f(inp[i]), tanh_form));
}

unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + 255) / 256;
  return static_cast<unsigned>(blocks < 65536 ? blocks : 65536);
}

}  // namespace

void gelu_forward(DType dt, void* out, const void* inp, int64_t n, bool tanh_form) {
  if (n == 0) return;
  dispatch_float(dt, "gelu_forward", [&](auto tag) {
    using E = decltype(tag);
    gelu_forward_kernel<E><<<grid_for(n), 256, 0, stream()>>>(static_cast<E*>(out), static_cast<const E*>(inp), n,
                                                               tanh_form);
    LM_CUDA_CHECK_LAUNCH();
  });
}

void gelu_backward(DType dt, void* dinp, const void* dout, const void* inp, int64_t n, bool tanh_form) {
  if (n == 0) return;
  dispatch_float(dt, "gelu_backward", [&](auto tag) {
    using E = decltype(tag);
    gelu_backward_kernel<E><<<grid_for(n), 256, 0, stream()>>>(static_cast<E*>(dinp), static_cast<const E*>(dout),
                                                                static_cast<const E*>(inp), n, tanh_form);
    LM_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace lm::cuda
