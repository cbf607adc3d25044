// Reference GELU (elementwise, n values), templated over float|double.
// Tanh form (HF gelu_new): 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))); Erf form (HF gelu): 0.5x(1+erf(x/sqrt2)).
#pragma once

#include <cmath>
#include <cstdint>

namespace lm::ref {

constexpr double kGeluTanhScale = 0.7978845608028654;  // sqrt(2/pi)
constexpr double kGeluCubic = 0.044715;
constexpr double kInvSqrt2 = 0.7071067811865476;
constexpr double kInvSqrt2Pi = 0.3989422804014327;

template <typename F>
F gelu_tanh(F x) {
  F u = F(kGeluTanhScale) * (x + F(kGeluCubic) * x * x * x);
  return F(0.5) * x * (F(1) + std::tanh(u));
}
template <typename F>
F gelu_tanh_grad(F x) {
  F u = F(kGeluTanhScale) * (x + F(kGeluCubic) * x * x * x);
  F th = std::tanh(u);
  F du = F(kGeluTanhScale) * (F(1) + F(3 * kGeluCubic) * x * x);
  return F(0.5) * (F(1) + th) + F(0.5) * x * (F(1) - th * th) * du;
}
template <typename F>
F gelu_erf(F x) {
  return F(0.5) * x * (F(1) + std::erf(x * F(kInvSqrt2)));
}
template <typename F>
F gelu_erf_grad(F x) {
  return F(0.5) * (F(1) + std::erf(x * F(kInvSqrt2))) + x * F(kInvSqrt2Pi) * std::exp(F(-0.5) * x * x);
}

template <typename F>
void gelu_forward(F* out, const F* inp, int64_t n, bool tanh_form) {
  for (int64_t i = 0; i < n; ++i) out[i] = tanh_form ? gelu_tanh(inp[i]) : gelu_erf(inp[i]);
}

// dinp += dout * gelu'(inp)
template <typename F>
void gelu_backward(F* dinp, const F* dout, const F* inp, int64_t n, bool tanh_form) {
  for (int64_t i = 0; i < n; ++i)
    dinp[i] += dout[i] * (tanh_form ? gelu_tanh_grad(inp[i]) : gelu_erf_grad(inp[i]));
}

}  // namespace lm::ref
