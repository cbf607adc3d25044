// CUDA residual add over n elements of dtype dt (f32|bf16): out = a + b; backward accumulates dout into da and db.
// Elementwise, so out may alias a or b, and dout may alias da or db (each element is read before it is written).
#pragma once

#include <cstdint>

#include "lm/core/dtype.h"

namespace lm::cuda {

void residual_forward(DType dt, void* out, const void* a, const void* b, int64_t n);
void residual_backward(DType dt, void* da, void* db, const void* dout, int64_t n);

}  // namespace lm::cuda
