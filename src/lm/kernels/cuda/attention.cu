// Attention via batched GEMMs + softmax kernels. Heads are first permuted to (B,NH,T,HS) so every GEMM is a plain
// strided batch; results are permuted back (and accumulated into dqkv in backward).
#include "lm/kernels/cuda/attention.h"
#include "lm/kernels/cuda/common.cuh"
#include "lm/kernels/cuda/dropout.h"

namespace lm::cuda {

namespace {

constexpr int kRowsPerBlock = 8;  // one warp per softmax row

// q/k/v (B,NH,T,HS) <- qkv (B,T,3C)
template <typename T>
__global__ void permute_qkv_kernel(T* q, T* k, T* v, const T* qkv, int64_t B, int64_t T_, int64_t C, int64_t NH) {
  const int64_t HS = C / NH;
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= B * T_ * C) return;
  const int64_t i = idx % HS, t = (idx / HS) % T_, h = (idx / (HS * T_)) % NH, b = idx / (HS * T_ * NH);
  const int64_t src = (b * T_ + t) * 3 * C + h * HS + i;
  q[idx] = qkv[src];
  k[idx] = qkv[src + C];
  v[idx] = qkv[src + 2 * C];
}

// Between (B,T,C) and (B,NH,T,HS): to_heads copies x into heads; otherwise heads into x.
template <typename T>
__global__ void permute_heads_kernel(T* heads, T* x, int64_t B, int64_t T_, int64_t C, int64_t NH, bool to_heads) {
  const int64_t HS = C / NH;
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= B * T_ * C) return;
  const int64_t i = idx % HS, t = (idx / HS) % T_, h = (idx / (HS * T_)) % NH, b = idx / (HS * T_ * NH);
  const int64_t o = (b * T_ + t) * C + h * HS + i;
  if (to_heads)
    heads[idx] = x[o];
  else
    x[o] = heads[idx];
}

// dqkv (B,T,3C) += dq | dk | dv (each (B,NH,T,HS))
template <typename T>
__global__ void unpermute_dqkv_add_kernel(T* dqkv, const T* dq, const T* dk, const T* dv, int64_t B, int64_t T_,
                                          int64_t C, int64_t NH) {
  const int64_t HS = C / NH;
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= B * T_ * C) return;
  const int64_t i = idx % HS, t = (idx / HS) % T_, h = (idx / (HS * T_)) % NH, b = idx / (HS * T_ * NH);
  T* d = dqkv + (b * T_ + t) * 3 * C + h * HS + i;
  d[0] = from_f<T>(to_f(d[0]) + to_f(dq[idx]));
  d[C] = from_f<T>(to_f(d[C]) + to_f(dk[idx]));
  d[2 * C] = from_f<T>(to_f(d[2 * C]) + to_f(dv[idx]));
}

// In place: att row (b,h,t) holds raw scores q·k and becomes the masked softmax of scale * scores.
template <typename T>
__global__ void softmax_forward_kernel(T* att, const int32_t* key_mask, int64_t B, int64_t NH, int64_t T_,
                                       bool causal, float scale) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(kRowsPerBlock) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= B * NH * T_) return;
  const int64_t t = row % T_, b = row / (NH * T_);
  const int64_t L = causal ? t + 1 : T_;
  const int32_t* km = key_mask ? key_mask + b * T_ : nullptr;
  T* p = att + row * T_;
  float mx = -INFINITY;
  bool any = false;
  for (int64_t j = lane; j < L; j += 32) {
    if (km && km[j] == 0) continue;
    mx = fmaxf(mx, to_f(p[j]) * scale);
    any = true;
  }
  mx = warp_max(mx);
  any = __any_sync(0xffffffffu, any);
  if (!any) {  // every allowed key masked: uniform over the allowed keys, as the reference
    for (int64_t j = lane; j < T_; j += 32) p[j] = from_f<T>(j < L ? 1.0f / static_cast<float>(L) : 0.0f);
    return;
  }
  float sum = 0.0f;
  for (int64_t j = lane; j < L; j += 32)
    if (!(km && km[j] == 0)) sum += expf(to_f(p[j]) * scale - mx);
  const float inv = 1.0f / warp_sum(sum);
  for (int64_t j = lane; j < T_; j += 32) {
    const bool visible = j < L && !(km && km[j] == 0);
    p[j] = from_f<T>(visible ? expf(to_f(p[j]) * scale - mx) * inv : 0.0f);
  }
}

