// Reference AdamW step over n parameters (torch.optim.AdamW semantics), templated over float|double:
//   p *= 1 - lr*wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g²;
//   p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
// Plus Σ g² and x *= s used by gradient clipping.
#pragma once

#include <cmath>
#include <cstdint>

namespace lm::ref {

template <typename F>
void adamw_update(F* p, const F* g, F* m, F* v, int64_t n, F lr, F beta1, F beta2, F eps, F wd,
                  int64_t step) {
  const F bc1 = F(1) - std::pow(beta1, static_cast<F>(step));
  const F bc2 = F(1) - std::pow(beta2, static_cast<F>(step));
  for (int64_t i = 0; i < n; ++i) {
    p[i] *= F(1) - lr * wd;
    m[i] = beta1 * m[i] + (F(1) - beta1) * g[i];
    v[i] = beta2 * v[i] + (F(1) - beta2) * g[i] * g[i];
    F mhat = m[i] / bc1, vhat = v[i] / bc2;
    p[i] -= lr * mhat / (std::sqrt(vhat) + eps);
  }
}

template <typename F>
double sum_squares(const F* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return s;
}

template <typename F>
void scale_inplace(F* x, int64_t n, F s) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

}  // namespace lm::ref
