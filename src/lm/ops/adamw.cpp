// Tensor-level AdamW over flat (any-shape) params/grads/moments, and Σ g², x *= s for gradient clipping.
#include "lm/ops/adamw.h"

#include <cmath>

#include "lm/kernels/cpu/adamw.h"
#include "lm/ops/op_util.h"

#ifdef LM_WITH_CUDA
#include "lm/kernels/cuda/adamw.h"
#include "lm/kernels/cuda/convert.h"
#include "lm/kernels/cuda/global_norm.h"
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

double sum_squares(Tensor g) {
  const char* op = "sum_squares";
  check_defined(g, op, "g");
  (void)data_dtype(op, {{&g, "g"}});
  switch (g.device) {
    case Device::CPU:
      return cpu::sum_squares(g.f32(), g.numel());
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      return cuda::sum_squares_host(g.dtype, g.data, g.numel());
#endif
    default:
      unsupported_device(op, g.device);
  }
}

void scale_inplace(Tensor x, float s) {
  const char* op = "scale_inplace";
  check_defined(x, op, "x");
  (void)data_dtype(op, {{&x, "x"}});
  switch (x.device) {
    case Device::CPU:
      cpu::scale_inplace(x.f32(), x.numel(), s);
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::scale_inplace(x.dtype, x.data, x.numel(), s);
      return;
#endif
    default:
      unsupported_device(op, x.device);
  }
}

void convert(Tensor dst, Tensor src) {
  const char* op = "convert";
  check_defined(dst, op, "dst");
  check_defined(src, op, "src");
  LM_CHECK(dst.numel() == src.numel(), "{}: dst has {} elements, src {}", op, dst.numel(), src.numel());
  for (const Tensor* t : {&dst, &src})
    LM_CHECK(t->dtype == DType::F32 || t->dtype == DType::BF16, "{}: f32 or bf16 only, got {}", op,
             dtype_name(t->dtype));
  switch (common_device(op, {&dst, &src})) {
    case Device::CPU: {
      const int64_t n = src.numel();
      if (dst.dtype == src.dtype) {
        if (dst.data != src.data) copy_bytes(dst.data, Device::CPU, src.data, Device::CPU, src.nbytes());
      } else if (dst.dtype == DType::BF16) {
        const float* s = src.f32();
        uint16_t* d = static_cast<uint16_t*>(dst.data);
        for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(s[i]);
      } else {
        const uint16_t* s = static_cast<const uint16_t*>(src.data);
        float* d = dst.f32();
        for (int64_t i = 0; i < n; ++i) d[i] = bf16_to_f32(s[i]);
      }
      return;
    }
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::convert(dst.dtype, dst.data, src.dtype, src.data, src.numel());
      return;
#endif
    default:
      unsupported_device(op, dst.device);
  }
}

}  // namespace lm::ops
