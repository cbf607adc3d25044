// Residual add forward/backward, grid-stride elementwise kernels.
#include "lm/kernels/cuda/common.cuh"
#include "lm/kernels/cuda/residual.h"

namespace lm::cuda {

namespace {

template <typename T>
__global__ void residual_forward_kernel(T* out, const T* a, const T* b, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = from_f<T>(to_f(a[i]) + to_f(b[i]));
}

template <typename T>
__global__ void residual_backward_kernel(T* da, T* db, const T* dout, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float d = to_f(dout[i]);  // read first: dout may alias da or db
    da[i] = from_f<T>(to_f(da[i]) + d);
    db[i] = from_f<T>(to_f(db[i]) + d);
  }
}

unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + 255) / 256;
  return static_cast<unsigned>(blocks < 65536 ? blocks : 65536);
}

}  // namespace

void residual_forward(DType dt, void* out, const void* a, const void* b, int64_t n) {
  if (n == 0) return;
  dispatch_float(dt, "residual_forward", [&](auto tag) {
    using E = decltype(tag);
    residual_forward_kernel<E><<<grid_for(n), 256, 0, stream()>>>(static_cast<E*>(out), static_cast<const E*>(a),
                                                                   static_cast<const E*>(b), n);
    LM_CUDA_CHECK_LAUNCH();
  });
}

void residual_backward(DType dt, void* da, void* db, const void* dout, int64_t n) {
  if (n == 0) return;
  dispatch_float(dt, "residual_backward", [&](auto tag) {
    using E = decltype(tag);
    residual_backward_kernel<E><<<grid_for(n), 256, 0, stream()>>>(static_cast<E*>(da), static_cast<E*>(db),
                                                                    static_cast<const E*>(dout), n);
    LM_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace lm::cuda
