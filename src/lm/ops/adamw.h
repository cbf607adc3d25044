// AdamW (Loshchilov & Hutter; torch.optim.AdamW semantics): decoupled weight decay p -= lr*wd*p applied before the
// Adam step, bias-corrected moments, eps added to sqrt(v_hat). step counts from 1. Shapes: p, g, m, v all (n).
#pragma once

#include "lm/core/tensor.h"

namespace lm::ops {

struct AdamWParams {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
  int64_t step = 1;
  float grad_scale = 1.0f;  // multiplies every gradient as it is read (clipping); the grads are left as they are
};

// params/m/v f32 (master weights and moments). grads f32, or bf16 on cuda. param_copy (optional, cuda): the
// low-precision (bf16) copy of params that a mixed-precision model computes with, refreshed in the same pass.
void adamw_update(Tensor params, Tensor grads, Tensor m, Tensor v, const AdamWParams& hp, Tensor param_copy = {});

}  // namespace lm::ops
