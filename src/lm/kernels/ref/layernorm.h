// Reference LayerNorm over the last dimension (biased variance, as nn.LayerNorm), templated over
// float|double. Shapes: inp/out/dinp/dout (N,C), mean/rstd (N), w/b/dw/db (C).
#pragma once

#include <cmath>
#include <cstdint>

namespace lm::ref {

template <typename F>
void layernorm_forward(F* out, F* mean, F* rstd, const F* inp, const F* w, const F* b, F eps, int64_t N,
                       int64_t C) {
  for (int64_t n = 0; n < N; ++n) {
    const F* x = inp + n * C;
    F m = 0;
    for (int64_t c = 0; c < C; ++c) m += x[c];
    m /= static_cast<F>(C);
    F var = 0;
    for (int64_t c = 0; c < C; ++c) var += (x[c] - m) * (x[c] - m);
    var /= static_cast<F>(C);
    F s = F(1) / std::sqrt(var + eps);
    for (int64_t c = 0; c < C; ++c) out[n * C + c] = (x[c] - m) * s * w[c] + b[c];
    mean[n] = m;
    rstd[n] = s;
  }
}

// With xhat = (x-mean)*rstd and g = w*dout: dx = rstd * (g - mean(g) - xhat * mean(g*xhat)).
template <typename F>
void layernorm_backward(F* dinp, F* dw, F* db, const F* dout, const F* inp, const F* w, const F* mean,
                        const F* rstd, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; ++n) {
    const F* x = inp + n * C;
    const F* dy = dout + n * C;
    F g_mean = 0, gx_mean = 0;
    for (int64_t c = 0; c < C; ++c) {
      F xhat = (x[c] - mean[n]) * rstd[n];
      F g = w[c] * dy[c];
      g_mean += g;
      gx_mean += g * xhat;
    }
    g_mean /= static_cast<F>(C);
    gx_mean /= static_cast<F>(C);
    for (int64_t c = 0; c < C; ++c) {
      F xhat = (x[c] - mean[n]) * rstd[n];
      F g = w[c] * dy[c];
      dinp[n * C + c] += (g - g_mean - xhat * gx_mean) * rstd[n];
      dw[c] += xhat * dy[c];
      db[c] += dy[c];
    }
  }
}

}  // namespace lm::ref
