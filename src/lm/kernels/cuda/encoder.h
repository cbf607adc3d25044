// CUDA token + position embedding, forward and backward. Shapes: out/dout (B,T,C) of dtype dt (f32|bf16);
// ids, pos (B,T) i32 on the device (pos may be null: position = pos_offset + t); wte/dwte (V,C); wpe/dwpe
// (maxT,C) of dtype dt. Indices must be validated by the caller. Backward is deterministic: rows are grouped by
// a stable radix sort of the indices and each group is summed in (b,t) order, no atomics.
#pragma once

#include <cstdint>

#include "lm/core/dtype.h"

namespace lm::cuda {

void encoder_forward(DType dt, void* out, const int32_t* ids, const void* wte, const void* wpe, int64_t pos_offset,
                     const int32_t* pos, int64_t B, int64_t T, int64_t C);
// dwte[ids] += dout, dwpe[pos] += dout (dwpe may be null).
void encoder_backward(DType dt, void* dwte, void* dwpe, const void* dout, const int32_t* ids, int64_t pos_offset,
                      const int32_t* pos, int64_t B, int64_t T, int64_t C);

}  // namespace lm::cuda
