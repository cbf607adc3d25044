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
// Extra embedding tables (BERT token types): out (N,C) += table[ids] (forward); the backward is
// encoder_backward(dt, dtable, nullptr, dout, ids, 0, nullptr, 1, N, C).
void embedding_add_forward(DType dt, void* out, const int32_t* ids, const void* table, int64_t N, int64_t C);
// Row gather and its deterministic adjoint, idx (R) i32 on the device: out (R,C) = in[idx]; table[idx] += src (R,C)
// (duplicate indices allowed: grouped by the stable sort and summed in row order, as the backward above).
void gather_rows(DType dt, void* out, const void* in, const int32_t* idx, int64_t R, int64_t C);
void scatter_add_rows(DType dt, void* table, const void* src, const int32_t* idx, int64_t R, int64_t C);

}  // namespace lm::cuda
