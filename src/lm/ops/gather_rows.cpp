// Row gather and its backward (scatter-add), by host indices: BERT's masked positions, first-token pooling, the
// QA logits split. Shapes: rows (R,C), the full tensor (N,C); indices in [0, N).
#include "lm/ops/gather_rows.h"

#include <algorithm>

#include "lm/core/buffer.h"
#include "lm/core/device_memory.h"
#include "lm/ops/op_util.h"

#ifdef LM_WITH_CUDA
#include "lm/kernels/cuda/encoder.h"
#endif

namespace lm::ops {

using namespace detail;

namespace {
// (R,C) rows vs (N,C) rows, indices in [0, N); returns C.
int64_t check_rows(const char* op, const Tensor& rows_t, const char* rows_name, const Tensor& full, const char* full_name,
                   const std::vector<int64_t>& idx) {
  check_defined(rows_t, op, rows_name);
  check_defined(full, op, full_name);
  (void)data_dtype(op, {{&rows_t, rows_name}, {&full, full_name}});
  LM_CHECK(rows_t.ndim() == 2 && full.ndim() == 2 && rows_t.dim(1) == full.dim(1),
           "{}: {} must be (R,C) and {} (N,C), got {} and {}", op, rows_name, full_name, rows_t.shape.str(),
           full.shape.str());
  LM_CHECK(rows_t.dim(0) == static_cast<int64_t>(idx.size()), "{}: {} has {} rows for {} indices", op, rows_name,
           rows_t.dim(0), idx.size());
  for (size_t r = 0; r < idx.size(); ++r)
    LM_CHECK(idx[r] >= 0 && idx[r] < full.dim(0), "{}: index {} = {} out of range [0, {})", op, r, idx[r], full.dim(0));
  return full.dim(1);
}

#ifdef LM_WITH_CUDA
// The indices as a device i32 array (valid until the caller's next use of this thread's staging buffer).
const int32_t* upload_indices(const std::vector<int64_t>& idx, Device dev, Buffer& staging) {
  std::vector<int32_t> i32(idx.begin(), idx.end());
  const size_t bytes = std::max<size_t>(i32.size() * 4, 4);
  if (staging.size() < bytes) staging = Buffer(bytes, dev);
  copy_bytes(staging.data(), dev, i32.data(), Device::CPU, i32.size() * 4);
  return static_cast<const int32_t*>(staging.data());
}
#endif
}  // namespace

void gather_rows(Tensor out, Tensor in, const std::vector<int64_t>& idx) {
  const char* op = "gather_rows";
  const int64_t C = check_rows(op, out, "out", in, "in", idx);
  const int64_t R = static_cast<int64_t>(idx.size());
  switch (common_device(op, {&out, &in})) {
    case Device::CPU:
      for (int64_t r = 0; r < R; ++r)
        std::copy(in.f32() + idx[static_cast<size_t>(r)] * C, in.f32() + (idx[static_cast<size_t>(r)] + 1) * C,
                  out.f32() + r * C);
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA: {
      thread_local Buffer staging;
      cuda::gather_rows(out.dtype, out.data, in.data, upload_indices(idx, out.device, staging), R, C);
      return;
    }
#endif
    default:
      unsupported_device(op, out.device);
  }
}

void scatter_add_rows(Tensor dst, Tensor src, const std::vector<int64_t>& idx) {
  const char* op = "scatter_add_rows";
  const int64_t C = check_rows(op, src, "src", dst, "dst", idx);
  const int64_t R = static_cast<int64_t>(idx.size());
  switch (common_device(op, {&dst, &src})) {
    case Device::CPU:
      for (int64_t r = 0; r < R; ++r) {
        float* d = dst.f32() + idx[static_cast<size_t>(r)] * C;
        const float* s = src.f32() + r * C;
        for (int64_t c = 0; c < C; ++c) d[c] += s[c];
      }
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA: {
      thread_local Buffer staging;
      cuda::scatter_add_rows(dst.dtype, dst.data, src.data, upload_indices(idx, dst.device, staging), R, C);
      return;
    }
#endif
    default:
      unsupported_device(op, dst.device);
  }
}

}  // namespace lm::ops
