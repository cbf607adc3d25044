// Reference residual add over n elements: out = a + b; backward accumulates dout into da and db.
#pragma once

#include <cstdint>

namespace lm::ref {

template <typename F>
void residual_forward(F* out, const F* a, const F* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

template <typename F>
void residual_backward(F* da, F* db, const F* dout, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    da[i] += dout[i];
    db[i] += dout[i];
  }
}

}  // namespace lm::ref
