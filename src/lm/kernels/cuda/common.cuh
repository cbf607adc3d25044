// Shared device helpers of the CUDA kernels (included by .cu files only): element types (float or bf16 storage,
// always fp32 arithmetic), warp/block reductions in a fixed order (deterministic), the DType -> C++ type
// dispatch, and a deterministic column sum used for bias / LayerNorm weight gradients.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "lm/core/cuda/runtime.h"
#include "lm/core/dtype.h"
#include "lm/core/error.h"

namespace lm::cuda {

using bf16 = __nv_bfloat16;

// Loads and stores convert to fp32 arithmetic; bf16 stores round to nearest even.
__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(bf16 x) { return __bfloat162float(x); }
template <typename T>
__device__ __forceinline__ T from_f(float x);
template <>
__device__ __forceinline__ float from_f<float>(float x) { return x; }
template <>
__device__ __forceinline__ bf16 from_f<bf16>(float x) { return __float2bfloat16_rn(x); }

// Butterfly sums/max: every lane ends with the same value, combined in a fixed pattern (deterministic).
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide sum (blockDim.x a multiple of 32, <= 1024); every thread gets the result. `shared` holds 32 floats.
// Uses shared, so consecutive calls in one kernel need a __syncthreads() between them (done at the end here).
__device__ __forceinline__ float block_sum(float v, float* shared) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
  v = warp_sum(v);
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  float r = lane < nwarps ? shared[lane] : 0.0f;
  r = warp_sum(r);
  __syncthreads();
  return r;
}
__device__ __forceinline__ float block_max(float v, float* shared) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
  v = warp_max(v);
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  float r = lane < nwarps ? shared[lane] : -INFINITY;
  r = warp_max(r);
  __syncthreads();
  return r;
}

inline unsigned ceil_div(int64_t a, int64_t b) { return static_cast<unsigned>((a + b - 1) / b); }

// Philox4x32-10 of counter (blk, stream) under key seed: the same function as lm::philox4x32 / Rng::block on the
// host, so a device dropout mask equals the CPU mask bit for bit.
__device__ __forceinline__ uint4 philox4x32_10(uint64_t blk, uint64_t stream, uint64_t seed) {
  uint32_t r0 = static_cast<uint32_t>(blk), r1 = static_cast<uint32_t>(blk >> 32);
  uint32_t r2 = static_cast<uint32_t>(stream), r3 = static_cast<uint32_t>(stream >> 32);
  uint32_t ka = static_cast<uint32_t>(seed), kb = static_cast<uint32_t>(seed >> 32);
#pragma unroll
  for (int r = 0; r < 10; ++r) {
    const uint32_t hi0 = __umulhi(0xD2511F53u, r0), lo0 = 0xD2511F53u * r0;
    const uint32_t hi1 = __umulhi(0xCD9E8D57u, r2), lo1 = 0xCD9E8D57u * r2;
    r0 = hi1 ^ r1 ^ ka;
    r1 = lo1;
    r2 = hi0 ^ r3 ^ kb;
    r3 = lo0;
    ka += 0x9E3779B9u;
    kb += 0xBB67AE85u;
  }
  return make_uint4(r0, r1, r2, r3);
}

// Rng::uniform of a 32-bit word: 24 bits in [0, 1).
__device__ __forceinline__ float philox_word_uniform(uint32_t w) {
  return static_cast<float>(w >> 8) * (1.0f / 16777216.0f);
}

// Calls f(T{}) with T = float or bf16 for a floating storage dtype; other dtypes throw Unsupported.
template <typename Fn>
void dispatch_float(DType dt, const char* op, Fn&& f) {
  switch (dt) {
    case DType::F32: f(float{}); return;
    case DType::BF16: f(bf16{}); return;
    default: LM_THROW(ErrorCode::Unsupported, "{}: CUDA kernels take f32 or bf16, got {}", op, dtype_name(dt));
  }
}

// Rows of the chunked column reduction: each of kColChunks row ranges is summed by one thread per column, then
// the chunks are added in chunk order. The partition depends only on (N, C), never on the device.
constexpr int kColChunks = 64;
constexpr size_t col_sum_scratch_floats(int64_t C) { return static_cast<size_t>(kColChunks) * static_cast<size_t>(C); }

// partial[k][c] = Σ_{n in chunk k} x[n][c] (fp32)
template <typename T>
__global__ void col_sum_partial_kernel(float* partial, const T* x, int64_t N, int64_t C) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int k = blockIdx.y;
  if (c >= C) return;
  const int64_t per = (N + kColChunks - 1) / kColChunks;
  const int64_t n0 = k * per, n1 = n0 + per < N ? n0 + per : N;
  float s = 0.0f;
  for (int64_t n = n0; n < n1; ++n) s += to_f(x[n * C + c]);
  partial[k * C + c] = s;
}

// out[c] += Σ_k partial[k][c], k ascending.
template <typename T>
__global__ void col_sum_finish_kernel(T* out, const float* partial, int64_t C) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  float s = 0.0f;
  for (int k = 0; k < kColChunks; ++k) s += partial[k * C + c];
  out[c] = from_f<T>(to_f(out[c]) + s);
}

// out (C) += column sums of x (N,C), deterministic; partial holds col_sum_scratch_floats(C) floats.
template <typename T>
void col_sum_accumulate(T* out, const T* x, int64_t N, int64_t C, float* partial) {
  const int threads = 128;
  col_sum_partial_kernel<T><<<dim3(ceil_div(C, threads), kColChunks), threads, 0, stream()>>>(partial, x, N, C);
  LM_CUDA_CHECK_LAUNCH();
  col_sum_finish_kernel<T><<<ceil_div(C, threads), threads, 0, stream()>>>(out, partial, C);
  LM_CUDA_CHECK_LAUNCH();
}

}  // namespace lm::cuda
