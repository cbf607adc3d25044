// Inverted dropout with a counter-based mask: element i is kept iff Philox(seed, stream)(i) >= p, and scaled by
// 1/(1-p). The mask is never stored: backward regenerates it from (seed, stream), so it is deterministic for
// any thread count and costs no memory. p == 0 is the identity (out may alias inp).
#pragma once

#include <cstdint>

#include "lm/core/tensor.h"

namespace lm::ops {

void dropout_forward(Tensor out, Tensor inp, float p, uint64_t seed, uint64_t stream);
// Accumulates dinp += mask * dout / (1-p).
void dropout_backward(Tensor dinp, Tensor dout, float p, uint64_t seed, uint64_t stream);

}  // namespace lm::ops
