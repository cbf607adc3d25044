// Reference tanh (elementwise, n values), templated over float|double: the BERT pooler's activation.
// Backward uses the saved output: d tanh(x)/dx = 1 - tanh(x)^2.
#pragma once

#include <cmath>
#include <cstdint>

namespace lm::ref {

template <typename F>
void tanh_forward(F* out, const F* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = std::tanh(inp[i]);
}

// dinp += dout * (1 - out^2)
template <typename F>
void tanh_backward(F* dinp, const F* dout, const F* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dinp[i] += dout[i] * (F(1) - out[i] * out[i]);
}

}  // namespace lm::ref
