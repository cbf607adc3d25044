// Embedding lookup and its deterministic scatter-add backward (sort by index, then one block per index group).
#include <cub/device/device_radix_sort.cuh>

#include "lm/kernels/cuda/common.cuh"
#include "lm/kernels/cuda/encoder.h"

namespace lm::cuda {

namespace {

template <typename T>
__global__ void encoder_forward_kernel(T* out, const int32_t* ids, const T* wte, const T* wpe, int64_t pos_offset,
                                       const int32_t* pos, int64_t B, int64_t T_, int64_t C) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= B * T_ * C) return;
  const int64_t bt = i / C, c = i % C, t = bt % T_;
  const int64_t p = pos ? static_cast<int64_t>(pos[bt]) : pos_offset + t;
  out[i] = from_f<T>(to_f(wte[static_cast<int64_t>(ids[bt]) * C + c]) + to_f(wpe[p * C + c]));
}

__global__ void iota_kernel(int32_t* x, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) x[i] = static_cast<int32_t>(i);
}

// Block i handles the group of equal keys that starts at sorted position i (other blocks exit): table[key] +=
// Σ dout[row] over the group's rows, in sorted (= ascending row, the sort is stable) order.
template <typename T>
__global__ void grouped_row_add_kernel(T* table, const T* dout, const int32_t* keys, const int32_t* rows, int64_t N,
                                       int64_t C) {
  const int64_t i = blockIdx.x;
  const int32_t key = keys[i];
  if (i > 0 && keys[i - 1] == key) return;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float acc = 0.0f;
    for (int64_t j = i; j < N && keys[j] == key; ++j) acc += to_f(dout[static_cast<int64_t>(rows[j]) * C + c]);
    T* dst = table + static_cast<int64_t>(key) * C + c;
    *dst = from_f<T>(to_f(*dst) + acc);
  }
}

// dwpe[pos_offset + t] += Σ_b dout[b,t] (b ascending), one thread per (t, c).
template <typename T>
__global__ void position_add_kernel(T* dwpe, const T* dout, int64_t pos_offset, int64_t B, int64_t T_, int64_t C) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= T_ * C) return;
  const int64_t t = i / C, c = i % C;
  float acc = 0.0f;
  for (int64_t b = 0; b < B; ++b) acc += to_f(dout[(b * T_ + t) * C + c]);
  T* dst = dwpe + (pos_offset + t) * C + c;
  *dst = from_f<T>(to_f(*dst) + acc);
}

// out[n] += table[ids[n]], one thread per element.
template <typename T>
__global__ void embedding_add_kernel(T* out, const int32_t* ids, const T* table, int64_t N, int64_t C) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= N * C) return;
  const int64_t n = i / C, c = i % C;
  out[i] = from_f<T>(to_f(out[i]) + to_f(table[static_cast<int64_t>(ids[n]) * C + c]));
}

// out[r] = in[idx[r]], one thread per element.
template <typename T>
__global__ void gather_rows_kernel(T* out, const T* in, const int32_t* idx, int64_t R, int64_t C) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= R * C) return;
  out[i] = in[static_cast<int64_t>(idx[i / C]) * C + i % C];
}

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

// table[idx[n]] += dout[n] for n < N, deterministic.
template <typename T>
void sorted_scatter_add(T* table, const T* dout, const int32_t* idx, int64_t N, int64_t C) {
  size_t temp_bytes = 0;
  LM_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, static_cast<const int32_t*>(nullptr),
                                                static_cast<int32_t*>(nullptr), static_cast<const int32_t*>(nullptr),
                                                static_cast<int32_t*>(nullptr), static_cast<int>(N), 0, 32, stream()));
  const size_t n4 = align256(static_cast<size_t>(N) * 4);
  char* s = static_cast<char*>(scratch(3 * n4 + align256(temp_bytes)));
  int32_t* keys_out = reinterpret_cast<int32_t*>(s);
  int32_t* rows_in = reinterpret_cast<int32_t*>(s + n4);
  int32_t* rows_out = reinterpret_cast<int32_t*>(s + 2 * n4);
  void* temp = s + 3 * n4;
  iota_kernel<<<ceil_div(N, 256), 256, 0, stream()>>>(rows_in, N);
  LM_CUDA_CHECK_LAUNCH();
  LM_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, idx, keys_out, rows_in, rows_out,
                                                static_cast<int>(N), 0, 32, stream()));
  grouped_row_add_kernel<T><<<static_cast<unsigned>(N), 256, 0, stream()>>>(table, dout, keys_out, rows_out, N, C);
  LM_CUDA_CHECK_LAUNCH();
}

}  // namespace

