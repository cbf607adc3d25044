// CUDA AdamW (torch.optim.AdamW semantics, as kernels/ref/adamw.h) over n parameters with fp32 master weights and
// fp32 moments. Shapes: master/m/v (n) f32; grad (n) of dtype grad_dt (f32|bf16); param_copy (n) of dtype
// copy_dt or null: in bf16 mode the model computes with a bf16 copy of the master weights, refreshed here in
// the same pass (round to nearest even). grad_scale multiplies every gradient first (global-norm clipping).
#pragma once

#include <cstdint>

#include "lm/core/dtype.h"

namespace lm::cuda {

void adamw_update(float* master, void* param_copy, DType copy_dt, const void* grad, DType grad_dt, float* m, float* v,
                  int64_t n, float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step,
                  float grad_scale);

}  // namespace lm::cuda
