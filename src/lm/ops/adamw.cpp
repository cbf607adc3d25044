// Tensor-level AdamW over flat (any-shape) params/grads/moments, and Σ g², x *= s for gradient clipping.
#include "lm/ops/adamw.h"

#include <cmath>

#include "lm/kernels/cpu/adamw.h"
#include "lm/ops/op_util.h"

#ifdef LM_WITH_CUDA
#include "lm/kernels/cuda/adamw.h"
#endif

namespace lm::ops {

using namespace detail;

void adamw_update(Tensor params, Tensor grads, Tensor m, Tensor v, const AdamWParams& hp, Tensor param_copy) {
  const char* op = "adamw_update";
  check_f32(params, op, "params");
  check_defined(grads, op, "grads");
  (void)data_dtype(op, {{&grads, "grads"}});
  check_f32(m, op, "m");
  check_f32(v, op, "v");
  const int64_t n = params.numel();
  if (param_copy.defined()) {
    (void)data_dtype(op, {{&param_copy, "param_copy"}});
    LM_CHECK(param_copy.numel() == n, "{}: param_copy must have {} elements, got {}", op, n, param_copy.shape.str());
    LM_CHECK(param_copy.device != Device::CPU, "{}: a low-precision parameter copy exists only on cuda", op);
  }
  LM_CHECK(grads.numel() == n && m.numel() == n && v.numel() == n,
           "{}: params {}, grads {}, m {}, v {} must have the same number of elements", op,
           params.shape.str(), grads.shape.str(), m.shape.str(), v.shape.str());
  LM_CHECK(hp.step >= 1, "{}: step counts from 1, got {}", op, hp.step);
  LM_CHECK(hp.beta1 >= 0.0f && hp.beta1 < 1.0f && hp.beta2 >= 0.0f && hp.beta2 < 1.0f,
           "{}: betas must be in [0, 1), got ({}, {})", op, hp.beta1, hp.beta2);
  LM_CHECK(std::isfinite(hp.lr) && hp.lr >= 0.0f && hp.eps >= 0.0f && hp.weight_decay >= 0.0f,
           "{}: lr, eps and weight_decay must be finite and >= 0 (lr {}, eps {}, wd {})", op, hp.lr, hp.eps,
           hp.weight_decay);
  LM_CHECK(std::isfinite(hp.grad_scale) && hp.grad_scale >= 0.0f, "{}: grad_scale must be finite and >= 0, got {}", op,
           hp.grad_scale);
  switch (common_device(op, {&params, &grads, &m, &v, &param_copy})) {
    case Device::CPU:
      cpu::adamw_update(params.f32(), grads.f32(), m.f32(), v.f32(), n, hp.lr, hp.beta1, hp.beta2, hp.eps,
                        hp.weight_decay, hp.step, hp.grad_scale);
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::adamw_update(params.f32(), param_copy.defined() ? param_copy.data : nullptr,
                         param_copy.defined() ? param_copy.dtype : DType::F32, grads.data, grads.dtype, m.f32(), v.f32(),
                         n, hp.lr, hp.beta1, hp.beta2, hp.eps, hp.weight_decay, hp.step, hp.grad_scale);
      return;
#endif
    default:
      unsupported_device(op, params.device);
  }
}

}  // namespace lm::ops