void encoder_forward(DType dt, void* out, const int32_t* ids, const void* wte, const void* wpe, int64_t pos_offset,
                     const int32_t* pos, int64_t B, int64_t T, int64_t C) {
  if (B * T * C == 0) return;
  dispatch_float(dt, "encoder_forward", [&](auto tag) {
    using E = decltype(tag);
    encoder_forward_kernel<E><<<ceil_div(B * T * C, 256), 256, 0, stream()>>>(
        static_cast<E*>(out), ids, static_cast<const E*>(wte), static_cast<const E*>(wpe), pos_offset, pos, B, T, C);
    LM_CUDA_CHECK_LAUNCH();
  });
}

void embedding_add_forward(DType dt, void* out, const int32_t* ids, const void* table, int64_t N, int64_t C) {
  if (N * C == 0) return;
  dispatch_float(dt, "embedding_add_forward", [&](auto tag) {
    using E = decltype(tag);
    embedding_add_kernel<E><<<ceil_div(N * C, 256), 256, 0, stream()>>>(static_cast<E*>(out), ids,
                                                                        static_cast<const E*>(table), N, C);
    LM_CUDA_CHECK_LAUNCH();
  });
}

void gather_rows(DType dt, void* out, const void* in, const int32_t* idx, int64_t R, int64_t C) {
  if (R * C == 0) return;
  dispatch_float(dt, "gather_rows", [&](auto tag) {
    using E = decltype(tag);
    gather_rows_kernel<E><<<ceil_div(R * C, 256), 256, 0, stream()>>>(static_cast<E*>(out), static_cast<const E*>(in),
                                                                      idx, R, C);
    LM_CUDA_CHECK_LAUNCH();
  });
}

void scatter_add_rows(DType dt, void* table, const void* src, const int32_t* idx, int64_t R, int64_t C) {
  if (R * C == 0) return;
  LM_CHECK(R < (int64_t(1) << 31), "scatter_add_rows: {} rows exceed the CUDA kernel's int32 row index", R);
  dispatch_float(dt, "scatter_add_rows", [&](auto tag) {
    using E = decltype(tag);
    sorted_scatter_add<E>(static_cast<E*>(table), static_cast<const E*>(src), idx, R, C);
  });
}

void encoder_backward(DType dt, void* dwte, void* dwpe, const void* dout, const int32_t* ids, int64_t pos_offset,
                      const int32_t* pos, int64_t B, int64_t T, int64_t C) {
  if (B * T * C == 0) return;
  LM_CHECK(B * T < (int64_t(1) << 31), "encoder_backward: B*T = {} exceeds the CUDA kernel's int32 row index", B * T);
  dispatch_float(dt, "encoder_backward", [&](auto tag) {
    using E = decltype(tag);
    const E* d = static_cast<const E*>(dout);
    sorted_scatter_add<E>(static_cast<E*>(dwte), d, ids, B * T, C);
    if (!dwpe) return;
    if (pos) {
      sorted_scatter_add<E>(static_cast<E*>(dwpe), d, pos, B * T, C);
    } else {
      position_add_kernel<E><<<ceil_div(T * C, 256), 256, 0, stream()>>>(static_cast<E*>(dwpe), d, pos_offset, B, T, C);
      LM_CUDA_CHECK_LAUNCH();
    }
  });
}

}  // namespace lm::cuda
