// Softmax cross-entropy: one block per row; each thread keeps a running (max, Σexp) over its strided columns,
// merged across the block in a fixed order, so the result is deterministic.
#include "lm/kernels/cuda/common.cuh"
#include "lm/kernels/cuda/cross_entropy.h"

namespace lm::cuda {

namespace {

constexpr int kThreads = 512;

struct RowStats {
  float max, sum;  // softmax over the row = exp(x - max) / sum
};

template <typename T>
__device__ RowStats row_stats(const T* x, int64_t V, float* shared) {
  float m = -INFINITY, s = 0.0f;
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
    const float xv = to_f(x[v]);
    if (xv > m) {
      s = s * expf(m - xv) + 1.0f;  // expf(-inf) = 0 on the first element
      m = xv;
    } else {
      s += expf(xv - m);
    }
  }
  const float gm = block_max(m, shared);
  s = m == -INFINITY ? 0.0f : s * expf(m - gm);
  return {gm, block_sum(s, shared)};
}

// mode bit 1: write losses; bit 2: write dlogits (out may alias x).
template <typename T>
__global__ void cross_entropy_kernel(float* losses, T* dlogits, const T* logits, const int32_t* targets, float dloss,
                                     int ignore_index, int64_t V, int mode) {
  __shared__ float shared[32];
  const int64_t n = blockIdx.x;
  const T* x = logits + n * V;
  const int32_t tgt = targets[n];
  if (tgt == ignore_index) {
    if ((mode & 1) && threadIdx.x == 0) losses[n] = 0.0f;
    if (mode & 2)
      for (int64_t v = threadIdx.x; v < V; v += blockDim.x) dlogits[n * V + v] = from_f<T>(0.0f);
    return;
  }
  const RowStats st = row_stats(x, V, shared);
  // Read the target logit before any thread overwrites the row (in-place backward).
  const float xt = to_f(x[tgt]);
  __syncthreads();
  if ((mode & 1) && threadIdx.x == 0) losses[n] = logf(st.sum) + st.max - xt;
  if (mode & 2) {
    const float inv = 1.0f / st.sum;
    T* dx = dlogits + n * V;
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
      const float p = expf(to_f(x[v]) - st.max) * inv;
      dx[v] = from_f<T>((p - (v == tgt ? 1.0f : 0.0f)) * dloss);
    }
  }
}

template <typename E>
void launch(float* losses, E* dlogits, const E* logits, const int32_t* targets, float dloss, int ignore_index,
            int64_t N, int64_t V, int mode) {
  if (N == 0) return;
  LM_CHECK(N < (int64_t(1) << 31), "cross_entropy: N = {} rows exceeds the CUDA grid", N);
  cross_entropy_kernel<E><<<static_cast<unsigned>(N), kThreads, 0, stream()>>>(losses, dlogits, logits, targets,
                                                                               dloss, ignore_index, V, mode);
  LM_CUDA_CHECK_LAUNCH();
}

}  // namespace

void cross_entropy_forward(DType dt, float* losses, const void* logits, const int32_t* targets, int ignore_index,
                           int64_t N, int64_t V) {
  dispatch_float(dt, "cross_entropy_forward", [&](auto tag) {
    using E = decltype(tag);
    launch<E>(losses, nullptr, static_cast<const E*>(logits), targets, 0.0f, ignore_index, N, V, 1);
  });
}

void cross_entropy_backward(DType dt, void* dlogits, const void* logits, const int32_t* targets, float dloss,
                            int ignore_index, int64_t N, int64_t V) {
  dispatch_float(dt, "cross_entropy_backward", [&](auto tag) {
    using E = decltype(tag);
    launch<E>(nullptr, static_cast<E*>(dlogits), static_cast<const E*>(logits), targets, dloss, ignore_index, N, V,
              2);
  });
}

void cross_entropy_forward_backward(DType dt, float* losses, void* logits, const int32_t* targets, float dloss,
                                    int ignore_index, int64_t N, int64_t V) {
  dispatch_float(dt, "cross_entropy_forward_backward", [&](auto tag) {
    using E = decltype(tag);
    launch<E>(losses, static_cast<E*>(logits), static_cast<const E*>(logits), targets, dloss, ignore_index, N, V, 3);
  });
}

}  // namespace lm::cuda
