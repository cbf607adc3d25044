// Elementwise dtype conversion (grid-stride).
#include "lm/kernels/cuda/common.cuh"
#include "lm/kernels/cuda/convert.h"

namespace lm::cuda {

namespace {

template <typename D, typename S>
__global__ void convert_kernel(D* dst, const S* src, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] = from_f<D>(to_f(src[i]));
}

unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + 255) / 256;
  return static_cast<unsigned>(blocks < 65536 ? blocks : 65536);
}

}  // namespace

void convert(DType dst_dt, void* dst, DType src_dt, const void* src, int64_t n) {
  if (n == 0) return;
  dispatch_float(dst_dt, "convert (dst)", [&](auto dtag) {
    using D = decltype(dtag);
    dispatch_float(src_dt, "convert (src)", [&](auto stag) {
      using S = decltype(stag);
      convert_kernel<D, S><<<grid_for(n), 256, 0, stream()>>>(static_cast<D*>(dst), static_cast<const S*>(src), n);
      LM_CUDA_CHECK_LAUNCH();
    });
  });
}

}  // namespace lm::cuda
