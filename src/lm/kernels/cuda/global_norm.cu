// Sum of squares with a fixed two-level reduction, and scaling.
#include "lm/kernels/cuda/common.cuh"
#include "lm/kernels/cuda/global_norm.h"

namespace lm::cuda {

namespace {

// Fixed so that the partition, hence the rounding, is the same on every GPU.
constexpr int kBlocks = 512, kThreads = 512;

template <typename T>
__global__ void sum_squares_partial_kernel(float* partial, const T* x, int64_t n) {
  __shared__ float shared[32];
  float s = 0.0f;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; i < n;
       i += static_cast<int64_t>(kBlocks) * kThreads) {
    const float v = to_f(x[i]);
    s += v * v;
  }
  s = block_sum(s, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void sum_partials_kernel(double* out, const float* partial) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  double s = 0.0;
  for (int i = 0; i < kBlocks; ++i) s += static_cast<double>(partial[i]);
  *out = s;
}

template <typename T>
__global__ void scale_kernel(T* x, int64_t n, float s) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    x[i] = from_f<T>(to_f(x[i]) * s);
}

unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + 255) / 256;
  return static_cast<unsigned>(blocks < 65536 ? blocks : 65536);
}

}  // namespace

void sum_squares(DType dt, double* out_device, const void* x, int64_t n) {
  float* partial = static_cast<float*>(scratch(kBlocks * sizeof(float)));
  dispatch_float(dt, "sum_squares", [&](auto tag) {
    using E = decltype(tag);
    sum_squares_partial_kernel<E><<<kBlocks, kThreads, 0, stream()>>>(partial, static_cast<const E*>(x), n);
    LM_CUDA_CHECK_LAUNCH();
    sum_partials_kernel<<<1, 32, 0, stream()>>>(out_device, partial);
    LM_CUDA_CHECK_LAUNCH();
  });
}

double sum_squares_host(DType dt, const void* x, int64_t n) {
  // The result slot sits after the partials in the same scratch block (one allocation, 8-byte aligned).
  char* s = static_cast<char*>(scratch(kBlocks * sizeof(float) + 64));
  double* out = reinterpret_cast<double*>(s + kBlocks * sizeof(float));
  sum_squares(dt, out, x, n);
  double h = 0.0;
  LM_CUDA_CHECK(cudaMemcpyAsync(&h, out, sizeof(double), cudaMemcpyDeviceToHost, stream()));
  LM_CUDA_CHECK(cudaStreamSynchronize(stream()));
  return h;
}

void scale_inplace(DType dt, void* x, int64_t n, float s) {
  if (n == 0) return;
  dispatch_float(dt, "scale_inplace", [&](auto tag) {
    using E = decltype(tag);
    scale_kernel<E><<<grid_for(n), 256, 0, stream()>>>(static_cast<E*>(x), n, s);
    LM_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace lm::cuda
