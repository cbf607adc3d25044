// Reference inverted dropout over n elements: element i is kept iff Rng(seed, stream).uniform(i) >= p and
// then scaled by 1/(1-p). The mask is regenerated in backward from (seed, stream), never stored.
#pragma once

#include <cstdint>

#include "lm/core/rng.h"

namespace lm::ref {

template <typename F>
void dropout_forward(F* out, const F* inp, int64_t n, float p, uint64_t seed, uint64_t stream) {
  Rng rng(seed, stream);
  const F scale = F(1) / (F(1) - F(p));
  for (int64_t i = 0; i < n; ++i) out[i] = rng.uniform(static_cast<uint64_t>(i)) >= p ? inp[i] * scale : F(0);
}

// dinp += mask * dout / (1-p)
template <typename F>
void dropout_backward(F* dinp, const F* dout, int64_t n, float p, uint64_t seed, uint64_t stream) {
  Rng rng(seed, stream);
  const F scale = F(1) / (F(1) - F(p));
  for (int64_t i = 0; i < n; ++i)
    if (rng.uniform(static_cast<uint64_t>(i)) >= p) dinp[i] += dout[i] * scale;
}

}  // namespace lm::ref
