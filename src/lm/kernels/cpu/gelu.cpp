// GELU kernels: static chunks per thread, each chunk one vectorised loop (runtime-dispatched ISA clones) over
// branch-free exp-based tanh / erf, since libm's tanhf/erff would keep the loop scalar (measured ~4-10x).
// erf uses Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7, about one float ulp at 1).
#include "lm/kernels/cpu/gelu.h"

#include <omp.h>

#include "lm/kernels/cpu/parallel.h"
#include "lm/kernels/cpu/vec_math.h"
#include "lm/kernels/ref/gelu.h"

namespace lm::cpu {

namespace {

constexpr float kS = static_cast<float>(ref::kGeluTanhScale);
constexpr float kK = static_cast<float>(ref::kGeluCubic);
constexpr float kInvSqrt2 = static_cast<float>(ref::kInvSqrt2);
constexpr float kInvSqrt2Pi = static_cast<float>(ref::kInvSqrt2Pi);

// erf(z) for any sign: A&S 7.1.26 on |z|, sign restored.
inline float erf_approx(float z) {
  const float a = z < 0.0f ? -z : z;
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  float poly = 1.061405429f;
  poly = poly * t - 1.453152027f;
  poly = poly * t + 1.421413741f;
  poly = poly * t - 0.284496736f;
  poly = poly * t + 0.254829592f;
  const float e = 1.0f - poly * t * exp_approx(-a * a);
  return z < 0.0f ? -e : e;
}

LM_CPU_CLONES void tanh_forward_chunk(float* out, const float* inp, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float x = inp[i];
    out[i] = 0.5f * x * (1.0f + tanh_approx(kS * (x + kK * x * x * x)));
  }
}

// d gelu_tanh(x) / dx
inline float tanh_grad(float x) {
  const float th = tanh_approx(kS * (x + kK * x * x * x));
  const float du = kS * (1.0f + 3.0f * kK * x * x);
  return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du;
}

// Two loops rather than a template: clang's target_clones does not take function templates. The overwrite
// loop never reads dinp.
LM_CPU_CLONES void tanh_backward_chunk(float* dinp, const float* dout, const float* inp, int64_t n, bool accumulate) {
  if (accumulate) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dinp[i] += dout[i] * tanh_grad(inp[i]);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dinp[i] = dout[i] * tanh_grad(inp[i]);
  }
}

LM_CPU_CLONES void erf_forward_chunk(float* out, const float* inp, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float x = inp[i];
    out[i] = 0.5f * x * (1.0f + erf_approx(x * kInvSqrt2));
  }
}

// d gelu_erf(x) / dx
inline float erf_grad(float x) {
  const float cdf = 0.5f * (1.0f + erf_approx(x * kInvSqrt2));
  return cdf + x * kInvSqrt2Pi * exp_approx(-0.5f * x * x);
}

LM_CPU_CLONES void erf_backward_chunk(float* dinp, const float* dout, const float* inp, int64_t n, bool accumulate) {
  if (accumulate) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dinp[i] += dout[i] * erf_grad(inp[i]);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dinp[i] = dout[i] * erf_grad(inp[i]);
  }
}

}  // namespace

void gelu_forward(float* out, const float* inp, int64_t n, bool tanh_form) {
  sync_thread_count();
#pragma omp parallel
  {
    int64_t b, e;
    static_chunk(n, omp_get_thread_num(), omp_get_num_threads(), 16, &b, &e);
    if (b < e) (tanh_form ? tanh_forward_chunk : erf_forward_chunk)(out + b, inp + b, e - b);
  }
}

void gelu_backward(float* dinp, const float* dout, const float* inp, int64_t n, bool tanh_form, bool accumulate) {
  sync_thread_count();
#pragma omp parallel
  {
    int64_t b, e;
    static_chunk(n, omp_get_thread_num(), omp_get_num_threads(), 16, &b, &e);
    if (b < e) {
      if (tanh_form)
        tanh_backward_chunk(dinp + b, dout + b, inp + b, e - b, accumulate);
      else
        erf_backward_chunk(dinp + b, dout + b, inp + b, e - b, accumulate);
    }
  }
}

}  // namespace lm::cpu
