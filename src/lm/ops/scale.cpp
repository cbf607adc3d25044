// x *= s in place (gradient clipping). Shapes: x (n).
#include "lm/ops/scale.h"

#include "lm/kernels/cpu/adamw.h"
#include "lm/ops/op_util.h"

#ifdef LM_WITH_CUDA
#include "lm/kernels/cuda/global_norm.h"
#endif

namespace lm::ops {

using namespace detail;

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

}  // namespace lm::ops
