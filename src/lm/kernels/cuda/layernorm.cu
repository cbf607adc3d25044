// LayerNorm kernels: one warp per row for the row statistics and dinp; dw/db via per-chunk column partials added
// in chunk order (deterministic, no atomics).
#include "lm/kernels/cuda/common.cuh"
#include "lm/kernels/cuda/layernorm.h"

namespace lm::cuda {

namespace {

constexpr int kWarpsPerBlock = 8;

// One warp per row. With a != nullptr the row is first formed as residual = a + b_in and stored.
template <typename T>
__global__ void layernorm_forward_kernel(T* out, float* mean, float* rstd, T* residual, const T* a, const T* b_in,
                                         const T* inp, const T* w, const T* bias, float eps, int64_t N,
                                         int64_t C) {
  const int64_t n = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (n >= N) return;
  const T* x = inp + n * C;
  if (a) {
    T* r = residual + n * C;
    for (int64_t c = lane; c < C; c += 32) r[c] = from_f<T>(to_f(a[n * C + c]) + to_f(b_in[n * C + c]));
    x = r;  // each lane reads back only the elements it wrote: ordered by program order
  }
  float s = 0.0f;
  for (int64_t c = lane; c < C; c += 32) s += to_f(x[c]);
  const float m = warp_sum(s) / static_cast<float>(C);
  float v = 0.0f;
  for (int64_t c = lane; c < C; c += 32) {
    const float d = to_f(x[c]) - m;
    v += d * d;
  }
  const float rs = rsqrtf(warp_sum(v) / static_cast<float>(C) + eps);
  T* o = out + n * C;
  for (int64_t c = lane; c < C; c += 32) o[c] = from_f<T>((to_f(x[c]) - m) * rs * to_f(w[c]) + to_f(bias[c]));
  if (lane == 0) {
    mean[n] = m;
    rstd[n] = rs;
  }
}

// dx = rstd * (g - mean(g) - xhat * mean(g*xhat)) with g = w*dout, one warp per row.
template <typename T>
__global__ void layernorm_dinp_kernel(T* dinp, const T* dout, const T* inp, const T* w, const float* mean,
                                      const float* rstd, int64_t N, int64_t C) {
  const int64_t n = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (n >= N) return;
  const T* x = inp + n * C;
  const T* dy = dout + n * C;
  const float m = mean[n], rs = rstd[n];
  float g_sum = 0.0f, gx_sum = 0.0f;
  for (int64_t c = lane; c < C; c += 32) {
    const float g = to_f(w[c]) * to_f(dy[c]);
    g_sum += g;
    gx_sum += g * (to_f(x[c]) - m) * rs;
  }
  const float g_mean = warp_sum(g_sum) / static_cast<float>(C);
  const float gx_mean = warp_sum(gx_sum) / static_cast<float>(C);
  T* dx = dinp + n * C;
  for (int64_t c = lane; c < C; c += 32) {
    const float xhat = (to_f(x[c]) - m) * rs;
    const float g = to_f(w[c]) * to_f(dy[c]);
    dx[c] = from_f<T>(to_f(dx[c]) + (g - g_mean - xhat * gx_mean) * rs);
  }
}

// partial_dw[k][c] = Σ_{n in chunk k} xhat[n,c] * dout[n,c], partial_db likewise with dout.
template <typename T>
__global__ void layernorm_dwdb_partial_kernel(float* partial_dw, float* partial_db, const T* dout, const T* inp,
                                              const float* mean, const float* rstd, int64_t N, int64_t C) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int k = blockIdx.y;
  if (c >= C) return;
  const int64_t per = (N + kColChunks - 1) / kColChunks;
  const int64_t n0 = k * per, n1 = n0 + per < N ? n0 + per : N;
  float sw = 0.0f, sb = 0.0f;
  for (int64_t n = n0; n < n1; ++n) {
    const float dy = to_f(dout[n * C + c]);
    sw += (to_f(inp[n * C + c]) - mean[n]) * rstd[n] * dy;
    sb += dy;
  }
  partial_dw[k * C + c] = sw;
  partial_db[k * C + c] = sb;
}

template <typename T>
void launch_forward(T* out, float* mean, float* rstd, T* residual, const T* a, const T* b_in, const T* inp,
                    const T* w, const T* bias, float eps, int64_t N, int64_t C) {
  layernorm_forward_kernel<T><<<ceil_div(N, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, stream()>>>(
      out, mean, rstd, residual, a, b_in, inp, w, bias, eps, N, C);
  LM_CUDA_CHECK_LAUNCH();
}

}  // namespace

void layernorm_forward(DType dt, void* out, float* mean, float* rstd, const void* inp, const void* w,
                       const void* bias, float eps, int64_t N, int64_t C) {
  if (N == 0) return;
  dispatch_float(dt, "layernorm_forward", [&](auto tag) {
    using E = decltype(tag);
    launch_forward<E>(static_cast<E*>(out), mean, rstd, nullptr, nullptr, nullptr, static_cast<const E*>(inp),
                      static_cast<const E*>(w), static_cast<const E*>(bias), eps, N, C);
  });
}

void fused_residual_layernorm_forward(DType dt, void* residual, void* out, float* mean, float* rstd, const void* a,
                                      const void* b, const void* w, const void* bias, float eps, int64_t N,
                                      int64_t C) {
  if (N == 0) return;
  dispatch_float(dt, "fused_residual_layernorm_forward", [&](auto tag) {
    using E = decltype(tag);
    launch_forward<E>(static_cast<E*>(out), mean, rstd, static_cast<E*>(residual), static_cast<const E*>(a),
                      static_cast<const E*>(b), static_cast<const E*>(residual), static_cast<const E*>(w),
                      static_cast<const E*>(bias), eps, N, C);
  });
}

void layernorm_backward(DType dt, void* dinp, void* dw, void* db, const void* dout, const void* inp, const void* w,
                        const float* mean, const float* rstd, int64_t N, int64_t C) {
  if (N == 0) return;
  dispatch_float(dt, "layernorm_backward", [&](auto tag) {
    using E = decltype(tag);
    const E* dy = static_cast<const E*>(dout);
    const E* x = static_cast<const E*>(inp);
    layernorm_dinp_kernel<E><<<ceil_div(N, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, stream()>>>(
        static_cast<E*>(dinp), dy, x, static_cast<const E*>(w), mean, rstd, N, C);
    LM_CUDA_CHECK_LAUNCH();
    float* partial = static_cast<float*>(scratch(2 * col_sum_scratch_floats(C) * sizeof(float)));
    float* pdw = partial;
    float* pdb = partial + col_sum_scratch_floats(C);
    const int threads = 128;
    layernorm_dwdb_partial_kernel<E><<<dim3(ceil_div(C, threads), kColChunks), threads, 0, stream()>>>(
        pdw, pdb, dy, x, mean, rstd, N, C);
    LM_CUDA_CHECK_LAUNCH();
    col_sum_finish_kernel<E><<<ceil_div(C, threads), threads, 0, stream()>>>(static_cast<E*>(dw), pdw, C);
    LM_CUDA_CHECK_LAUNCH();
    col_sum_finish_kernel<E><<<ceil_div(C, threads), threads, 0, stream()>>>(static_cast<E*>(db), pdb, C);
    LM_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace lm::cuda
