// dtype conversion dst = src, f32 <-> bf16 (round to nearest even), same number of elements, same device
// (mixed-precision parameter copies). Shapes: dst, src (n).
#pragma once

#include "lm/core/tensor.h"

namespace lm::ops {

void convert(Tensor dst, Tensor src);

}  // namespace lm::ops
