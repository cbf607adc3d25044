// CUDA global gradient norm for clipping, deterministic: a fixed grid (independent of the GPU) of block partial
// sums of squares, added in block order by a second kernel; fp32 accumulation per thread and block, fp64 for the
// final sum. Shapes: x (n) of dtype dt (f32|bf16); out (1) f64 on the device.
#pragma once

#include <cstdint>

#include "lm/core/dtype.h"

namespace lm::cuda {

// *out_device = Σ x², asynchronous (stays on the device).
void sum_squares(DType dt, double* out_device, const void* x, int64_t n);
// Σ x² returned to the host (synchronises the calling thread's stream).
double sum_squares_host(DType dt, const void* x, int64_t n);
// x *= s
void scale_inplace(DType dt, void* x, int64_t n, float s);

}  // namespace lm::cuda
