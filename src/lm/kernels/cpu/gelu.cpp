// GELU kernels: static-chunked elementwise loops over the scalar formulas of kernels/ref/gelu.h in float.
#include "lm/kernels/cpu/gelu.h"

#include "lm/kernels/ref/gelu.h"

namespace lm::cpu {

void gelu_forward(float* out, const float* inp, int64_t n, bool tanh_form) {
  if (tanh_form) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) out[i] = ref::gelu_tanh(inp[i]);
  } else {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) out[i] = ref::gelu_erf(inp[i]);
  }
}

void gelu_backward(float* dinp, const float* dout, const float* inp, int64_t n, bool tanh_form) {
  if (tanh_form) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) dinp[i] += dout[i] * ref::gelu_tanh_grad(inp[i]);
  } else {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) dinp[i] += dout[i] * ref::gelu_erf_grad(inp[i]);
  }
}

}  // namespace lm::cpu
