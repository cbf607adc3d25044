// Dropout: one thread per Philox block of four elements (one 10-round Philox evaluation per four elements).
#include "lm/kernels/cuda/common.cuh"
#include "lm/kernels/cuda/dropout.h"

namespace lm::cuda {

namespace {

// accumulate = false: out = mask * inp * scale; true: out += mask * inp * scale.
template <typename T, bool kAccumulate>
__global__ void dropout_kernel(T* out, const T* inp, int64_t n, float p, float scale, uint64_t seed, uint64_t stream) {
  const int64_t nblk = (n + 3) / 4;
  for (int64_t blk = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; blk < nblk;
       blk += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint4 r = philox4x32_10(static_cast<uint64_t>(blk), stream, seed);
    const uint32_t w[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const int64_t i = 4 * blk + k;
      if (i >= n) break;
      const float x = philox_word_uniform(w[k]) >= p ? to_f(inp[i]) * scale : 0.0f;
      out[i] = kAccumulate ? from_f<T>(to_f(out[i]) + x) : from_f<T>(x);
    }
  }
}

unsigned grid_for(int64_t n) {
  const int64_t blocks = ((n + 3) / 4 + 255) / 256;
  return static_cast<unsigned>(blocks < 65536 ? blocks : 65536);
}

}  // namespace

void dropout_forward(DType dt, void* out, const void* inp, int64_t n, float p, uint64_t seed, uint64_t stream) {
  LM_CHECK(p >= 0.0f && p < 1.0f, "cuda dropout_forward: p must be in [0, 1), got {}", p);
  if (n == 0) return;
  dispatch_float(dt, "dropout_forward", [&](auto tag) {
    using E = decltype(tag);
    dropout_kernel<E, false><<<grid_for(n), 256, 0, lm::cuda::stream()>>>(
        static_cast<E*>(out), static_cast<const E*>(inp), n, p, 1.0f / (1.0f - p), seed, stream);
    LM_CUDA_CHECK_LAUNCH();
  });
}

void dropout_backward(DType dt, void* dinp, const void* dout, int64_t n, float p, uint64_t seed, uint64_t stream) {
  LM_CHECK(p >= 0.0f && p < 1.0f, "cuda dropout_backward: p must be in [0, 1), got {}", p);
  if (n == 0) return;
  dispatch_float(dt, "dropout_backward", [&](auto tag) {
    using E = decltype(tag);
    dropout_kernel<E, true><<<grid_for(n), 256, 0, lm::cuda::stream()>>>(
        static_cast<E*>(dinp), static_cast<const E*>(dout), n, p, 1.0f / (1.0f - p), seed, stream);
    LM_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace lm::cuda
