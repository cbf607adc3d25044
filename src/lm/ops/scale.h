// x *= s in place (gradient clipping). Shapes: x (n).
#pragma once

#include "lm/core/tensor.h"

namespace lm::ops {

void scale_inplace(Tensor x, float s);

}  // namespace lm::ops
