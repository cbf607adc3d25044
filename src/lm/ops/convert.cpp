// dtype conversion dst = src, f32 <-> bf16 (round to nearest even), same number of elements, same device
// (mixed-precision parameter copies). Shapes: dst, src (n).
#include "lm/ops/convert.h"

#include "lm/core/device_memory.h"
#include "lm/core/dtype.h"
#include "lm/ops/op_util.h"

#ifdef LM_WITH_CUDA
#include "lm/kernels/cuda/convert.h"
#endif

namespace lm::ops {

using namespace detail;

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