// In place: datt row holds dP and becomes dS = P ⊙ (dP - Σ P dP) · scale (the gradient of the raw scores).
template <typename T>
__global__ void softmax_backward_kernel(T* datt, const T* att, int64_t rows, int64_t T_, float scale) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(kRowsPerBlock) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const T* p = att + row * T_;
  T* dp = datt + row * T_;
  float dot = 0.0f;
  for (int64_t j = lane; j < T_; j += 32) dot += to_f(p[j]) * to_f(dp[j]);
  dot = warp_sum(dot);
  for (int64_t j = lane; j < T_; j += 32) dp[j] = from_f<T>(to_f(p[j]) * (to_f(dp[j]) - dot) * scale);
}

// Row-major per batch: C (M,N) = alpha * op(A) · op(B) + beta * C, as the column-major Cᵀ = op(B)ᵀ · op(A)ᵀ.
void batched_gemm(DType dt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const void* A, int64_t lda,
                  int64_t stride_a, const void* Bm, int64_t ldb, int64_t stride_b, void* Cm, int64_t ldc,
                  int64_t stride_c, int64_t batch) {
  const cudaDataType_t ty = dt == DType::BF16 ? CUDA_R_16BF : CUDA_R_32F;
  const float alpha = 1.0f, beta = 0.0f;
  LM_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      cublas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(N),
      static_cast<int>(M), static_cast<int>(K), &alpha, Bm, ty, static_cast<int>(ldb), stride_b, A, ty,
      static_cast<int>(lda), stride_a, &beta, Cm, ty, static_cast<int>(ldc), stride_c, static_cast<int>(batch),
      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void check_shapes(const char* op, int64_t B, int64_t T, int64_t C, int64_t NH) {
  LM_CHECK(NH > 0 && C % NH == 0, "{}: C {} not divisible by NH {}", op, C, NH);
  LM_CHECK(T <= (int64_t(1) << 30) && B * NH <= (int64_t(1) << 30), "{}: shape too large for cuBLAS int sizes", op);
}

}  // namespace

void attention_forward(DType dt, void* out, void* att, const void* qkv, const int32_t* key_mask, int64_t B, int64_t T,
                       int64_t C, int64_t NH, bool causal, float scale, const AttnDropoutSpec& drop) {
  check_shapes("attention_forward", B, T, C, NH);
  LM_CHECK(drop.p >= 0.0f && drop.p < 1.0f, "attention_forward: dropout {} must be in [0, 1)", drop.p);
  if (B * T * C == 0) return;
  dispatch_float(dt, "attention_forward", [&](auto tag) {
    using E = decltype(tag);
    const int64_t HS = C / NH, n = B * T * C, natt = drop.p > 0.0f ? B * NH * T * T : 0;
    E* s = static_cast<E*>(scratch((4 * static_cast<size_t>(n) + static_cast<size_t>(natt)) * sizeof(E)));
    E *q = s, *k = s + n, *v = s + 2 * n, *y = s + 3 * n, *pd = s + 4 * n;
    permute_qkv_kernel<E><<<ceil_div(n, 256), 256, 0, stream()>>>(q, k, v, static_cast<const E*>(qkv), B, T, C, NH);
    LM_CUDA_CHECK_LAUNCH();
    E* a = static_cast<E*>(att);
    batched_gemm(dt, false, true, T, T, HS, q, HS, T * HS, k, HS, T * HS, a, T, T * T, B * NH);  // S = Q·Kᵀ
    softmax_forward_kernel<E><<<ceil_div(B * NH * T, kRowsPerBlock), 32 * kRowsPerBlock, 0, stream()>>>(
        a, key_mask, B, NH, T, causal, scale);
    LM_CUDA_CHECK_LAUNCH();
    // att keeps the undropped probabilities (backward needs them); P·V uses the dropped copy, whose mask index is
    // the flat (b,h,t,j) index as on the CPU.
    const E* pv = a;
    if (natt > 0) {
      dropout_forward(dt, pd, a, natt, drop.p, drop.seed, drop.stream);
      pv = pd;
    }
    batched_gemm(dt, false, false, T, HS, T, pv, T, T * T, v, HS, T * HS, y, HS, T * HS, B * NH);  // Y = P·V
    permute_heads_kernel<E><<<ceil_div(n, 256), 256, 0, stream()>>>(y, static_cast<E*>(out), B, T, C, NH, false);
    LM_CUDA_CHECK_LAUNCH();
  });
}

