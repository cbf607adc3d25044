// KV-cache attention: append the new keys/values, then one block per (b, t, h) computes its scores over the
// past + t + 1 visible keys in shared memory, the softmax, and the weighted sum of values.
#include <cfloat>

#include "lm/kernels/cuda/attention_kv.h"
#include "lm/kernels/cuda/common.cuh"

namespace lm::cuda {

namespace {

constexpr int kThreads = 128;
constexpr int64_t kMaxCache = 8192;  // scores live in shared memory: 32 KiB of floats

// k_cache/v_cache[b,h,past+t,:] = k/v of new token (b,t)
template <typename T>
__global__ void kv_append_kernel(T* k_cache, T* v_cache, const T* qkv, int64_t B, int64_t Tn, int64_t C, int64_t NH,
                                 int64_t Tmax, int64_t past) {
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= B * Tn * C) return;
  const int64_t HS = C / NH;
  const int64_t c = idx % C, t = (idx / C) % Tn, b = idx / (C * Tn);
  const int64_t h = c / HS, i = c % HS;
  const T* src = qkv + (b * Tn + t) * 3 * C;
  const int64_t dst = ((b * NH + h) * Tmax + past + t) * HS + i;
  k_cache[dst] = src[C + c];
  v_cache[dst] = src[2 * C + c];
}

template <typename T>
__global__ void kv_attention_kernel(T* out, const T* k_cache, const T* v_cache, const T* qkv, const int32_t* key_mask,
                                    int64_t Tn, int64_t C, int64_t NH, int64_t Tmax, int64_t past, float scale) {
  extern __shared__ float s[];  // [Tmax] scores, then [HS] query
  __shared__ float red[32];
  const int64_t HS = C / NH;
  const int64_t h = blockIdx.x % NH, t = (blockIdx.x / NH) % Tn, b = blockIdx.x / (NH * Tn);
  const int64_t n = past + t + 1;
  float* q = s + Tmax;
  const T* qsrc = qkv + (b * Tn + t) * 3 * C + h * HS;
  for (int64_t i = threadIdx.x; i < HS; i += blockDim.x) q[i] = to_f(qsrc[i]);
  __syncthreads();
  const T* kc = k_cache + (b * NH + h) * Tmax * HS;
  const T* vc = v_cache + (b * NH + h) * Tmax * HS;
  float mx = -FLT_MAX;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    float d = 0.0f;
    for (int64_t i = 0; i < HS; ++i) d += q[i] * to_f(kc[j * HS + i]);
    d *= scale;
    if (key_mask && key_mask[b * Tmax + j] == 0) d = -FLT_MAX;  // HF's finfo.min
    s[j] = d;
    mx = fmaxf(mx, d);
  }
  mx = block_max(mx, red);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    const float e = expf(s[j] - mx);
    s[j] = e;
    sum += e;
  }
  const float inv = 1.0f / block_sum(sum, red);  // ends with __syncthreads: every s[j] is visible
  T* o = out + (b * Tn + t) * C + h * HS;
  for (int64_t i = threadIdx.x; i < HS; i += blockDim.x) {
    float acc = 0.0f;
    for (int64_t j = 0; j < n; ++j) acc += s[j] * to_f(vc[j * HS + i]);
    o[i] = from_f<T>(acc * inv);
  }
}

}  // namespace

void attention_kv_forward(DType dt, void* out, void* k_cache, void* v_cache, const void* qkv, const int32_t* key_mask,
                          int64_t B, int64_t Tn, int64_t C, int64_t NH, int64_t Tmax, int64_t past, float scale) {
  LM_CHECK(NH > 0 && C % NH == 0, "attention_kv_forward: C {} not divisible by NH {}", C, NH);
  LM_CHECK_AS(ErrorCode::Unsupported, Tmax <= kMaxCache, "attention_kv_forward: CUDA cache length {} exceeds {}", Tmax,
              kMaxCache);
  if (B * Tn * C == 0) return;
  dispatch_float(dt, "attention_kv_forward", [&](auto tag) {
    using E = decltype(tag);
    kv_append_kernel<E><<<ceil_div(B * Tn * C, 256), 256, 0, stream()>>>(
        static_cast<E*>(k_cache), static_cast<E*>(v_cache), static_cast<const E*>(qkv), B, Tn, C, NH, Tmax, past);
    LM_CUDA_CHECK_LAUNCH();
    const size_t shmem = static_cast<size_t>(Tmax + C / NH) * sizeof(float);
    kv_attention_kernel<E><<<static_cast<unsigned>(B * Tn * NH), kThreads, shmem, stream()>>>(
        static_cast<E*>(out), static_cast<const E*>(k_cache), static_cast<const E*>(v_cache),
        static_cast<const E*>(qkv), key_mask, Tn, C, NH, Tmax, past, scale);
    LM_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace lm::cuda
