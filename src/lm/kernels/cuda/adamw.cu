// AdamW: one grid-stride elementwise kernel; bias corrections computed on the host in double.
#include <cmath>

#include "lm/kernels/cuda/adamw.h"
#include "lm/kernels/cuda/common.cuh"

namespace lm::cuda {

namespace {

template <typename G, typename P>
__global__ void adamw_kernel(float* master, P* copy, const G* grad, float* m, float* v, int64_t n, float lr,
                             float beta1, float beta2, float eps, float wd, float bc1, float bc2, float grad_scale) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float g = to_f(grad[i]) * grad_scale;
    float p = master[i] * (1.0f - lr * wd);
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    p -= lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
    m[i] = mi;
    v[i] = vi;
    master[i] = p;
    if (copy) copy[i] = from_f<P>(p);
  }
}

}  // namespace

void adamw_update(float* master, void* param_copy, DType copy_dt, const void* grad, DType grad_dt, float* m, float* v,
                  int64_t n, float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step,
                  float grad_scale) {
  if (n == 0) return;
  LM_CHECK(step >= 1, "adamw_update: step must be >= 1, got {}", step);
  const float bc1 = static_cast<float>(1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step)));
  const float bc2 = static_cast<float>(1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step)));
  const int64_t blocks64 = (n + 255) / 256;
  const unsigned blocks = static_cast<unsigned>(blocks64 < 65536 ? blocks64 : 65536);
  dispatch_float(grad_dt, "adamw_update (grad)", [&](auto gtag) {
    using G = decltype(gtag);
    dispatch_float(param_copy ? copy_dt : DType::F32, "adamw_update (param copy)", [&](auto ptag) {
      using P = decltype(ptag);
      adamw_kernel<G, P><<<blocks, 256, 0, stream()>>>(master, static_cast<P*>(param_copy),
                                                      static_cast<const G*>(grad), m, v, n, lr, beta1, beta2, eps,
                                                      weight_decay, bc1, bc2, grad_scale);
      LM_CUDA_CHECK_LAUNCH();
    });
  });
}

}  // namespace lm::cuda