void attention_backward(DType dt, void* dqkv, void* datt, const void* dout, const void* qkv, const void* att,
                        int64_t B, int64_t T, int64_t C, int64_t NH, float scale, const AttnDropoutSpec& drop) {
  check_shapes("attention_backward", B, T, C, NH);
  LM_CHECK(drop.p >= 0.0f && drop.p < 1.0f, "attention_backward: dropout {} must be in [0, 1)", drop.p);
  if (B * T * C == 0) return;
  dispatch_float(dt, "attention_backward", [&](auto tag) {
    using E = decltype(tag);
    const int64_t HS = C / NH, n = B * T * C, natt = drop.p > 0.0f ? B * NH * T * T : 0;
    E* s = static_cast<E*>(scratch((7 * static_cast<size_t>(n) + static_cast<size_t>(natt)) * sizeof(E)));
    E *q = s, *k = s + n, *v = s + 2 * n, *dy = s + 3 * n, *dq = s + 4 * n, *dk = s + 5 * n, *dv = s + 6 * n;
    E* pd = s + 7 * n;
    permute_qkv_kernel<E><<<ceil_div(n, 256), 256, 0, stream()>>>(q, k, v, static_cast<const E*>(qkv), B, T, C, NH);
    LM_CUDA_CHECK_LAUNCH();
    permute_heads_kernel<E><<<ceil_div(n, 256), 256, 0, stream()>>>(dy, const_cast<E*>(static_cast<const E*>(dout)), B,
                                                                     T, C, NH, true);
    LM_CUDA_CHECK_LAUNCH();
    const E* p = static_cast<const E*>(att);
    E* dp = static_cast<E*>(datt);
    batched_gemm(dt, false, true, T, T, HS, dy, HS, T * HS, v, HS, T * HS, dp, T, T * T, B * NH);   // dP = dY·Vᵀ
    // With dropout: dV uses the dropped probabilities (regenerated from the counter), and dP of the undropped
    // probabilities is the mask applied to dY·Vᵀ (the same elementwise dropout, in place).
    const E* pv = p;
    if (natt > 0) {
      dropout_forward(dt, pd, p, natt, drop.p, drop.seed, drop.stream);
      pv = pd;
      dropout_forward(dt, dp, dp, natt, drop.p, drop.seed, drop.stream);
    }
    batched_gemm(dt, true, false, T, HS, T, pv, T, T * T, dy, HS, T * HS, dv, HS, T * HS, B * NH);  // dV = Pᵀ·dY
    softmax_backward_kernel<E><<<ceil_div(B * NH * T, kRowsPerBlock), 32 * kRowsPerBlock, 0, stream()>>>(
        dp, p, B * NH * T, T, scale);
    LM_CUDA_CHECK_LAUNCH();
    batched_gemm(dt, false, false, T, HS, T, dp, T, T * T, k, HS, T * HS, dq, HS, T * HS, B * NH);  // dQ = dS·K
    batched_gemm(dt, true, false, T, HS, T, dp, T, T * T, q, HS, T * HS, dk, HS, T * HS, B * NH);   // dK = dSᵀ·Q
    unpermute_dqkv_add_kernel<E><<<ceil_div(n, 256), 256, 0, stream()>>>(static_cast<E*>(dqkv), dq, dk, dv, B, T, C,
                                                                         NH);
    LM_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace lm::cuda
