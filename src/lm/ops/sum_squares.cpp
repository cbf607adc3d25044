// Σ g² of a tensor in double, with a fixed partition of the work so the result is bitwise reproducible for a
// given thread count (gradient norms). Shapes: g (n), f32 (or bf16 on cuda).
#include "lm/ops/sum_squares.h"

#include "lm/kernels/cpu/adamw.h"
#include "lm/ops/op_util.h"

#ifdef LM_WITH_CUDA
#include "lm/kernels/cuda/global_norm.h"
#endif

namespace lm::ops {

using namespace detail;

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

}  // namespace lm::ops
