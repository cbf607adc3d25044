// CUDA dtype conversion: dst (n, dst_dt) = src (n, src_dt) for f32 <-> bf16 (round to nearest even) or a plain
// copy, e.g. fp32 master weights -> the bf16 compute copy after loading a checkpoint.
#pragma once

#include <cstdint>

#include "lm/core/dtype.h"

namespace lm::cuda {

void convert(DType dst_dt, void* dst, DType src_dt, const void* src, int64_t n);

}  // namespace lm::cuda
