// Reference row softmax over the last dimension (max-subtracted), templated over float|double.
// Shapes: inp/out/dinp/dout (N,D).
#pragma once

#include <cmath>
#include <cstdint>

namespace lm::ref {

template <typename F>
void softmax_forward(F* out, const F* inp, int64_t N, int64_t D) {
  for (int64_t n = 0; n < N; ++n) {
    const F* x = inp + n * D;
    F m = x[0];
    for (int64_t d = 1; d < D; ++d) m = x[d] > m ? x[d] : m;
    F s = 0;
    for (int64_t d = 0; d < D; ++d) s += std::exp(x[d] - m);
    for (int64_t d = 0; d < D; ++d) out[n * D + d] = std::exp(x[d] - m) / s;
  }
}

// dinp += out * (dout - Σ dout*out)
template <typename F>
void softmax_backward(F* dinp, const F* dout, const F* out, int64_t N, int64_t D) {
  for (int64_t n = 0; n < N; ++n) {
    F dot = 0;
    for (int64_t d = 0; d < D; ++d) dot += dout[n * D + d] * out[n * D + d];
    for (int64_t d = 0; d < D; ++d) dinp[n * D + d] += out[n * D + d] * (dout[n * D + d] - dot);
  }
}

}  // namespace lm::ref
